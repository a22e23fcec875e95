"""What every command shares: the Client from the global options, output, errors.

Nothing a user typed or logged is read as Rich markup: both consoles print strings as
they are (``markup=False``), and the commands style their own words with
:class:`rich.text.Text` spans, never with ``[tags]`` around user text.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as metadata_version
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from modelyard import errors
from modelyard.errors import ModelyardError
from modelyard.sdk.client import DEFAULT_PROJECT

if TYPE_CHECKING:
    from rich.progress import Progress, ProgressColumn

_P = ParamSpec("_P")


class _Console(Console):
    def on_broken_pipe(self) -> None:
        raise _reader_gone()


console = _Console(markup=False)
err_console = Console(stderr=True, markup=False)


@dataclass
class State:
    """Global options collected by the root callback (flags beat env and file)."""

    config_file: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    def settings(self) -> Any:
        from modelyard.config import load_settings

        return load_settings(self.config_file, **self.overrides)


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


def installed_version() -> str:
    """The version in the installed package's metadata (``modelyard.__version__`` when
    the source runs uninstalled)."""
    try:
        return metadata_version("modelyard")
    except PackageNotFoundError:
        from modelyard._version import __version__

        return __version__


@contextmanager
def client(ctx: typer.Context) -> Iterator[Any]:
    """The Client of the global options; what it does not find names the store searched."""
    from modelyard.sdk.client import Client

    _print_warnings()
    with searching(ctx), Client(state(ctx).settings()) as c:
        yield c


#: NotFound fields that name a local file, not something in the store.
_FILE_FIELDS = frozenset({"path", "source", "data", "pid"})
#: The flag that sets each setting a store description names.
_FLAGS = {"tracking.uri": "--tracking-uri", "store.url": "--store-url", "home": "--home"}


@contextmanager
def searching(ctx: typer.Context) -> Iterator[None]:
    """A NotFound from the store (no such run, project, dataset, user) says which store
    was searched and where that setting came from."""
    try:
        yield
    except errors.NotFound as exc:
        if exc.field in _FILE_FIELDS:
            raise
        raise type(exc)(f"{exc.message} (searched {searched(ctx)})", field=exc.field) from None


def searched(ctx: typer.Context) -> str:
    """Which store the commands work on, and the flag, environment variable, config file
    or default that chose it."""
    st = state(ctx)
    settings = st.settings()

    def origin(path: str) -> str:
        from modelyard.config import setting_origin

        found = setting_origin(path, st.config_file, st.overrides)
        return _FLAGS[path] if found == "override" else found

    if settings.tracking.uri:
        return f"the server {settings.tracking.uri} (tracking.uri from {origin('tracking.uri')})"
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(settings.store_url).render_as_string(hide_password=True)
    except ArgumentError:
        url = "(a URL that does not parse)"
    if settings.store.url:
        return f"the store {url} (store.url from {origin('store.url')})"
    home = origin("home")
    if home == "default":
        return (
            f"the store {url}, the default: no --store-url, MODELYARD_STORE_URL or store.url "
            "in a config file"
        )
    return f"the store {url}, the default in home {settings.home} (home from {home})"


def confirm(action: str, yes: bool) -> None:
    """Ask before ``action`` (``"delete run X"``): ``--yes`` skips the question; with no
    terminal to ask on, refuse (exit 2) rather than act unasked."""
    if yes:
        return
    if not _interactive():
        raise errors.InvalidInput(
            f"will not {action} without asking, and there is no terminal to ask on: pass --yes",
            field="--yes",
        )
    typer.confirm(f"{action[:1].upper()}{action[1:]}?", abort=True)


def _interactive() -> bool:
    return sys.stdin.isatty()


def say_empty(message: str, ctx: typer.Context | None = None) -> None:
    """What a list command prints instead of an empty table: that nothing was found, and
    (given the context of a top-level list, where a wrong store is the likely reason) in
    which store."""
    where = f" (searched {searched(ctx)})" if ctx is not None else ""
    console.print(message + where, highlight=False, soft_wrap=True)


class _WarningLines(logging.Handler):
    """The SDK's warnings (a server it cannot reach yet, retrying until a deadline) as
    ``warning:`` lines on stderr, when they happen."""

    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(styled(("warning:", "yellow"), " ", record.getMessage()), soft_wrap=True)


def _print_warnings() -> None:
    remote = logging.getLogger("modelyard.remote")
    if not any(isinstance(h, _WarningLines) for h in remote.handlers):
        remote.addHandler(_WarningLines(logging.WARNING))


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(Text.assemble(("error:", "red"), " ", message), soft_wrap=True)
    return typer.Exit(code)


def one_line_errors(command: Callable[_P, None]) -> Callable[_P, None]:
    """Decorate a command: a ModelyardError or a filesystem error (an OSError: a file that
    exists, a missing folder, no permission, a full disk) becomes one line and its exit
    code, and a reader of stdout that went away ends it quietly."""

    @functools.wraps(command)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except ModelyardError as exc:
            raise fail(exc.message, exc.exit_code) from None
        except BrokenPipeError:
            raise _reader_gone() from None
        except OSError as exc:
            raise fail(*os_error_line(exc)) from None

    return run


def _reader_gone() -> SystemExit:
    """The reader of stdout went away (``modelyard runs list | head -1``): stop quietly with
    the status a shell gives a command ended by SIGPIPE, and point stdout at /dev/null so
    the interpreter's last flush has nowhere to fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return SystemExit(128 + signal.SIGPIPE)


