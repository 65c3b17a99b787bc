"""C code tokens are counted outside comments; a comment marker inside a string is not a comment."""

from __future__ import annotations

from streamguard.c.tokens import code_tokens, strip_comments


def test_code_tokens_ignore_comments():
    assert code_tokens("int x = 1; /* a long comment with many words */") == 5
    assert strip_comments('a = "/* kept */"; // gone') == 'a = "/* kept */";  '
