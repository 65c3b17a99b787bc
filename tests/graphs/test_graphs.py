"""Graph construction on small C functions written for the purpose: edges, flags, tiers, tokens."""

from __future__ import annotations

import dataclasses

import pytest

from streamguard.c.grammar import NODE_TYPES
from streamguard.graphs.function_graph import GraphBuilder
from streamguard.graphs.raw_graph import RawGraph
from streamguard.graphs.schema import EDGE_TYPE_ID, EDGE_TYPES, FLAGS
from streamguard.params import GraphParams, ParamsError


class Graph:
    """A RawGraph with names instead of ids, for readable assertions."""

    def __init__(self, raw: RawGraph) -> None:
        self.raw = raw
        self.types = [NODE_TYPES[t] for t in raw.node_type]
        self.tokens = [raw.tokens[p] if p >= 0 else () for p in raw.node_token]

    def __len__(self) -> int:
        return len(self.types)

    def edges(self, edge_type: str) -> set[tuple[int, int]]:
        mask = self.raw.edge_type == EDGE_TYPE_ID[edge_type]
        return set(zip(self.raw.edge_index[0][mask].tolist(), self.raw.edge_index[1][mask].tolist()))

    def find(self, node_type: str, *token: str) -> list[int]:
        return [i for i, t in enumerate(self.types) if t == node_type and (not token or self.tokens[i] == token)]

    def flags(self, i: int) -> set[str]:
        return {name for bit, name in enumerate(FLAGS) if int(self.raw.flags[i]) >> bit & 1}

    def parent(self, i: int) -> int:
        (p,) = [s for s, d in self.edges("ast_child") if d == i]
        return p


def build(code: str, **params) -> Graph:
    return Graph(GraphBuilder(GraphParams(**params)).build(code))


# --- data flow ---------------------------------------------------------------------------------


def test_data_flow_links_read_length_to_memcpy_length():
    g = build("void f(int fd, char *dst, char *src) { int n; n = read(fd, src, 64); memcpy(dst, src, n); }")
    decl, assigned, used = g.find("identifier", "n")
    flow = g.edges("data_flow")
    assert (assigned, used) in flow
    assert (decl, used) not in flow  # the assignment is the last definition before the use
    assert g.types[g.parent(assigned)] == "assignment_expression"
    assert g.types[g.parent(g.parent(used))] == "call_expression"  # n is an argument of memcpy
    assert {"def"} <= g.flags(assigned) and {"use", "sink_arg"} <= g.flags(used)


def test_data_flow_never_joins_different_variables():
    g = build("int f(void) { int a = 1; int b = 2; int c = a + b; a = c; return a * b; }")
    flow = g.edges("data_flow")
    assert flow, "expected def-use edges"
    for s, d in flow:
        assert g.tokens[s] == g.tokens[d], (g.tokens[s], g.tokens[d])
    (b_def, *b_uses) = g.find("identifier", "b")
    assert all((b_def, u) in flow for u in b_uses)


def test_data_flow_parameters_are_definitions_and_rhs_reads_the_old_value():
    g = build("int f(int len) { len = len + 1; return len; }")
    param, lhs, rhs, ret = g.find("identifier", "len")
    flow = g.edges("data_flow")
    assert "param" in g.flags(param)
    assert (param, rhs) in flow  # `len + 1` reads the parameter, not the assignment it is part of
    assert (lhs, ret) in flow and (param, ret) not in flow


def test_data_flow_counts_address_of_arguments_and_increments_as_definitions():
    g = build('void f(void) { int n; scanf("%d", &n); char *p = malloc(n); n++; use(n); }')
    _, addr, in_malloc, incremented, last = g.find("identifier", "n")
    flow = g.edges("data_flow")
    assert (addr, in_malloc) in flow
    assert (addr, incremented) in flow and (incremented, last) in flow


# --- control flow ------------------------------------------------------------------------------


