"""io.atomic: the new content or the old, never half, and no temporary file left behind."""

from __future__ import annotations

import pytest

from streamguard.io.atomic import atomic_path, write_text_atomic


def test_written_content_replaces_the_old_and_no_temporary_file_stays(tmp_path):
    path = tmp_path / "deep" / "out.json"
    write_text_atomic(path, "old\n")
    with atomic_path(path, durable=True) as tmp:
        assert tmp.parent == path.parent and tmp.name.startswith(".") and tmp.suffix == ".tmp"
        tmp.write_text("new\n")
        assert path.read_text() == "old\n"  # readers see the old content until the block ends
    assert path.read_text() == "new\n"
    assert [p.name for p in path.parent.iterdir()] == ["out.json"]


def test_an_error_while_writing_keeps_the_old_content(tmp_path):
    path = tmp_path / "out.jsonl"
    write_text_atomic(path, "whole\n")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert path.read_text() == "whole\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
