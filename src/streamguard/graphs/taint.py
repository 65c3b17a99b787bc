"""Taint hints: which calls read untrusted input, which consume data dangerously.

A callee is looked up by name after stripping the project wrappers common in
Devign (`av_malloc` is malloc, `g_free` is free, `qemu_strdup` is strdup).
Each API maps to flags for the call and for its arguments by position; the
lists are deliberately short and conventional (libc plus the FFmpeg/QEMU input
readers), not a full taint specification.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from streamguard.c.grammar import field_id, named_kinds
from streamguard.graphs.flat_tree import FlatTree
from streamguard.graphs.schema import DANGEROUS_API, INDEX, SINK_ARG, SINK_CALL, SOURCE_ARG, SOURCE_CALL

ALL_ARGS = -1


@dataclass(frozen=True)
class ApiRole:
    call_flags: int
    arg_flags: dict[int, int] = field(default_factory=dict)  # argument position (ALL_ARGS = every one) -> flags


def _roles() -> dict[str, ApiRole]:
    roles: dict[str, ApiRole] = {}

    def add(names: str, call_flags: int, **args: int) -> None:
        arg_flags = {ALL_ARGS if k == "all" else int(k[1:]): v for k, v in args.items()}
        for name in names.split():
            roles[name] = ApiRole(call_flags, arg_flags)

    # input sources; the buffer an input call fills carries tainted data
    add("read pread recv recvfrom recvmsg readv", SOURCE_CALL, a1=SOURCE_ARG)
    add("fread", SOURCE_CALL, a0=SOURCE_ARG)
    add("fgets getline getdelim", SOURCE_CALL, a0=SOURCE_ARG)
    add("getenv secure_getenv getchar fgetc getc getc_unlocked avio_read", SOURCE_CALL)
    add("sscanf vsscanf fscanf vfscanf", SOURCE_CALL | DANGEROUS_API)
    add("scanf vscanf", SOURCE_CALL | DANGEROUS_API)
    add("gets", SOURCE_CALL | SINK_CALL | DANGEROUS_API, a0=SINK_ARG | SOURCE_ARG)
    # copies: destination overflow is decided by the length (or by nothing at all)
    add("memcpy memmove", SINK_CALL, a1=SOURCE_ARG, a2=SINK_ARG)
    add("memset", SINK_CALL, a2=SINK_ARG)
    add("strncpy strncat stpncpy", SINK_CALL, a1=SOURCE_ARG, a2=SINK_ARG)
    add("strcpy strcat stpcpy wcscpy wcscat", SINK_CALL | DANGEROUS_API, a0=SINK_ARG, a1=SOURCE_ARG)
    add("sprintf vsprintf", SINK_CALL | DANGEROUS_API, a0=SINK_ARG)
    add("snprintf vsnprintf", SINK_CALL, a1=SINK_ARG)
    # allocation sizes, frees, commands
    add("malloc mallocz malloc0 valloc", SINK_CALL, a0=SINK_ARG)
    add("alloca", SINK_CALL | DANGEROUS_API, a0=SINK_ARG)
    add("calloc malloc_array mallocz_array", SINK_CALL, all=SINK_ARG)
    add("realloc reallocf realloc_f memalign", SINK_CALL, a1=SINK_ARG)
    add("fast_realloc fast_malloc fast_mallocz posix_memalign", SINK_CALL, a2=SINK_ARG)  # (ptr, &size, min_size)
    add("realloc_array reallocp reallocp_array new new0 renew", SINK_CALL, all=SINK_ARG)
    add("free freep vfree cfree", SINK_CALL, a0=SINK_ARG)
    add("system popen execl execlp execle execv execvp execve execvpe", SINK_CALL | DANGEROUS_API, a0=SINK_ARG)
    add("tmpnam tempnam mktemp strtok getwd", DANGEROUS_API)
    return roles


ROLES = _roles()
# project wrappers around libc names (FFmpeg av_, GLib g_, QEMU qemu_, compiler builtins)
_WRAPPER_PREFIXES = ("__builtin_", "av_", "g_", "qemu_")
# FFmpeg/QEMU bitstream and guest-memory readers: the input of a codec or a device model
_SOURCE_PREFIXES = (
    "bytestream_get_", "bytestream2_get_", "get_bits", "get_sbits", "get_ue_golomb", "get_se_golomb",
    "avio_r", "qemu_get_", "dma_memory_read", "pci_dma_read", "cpu_physical_memory_read", "address_space_read",
)  # fmt: skip
_NO_ROLE = ApiRole(0)


@functools.lru_cache(maxsize=65536)
def role_of(callee: str) -> ApiRole:
    """The taint role of a function called `callee` (no flags when unknown)."""
    role = ROLES.get(callee)
    if role is not None:
        return role
    for prefix in _WRAPPER_PREFIXES:
        if callee.startswith(prefix):
            role = ROLES.get(callee[len(prefix) :])
            if role is not None:
                return role
    if callee.startswith(_SOURCE_PREFIXES):
        return ApiRole(SOURCE_CALL)
    return _NO_ROLE


_CALL = named_kinds("call_expression")
_SUBSCRIPT = named_kinds("subscript_expression")
_NAMES = named_kinds("identifier", "field_identifier")
_FIELD_EXPRESSION = named_kinds("field_expression")
_FUNCTION, _ARGUMENTS, _INDEX, _FIELD = (field_id(n) for n in ("function", "arguments", "index", "field"))


def mark_taint(flat: FlatTree, flags: list[int]) -> None:
    """Set source/sink/index/dangerous flags on calls, callee names, arguments and indexes."""
    kind, field_of, text, children = flat.kind, flat.field_of, flat.text, flat.children
    for i, k in enumerate(kind):
        if k in _SUBSCRIPT:
            for c in children[i]:
                if field_of[c] == _INDEX:
                    flags[c] |= INDEX
            continue
        if k not in _CALL:
            continue
        callee = args = -1
        for c in children[i]:
            if field_of[c] == _FUNCTION:
                callee = c
            elif field_of[c] == _ARGUMENTS:
                args = c
        if callee >= 0 and kind[callee] in _FIELD_EXPRESSION:  # s->ops->read(...): the method name
            callee = next((c for c in children[callee] if field_of[c] == _FIELD), -1)
        if callee < 0 or kind[callee] not in _NAMES or callee not in text:
            continue
        role = role_of(text[callee].decode("utf-8", "replace"))
        if not role.call_flags and not role.arg_flags:
            continue
        flags[i] |= role.call_flags
        flags[callee] |= role.call_flags
        if args >= 0:
            for position, arg in enumerate(children[args]):
                flags[arg] |= role.arg_flags.get(position, 0) | role.arg_flags.get(ALL_ARGS, 0)