def _statement(g: Graph, node_type: str, *token: str) -> int:
    (i,) = g.find(node_type, *token)
    return i


def test_control_flow_has_loop_back_edges_for_while_for_and_do():
    for loop, code in [
        ("while_statement", "void f(int n) { int i = 0; while (i < n) { i++; } done(); }"),
        ("for_statement", "void f(int n) { for (int i = 0; i < n; i++) { step(i); } done(); }"),
        ("do_statement", "void f(int n) { do { n--; } while (n > 0); done(); }"),
    ]:
        g = build(code)
        head = _statement(g, loop)
        cfg = g.edges("control_flow")
        back = [(s, d) for s, d in cfg if d == head and s > head]
        assert back, f"no back-edge into the {loop}"
        assert all(g.types[s] == "expression_statement" for s, _ in back)
        (after,) = [i for i in g.find("expression_statement") if g.tokens[i + 2] == ("done",)]
        assert (head, after) in cfg  # the loop's exit


def test_control_flow_has_no_back_edge_without_a_loop():
    g = build("void f(int n) { a(); if (n) b(); else c(); d(); }")
    cfg = g.edges("control_flow")
    assert cfg and all(s < d for s, d in cfg)


def test_control_flow_branches_of_if_and_else():
    g = build("void f(int n) { if (n > 0) pos(); else neg(); after(); }")
    cfg = g.edges("control_flow")
    branch = _statement(g, "if_statement", "if")
    pos, neg, after = g.find("expression_statement")
    (other,) = g.find("else_clause")
    assert (branch, pos) in cfg and (branch, other) in cfg and (other, neg) in cfg
    assert (branch, after) not in cfg  # with an else, the if never falls through itself
    assert (pos, after) in cfg and (neg, after) in cfg and (pos, neg) not in cfg


def test_control_flow_jumps_break_continue_return_goto():
    g = build(
        "int f(int n) { while (n) { if (n == 3) break; if (n == 5) continue; n--; } "
        "if (n) goto out; n = 1; out: return n; }"
    )
    cfg = g.edges("control_flow")
    loop = _statement(g, "while_statement")
    brk, cont = _statement(g, "break_statement", "break"), _statement(g, "continue_statement", "continue")
    goto, label = _statement(g, "goto_statement", "goto"), _statement(g, "labeled_statement")
    ret = _statement(g, "return_statement", "return")
    (after_loop,) = [s for s in g.find("if_statement", "if") if s > loop and (loop, s) in cfg]
    assert (brk, after_loop) in cfg and (cont, loop) in cfg and (goto, label) in cfg
    assert not [d for s, d in cfg if s == ret]  # return leaves the function


def test_control_flow_switch_reaches_every_case_and_falls_through():
    g = build("void f(int c) { switch (c) { case 1: one(); case 2: two(); break; default: other(); } end(); }")
    cfg = g.edges("control_flow")
    switch = _statement(g, "switch_statement")
    cases = g.find("case_statement")
    assert len(cases) == 3 and all((switch, c) in cfg for c in cases)
    one = [i for i in g.find("expression_statement") if g.tokens[i + 2] == ("one",)][0]
    assert (one, cases[1]) in cfg  # no break after case 1: fall through into case 2


# --- ast and sequence --------------------------------------------------------------------------


def test_ast_edges_form_one_tree_in_both_directions():
    g = build("int add(int a, int b) { return a + b; }")
    down, up = g.edges("ast_child"), g.edges("ast_parent")
    assert len(down) == len(g) - 1 and up == {(c, p) for p, c in down}
    assert all(p < c for p, c in down)  # preorder: parents first
    (plus,) = g.find("binary_expression")
    assert g.tokens[plus] == ("+",)  # the operator is folded into its expression


