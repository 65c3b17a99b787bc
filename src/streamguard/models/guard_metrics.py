"""Guard deficit per function: how many memory operations use operands the function never checks.

A fix usually adds a check (`if (n > sizeof buf) return -1;`, `if (!p) goto err;`,
`i < len &&`) and so makes the function longer; counts of constructs then rank the
fix above the bug. These features relate each memory operation to the checks of
its operands instead, on a tree-sitter parse of the function (project macros
normalised as the extractor does, c/normalise.py). The rules, over the whole
function, in no order of statements:

- names: an identifier, or a field path such as `s->len` or `s.a.b` (spaces
  dropped); identifiers spelled in capitals (`MAX_LEN`) are constants, never
  names; nothing inside `sizeof` is a name.
- checked: every name in the condition of `if`/`while`/`do`/`for` or of `?:`, in an
  operand of `&&`/`||` or of a comparison (`<`, `<=`, `>`, `>=`, `==`, `!=`) anywhere,
  or in the arguments of an assert-like call (`assert`, `*_ON`, `*_if_fail`, `CHECK*`).
- null-checked: a name compared `==`/`!=` with NULL or 0, negated (`!p`), or standing
  alone as a condition, an operand of `&&`/`||`, or an assert-like call's argument.
- index uses: `a[i]`, and `*(p + i)`; unchecked when the index holds an unchecked name.
- copy uses: a call of a copy/read function (COPY_SIZE_ARGS: memcpy, strncpy,
  snprintf, read, recv, fread, ...); unchecked when a size argument holds an
  unchecked name.
- pointer uses: `p->f` and `*p`; unchecked when the pointer `p` is a name that is
  never null-checked (`*(expr)` and `f()->x` are no pointer use).
- size arithmetic: a size argument of a copy call or an allocation (ALLOC_SIZE_ARGS)
  that computes with `+`, `-` or `*`; unchecked when it holds an unchecked name.

Each kind gives log(1 + uses), log(1 + unchecked uses) and the deficit, the share
of its uses that are unchecked (0 without uses): a fix that adds a guard lowers
the deficit while the function grows. `parse_error` is 1 where tree-sitter had to
recover from a syntax error (or the text is empty); the counts are then those of
what it recovered.
"""

from __future__ import annotations

import math
import re

import numpy as np
from tree_sitter import Node

from streamguard.c.grammar import thread_parser
from streamguard.c.normalise import normalise_macros

KINDS = ("index", "copy", "pointer", "size_arith")
GUARD_FEATURE_NAMES: tuple[str, ...] = (
    *(f"guard_{stat}_{kind}" for kind in KINDS for stat in ("log_uses", "log_unchecked", "deficit")),
    "guard_parse_error",
)

# call -> the positions of its size arguments
COPY_SIZE_ARGS: dict[str, tuple[int, ...]] = {
    **dict.fromkeys(("memcpy", "memmove", "memset", "memcmp", "memchr", "bcopy"), (2,)),
    **dict.fromkeys(("strncpy", "strncat", "strncmp", "strlcpy", "strlcat", "stpncpy"), (2,)),
    **dict.fromkeys(("snprintf", "vsnprintf", "fgets"), (1,)),
    **dict.fromkeys(("read", "recv", "recvfrom", "pread", "copy_from_user", "copy_to_user"), (2,)),
    "memccpy": (3,),
    "fread": (1, 2),
}
ALLOC_SIZE_ARGS: dict[str, tuple[int, ...]] = {
    **dict.fromkeys(("malloc", "alloca", "kmalloc", "kzalloc", "vmalloc", "g_malloc", "g_malloc0"), (0,)),
    **dict.fromkeys(("av_malloc", "av_mallocz", "xmalloc", "zalloc"), (0,)),
    **dict.fromkeys(("calloc", "kcalloc", "av_calloc", "av_malloc_array", "g_new", "g_new0"), (0, 1)),
    **dict.fromkeys(("realloc", "av_realloc", "krealloc", "g_realloc", "xrealloc"), (1,)),
}
_ASSERT_LIKE = re.compile(r"assert|_ON(?:_ONCE)?$|_if_fail$|^CHECK", re.IGNORECASE)
_CONSTANT = re.compile(r"[A-Z][A-Z0-9_]*")
_WHITESPACE = re.compile(rb"\s+")
_COMPARISONS = frozenset(("<", "<=", ">", ">=", "==", "!=", "&&", "||"))
_CONDITIONAL = frozenset(("if_statement", "while_statement", "do_statement", "for_statement", "conditional_expression"))
_WRAPPERS = frozenset(("parenthesized_expression", "cast_expression"))
_SIZE_ARITHMETIC = frozenset(("+", "-", "*"))


def _operator(node: Node) -> str:
    op = node.child_by_field_name("operator")
    return op.type if op is not None else ""


def _unwrapped(node: Node) -> Node:
    """`node` without the parentheses and casts around it."""
    while node.type in _WRAPPERS:
        inner = node.child_by_field_name("value") if node.type == "cast_expression" else node.named_children[0]
        if inner is None:
            break
        node = inner
    return node


def _own_name(node: Node) -> str | None:
    """The name `node` is (an identifier or a field path), not counting constants."""
    node = _unwrapped(node)
    if node.type == "field_expression":
        return _WHITESPACE.sub(b"", node.text or b"").decode("utf-8", "replace")
    if node.type == "identifier":
        text = (node.text or b"").decode("utf-8", "replace")
        return None if _CONSTANT.fullmatch(text) else text
    return None


