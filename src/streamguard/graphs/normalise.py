"""Blank out attribute-like macros that tree-sitter cannot know about.

Devign's FFmpeg and QEMU functions are full of project macros that expand to
compiler attributes or to nothing (`static av_cold int init(...)`,
`int coroutine_fn bdrv_co_read(...)`). Without their definitions tree-sitter
sees a syntax error in the function head. Replacing such a macro by spaces (or
by the keyword it stands for, padded with spaces) keeps the code's meaning and
every byte offset, so line numbers and error positions stay true.

Only macros whose expansion is an attribute, a storage/inline keyword, or
empty are listed; anything that expands to code (`glue(a, b)`, `FUNC(x)`) is
left alone and handled by the partial tier.
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
}
# function-like attribute macros with a flat argument list
_FUNCTION_LIKE = (b"GCC_FMT_ATTR", b"QEMU_ALIGNED", b"av_printf_format", b"DECLARE_ALIGNED_ATTR")

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


def blank_attribute_macros(src: bytes) -> bytes:
    """`src` with known attribute macros replaced by spaces (same length, same offsets)."""
    # substring tests are far cheaper than the regex, and most functions have no such macro
    if not any(name in src for name in _NAMES):
        return src
    return _PATTERN.sub(_replacement, src)