def test_sequence_edges_follow_the_leaves_in_source_order():
    g = build("int add(int a, int b) { return a + b; }")
    chain = dict(g.edges("next_token"))
    order = [min(chain)]
    while order[-1] in chain:
        order.append(chain[order[-1]])
    assert [g.tokens[i] for i in order] == [("int",), ("add",), ("int",), ("a",), ("int",), ("b",), ("a",), ("b",)]


def test_edge_types_follow_params():
    code = "void f(int n) { while (n) n--; g(n); }"
    only_ast = build(code, edge_types=["ast"]).raw
    assert set(only_ast.edge_type.tolist()) == {EDGE_TYPE_ID["ast_child"], EDGE_TYPE_ID["ast_parent"]}
    only_flow = build(code, edge_types=["data_flow", "control_flow"])
    assert {EDGE_TYPES[t] for t in only_flow.raw.edge_type.tolist()} == {"data_flow", "control_flow"}
    assert "param" in only_flow.flags(only_flow.find("identifier", "n")[0])  # flags do not depend on edges
    with pytest.raises(ParamsError, match="graph.edge_types"):
        GraphParams(edge_types=[])


# --- node features -----------------------------------------------------------------------------


def test_identifiers_split_into_subtokens_and_literals_become_kinds():
    g = build("int f(AVCodecContext *avctx) { char c = 'x'; puts(\"hi\"); return UINT32_MAX + 0x10; }")
    assert g.tokens[g.find("type_identifier")[0]] == ("av", "codec", "context")
    assert g.tokens[g.find("identifier", "uint32", "max")[0]] == ("uint32", "max")
    assert g.find("number_literal", "<num>") and g.find("string_literal", "<str>") and g.find("char_literal", "<char>")


def test_subtokens_per_node_caps_token_columns():
    g = build("void f(void) { a_very_long_name_with_parts(); }", subtokens_per_node=2)
    assert g.find("identifier", "a", "very")


def test_taint_flags_mark_sources_sinks_indexes_and_dangerous_apis():
    g = build(
        'void f(char *in) { char buf[8]; int k = getenv("K")[0]; strcpy(buf, in); '
        "p = av_malloc(k * 2); buf[k] = 0; free(p); system(in); }"
    )
    call_of = {g.tokens[i + 1][0]: i for i in g.find("call_expression")}  # the callee name follows the call
    assert "source_call" in g.flags(call_of["getenv"])
    assert {"sink_call", "dangerous_api"} <= g.flags(call_of["strcpy"])
    assert {"sink_call"} <= g.flags(call_of["av"]) and "dangerous_api" not in g.flags(call_of["av"])
    (size,) = [i for i in g.find("binary_expression") if g.tokens[i] == ("*",)]
    assert "sink_arg" in g.flags(size)  # av_malloc is malloc: its size argument is a sink
    assert "index" in g.flags(g.find("identifier", "k")[2])
    assert "param" in g.flags(g.find("identifier", "in")[0])
    src = g.find("identifier", "in")[1]
    assert "source_arg" in g.flags(src)  # strcpy's source argument
    assert {"sink_call", "dangerous_api"} <= g.flags(call_of["system"])
    assert not (set().union(*(g.flags(i) for i in g.find("identifier", "buf"))) & {"sink_call", "source_call"})


# --- tiers -------------------------------------------------------------------------------------


def test_tiers_full_partial_token():
    full = build("static int f(int a) { return a; }")
    assert full.raw.tier == "full" and not any("in_error" in full.flags(i) for i in range(len(full)))
    partial = build("static int f(int a) { if (a) { x = 1; return a; }")  # a brace is missing
    assert partial.raw.tier == "partial" and any("in_error" in partial.flags(i) for i in range(len(partial)))
    missing = build("FOO(bar, baz)")  # a macro call alone: tree-sitter inserts a MISSING `;`
    assert missing.raw.tier == "partial"
    assert [missing.types[i] for i in range(len(missing)) if "in_error" in missing.flags(i)] == ["expression_statement"]
    token = build("This is plain English text about a function, and it is not C code at all, sorry.")
    assert token.raw.tier == "token"
    assert token.types[0] == "translation_unit" and token.types[1:4] == ["identifier"] * 3


