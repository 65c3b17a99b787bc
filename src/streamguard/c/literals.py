"""C literals replaced by placeholder tokens, so a model cannot learn a project's messages and constants.

String, character and number literals become STRLIT, CHARLIT and NUMLIT;
comments and everything else stay as they are (a quote inside a comment is
not a literal).
"""

from __future__ import annotations

import re

PLACEHOLDERS = {"string": "STRLIT", "char": "CHARLIT", "number": "NUMLIT"}

# comments first, so a quote inside one is not taken for a literal; strings before numbers, so
# the digits inside a string stay inside it
_LITERAL = re.compile(
    r"(?P<comment>/\*.*?\*/|//[^\n]*)"
    r'|(?P<string>(?:\b[LuU]|\bu8)?"(?:\\.|[^"\\\n])*")'
    r"|(?P<char>(?:\b[LuU])?'(?:\\.|[^'\\\n])*')"
    r"|(?P<number>(?<![\w.])(?:\d|\.\d)[\w.]*(?:(?<=[eEpP])[+-]\d+)?)",
    re.S,
)


def normalise_literals(code: str) -> str:
    """`code` with every string, character and number literal replaced by its placeholder."""
    return _LITERAL.sub(_replace, code)


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    return match.group() if kind == "comment" or kind is None else PLACEHOLDERS[kind]
