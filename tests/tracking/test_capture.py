from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from modelyard.config import TrackingSettings
from modelyard.tracking.capture import (
    DIFF_ARTIFACT,
    REQUIREMENTS_ARTIFACT,
    _strip_credentials,
    capture_fast,
    start_background_capture,
)

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

FAST_KEYS = {
    "source.entry_point",
    "source.argv",
    "host.name",
    "user",
    "python.version",
    "python.implementation",
    "os.platform",
    "modelyard.version",
}


class RecordingSink:
    """A CaptureSink that keeps what it is given."""

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}
        self.artifacts: dict[str, bytes] = {}
        self.metrics: list[tuple[dict[str, float], int]] = []

    def set_tags(self, tags: dict[str, str]) -> None:
        self.tags.update(tags)

    def log_bytes(self, data: bytes, name: str) -> None:
        self.artifacts[name] = data

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        self.metrics.append((values, step))


class BrokenArtifactsSink(RecordingSink):
    def log_bytes(self, data: bytes, name: str) -> None:
        raise OSError("disk full")


def capture(
    cwd: Path | None, sink: RecordingSink | None = None, **settings: object
) -> RecordingSink:
    sink = sink or RecordingSink()
    options = {"capture_packages": False, **settings}
    thread = start_background_capture(sink, TrackingSettings(**options), cwd=cwd)
    thread.join(timeout=30)
    assert not thread.is_alive()
    return sink


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user/system git config, and no repository found above tmp_path."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    for name, value in {
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }.items():
        monkeypatch.setenv(name, value)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit on `main` and a remote whose URL carries a password."""
    root = tmp_path / "repo"
    (root / "sub").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("one\ntwo\n")
    (root / "sub" / "keep.txt").write_text("kept\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    git(root, "remote", "add", "origin", "https://alice:s3cret@example.com/team/repo.git")
    return root


# -- capture_fast ---------------------------------------------------------------------


def test_capture_fast_keys_and_values() -> None:
    facts = capture_fast()
    assert set(facts) == FAST_KEYS
    assert all(isinstance(v, str) and v for v in facts.values())
    assert json.loads(facts["source.argv"]) == sys.argv
    assert facts["python.version"] == ".".join(map(str, sys.version_info[:3]))
    assert capture_fast().keys() == facts.keys()


def test_capture_fast_is_fast() -> None:
    timings = []
    for _ in range(20):
        t0 = time.perf_counter()
        capture_fast()
        timings.append(time.perf_counter() - t0)
    assert sorted(timings)[10] < 0.010


@pytest.mark.parametrize(
    ("file", "spec_name", "expected"),
    [
        ("/x/train.py", None, "/x/train.py"),
        ("train.py", None, "<cwd>/train.py"),
        ("/x/pkg/__main__.py", "pkg.__main__", "-m pkg"),
        ("/x/tool.py", "tool", "-m tool"),
        ("<stdin>", None, "<interactive>"),
        (None, None, "<interactive>"),
    ],
)
def test_entry_point(
    monkeypatch: pytest.MonkeyPatch, file: str | None, spec_name: str | None, expected: str
) -> None:
    main = types.ModuleType("__main__")
    main.__spec__ = types.SimpleNamespace(name=spec_name) if spec_name else None  # type: ignore[assignment]
    if file is not None:
        main.__file__ = file
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.delattr(sys, "ps1", raising=False)
    expected = expected.replace("<cwd>", os.getcwd())
    assert capture_fast()["source.entry_point"] == expected


# -- git ------------------------------------------------------------------------------


def test_background_capture_returns_a_started_daemon_thread(tmp_path: Path) -> None:
    thread = start_background_capture(
        RecordingSink(), TrackingSettings(capture_git=False, capture_packages=False), tmp_path
    )
    assert thread.daemon
    thread.join(timeout=10)


@needs_git
def test_dirty_repo(repo: Path) -> None:
    (repo / "a.txt").write_text("one\nTWO\n")
    (repo / "staged.txt").write_text("staged\n")
    git(repo, "add", "staged.txt")
    (repo / "untracked.txt").write_text("not added\n")

    sink = capture(repo / "sub")

    assert sink.tags == {
        "git.available": "true",
        "git.commit": git(repo, "rev-parse", "HEAD"),
        "git.branch": "main",
        "git.remote": "https://example.com/team/repo.git",
        "git.dirty": "true",
    }
    diff = sink.artifacts[DIFF_ARTIFACT].decode()
    assert diff.startswith("# Untracked files (not in this diff):\n#   untracked.txt\n")
    assert "diff --git a/a.txt b/a.txt" in diff
    assert "-two\n+TWO\n" in diff
    assert "diff --git a/staged.txt b/staged.txt" in diff
    assert "not added" not in diff
    assert "s3cret" not in "".join(sink.tags.values())


@needs_git
def test_clean_repo_has_no_diff(repo: Path) -> None:
    sink = capture(repo)
    assert sink.tags["git.dirty"] == "false"
    assert sink.artifacts == {}


@needs_git
def test_only_untracked_files_make_the_tree_dirty(repo: Path) -> None:
    (repo / "new.txt").write_text("x\n")
    sink = capture(repo)
    assert sink.tags["git.dirty"] == "true"
    assert sink.artifacts[DIFF_ARTIFACT] == b"# Untracked files (not in this diff):\n#   new.txt\n"


@needs_git
def test_detached_head_and_no_remote(repo: Path) -> None:
    git(repo, "remote", "remove", "origin")
    git(repo, "checkout", "-q", "--detach")
    sink = capture(repo)
    assert sink.tags["git.branch"] == "HEAD"
    assert "git.remote" not in sink.tags


@needs_git
def test_repo_without_commits(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "f.txt").write_text("hello\n")
    git(tmp_path, "add", "f.txt")
    sink = capture(tmp_path)
    assert "git.commit" not in sink.tags
    assert sink.tags["git.branch"] == "main"
    assert sink.tags["git.dirty"] == "true"
    assert b"+hello" in sink.artifacts[DIFF_ARTIFACT]


@needs_git
def test_diff_is_truncated(repo: Path) -> None:
    (repo / "a.txt").write_text("line\n" * 10_000)
    sink = capture(repo, max_diff_bytes=300)
    diff = sink.artifacts[DIFF_ARTIFACT]
    assert len(diff) <= 300
    assert diff.startswith(b"diff --git a/a.txt b/a.txt")
    assert diff.endswith(b"tracking.max_diff_bytes=300\n")
    assert b"# [modelyard] diff truncated: " in diff


@needs_git
def test_max_diff_bytes_zero_stores_no_diff(repo: Path) -> None:
    (repo / "a.txt").write_text("changed\n")
    sink = capture(repo, max_diff_bytes=0)
    assert sink.tags["git.dirty"] == "true"
    assert sink.artifacts == {}


@needs_git
def test_not_a_repository(tmp_path: Path) -> None:
    assert capture(tmp_path).tags == {"git.available": "false"}


def test_git_not_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert capture(tmp_path).tags == {"git.available": "false"}


@needs_git
def test_capture_git_off(repo: Path) -> None:
    assert capture(repo, capture_git=False).tags == {}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://alice:s3cret@example.com/r.git", "https://example.com/r.git"),
        ("https://ghp_token@github.com/o/r", "https://github.com/o/r"),
        ("https://u:p@ss@host:8443/r", "https://host:8443/r"),
        ("ssh://git:pw@host/r.git", "ssh://git@host/r.git"),
        ("ssh://git@host/r.git", "ssh://git@host/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("https://example.com/r.git", "https://example.com/r.git"),
        ("/srv/git/r.git", "/srv/git/r.git"),
    ],
)
def test_strip_credentials(url: str, expected: str) -> None:
    assert _strip_credentials(url) == expected


# -- packages and errors --------------------------------------------------------------


def test_requirements_artifact(tmp_path: Path) -> None:
    import psutil

    sink = capture(tmp_path, capture_git=False, capture_packages=True)
    lines = sink.artifacts[REQUIREMENTS_ARTIFACT].decode().splitlines()
    assert f"psutil=={psutil.__version__}" in lines
    assert any(line.startswith("pytest==") for line in lines)
    names = [line.split("==")[0] for line in lines]
    assert names == sorted(names, key=str.lower)
    assert len({n.lower().replace("_", "-") for n in names}) == len(names)
    assert "capture.error" not in sink.tags


def test_requirements_follow_installs_into_sys_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    before = capture(tmp_path, capture_git=False, capture_packages=True)
    assert not any(
        line.startswith("fresh-dist==")
        for line in before.artifacts[REQUIREMENTS_ARTIFACT].decode().splitlines()
    )
    info = site / "fresh_dist-1.2.dist-info"
    info.mkdir()  # what an install does: the folder's modification time changes
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fresh-dist\nVersion: 1.2\n")
    os.utime(site, ns=(0, 0))  # coarse timestamps: make the change visible for certain
    after = capture(tmp_path, capture_git=False, capture_packages=True)
    assert "fresh-dist==1.2" in after.artifacts[REQUIREMENTS_ARTIFACT].decode().splitlines()


def test_errors_become_a_tag_not_an_exception(tmp_path: Path) -> None:
    sink = capture(tmp_path, BrokenArtifactsSink(), capture_packages=True)
    assert sink.tags["capture.error"] == "packages: OSError: disk full"
    assert sink.tags["git.available"] == "false"


def test_a_broken_sink_does_not_escape_the_thread(tmp_path: Path) -> None:
    class Hopeless(RecordingSink):
        def set_tags(self, tags: dict[str, str]) -> None:
            raise RuntimeError("nope")

    errors: list[threading.ExceptHookArgs] = []
    original, threading.excepthook = threading.excepthook, errors.append
    try:
        capture(tmp_path, Hopeless(), capture_packages=True)
    finally:
        threading.excepthook = original
    assert errors == []
