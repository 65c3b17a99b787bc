"""The one error type of the file formats in this package."""

from streamguard.errors import StreamGuardError


class FileFormatError(StreamGuardError, ValueError):
    """A file that breaks its format; the message names the file (line, key) and what to do."""
