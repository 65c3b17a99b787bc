"""Synthetic vulnerable/fixed C function pairs from templates, one family per CWE.

Each template writes the same function twice: with the flaw and with the
fix. A seeded generator varies what a model should not key on — function and
variable names, types, buffer sizes, indentation and brace style, and a few
unrelated statements around the flaw — so the pair differs only where the
flaw is. Same seed and count, same records.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from streamguard.data.collectors.base import Collected
from streamguard.data.collectors.context import CollectContext
from streamguard.data.noise import confidence_for
from streamguard.data.records import Record

T = TypeVar("T")

_VERBS = ["parse", "copy", "load", "handle", "process", "read", "store", "update", "format", "build", "decode", "fill"]
_NOUNS = [
    "header",
    "packet",
    "record",
    "entry",
    "name",
    "buffer",
    "message",
    "token",
    "path",
    "config",
    "request",
    "field",
    "label",
    "frame",
]
_MODULES = ["", "net_", "cfg_", "db_", "io_", "usb_", "http_", "fs_", "img_"]
_BUFS = ["buf", "tmp", "dst", "local", "out", "scratch", "line", "work"]
_INPUTS = ["src", "input", "data", "str", "name", "arg", "text", "value"]
_LENS = ["len", "n", "size", "count", "nbytes", "length"]
_PTRS = ["p", "ptr", "item", "node", "obj", "elem", "ctx", "block"]
_SIZES = [8, 16, 24, 32, 48, 64, 100, 128, 256, 512]
_INTS = ["int", "long", "unsigned int", "size_t"]
_COUNTERS = ["g_calls", "stats_requests", "n_handled", "g_errors", "total_ops"]


@dataclass
class Vary:
    """The random choices one pair shares between its two versions."""

    rng: random.Random
    fname: str
    buf: str
    inp: str
    n: str
    ptr: str
    size: int
    ind: str  # one indentation step
    allman: bool  # opening brace on its own line
    before: list[str]  # unrelated statements ahead of the flaw
    after: list[str]  # ... and after it

    def pick(self, items: Sequence[T]) -> T:
        return self.rng.choice(items)


def _vary(rng: random.Random) -> Vary:
    fname = f"{rng.choice(_MODULES)}{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}"
    if rng.random() < 0.3:
        fname += f"_{rng.choice(['v2', 'ex', 'impl', 'safe', 'internal'])}"
    counter = rng.choice(_COUNTERS)
    noise_before = [
        f"{counter}++;",
        'log_debug("%s: enter", __func__);',
        f"trace_event({rng.randint(1, 999)});",
        "errno = 0;",
        f"int status = {rng.choice([0, 1, -1])};\n(void)status;",
    ]
    noise_after = ['log_debug("%s: done", __func__);', f"{counter} += {rng.randint(1, 9)};", "flush_stats();"]
    return Vary(
        rng=rng,
        fname=fname,
        buf=rng.choice(_BUFS),
        inp=rng.choice(_INPUTS),
        n=rng.choice(_LENS),
        ptr=rng.choice(_PTRS),
        size=rng.choice(_SIZES),
        ind=rng.choice(["    ", "\t", "  "]),
        allman=rng.random() < 0.4,
        before=rng.sample(noise_before, rng.randint(0, 2)),
        after=rng.sample(noise_after, rng.randint(0, 1)),
    )


def _function(v: Vary, signature: str, body: list[str]) -> str:
    """Assemble a function; `body` lines use one leading tab per nesting level."""
    lines = []
    for stmt in [*v.before, *body[:-1], *v.after, body[-1]] if body else v.before:
        for line in stmt.split("\n"):
            depth = len(line) - len(line.lstrip("\t"))
            lines.append(v.ind * (depth + 1) + line.lstrip("\t"))
    brace = "\n{" if v.allman else " {"
    return f"{signature}{brace}\n" + "\n".join(lines) + "\n}\n"


# Each template returns (cwe, vulnerable, fixed). The last body line is the
# return, so the varying epilogue statements land just before it.


def _stack_strcpy(v: Vary) -> tuple[str, str, str]:
    sig = f"int {v.fname}(const char *{v.inp})"
    decl = f"char {v.buf}[{v.size}];"
    use = f"{v.pick(['consume', 'emit', 'register_name', 'store_value'])}({v.buf});"
    bad = [decl, f"strcpy({v.buf}, {v.inp});", use, "return 0;"]
    fix = v.pick(
        [
            [
                decl,
                f"if (strlen({v.inp}) >= sizeof({v.buf}))\n\treturn -1;",
                f"strcpy({v.buf}, {v.inp});",
                use,
                "return 0;",
            ],
            [
                decl,
                f"strncpy({v.buf}, {v.inp}, sizeof({v.buf}) - 1);",
                f"{v.buf}[sizeof({v.buf}) - 1] = '\\0';",
                use,
                "return 0;",
            ],
            [decl, f'snprintf({v.buf}, sizeof({v.buf}), "%s", {v.inp});', use, "return 0;"],
        ]
    )
    return "CWE-121", _function(v, sig, bad), _function(v, sig, fix)


def _oob_loop_write(v: Vary) -> tuple[str, str, str]:
    elem = v.pick(["int", "char", "unsigned char", "short", "uint32_t"])
    sig = f"int {v.fname}(const {elem} *{v.inp}, {v.pick(_INTS)} {v.n})"
    head = [f"{elem} {v.buf}[{v.size}];", "int i;"]
    tail = [f"{v.pick(['checksum', 'commit', 'publish'])}({v.buf}, {v.n});", "return 0;"]
    bad_check = f"if ({v.n} > {v.size})\n\treturn -1;"
    if v.rng.random() < 0.5:  # off-by-one bound
        bad = [*head, bad_check, f"for (i = 0; i <= {v.n}; i++)\n\t{v.buf}[i] = {v.inp}[i];", *tail]
        fix = [*head, bad_check, f"for (i = 0; i < {v.n}; i++)\n\t{v.buf}[i] = {v.inp}[i];", *tail]
    else:  # no bound at all
        bad = [*head, f"for (i = 0; i < {v.n}; i++)\n\t{v.buf}[i] = {v.inp}[i];", *tail]
        fix = [*head, bad_check, f"for (i = 0; i < {v.n}; i++)\n\t{v.buf}[i] = {v.inp}[i];", *tail]
    return "CWE-787", _function(v, sig, bad), _function(v, sig, fix)


def _format_string(v: Vary) -> tuple[str, str, str]:
    sig = f"void {v.fname}(const char *{v.inp})"
    sink = v.rng.randrange(4)
    if sink == 0:
        bad, fix = f"printf({v.inp});", f'printf("%s", {v.inp});'
    elif sink == 1:
        bad, fix = f"fprintf(stderr, {v.inp});", f'fprintf(stderr, "%s", {v.inp});'
    elif sink == 2:
        level = v.pick(["LOG_ERR", "LOG_INFO", "LOG_WARNING"])
        bad, fix = f"syslog({level}, {v.inp});", f'syslog({level}, "%s", {v.inp});'
    else:
        decl = f"char {v.buf}[{v.size}];"
        bad = f"{decl}\nsnprintf({v.buf}, sizeof({v.buf}), {v.inp});\nputs({v.buf});"
        fix = f'{decl}\nsnprintf({v.buf}, sizeof({v.buf}), "%s", {v.inp});\nputs({v.buf});'
    guard = f"if ({v.inp} == NULL || *{v.inp} == '\\0')\n\treturn;"
    return "CWE-134", _function(v, sig, [guard, bad, "return;"]), _function(v, sig, [guard, fix, "return;"])


def _int_overflow_alloc(v: Vary) -> tuple[str, str, str]:
    elem = v.pick(["struct item", "struct entry", "uint64_t", "double", "struct record"])
    sig = f"{elem} *{v.fname}(size_t {v.n})"
    alloc = [f"{elem} *{v.ptr} = malloc({v.n} * sizeof(*{v.ptr}));", f"if ({v.ptr} == NULL)\n\treturn NULL;"]
    init = f"memset({v.ptr}, 0, {v.n} * sizeof(*{v.ptr}));"
    guard = v.pick(
        [
            f"if ({v.n} > SIZE_MAX / sizeof({elem}))\n\treturn NULL;",
            f"if ({v.n} == 0 || {v.n} > {v.size * 1024})\n\treturn NULL;",
        ]
    )
    bad = [*alloc, init, f"return {v.ptr};"]
    fix = [guard, *alloc, init, f"return {v.ptr};"]
    return "CWE-190", _function(v, sig, bad), _function(v, sig, fix)


def _use_after_free(v: Vary) -> tuple[str, str, str]:
    st = v.pick(["struct session", "struct conn", "struct job", "struct client"])
    field = v.pick(["id", "fd", "flags", "refcount"])
    sig = f"int {v.fname}({st} *{v.ptr})"
    read = f"int {v.n} = {v.ptr}->{field};"
    release = f"{v.pick(['free', 'release_object', 'pool_put'])}({v.ptr});"
    report = f"{v.pick(['notify_closed', 'log_close', 'emit_event'])}({v.n});"
    bad = [release, read, report, f"return {v.n};"]
    fix = [read, release, report, f"return {v.n};"]
    return "CWE-416", _function(v, sig, bad), _function(v, sig, fix)


def _double_free(v: Vary) -> tuple[str, str, str]:
    sig = f"int {v.fname}(const char *{v.inp})"
    alloc = [f"char *{v.buf} = malloc({v.size});", f"if ({v.buf} == NULL)\n\treturn -1;"]
    work = f"if ({v.pick(['fill_from', 'decode_into', 'copy_checked'])}({v.buf}, {v.inp}) < 0)\n\tfree({v.buf});"
    work_fixed = work.replace(f"\tfree({v.buf});", f"{{\n\tfree({v.buf});\n\t{v.buf} = NULL;\n}}")
    bad = [*alloc, work, f"free({v.buf});", "return 0;"]
    fix = [*alloc, work_fixed, f"free({v.buf});", "return 0;"]
    return "CWE-415", _function(v, sig, bad), _function(v, sig, fix)


def _null_deref(v: Vary) -> tuple[str, str, str]:
    st = v.pick(["struct node", "struct buffer", "struct option", "struct token"])
    field = v.pick(["len", "kind", "next", "owner"])
    sig = f"int {v.fname}({v.pick(['int', 'size_t', 'unsigned'])} {v.n})"
    if v.rng.random() < 0.5:
        alloc = f"{st} *{v.ptr} = malloc(sizeof(*{v.ptr}) * {v.n});"
    else:
        alloc = f"{st} *{v.ptr} = {v.pick(['lookup_entry', 'find_node', 'table_get'])}({v.n});"
    use = f"{v.ptr}->{field} = 0;"
    bad = [alloc, use, f"return {v.pick(['attach', 'enqueue', 'register_item'])}({v.ptr});"]
    fix = [alloc, f"if ({v.ptr} == NULL)\n\treturn -1;", use, bad[-1]]
    return "CWE-476", _function(v, sig, bad), _function(v, sig, fix)


def _command_injection(v: Vary) -> tuple[str, str, str]:
    tool = v.pick(["ls -l", "ping -c 1", "nslookup", "cat", "file", "du -sh"])
    sig = f"int {v.fname}(const char *{v.inp})"
    build = [f"char {v.buf}[{max(v.size, 64)}];", f'snprintf({v.buf}, sizeof({v.buf}), "{tool} %s", {v.inp});']
    validate = v.pick(
        [
            f"for (const char *c = {v.inp}; *c; c++)\n\tif (!isalnum((unsigned char)*c) && *c != '.' && *c != '-')\n\t\treturn -1;",
            f'if (strpbrk({v.inp}, ";|&`$()<>\\\\\\n\'\\"") != NULL)\n\treturn -1;',
        ]
    )
    bad = [*build, f"return system({v.buf});"]
    fix = [validate, *build, f"return system({v.buf});"]
    return "CWE-78", _function(v, sig, bad), _function(v, sig, fix)


def _memory_leak(v: Vary) -> tuple[str, str, str]:
    sig = f"int {v.fname}(int fd, size_t {v.n})"
    alloc = [f"char *{v.buf} = malloc({v.n});", f"if ({v.buf} == NULL)\n\treturn -1;"]
    read_fn = v.pick(["read", "recv_all", "read_exact"])
    bad = [
        *alloc,
        f"if ({read_fn}(fd, {v.buf}, {v.n}) < 0)\n\treturn -1;",
        f"consume({v.buf}, {v.n});",
        f"free({v.buf});",
        "return 0;",
    ]
    fix = [
        *alloc,
        f"if ({read_fn}(fd, {v.buf}, {v.n}) < 0) {{\n\tfree({v.buf});\n\treturn -1;\n}}",
        f"consume({v.buf}, {v.n});",
        f"free({v.buf});",
        "return 0;",
    ]
    return "CWE-401", _function(v, sig, bad), _function(v, sig, fix)


TEMPLATES: dict[str, Callable[[Vary], tuple[str, str, str]]] = {
    "stack_strcpy": _stack_strcpy,
    "oob_loop_write": _oob_loop_write,
    "format_string": _format_string,
    "int_overflow_alloc": _int_overflow_alloc,
    "use_after_free": _use_after_free,
    "double_free": _double_free,
    "null_deref": _null_deref,
    "command_injection": _command_injection,
    "memory_leak": _memory_leak,
}


def generate_pairs(count: int, seed: int, confidence: float) -> list[tuple[Record, Record]]:
    """`count` pairs, templates taken in turn so every CWE gets its share."""
    rng = random.Random(seed)
    names = list(TEMPLATES)
    pairs = []
    for i in range(count):
        name = names[i % len(names)]
        cwe, vulnerable, fixed = TEMPLATES[name](_vary(rng))
        origin = f"synthetic:{name}:seed={seed}:{i}"
        common: dict[str, Any] = dict(
            project="synthetic", source="synthetic", confidence=confidence, cwe=cwe, origin=origin
        )
        pairs.append((Record(func=vulnerable, target=1, **common), Record(func=fixed, target=0, **common)))
    return pairs


def collect_synthetic(ctx: CollectContext) -> Collected:
    collect = ctx.collect
    confidence = confidence_for("synthetic", collect)
    out = Collected(pairs=generate_pairs(collect.synthetic_pairs, collect.synthetic_seed, confidence))
    out.details.update(templates=list(TEMPLATES), seed=collect.synthetic_seed, pairs_generated=collect.synthetic_pairs)
    return out
