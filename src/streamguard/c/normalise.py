"""Normalise project macros that tree-sitter cannot know about.

Devign's FFmpeg and QEMU functions are full of project macros that expand to
compiler attributes or to nothing (`static av_cold int init(...)`,
`int coroutine_fn bdrv_co_read(...)`). Without their definitions tree-sitter
sees a syntax error in the function head. Replacing such a macro by spaces (or
by the keyword it stands for, padded with spaces) keeps the code's meaning and
every byte offset, so line numbers and error positions stay true.

Only macros whose expansion is an attribute, a storage/inline keyword, or
empty are listed; anything that expands to code (`glue(a, b)`, `FUNC(x)`) is
left alone and handled by the partial tier. One family of code macros is
rewritten because its meaning is unambiguous: the BSD/QEMU list iterators
(`QTAILQ_FOREACH(var, head, field) { ... }`) are loops, so their name becomes
`while` (padded): `while (var, head, field) { ... }` parses, and the graph gets
the loop's control flow.
"""

from __future__ import annotations

import re

# macro -> what it stands for in this position ("" = nothing)
_OBJECT_LIKE = {
    # FFmpeg libavutil/attributes.h
    b"av_cold": b"",
    b"av_always_inline": b"inline",
    b"av_noinline": b"",
    b"av_unused": b"",
    b"av_const": b"",
    b"av_pure": b"",
    b"av_flatten": b"",
    b"av_noreturn": b"",
    b"av_warn_unused_result": b"",
    b"attribute_align_arg": b"",
    b"attribute_deprecated": b"",
    b"FF_DISABLE_DEPRECATION_WARNINGS": b"",
    b"FF_ENABLE_DEPRECATION_WARNINGS": b"",
    # QEMU
    b"coroutine_fn": b"",
    b"QEMU_NORETURN": b"",
    b"QEMU_WARN_UNUSED_RESULT": b"",
    b"QEMU_PACKED": b"",
    b"QEMU_ARTIFICIAL": b"",
    b"OPPROTO": b"",  # dyngen-era op handlers (target-*/op.c)
    b"INLINE": b"inline",  # softfloat
    # tcpdump/libpcap funcattrs.h
    b"NORETURN": b"",
    b"NORETURN_FUNCPTR": b"",
    b"WARN_UNUSED_RESULT": b"",
}
# function-like attribute macros with a flat argument list
_FUNCTION_LIKE = (
    b"GCC_FMT_ATTR",
    b"QEMU_ALIGNED",
    b"av_printf_format",
    b"DECLARE_ALIGNED_ATTR",
    b"PRINTFLIKE",  # tcpdump/libpcap funcattrs.h
    b"PRINTFLIKE_FUNCPTR",
)

# sys/queue.h and QEMU's qemu/queue.h iterators, e.g. QTAILQ_FOREACH_SAFE, QLIST_FOREACH_RCU
_FOREACH = re.compile(rb"\bQ?(?:TAILQ|LIST|SLIST|SIMPLEQ|STAILQ|CIRCLEQ)_FOREACH(?:_[A-Z]+)*(?=\s*\()")
_PATTERN = re.compile(
    rb"\b(?:"
    + b"|".join(re.escape(m) for m in _OBJECT_LIKE)
    + rb")\b|\b(?:"
    + b"|".join(re.escape(m) for m in _FUNCTION_LIKE)
    + rb")\s*\([^()]*\)"
)


_NOT_NEWLINE = re.compile(rb"[^\r\n]")


def _replacement(match: re.Match[bytes]) -> bytes:
    text = match.group()
    keyword = _OBJECT_LIKE.get(text)
    if keyword:
        return keyword.ljust(len(text))
    return _NOT_NEWLINE.sub(b" ", text)  # keep line breaks: line numbers stay true


_NAMES = tuple(_OBJECT_LIKE) + _FUNCTION_LIKE


def _as_while(match: re.Match[bytes]) -> bytes:
    return b"while".ljust(len(match.group()))


def normalise_macros(src: bytes) -> bytes:
    """`src` with known attribute macros blanked and list iterators made `while` loops.

    The result has the same length and the same line breaks as `src`.
    """
    # substring tests are far cheaper than the regexes, and most functions have no such macro
    if any(name in src for name in _NAMES):
        src = _PATTERN.sub(_replacement, src)
    if b"_FOREACH" in src:
        src = _FOREACH.sub(_as_while, src)
    return src
