"""C function extraction, before/after pairing, undoing patches and fix-commit URLs."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures" / "collect"))
from collect_loopback import FIXTURES  # noqa: E402

from streamguard.c_functions import extract_functions  # noqa: E402
from streamguard.data.collectors.fix_pairs import changed_functions  # noqa: E402
from streamguard.data.collectors.github import commit_in_repo, is_other_commit_url, parse_commit_url  # noqa: E402
from streamguard.data.collectors.patches import PatchMismatch, reverse_apply  # noqa: E402
from streamguard.graphs.grammar import new_parser  # noqa: E402
from streamguard.graphs.normalise import normalise_macros  # noqa: E402

SOURCE = """#include <stdio.h>
static int *lookup(char *key, int n) { return table + n; }

#ifdef WIN32
void log_it(const char *m)
{
    OutputDebugString(m);
}
#else
void log_it(const char *m)
{
    fputs(m, stderr);
}
#endif

int (*pick_handler(int kind))(int)
{
    return handlers[kind];
}

struct point { int x, y; };
int missing_brace(void) { if (x) { return 1; }
"""


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


# Project macros both old extractors cut differently: the collectors' (no normalisation) lost the
# GCC_FMT_ATTR and DECLARE_ALIGNED_ATTR functions and named the av_printf_format one after the macro;
# the graphs/predict one cut `av_cold` off the head of a function that starts with it.
MACRO_HEAVY = """av_cold void ff_init(Ctx *c)
{
    c->x = 1;
}

static void coroutine_fn co_drain(BlockDriverState *bs)
{
    QTAILQ_FOREACH(req, &bs->reqs, list) {
        req->done = 1;
    }
}

int GCC_FMT_ATTR(2, 3) log_it(int level, const char *fmt, ...)
{
    return level;
}

void av_printf_format(3, 4) av_log(void *a, int l, const char *f, ...)
{
    return;
}

static void DECLARE_ALIGNED_ATTR(16) fill(int a)
{
    buf[0] = a;
}
"""


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


def test_fix_pairs_see_functions_behind_attribute_macros():
    after = MACRO_HEAVY.replace("return level;", "if (level < 0)\n        return 0;\n    return level;")
    (pair,) = changed_functions(MACRO_HEAVY, after)
    assert pair.before.name == pair.after.name == "log_it"


def test_changed_functions_pairs_by_name_and_occurrence():
    after = SOURCE.replace("fputs(m, stderr);", "fputs(m, stderr);\n    fflush(stderr);")
    (pair,) = changed_functions(SOURCE, after)
    assert pair.before.name == pair.after.name == "log_it"
    assert pair.before.start_line == 10 and "fflush" in pair.after.text
    assert changed_functions(SOURCE, SOURCE) == []
    # a function new in the fix has no "before": not a pair
    with_new = SOURCE.replace("struct point", "int brand_new(void) { return 0; }\n\nstruct point")
    assert changed_functions(SOURCE, with_new) == []


def unified(before: str, after: str) -> str:
    lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=3)
    return "".join(list(lines)[2:])  # GitHub's "patch" has no ---/+++ header


def test_reverse_apply_recovers_the_parent():
    before = (FIXTURES / "chunk_before.c").read_text()
    after = (FIXTURES / "chunk_after.c").read_text()
    assert reverse_apply(after, unified(before, after)) == before
    lines = [f"line {i}\n" for i in range(50)]
    edited = lines[:3] + ["new\n"] + lines[3:20] + lines[22:40] + ["changed\n"] + lines[41:]
    assert reverse_apply("".join(edited), unified("".join(lines), "".join(edited))) == "".join(lines)


def test_reverse_apply_rejects_a_patch_of_another_revision():
    before = (FIXTURES / "chunk_before.c").read_text()
    after = (FIXTURES / "chunk_after.c").read_text()
    with pytest.raises(PatchMismatch, match="does not match"):
        reverse_apply(after.replace("memcpy(out", "memmove(out"), unified(before, after))


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://github.com/FFmpeg/FFmpeg/commit/0a1b2c3d4e5f", ("FFmpeg", "FFmpeg", "0a1b2c3d4e5f")),
        ("https://github.com/qemu/qemu/commit/ABCDEF1234567.patch", ("qemu", "qemu", "abcdef1234567")),
        ("https://github.com/a/b.c/pull/12/commits/1234567890abcdef#diff-1", ("a", "b.c", "1234567890abcdef")),
        ("https://github.com/a/b/issues/3", None),
        ("https://gitlab.com/a/b/-/commit/1234567", None),
    ],
)
def test_parse_commit_url(url, expected):
    ref = parse_commit_url(url)
    assert (ref and (ref.owner, ref.repo, ref.sha)) == expected if expected else ref is None


def test_commit_in_repo_and_other_hosts():
    assert commit_in_repo("https://github.com/a/b.git", "abcdef12").project == "a/b"
    assert commit_in_repo("https://gitlab.com/a/b", "abcdef12") is None
    assert is_other_commit_url("https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/commit/?id=abc123")
    assert not is_other_commit_url("https://github.com/a/b/commit/abcdef1")
    assert not is_other_commit_url("https://example.org/advisory")
