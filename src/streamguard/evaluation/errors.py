"""The one error type of the evaluation package."""

from streamguard.errors import StreamGuardError


class EvaluationError(StreamGuardError, ValueError):
    """Predictions or inputs that cannot be evaluated; the message says what,
    where (file, line, model, revision) and what to do about it."""