#: What each kind of filesystem error means, and the exit code of the error it is like.
_OS_ERRORS: tuple[tuple[type[OSError], str, int], ...] = (
    (FileExistsError, "already exists", errors.AlreadyExists.exit_code),
    (FileNotFoundError, "no such file or folder", errors.NotFound.exit_code),
    (IsADirectoryError, "is a folder, not a file", errors.InvalidInput.exit_code),
    (
        NotADirectoryError,
        "a part of the path is a file, not a folder",
        errors.InvalidInput.exit_code,
    ),
    (PermissionError, "permission denied", errors.PermissionDenied.exit_code),
)


def os_error_line(exc: OSError) -> tuple[str, int]:
    """One line naming the path and the reason of a filesystem error, and its exit code
    (an error it is not like is a storage error: a full disk, an I/O error)."""
    path = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    blocking = _file_in(exc.filename) if exc.filename2 is None else None
    if isinstance(exc, FileExistsError | NotADirectoryError) and blocking is not None:
        return f"{blocking}: is a file, not a folder", errors.InvalidInput.exit_code
    reason, code = next(
        ((reason, code) for kind, reason, code in _OS_ERRORS if isinstance(exc, kind)),
        (_strerror(exc), errors.StorageError.exit_code),
    )
    return (f"{path}: {reason}" if path else reason), code


def _file_in(path: Any) -> Path | None:
    """The file at ``path`` or above it (where a folder was needed), if there is one."""
    if not isinstance(path, str | bytes | os.PathLike):
        return None
    here = Path(os.fsdecode(path))
    return next((p for p in (here, *here.parents) if p.is_file()), None)


def _strerror(exc: OSError) -> str:
    reason = (exc.strerror or str(exc) or type(exc).__name__).rstrip(".")
    return reason[:1].lower() + reason[1:]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, allow_nan=True) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, show_lines=False, header_style="bold")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*(v if isinstance(v, Text) else fmt(v) for v in row))
    console.print(t)


def styled(*parts: str | Text | tuple[str, str]) -> Text:
    """Words and ``(words, style)`` pairs as one line of styled text (never markup)."""
    return Text.assemble(*parts)


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


JsonOption = typer.Option(False, "--json", help="Print JSON for machines instead of a table.")


def project_option(help: str) -> Any:
    """``--project``/``-p``, defaulting to the project the SDK uses when none is named
    (``DEFAULT_PROJECT``), so that every command looks in the same one."""
    return typer.Option(DEFAULT_PROJECT, "--project", "-p", help=help)


def progress(*columns: ProgressColumn) -> Progress:
    """A Rich progress bar on stderr (silent when not a terminal, gone when done): the
    task's description and its bar, then ``columns``. Use it as a context manager."""
    from rich.progress import BarColumn, Progress, TextColumn

    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        *columns,
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


@contextmanager
def byte_progress(label: str) -> Iterator[Callable[[int, int | None], None]]:
    """A Rich progress bar over source bytes on stderr (silent when not a terminal); the
    callback takes the bytes done and the total (None: unknown, the bar pulses)."""
    from rich.progress import DownloadColumn, TimeRemainingColumn, TransferSpeedColumn

    with progress(DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update
