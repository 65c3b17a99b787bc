"""C code without its comments, and its length in code tokens.

A token is an identifier or keyword, a number, or any other single
non-space character; comments are not code and count for nothing. String
and character literals are kept whole while comments are found, so a `/*`
inside a string does not start one.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|\S")
# strings first, so a "/*" inside a literal is not taken for a comment
_COMMENT_OR_STRING = re.compile(r'("(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\')|/\*.*?\*/|//[^\n]*', re.S)


def strip_comments(text: str) -> str:
    """`text` with C comments replaced by a space (string literals kept)."""
    return _COMMENT_OR_STRING.sub(lambda m: m.group(1) or " ", text)


def code_tokens(func: str) -> int:
    """Number of C tokens outside comments (the length the collectors' limits and the length baseline measure)."""
    return len(_TOKEN.findall(strip_comments(func)))
