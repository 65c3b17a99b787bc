"""io.run_info: a process that does not write (a torchrun rank other than 0) leaves the folder alone."""

from __future__ import annotations

from streamguard.io.run_info import RUN_INFO_FILE, TIMING_FILE, read_run_info, write_run_info


def _write(out_dir, write: bool) -> dict:
    return write_run_info(
        out_dir, seed=1, params={"C": 1.0}, data_sha256={}, device="cpu", wall_time_s=1.234, write=write, model="m"
    )


def test_the_writer_writes_both_files_and_others_only_get_the_info(tmp_path):
    info = _write(tmp_path / "rank0", write=True)
    assert sorted(p.name for p in (tmp_path / "rank0").iterdir()) == sorted([RUN_INFO_FILE, TIMING_FILE])
    assert read_run_info(tmp_path / "rank0") == {
        k: v for k, v in info.items() if k not in ("wall_time_s", "git_commit")
    }
    assert _write(tmp_path / "rank1", write=False)["wall_time_s"] == 1.23
    assert not (tmp_path / "rank1").exists()
