"""io.git against real repositories in tmp_path: what each helper answers, and what its errors say."""

from __future__ import annotations

import shutil

import pytest
from conftest import commit, git, init_repo

from streamguard.io.git import GitError, head_commit, run_git, work_tree_top

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def test_head_commit_and_top_inside_a_repository(tmp_path):
    repo = init_repo(tmp_path / "repo")
    (repo / "src").mkdir()
    (repo / "src" / "a.c").write_text("int a;\n")
    commit(repo, "first")
    assert head_commit(repo / "src") == git(repo, "rev-parse", "HEAD").strip()
    assert work_tree_top(repo / "src" / "a.c") == repo.resolve()  # a file: the tree holding its folder
    assert work_tree_top(repo / "src") == repo.resolve()


def test_no_answer_outside_a_repository_or_before_the_first_commit(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # git does not look above tmp_path
    plain = tmp_path / "plain"
    plain.mkdir()
    assert head_commit(plain) is None and work_tree_top(plain) is None
    empty = init_repo(tmp_path / "empty")
    assert head_commit(empty) is None and work_tree_top(empty) == empty.resolve()


def test_a_failed_command_names_the_command_the_folder_and_gits_reason(tmp_path):
    repo = init_repo(tmp_path / "repo")
    with pytest.raises(GitError) as caught:
        run_git(repo, "rev-parse", "--verify", "no-such-branch")
    message = str(caught.value)
    assert message.startswith(f"{repo}: `git rev-parse --verify no-such-branch` failed: ")
    assert caught.value.reason in message and "fatal" in caught.value.reason and caught.value.installed


def test_git_missing_is_a_git_error_saying_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on it
    with pytest.raises(GitError, match="the `git` command is not installed") as caught:
        run_git(tmp_path, "status")
    assert not caught.value.installed
    assert head_commit(tmp_path) is None  # a question gets no answer, not an error