def test_a_function_cut_short_keeps_its_structure_in_the_partial_tier():
    # as in Devign, where closing braces were lost: tree-sitter wraps everything in one ERROR node
    g = build(
        "int av_reallocp(void *ptr, size_t size)\n{\n    void **ptrptr = ptr;\n    void *ret;\n"
        "    ret = av_realloc(*ptrptr, size);\n    if (!ret) {\n        return AVERROR(ENOMEM);\n    *ptrptr = ret;\n"
    )
    assert g.raw.tier == "partial" and g.types[1] == "ERROR"
    _, assigned, checked, stored = g.find("identifier", "ret")
    assert (assigned, checked) in g.edges("data_flow") and (assigned, stored) in g.edges("data_flow")
    in_error_root = [d for p, d in g.edges("ast_child") if p == 1]
    assert "in_error" in g.flags(1) and all("in_error" in g.flags(c) for c in in_error_root)
    assert "in_error" not in g.flags(checked)  # deep inside a well-formed statement
    assert "sink_call" in g.flags(g.find("call_expression")[0])  # av_realloc


def test_attribute_macros_are_normalised_for_the_full_tier():
    code = "static av_cold int init(AVCodecContext *avctx) { return 0; }\n"
    assert build(code).raw.tier == "full"
    assert build(code, normalise_macros=False).raw.tier == "partial"
    qemu = build("int coroutine_fn bdrv_co_read(BlockDriverState *bs) { return 0; }")
    assert qemu.raw.tier == "full" and qemu.find("identifier", "bdrv", "co", "read")


def test_list_iterator_macros_become_loops():
    g = build("void f(State *s) { Entry *e; QTAILQ_FOREACH(e, &s->list, next) { use(e); } done(); }")
    assert g.raw.tier == "full"
    (loop,) = g.find("while_statement")
    assert [s for s, d in g.edges("control_flow") if d == loop and s > loop]  # the loop back-edge
    raw = build("void f(void) { QTAILQ_FOREACH(e, &l, next) { use(e); } }", normalise_macros=False).raw
    assert raw.tier == "partial"


def test_token_tier_threshold_follows_params():
    code = "int f(void) { return 1; } @@@ ### $$$ %%% ^^^ &&& *** ((( )))"
    assert build(code, token_tier_error_fraction=1.0).raw.tier == "partial"
    assert build(code, token_tier_error_fraction=0.01).raw.tier == "token"


def test_prose_is_token_tier_by_its_rate_of_missing_semicolons():
    prose = "This text is not code at all; it should still become a token-tier graph."  # few ERROR bytes
    assert build(prose).raw.tier == "token"
    assert build(prose, token_tier_problem_rate=1.0).raw.tier == "partial"


def test_token_graph_nests_tokens_under_brackets_and_flags_calls():
    g = build("@@ gets(buf) [ i ] @@", token_tier_error_fraction=0.01)
    assert g.raw.tier == "token"
    (call,) = g.find("identifier", "gets")
    assert {"source_call", "dangerous_api"} <= g.flags(call)
    (i,) = g.find("identifier", "i")
    assert g.types[g.parent(i)] == "'['" and "index" in g.flags(i)
    (buf,) = g.find("identifier", "buf")
    assert g.types[g.parent(buf)] == "'('"
    assert (call, call + 1) in g.edges("next_token")


# --- sizes and bad input -----------------------------------------------------------------------


