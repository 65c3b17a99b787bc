"""Juliet importer: a tiny suite built in tmp_path (always) and the real subset in ../shared (when present)."""

from __future__ import annotations

import random
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures" / "collect"))
from collect_loopback import collect_params  # noqa: E402

from streamguard.data.collectors.base import CollectError  # noqa: E402
from streamguard.data.collectors.juliet import role_of  # noqa: E402
from streamguard.data.records import read_records  # noqa: E402
from streamguard.stages.collect import run_collect  # noqa: E402

SHARED = Path(__file__).resolve().parents[4] / "shared"
JULIET_SUBSET = SHARED / "datasets" / "juliet" / "juliet_subset.tar.gz"

CASE = "CWE121_Stack_Based_Buffer_Overflow__char_type_overrun_memcpy_01"
CASE_C = f"""/* TEMPLATE GENERATED TESTCASE FILE
Filename: {CASE}.c
*/
#include "std_testcase.h"

#ifndef OMITBAD

void {CASE}_bad()
{{
    char dest[10];
    char source[100];
    memset(source, 'A', 100-1);
    source[100-1] = '\\0';
    /* FLAW: copy more than dest can hold */
    memcpy(dest, source, strlen(source) * sizeof(char));
    dest[10-1] = '\\0';
    printLine(dest);
}}

#endif /* OMITBAD */

#ifndef OMITGOOD

static void good1()
{{
    char dest[10];
    char source[100];
    memset(source, 'A', 100-1);
    source[100-1] = '\\0';
    /* FIX: copy at most what dest can hold */
    memcpy(dest, source, (10-1) * sizeof(char));
    dest[10-1] = '\\0';
    printLine(dest);
}}

void {CASE}_good()
{{
    good1();
}}

#endif /* OMITGOOD */

#ifdef INCLUDEMAIN
int main(int argc, char * argv[])
{{
    srand( (unsigned)time(NULL) );
    {CASE}_good();
    {CASE}_bad();
    return 0;
}}
#endif
"""

# a two-file flow: the good sink has the bad sink's text, the flaw is in the caller
SINK_B = """#include "std_testcase.h"

void CWE476_NULL_Pointer_Dereference__int_51b_badSink(int * data)
{
    /* POTENTIAL FLAW: Attempt to use data, which may be NULL */
    printIntLine(*data);
    printLine("dereferenced the pointer, if it was NULL this crashed");
}

void CWE476_NULL_Pointer_Dereference__int_51b_goodG2BSink(int * data)
{
    /* POTENTIAL FLAW: Attempt to use data, which may be NULL */
    printIntLine(*data);
    printLine("dereferenced the pointer, if it was NULL this crashed");
}

void CWE476_NULL_Pointer_Dereference__int_51b_goodB2GSink(int * data)
{
    /* FIX: Check for NULL before dereferencing data */
    if (data != NULL)
    {
        printIntLine(*data);
    }
    else
    {
        printLine("data is NULL");
    }
}
"""


def build_suite(root: Path) -> Path:
    (root / "testcasesupport").mkdir(parents=True)
    (root / "testcasesupport" / "io.c").write_text("void printLine(const char * line) { if (line) puts(line); }\n")
    s01 = root / "testcases" / "CWE121_Stack_Based_Buffer_Overflow" / "s01"
    s01.mkdir(parents=True)
    (s01 / f"{CASE}.c").write_text(CASE_C)
    cwe476 = root / "testcases" / "CWE476_NULL_Pointer_Dereference"
    cwe476.mkdir(parents=True)
    (cwe476 / "CWE476_NULL_Pointer_Dereference__int_51b.c").write_text(SINK_B)
    return root


def test_directory_layout(tmp_path):
    suite = build_suite(tmp_path / "juliet")
    report = run_collect("juliet", collect_params(tmp_path, juliet_path=str(suite)), tmp_path / "out")
    records = list(read_records(tmp_path / "out" / "juliet.jsonl"))
    got = {(r.func.split("(")[0].split()[-1], r.target, r.cwe) for r in records}
    assert got == {
        (f"{CASE}_bad", 1, "CWE-121"),
        ("good1", 0, "CWE-121"),
        ("CWE476_NULL_Pointer_Dereference__int_51b_goodB2GSink", 0, "CWE-476"),
    }
    bad = next(r for r in records if r.target == 1)
    assert bad.origin == f"{suite}/testcases/CWE121_Stack_Based_Buffer_Overflow/s01/{CASE}.c:8"
    assert bad.source == "juliet" and bad.project == "juliet" and bad.confidence == 0.3
    # main is a helper; the _good() wrapper is too short; badSink/goodG2BSink share their text
    assert report["dropped"] == {"helper_function": 1, "too_short": 1, "juliet_ambiguous": 2}
    assert report["details"]["case_files"] == 2  # testcasesupport/ is not a test case
    # one test case's bad and good functions share a pair id; another case's sink (file 51b) has its own
    pair_of = {r.func.split("(")[0].split()[-1]: r.pair for r in records}
    assert pair_of[f"{CASE}_bad"] == pair_of["good1"] == f"juliet:{CASE}"
    assert (
        pair_of["CWE476_NULL_Pointer_Dereference__int_51b_goodB2GSink"]
        == "juliet:CWE476_NULL_Pointer_Dereference__int_51"
    )


