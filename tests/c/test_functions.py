"""The one C function extractor: names, line spans and exact text, behind project macros."""

from __future__ import annotations

from conftest import TESTS

from streamguard.c.functions import extract_functions
from streamguard.c.grammar import new_parser
from streamguard.c.normalise import normalise_macros

FIXTURES = TESTS / "fixtures" / "c"
# two definitions of one name under #ifdef, a function returning a function pointer, a missing brace
SOURCE = (FIXTURES / "ifdefs.c").read_text()
# project macros in function heads that a plain parse gets wrong: an attribute before the return type
# (`av_cold`), between type and name (`GCC_FMT_ATTR(2, 3)`, `av_printf_format(3, 4)`), and a list iterator
MACRO_HEAVY = (FIXTURES / "macro_heavy.c").read_text()


def test_extract_names_lines_and_text():
    found = extract_functions(SOURCE)
    assert [(f.name, f.start_line, f.end_line) for f in found][:4] == [
        ("lookup", 2, 2),
        ("log_it", 5, 8),
        ("log_it", 10, 13),
        ("pick_handler", 16, 19),
    ]
    assert found[0].text == "static int *lookup(char *key, int n) { return table + n; }"
    assert found[2].text.endswith("fputs(m, stderr);\n}")


def test_one_extractor_cuts_macro_heavy_code_like_a_clean_parse():
    found = extract_functions(MACRO_HEAVY)
    assert [(f.name, f.start_line, f.end_line) for f in found] == [
        ("ff_init", 1, 4),
        ("co_drain", 6, 11),
        ("log_it", 13, 16),
        ("av_log", 18, 21),
        ("fill", 23, 26),
    ]
    lines = MACRO_HEAVY.splitlines()
    for fn in found:  # the exact original text, macros included, line for line
        assert fn.text == "\n".join(lines[fn.start_line - 1 : fn.end_line])
    assert extract_functions("no functions here") == []


# tcpdump print.c at 9fc92a3d (BSD licence): funcattrs.h attribute macros (NORETURN,
# PRINTFLIKE(x, y)) in the head. Unnormalised, tree-sitter loses all three definitions.
TCPDUMP_PRINTFLIKE = r"""/* VARARGS */
static void NORETURN PRINTFLIKE(3, 4)
ndo_error(netdissect_options *ndo, status_exit_codes_t status,
          FORMAT_STRING(const char *fmt), ...)
{
    va_list ap;

    if (ndo->program_name)
        (void)fprintf(stderr, "%s: ", ndo->program_name);
    va_start(ap, fmt);
    (void)vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (*fmt) {
        fmt += strlen(fmt);
        if (fmt[-1] != '\n')
            (void)fputc('\n', stderr);
    }
    nd_cleanup();
    exit(status);
    /* NOTREACHED */
}

/* VARARGS */
static int PRINTFLIKE(2, 3)
ndo_printf(netdissect_options *ndo, FORMAT_STRING(const char *fmt), ...)
{
    va_list args;
    int ret;

    va_start(args, fmt);
    ret = vfprintf(stdout, fmt, args);
    va_end(args);

    if (ret < 0)
        ndo_error(ndo, S_ERR_ND_WRITE_FILE,
              "Unable to write output: %s", pcap_strerror(errno));
    return (ret);
}

void
ndo_set_function_pointers(netdissect_options *ndo)
{
    ndo->ndo_default_print=ndo_default_print;
    ndo->ndo_printf=ndo_printf;
    ndo->ndo_error=ndo_error;
    ndo->ndo_warning=ndo_warning;
}
"""


def test_extractor_cuts_functions_behind_tcpdump_attribute_macros():
    found = extract_functions(TCPDUMP_PRINTFLIKE)
    assert [(f.name, f.start_line, f.end_line) for f in found] == [
        ("ndo_error", 2, 21),
        ("ndo_printf", 24, 38),
        ("ndo_set_function_pointers", 40, 47),
    ]
    assert found[0].text.startswith("static void NORETURN PRINTFLIKE(3, 4)\nndo_error(")
    assert "FORMAT_STRING(const char *fmt)" in found[1].text  # the original text, macros kept
    # the graphs parse the same normalised text: a clean parse, so full-tier graphs
    assert not new_parser().parse(normalise_macros(TCPDUMP_PRINTFLIKE.encode())).root_node.has_error


def test_predict_cuts_c_files_with_the_same_extractor(tmp_path):
    from streamguard.predict import functions_from_inputs

    source = tmp_path / "mixed.c"
    source.write_text(MACRO_HEAVY)
    records = functions_from_inputs([source])
    assert [r.func for r in records] == [f.text for f in extract_functions(MACRO_HEAVY)]
    assert records[0].origin == f"{source}:1:ff_init"