def test_truncation_keeps_the_preorder_prefix_and_marks_cut_nodes():
    body = "".join(f"x{i} = y{i} + {i};\n" for i in range(200))
    code = f"void f(void) {{\n{body}}}"
    whole, cut = build(code, max_nodes=5000), build(code, max_nodes=50)
    assert not whole.raw.truncated and cut.raw.truncated and len(cut) == 50
    assert cut.types == whole.types[:50] and cut.tokens == whole.tokens[:50]
    assert "truncated" in cut.flags(0) and "truncated" not in cut.flags(49)
    assert int(cut.raw.edge_index.max()) < 50


def test_truncation_leaves_out_control_flow_into_the_cut_part():
    body = "".join(f"x{i} = y{i} + {i};\n" for i in range(100))
    g = build(f"void f(int n) {{ while (n) {{\n{body}}} }}", max_nodes=60)
    last_kept = max(g.find("expression_statement"))
    assert g.find("while_statement") and not [d for s, d in g.edges("control_flow") if s == last_kept]
    first = min(g.find("expression_statement"))
    assert (first, g.find("expression_statement")[1]) in g.edges("control_flow")


def _check_graph(g: Graph) -> None:
    assert len(g) >= 1
    e = g.raw.edge_index
    assert e.shape[0] == 2 and (e.size == 0 or (e.min() >= 0 and e.max() < len(g)))


@pytest.mark.parametrize(
    "name, text",
    [
        ("empty", ""),
        ("whitespace", " \n\t\r\n "),
        ("english", "The quick brown fox jumps over the lazy dog. It is not a C function."),
        ("surrogates", "int f(void) { return '\ud800'; } \udcff"),
        ("replacement characters", "\ufffd\ufffd int \ufffd f ( \ufffd"),
        ("random bytes", bytes(range(256)).decode("utf-8", errors="replace") * 4),
        ("macro only", "FOO(bar, baz)"),
        ("nul byte", "int f(void) { int a\0 = 1; return a; }"),
        ("unterminated comment and string", 'int f(void) { /* never closed "abc'),
    ],
)
def test_bad_input_always_gets_a_graph(name, text):
    g = build(text)
    _check_graph(g)


def test_empty_function_is_one_empty_node():
    g = build("")
    assert g.types == ["<empty>"] and g.raw.tier == "token" and g.raw.num_edges == 0


def test_windows_line_endings_give_the_same_graph():
    unix = "int f(int a)\n{\n    return a + 1;\n}\n"
    windows = build(unix.replace("\n", "\r\n"))
    assert windows.raw.tier == "full"
    assert windows.types == build(unix).types and windows.tokens == build(unix).tokens


def test_megabyte_function_is_truncated_quickly():
    import time

    body = "    total += buffer[index] * 3;\n" * 32_000  # ~1 MB
    code = "int f(int *buffer, int index) {\n" + body + "    return total;\n}\n"
    assert len(code) > 1_000_000
    started = time.perf_counter()
    g = build(code)
    assert time.perf_counter() - started < 10
    assert g.raw.tier == "full" and g.raw.truncated and len(g) == GraphParams().max_nodes


@pytest.mark.parametrize("opening, closing", [("(", ")"), ("{", "}")])
def test_deep_nesting_does_not_recurse(opening, closing):
    depth = 5000
    inner = "1" if opening == "(" else "x = 1;"
    nest = opening * depth + inner + closing * depth
    code = f"int f(void) {{ return {nest}; }}" if opening == "(" else f"void f(void) {nest}"
    for max_nodes in (600, 20_000):  # cut, and whole (the walk goes all the way down)
        g = build(code, max_nodes=max_nodes)
        _check_graph(g)
        assert g.raw.tier in ("full", "partial")
        assert len(g) > (depth if max_nodes > depth else max_nodes - 1)


def test_graph_params_are_validated():
    with pytest.raises(ParamsError, match="graph.max_nodes"):
        GraphParams(max_nodes=1)
    with pytest.raises(ParamsError, match="graph.token_tier_error_fraction"):
        GraphParams(token_tier_error_fraction=0)
    assert dataclasses.replace(GraphParams(), workers=3).workers == 3