def _names(node: Node) -> set[str]:
    """Every name in the expression `node`: field paths whole, nothing in sizeof, no called function's name."""
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == "sizeof_expression":
            continue
        name = _own_name(current) if current.type in ("identifier", "field_expression") else None
        if name is not None:
            found.add(name)
            continue
        if current.type == "call_expression":
            arguments = current.child_by_field_name("arguments")
            stack.extend(arguments.named_children if arguments is not None else ())
            continue
        stack.extend(current.named_children)
    return found


def _is_null(node: Node) -> bool:
    node = _unwrapped(node)
    return node.type == "null" or (node.type == "number_literal" and node.text == b"0")


def _callee(node: Node) -> str:
    function = node.child_by_field_name("function")
    return (function.text or b"").decode("utf-8", "replace") if function is not None else ""


def _arguments(node: Node) -> list[Node]:
    arguments = node.child_by_field_name("arguments")
    return arguments.named_children if arguments is not None else []


class _Walk:
    """One pass over a function's tree: the checks it makes and the uses it makes of memory."""

    def __init__(self) -> None:
        self.checked: set[str] = set()
        self.null_checked: set[str] = set()
        self.index: list[set[str]] = []  # names in each index expression
        self.copy: list[set[str]] = []  # names in each copy call's size arguments
        self.pointer: list[str] = []  # the pointer of each dereference
        self.size_arith: list[set[str]] = []  # names in each size argument that computes

    def visit(self, node: Node) -> None:
        kind = node.type
        if kind in _CONDITIONAL:
            condition = node.child_by_field_name("condition")
            if condition is not None:
                self._check(condition, alone=True)
        elif kind == "binary_expression":
            self._binary(node)
        elif kind == "unary_expression" and _operator(node) == "!":
            argument = node.child_by_field_name("argument")
            if argument is not None:
                self._check(argument, alone=True)
        elif kind == "subscript_expression":
            index = node.child_by_field_name("index")
            if index is not None:
                self.index.append(_names(index))
        elif kind == "field_expression" and _operator(node) == "->":
            self._dereference(node.child_by_field_name("argument"))
        elif kind == "pointer_expression" and _operator(node) == "*":
            self._pointer_expression(node)
        elif kind == "call_expression":
            self._call(node)

    def _check(self, node: Node, alone: bool) -> None:
        self.checked |= _names(node)
        name = _own_name(node) if alone else None
        if name is not None:
            self.null_checked.add(name)

    def _binary(self, node: Node) -> None:
        operator = _operator(node)
        if operator not in _COMPARISONS:
            return
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if left is None or right is None:
            return
        logical = operator in ("&&", "||")
        for side, other in ((left, right), (right, left)):
            self._check(side, alone=logical or (operator in ("==", "!=") and _is_null(other)))

    def _dereference(self, pointer: Node | None) -> None:
        name = _own_name(pointer) if pointer is not None else None
        if name is not None:
            self.pointer.append(name)

    def _pointer_expression(self, node: Node) -> None:
        argument = node.child_by_field_name("argument")
        if argument is None:
            return
        inner = _unwrapped(argument)
        if inner.type == "binary_expression" and _operator(inner) in ("+", "-"):
            self.index.append(_names(inner))  # *(p + i) indexes p
        else:
            self._dereference(argument)

    def _call(self, node: Node) -> None:
        callee = _callee(node).removeprefix("__builtin_")
        arguments = _arguments(node)
        if _ASSERT_LIKE.search(callee):
            for argument in arguments:
                self._check(argument, alone=True)
            return
        copy_sizes = COPY_SIZE_ARGS.get(callee, ())
        sizes = [arguments[i] for i in copy_sizes or ALLOC_SIZE_ARGS.get(callee, ()) if i < len(arguments)]
        if copy_sizes:
            self.copy.append(set().union(*(_names(size) for size in sizes)))
        for size in sizes:
            if _computes(size):
                self.size_arith.append(_names(size))

    def row(self, parse_error: bool) -> list[float]:
        uses = {
            "index": [bool(names - self.checked) for names in self.index],
            "copy": [bool(names - self.checked) for names in self.copy],
            "pointer": [name not in self.null_checked for name in self.pointer],
            "size_arith": [bool(names - self.checked) for names in self.size_arith],
        }
        values: list[float] = []
        for kind in KINDS:
            total, unchecked = len(uses[kind]), sum(uses[kind])
            values += [math.log1p(total), math.log1p(unchecked), unchecked / total if total else 0.0]
        values.append(1.0 if parse_error else 0.0)
        return values


def _computes(node: Node) -> bool:
    """Whether the expression `node` adds, subtracts or multiplies (outside sizeof)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == "sizeof_expression":
            continue
        if current.type == "binary_expression" and _operator(current) in _SIZE_ARITHMETIC:
            return True
        stack.extend(current.named_children)
    return False


def guard_metrics(text: str) -> np.ndarray:
    """GUARD_FEATURE_NAMES for one function's text (float64); never raises on what it cannot parse."""
    data = normalise_macros(text.encode("utf-8", "replace"))
    if not data.strip():
        return np.asarray(_Walk().row(parse_error=True), dtype=np.float64)
    tree = thread_parser().parse(data)
    walk = _Walk()
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        walk.visit(node)
        stack.extend(node.named_children)
    return np.asarray(walk.row(parse_error=tree.root_node.has_error), dtype=np.float64)


def guard_matrix(texts: list[str]) -> np.ndarray:
    """(len(texts), len(GUARD_FEATURE_NAMES)) matrix of guard_metrics."""
    if not texts:
        return np.zeros((0, len(GUARD_FEATURE_NAMES)))
    return np.vstack([guard_metrics(text) for text in texts])
