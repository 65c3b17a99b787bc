"""Which files are read as C: one list per purpose, each written once."""

from __future__ import annotations

# what `scan` and `predict` read as C/C++ sources and headers (matched on Path.suffix, case and all)
C_SOURCE_SUFFIXES = frozenset({".c", ".h", ".cc", ".cpp", ".cxx", ".hpp"})

# what builds training and evaluation data (fix commits, mined histories, the pretraining corpus):
# the models learn C, so C++ files in the same repositories stay out of their data
PLAIN_C_SUFFIXES = (".c", ".h")


def is_plain_c_file(path: str) -> bool:
    """A C source or header by PLAIN_C_SUFFIXES, in any letter case (`FOO.C` counts)."""
    return path.lower().endswith(PLAIN_C_SUFFIXES)