def test_tar_gz_layout_gives_the_same_records(tmp_path):
    suite = build_suite(tmp_path / "juliet")
    archive = tmp_path / "juliet.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(suite, arcname=".")
    from_dir = run_collect("juliet", collect_params(tmp_path, juliet_path=str(suite)), tmp_path / "a")
    from_tar = run_collect("juliet", collect_params(tmp_path, juliet_path=str(archive)), tmp_path / "b")
    assert from_dir["by_target"] == from_tar["by_target"] == {"0": 2, "1": 1}
    origins = [r.origin for r in read_records(tmp_path / "b" / "juliet.jsonl")]
    assert all(o.startswith(f"{archive}!./testcases/") for o in origins)


def test_null_path_is_skipped_but_a_missing_path_is_an_error(tmp_path):
    report = run_collect("juliet", collect_params(tmp_path), tmp_path / "out")
    assert report["status"] == "skipped" and "juliet_path is null" in report["reason"]
    absent = tmp_path / "absent.tar.gz"
    with pytest.raises(CollectError, match=r"collect.juliet_path: .*absent.tar.gz does not exist"):
        run_collect("juliet", collect_params(tmp_path, juliet_path=str(absent)), tmp_path / "out2")
    assert not (tmp_path / "out2" / "juliet.jsonl").exists()


def test_truncated_tar_gz_is_an_error_naming_the_archive(tmp_path):
    suite = build_suite(tmp_path / "juliet")
    (suite / "testcases" / "padding.bin").write_bytes(random.Random(0).randbytes(200_000))  # not compressible
    archive = tmp_path / "juliet.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(suite, arcname=".")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(CollectError, match=r"collect.juliet_path: .*cut.tar.gz: truncated or corrupt tar archive"):
        run_collect("juliet", collect_params(tmp_path, juliet_path=str(cut)), tmp_path / "out")
    assert not (tmp_path / "out" / "juliet.jsonl").exists()


def test_not_a_juliet_suite(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CollectError, match="holds no testcases/CWE"):
        run_collect("juliet", collect_params(tmp_path, juliet_path=str(tmp_path / "empty")), tmp_path / "out")
    junk = tmp_path / "junk.tar.gz"
    junk.write_text("no tar")
    with pytest.raises(CollectError, match="neither a directory nor a tar archive"):
        run_collect("juliet", collect_params(tmp_path, juliet_path=str(junk)), tmp_path / "out")


@pytest.mark.parametrize(
    "name, role",
    [
        ("CWE121_Stack_Based_Buffer_Overflow__CWE129_rand_17_bad", 1),
        ("CWE416_Use_After_Free__malloc_free_char_63b_badSink", 1),
        ("badSource", 1),
        ("goodG2B", 0),
        ("goodB2G2", 0),
        ("CWE416_Use_After_Free__malloc_free_char_63b_goodB2GSink", 0),
        ("CWE121_Stack_Based_Buffer_Overflow__CWE129_rand_17_good", 0),
        ("helperGood", 0),
        ("main", None),
        ("staticReturnsTrue", None),
    ],
)
def test_role_of(name, role):
    assert role_of(name) == role


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.skipif(not JULIET_SUBSET.exists(), reason="../shared/datasets/juliet is absent")
def test_real_subset(tmp_path):
    report = run_collect("juliet", collect_params(tmp_path, juliet_path=str(JULIET_SUBSET)), tmp_path / "out")
    assert report["details"]["case_files"] == 4038  # the 4,040 .c files less testcasesupport/'s two
    assert set(report["by_cwe"]) == {f"CWE-{n}" for n in (121, 122, 134, 190, 401, 415, 416, 476, 78)}
    assert report["by_target"]["1"] > 2000 and report["by_target"]["0"] > report["by_target"]["1"]
    records = list(read_records(tmp_path / "out" / "juliet.jsonl"))
    assert len({r.dup_key for r in records}) == len(records)  # deduplicated


def test_max_cases_keeps_whole_cases_the_same_ones_every_run(tmp_path):
    suite = build_suite(tmp_path / "juliet")
    full = run_collect("juliet", collect_params(tmp_path, juliet_path=str(suite)), tmp_path / "all")
    runs = [
        run_collect("juliet", collect_params(tmp_path, juliet_path=str(suite), juliet_max_cases=1), tmp_path / run)
        for run in ("one", "again")
    ]
    kept = [{r.pair for r in read_records(tmp_path / run / "juliet.jsonl")} for run in ("one", "again")]
    assert kept[0] == kept[1] and len(kept[0]) == 1  # one whole case, the same one each time
    case = next(iter(kept[0]))
    whole = [r for r in read_records(tmp_path / "all" / "juliet.jsonl") if r.pair == case]
    assert len(list(read_records(tmp_path / "one" / "juliet.jsonl"))) == len(whole)
    assert runs[0]["dropped"]["juliet_case_cap"] > 0 and full["records"] > len(whole)
    assert runs[0]["details"]["cases"] == 2 and runs[0]["details"]["cases_kept"] == 1


@pytest.mark.shared
@pytest.mark.skipif(not JULIET_SUBSET.exists(), reason="../shared/datasets/juliet is absent")
def test_capped_real_subset_spreads_over_the_cwes(tmp_path):
    params = collect_params(tmp_path, juliet_path=str(JULIET_SUBSET), juliet_max_cases=100)
    report = run_collect("juliet", params, tmp_path / "out")
    assert report["details"]["cases_kept"] == 100
    assert 100 <= report["records"] <= 600, report["records"]
    assert len(report["by_cwe"]) >= 6, report["by_cwe"]  # hash order: not the first CWE's cases only
