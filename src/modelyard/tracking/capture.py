"""Automatic capture of where a run came from: source, host, git state and packages.

``capture_fast`` returns cheap facts synchronously; ``start_background_capture`` does the
slow part (git subprocesses, the package list) on a daemon thread and hands the results to
a :class:`CaptureSink`. Nothing here may break the user's program: failures become tags.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import importlib.metadata
import json
import os
import platform
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Protocol

from modelyard import limits
from modelyard.config import TrackingSettings

__all__ = [
    "DIFF_ARTIFACT",
    "REQUIREMENTS_ARTIFACT",
    "CaptureSink",
    "capture_fast",
    "start_background_capture",
]

DIFF_ARTIFACT = "_modelyard/git.diff"
REQUIREMENTS_ARTIFACT = "_modelyard/requirements.txt"

_GIT_TIMEOUT_S = 10.0
_MAX_ERROR_CHARS = 500
# scheme://userinfo@host...; userinfo is greedy up to the last "@" before the path.
_URL_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/]*)@")


class CaptureSink(Protocol):
    """Where captured facts go; the run object implements it. Called from the capture thread."""

    def set_tags(self, tags: dict[str, str]) -> None: ...

    def log_bytes(self, data: bytes, name: str) -> object:
        """Store ``data`` as an artifact of the run named ``name``."""
        ...

    def log_metrics(self, values: dict[str, float], step: int) -> None: ...


def capture_fast() -> dict[str, str]:
    """Cheap facts about the running program (well under 10 ms), all values ``str``."""
    uname = platform.uname()
    return {
        "source.entry_point": _entry_point(),
        "source.argv": limits.head(json.dumps(sys.argv), limits.TAG_VALUE),
        "host.name": socket.gethostname(),
        "user": _user(),
        "python.version": platform.python_version(),
        "python.implementation": platform.python_implementation(),
        "os.platform": f"{uname.system}-{uname.release}-{uname.machine}",
        "modelyard.version": _modelyard_version(),
    }


def start_background_capture(
    sink: CaptureSink, settings: TrackingSettings, cwd: Path | None = None
) -> threading.Thread:
    """Capture git state and installed packages on a daemon thread; returns it, started.

    Git facts are read from ``cwd`` (default: the current directory). Errors are swallowed
    and reported as the ``capture.error`` tag.
    """
    thread = threading.Thread(
        target=_capture, args=(sink, settings, cwd), name="modelyard-capture", daemon=True
    )
    thread.start()
    return thread


def _capture(sink: CaptureSink, settings: TrackingSettings, cwd: Path | None) -> None:
    errors: list[str] = []
    if settings.capture_git:
        try:
            _capture_git(sink, cwd if cwd is not None else Path.cwd(), settings.max_diff_bytes)
        except Exception as exc:
            errors.append(f"git: {type(exc).__name__}: {exc}")
    if settings.capture_packages:
        try:
            sink.log_bytes(_freeze().encode(), REQUIREMENTS_ARTIFACT)
        except Exception as exc:
            errors.append(f"packages: {type(exc).__name__}: {exc}")
    if errors:
        # If the sink itself is broken there is nowhere left to report to.
        with contextlib.suppress(Exception):
            sink.set_tags({"capture.error": "; ".join(errors)[:_MAX_ERROR_CHARS]})


def _entry_point() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name != "__main__":
        return f"-m {spec.name.removesuffix('.__main__')}"
    path = getattr(main, "__file__", None)
    if path and not path.startswith("<") and not hasattr(sys, "ps1"):  # "<stdin>"
        return os.path.abspath(path)
    return "<interactive>"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return "unknown"


@functools.cache
def _modelyard_version() -> str:
    try:
        return importlib.metadata.version("modelyard")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _freeze() -> str:
    """Installed distributions as ``name==version`` lines, sorted case-insensitively.

    Built from ``importlib.metadata`` (no subprocess); the first distribution found on
    ``sys.path`` wins when a name is installed twice, as for imports. Reading every
    distribution's metadata takes ~0.1 s, so the list is kept while ``sys.path`` and the
    modification times of its folders stay the same (installing, upgrading or removing a
    distribution adds or removes a ``.dist-info`` folder, which changes its parent's).
    """
    return _freeze_of(_path_state())


def _path_state() -> tuple[tuple[str, int], ...]:
    """``sys.path`` with each entry's modification time (-1 where it cannot be read)."""
    state = []
    for entry in sys.path:
        try:
            mtime = os.stat(entry or ".").st_mtime_ns
        except (OSError, ValueError):
            mtime = -1
        state.append((entry, mtime))
    return tuple(state)


@functools.lru_cache(maxsize=1)
def _freeze_of(path_state: tuple[tuple[str, int], ...]) -> str:
    found: dict[str, tuple[str, str]] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(re.sub(r"[-_.]+", "-", name).lower(), (name, dist.version))
    pins = sorted(found.values(), key=lambda pin: pin[0].lower())
    return "".join(f"{name}=={version}\n" for name, version in pins)


def _strip_credentials(url: str) -> str:
    """Remove ``user:password@`` from a remote URL (ssh URLs keep the user name only)."""
    match = _URL_USERINFO.match(url)
    if match is None:
        return url
    scheme, user = match["scheme"], match["userinfo"].partition(":")[0]
    keep = f"{user}@" if user and "ssh" in scheme.lower() else ""
    return scheme + keep + url[match.end() :]


def _truncate_diff(diff: bytes, max_bytes: int) -> bytes:
    """``diff`` cut to ``max_bytes`` (marker included) with a marker line saying so.

    If ``max_bytes`` is smaller than the marker itself, the marker alone is returned.
    """
    if len(diff) <= max_bytes:
        return diff
    marker = (
        f"\n# [modelyard] diff truncated: {len(diff)} bytes, tracking.max_diff_bytes={max_bytes}\n"
    ).encode()
    return diff[: max(0, max_bytes - len(marker))] + marker


def _git(args: list[str], cwd: Path) -> bytes | None:
    """Output of ``git args`` in ``cwd``, or None if git is missing, fails or times out."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _git_text(args: list[str], cwd: Path) -> str | None:
    out = _git(args, cwd)
    return None if out is None else out.decode(errors="replace").strip()


def _capture_git(sink: CaptureSink, cwd: Path, max_diff_bytes: int) -> None:
    top = _git_text(["rev-parse", "--show-toplevel"], cwd)
    if not top:
        sink.set_tags({"git.available": "false"})
        return
    root = Path(top)
    tags = {"git.available": "true"}
    commit = _git_text(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], root)
    if commit:
        tags["git.commit"] = commit
    tags["git.branch"] = _git_text(["symbolic-ref", "--quiet", "--short", "HEAD"], root) or "HEAD"
    remote = _git_text(["remote", "get-url", "origin"], root)
    if remote:
        tags["git.remote"] = _strip_credentials(remote)
    diff = _uncommitted_diff(root, commit)
    if diff is not None:
        tags["git.dirty"] = "true" if diff else "false"
    sink.set_tags(tags)
    if diff and max_diff_bytes > 0:
        sink.log_bytes(_truncate_diff(diff, max_diff_bytes), DIFF_ARTIFACT)


def _uncommitted_diff(root: Path, commit: str | None) -> bytes | None:
    """``git diff HEAD`` (staged and unstaged) after a comment listing untracked files.

    Empty when the work tree is clean; None when git fails. An unborn branch (no commit
    yet) diffs against the empty tree.
    """
    base = commit or _git_text(["hash-object", "-t", "tree", "--stdin"], root)
    if not base:
        return None
    diff = _git(
        [
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            base,
        ],
        root,
    )
    untracked = _git(["ls-files", "--others", "--exclude-standard", "-z"], root)
    if diff is None or untracked is None:
        return None
    names = [name.replace(b"\n", b"\\n") for name in untracked.split(b"\0") if name]
    if not names:
        return diff
    header = b"# Untracked files (not in this diff):\n" + b"".join(
        b"#   " + name + b"\n" for name in names
    )
    return header + diff
