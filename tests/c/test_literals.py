"""C literals become placeholders; comments and everything else stay."""

from __future__ import annotations

from streamguard.c.literals import normalise_literals


def test_literals_become_placeholders_and_comments_stay():
    code = 'n = f("len %d\\" 7", \'\\n\', 0x1F, 1.5e-3, x1); /* "quoted" 3 */ // it\'s 4\nbuf[16] = L"w";'
    assert normalise_literals(code) == (
        'n = f(STRLIT, CHARLIT, NUMLIT, NUMLIT, x1); /* "quoted" 3 */ // it\'s 4\nbuf[NUMLIT] = STRLIT;'
    )
