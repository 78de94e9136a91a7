"""The manifest reads the checkout's commit without locking git's index (issue 32, finding 6:
every run ran `git status` in an editable checkout, which takes `.git/index.lock` and so made the
user's own concurrent git command fail)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sculptbench.run.manifest import git_state

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "checkout"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("one\n")
    git(root, "add", "a.txt")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_the_commit_is_read_from_loose_and_packed_refs_and_a_detached_head(repo):
    sha = git(repo, "rev-parse", "HEAD")
    assert git_state(repo) == {"sha": sha, "dirty": False}
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert git_state(repo)["sha"] == sha
    git(repo, "checkout", "-q", "--detach")
    assert git_state(repo)["sha"] == sha
    (repo / "a.txt").write_text("two\n")
    assert git_state(repo) == {"sha": sha, "dirty": True}


def test_a_worktree_is_read_through_its_git_file(repo, tmp_path):
    git(repo, "worktree", "add", "-q", "-b", "side", str(tmp_path / "side"))
    (tmp_path / "side" / "b.txt").write_text("b\n")
    git(tmp_path / "side", "add", "b.txt")
    git(tmp_path / "side", "commit", "-q", "-m", "side")
    assert (tmp_path / "side" / ".git").is_file()
    assert git_state(tmp_path / "side") == {"sha": git(tmp_path / "side", "rev-parse", "HEAD"), "dirty": False}


def test_not_a_checkout(tmp_path):
    assert git_state(tmp_path) == {"sha": None, "dirty": None}


def test_no_git_command_takes_the_index_lock(repo, tmp_path, monkeypatch):
    """A `git` on PATH that logs its arguments: no `status`, every call without optional locks;
    with the user's own index.lock held, the state is still read and the lock left alone."""
    sha = git(repo, "rev-parse", "HEAD")
    log = tmp_path / "git.log"
    shim = tmp_path / "bin" / "git"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\necho "$GIT_OPTIONAL_LOCKS $*" >> {log}\nexec {shutil.which("git")} "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    lock = repo / ".git" / "index.lock"
    lock.write_text("held by the user's git")
    (repo / "a.txt").write_text("changed\n")
    assert git_state(repo) == {"sha": sha, "dirty": True}
    assert lock.read_text() == "held by the user's git"
    calls = log.read_text().splitlines()
    assert calls, "the dirty check ran no git"
    for call in calls:
        assert call.startswith("0 --no-optional-locks ") and " status" not in call, call
