"""The active run: what ``start_run`` returns and user code logs into."""

from __future__ import annotations

import contextvars
import io
import json
import os
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from modelyard import limits
from modelyard._util import now_ms, validate_key
from modelyard.artifacts import normalize_artifact_path
from modelyard.errors import Conflict, InvalidInput, MissingDependency
from modelyard.limits import INTEGER
from modelyard.tracking._values import as_metric_value, as_step, as_timestamp
from modelyard.tracking.entities import TERMINAL_STATUSES, ArtifactInfo, Run

if TYPE_CHECKING:
    from modelyard.sdk.client import Client
    from modelyard.tracking.system import SystemSampler

__all__ = ["ActiveRun", "active_run"]

_ACTIVE: contextvars.ContextVar[tuple[ActiveRun, ...]] = contextvars.ContextVar(
    "modelyard_active_runs", default=()
)


_UNCAUGHT: list[str] = []


def _watch_uncaught_exceptions() -> None:
    """Chain ``sys.excepthook`` once, so runs left open by a crash end as ``failed``."""
    previous = sys.excepthook
    if getattr(previous, "_modelyard", False):
        return

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        _UNCAUGHT.append("".join(traceback.format_exception(exc_type, exc, tb)))
        previous(exc_type, exc, tb)

    hook._modelyard = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def uncaught_exception() -> str | None:
    """The traceback of the exception that is ending the program, if any."""
    return _UNCAUGHT[-1] if _UNCAUGHT else None


def active_run() -> ActiveRun | None:
    """The innermost run entered with ``with`` in this context, if any."""
    stack = _ACTIVE.get()
    return stack[-1] if stack else None


class ActiveRun:
    """A running run. Logging calls are buffered and return at once; ``end`` flushes."""

    def __init__(self, client: Client, run: Run, *, owns_client: bool = False) -> None:
        self.client = client
        self.id = run.id
        self.project = run.project
        self.name = run.name
        self.parent_id = run.parent_id
        self._owns_client = owns_client
        self._buffer = client._log_buffer()
        self._metrics = self._buffer.metrics
        self._params: dict[str, str] = dict(run.params)
        self._next_step: dict[str, int] = {}
        if run.metrics:  # a resumed run: continue each metric after its last step
            last = client.tracking.last_steps(run.id)
            self._next_step = {key: step + 1 for key, step in last.items()}
        self._known_keys: set[str] = set()
        self._ended = False
        self._autologged = False
        self._token: contextvars.Token | None = None
        self._sampler: SystemSampler | None = None
        self._capture: threading.Thread | None = None
        self._buffer.add_live_run(self.id)
        client._open_runs.add(self)
        _watch_uncaught_exceptions()

    def _start_capture(self, source: bool = True) -> None:
        """Sample system metrics and resource usage; with ``source``, also capture the
        git state and the installed packages."""
        from modelyard.tracking.capture import start_background_capture
        from modelyard.tracking.system import SystemSampler

        settings = self.client.settings.tracking
        self._sampler = SystemSampler(
            self.log_metrics,
            settings.system_metrics_interval_s,
            thread=self.client._sampling_thread(),
        )
        self._sampler.start()
        if source:
            self._capture = start_background_capture(self, settings, Path.cwd())

    # -- logging --------------------------------------------------------------------

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Record one metric point; returns immediately (written by the flusher)."""
        if key not in self._known_keys:
            self._check_key(key, "metric")
        if type(value) is not float:
            value = as_metric_value(key, value)
        if step is None:
            step = self._next_step.get(key, 0)
        elif type(step) is not int or not 0 <= step <= INTEGER:
            step = as_step(step)
        self._next_step[key] = step + 1
        if not timestamp:
            timestamp = now_ms()
        elif type(timestamp) is not int or not 0 <= timestamp <= INTEGER:
            timestamp = as_timestamp(timestamp)
        m = self._metrics
        m.append((self.id, key, value, step, timestamp))
        if len(m) >= self._buffer.max_size:
            self._buffer.full()

    def log_metrics(self, values: dict[str, float], step: int | None = None) -> None:
        """Record several metrics at the same step."""
        ts = now_ms()
        for key, value in _as_mapping(values, "metrics").items():
            self.log_metric(key, value, step, ts)

    def log_param(self, key: str, value: Any) -> None:
        """Record a parameter. Params are write-once: a different value is a Conflict, and
        so is any after the run ended."""
        if self._ended:
            raise Conflict(
                f"run {self.id} has ended: its params are closed (param {key!r})",
                field=f"params.{key}",
            )
        self._check_key(key, "param")
        text = _param_text(key, value)
        old = self._params.get(key)
        if old is not None:
            if old != text:
                raise Conflict(
                    f"param {key!r} of run {self.id} is already {old!r}; params are write-once "
                    f"(tried {text!r}). Log it under another name or start a new run.",
                    field=f"params.{key}",
                )
            return
        self._params[key] = text
        self._buffer.params.append((self.id, key, text))
        if len(self._buffer.params) >= self._buffer.max_size:
            self._buffer.full()

    def log_params(self, values: dict[str, Any]) -> None:
        for key, value in _as_mapping(values, "params").items():
            self.log_param(key, value)

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag (tags, unlike params, may change)."""
        self._check_key(key, "tag")
        text = limits.check_text(
            value if isinstance(value, str) else str(value), f"tags.{key}", limits.TAG_VALUE
        )
        self._buffer.tags.append((self.id, key, text))
        if len(self._buffer.tags) >= self._buffer.max_size:
            self._buffer.full()

    def set_tags(self, values: dict[str, Any]) -> None:
        for key, value in _as_mapping(values, "tags").items():
            self.set_tag(key, value)

    def _check_key(self, key: Any, kind: str) -> None:
        validate_key(key, f"{kind} key")
        if kind == "metric":
            self._known_keys.add(key)

    # -- artifacts ------------------------------------------------------------------

    def log_artifact(
        self, local_path: str | os.PathLike[str], name: str | None = None
    ) -> ArtifactInfo:
        """Store a file or a directory (as a tree) under ``name`` (default: its base name)."""
        path = Path(local_path)
        if not path.exists():
            raise InvalidInput(f"no such file or directory: {path}", field="local_path")
        target = normalize_artifact_path(name if name is not None else path.name)
        return self.client.store_artifact(self.id, target, path)

    def log_bytes(self, data: bytes, name: str) -> ArtifactInfo:
        """Store raw bytes as an artifact."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput("data must be bytes", field="data")
        return self.client.store_artifact(self.id, normalize_artifact_path(name), bytes(data))

    def log_text(self, text: str, name: str) -> ArtifactInfo:
        if not isinstance(text, str):
            raise InvalidInput("text must be a string", field="text")
        return self.log_bytes(text.encode("utf-8"), name)

    def log_dict(self, obj: Any, name: str) -> ArtifactInfo:
        """Store a dict as JSON (or YAML when ``name`` ends in .yaml/.yml)."""
        try:
            if name.lower().endswith((".yaml", ".yml")):
                import yaml

                text = yaml.safe_dump(obj, sort_keys=False)
            else:
                text = json.dumps(obj, indent=2, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"cannot serialize {name!r}: {exc}", field="obj") from None
        except Exception as exc:  # yaml.YAMLError and friends
            raise InvalidInput(f"cannot serialize {name!r}: {exc}", field="obj") from None
        return self.log_text(text, name)

    def log_table(self, table: Any, name: str) -> ArtifactInfo:
        """Store a pandas DataFrame (or pyarrow Table) as Parquet."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not name.endswith(".parquet"):
            name += ".parquet"
        try:
            if not isinstance(table, pa.Table):
                table = pa.Table.from_pandas(table, preserve_index=False)
        except (TypeError, ValueError, pa.ArrowException) as exc:
            raise InvalidInput(
                f"cannot store table {name!r} as Parquet: {exc}", field="table"
            ) from None
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return self.log_bytes(buf.getvalue(), name)

    def log_figure(self, figure: Any, name: str) -> ArtifactInfo:
        """Store a matplotlib figure; the format follows the extension (png, svg, pdf)."""
        if not hasattr(figure, "savefig"):
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                raise MissingDependency.for_extra("matplotlib", "plot") from None
            raise InvalidInput("figure must be a matplotlib Figure", field="figure")
        suffix = Path(name).suffix.lstrip(".").lower() or "png"
        if suffix not in {"png", "svg", "pdf", "jpg", "jpeg"}:
            raise InvalidInput(f"unsupported figure format {suffix!r}", field="name")
        buf = io.BytesIO()
        figure.savefig(buf, format=suffix)
        return self.log_bytes(buf.getvalue(), name if Path(name).suffix else name + ".png")

    def log_model_file(self, obj: Any, name: str = "model/model.pkl") -> ArtifactInfo:
        """Pickle an object (a fitted model) with joblib and store it."""
        import joblib

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.pkl"
            joblib.dump(obj, path)
            return self.log_artifact(path, name)

    # -- children and lifecycle -------------------------------------------------------

    def start_run(self, name: str | None = None, **kwargs: Any) -> ActiveRun:
        """Start a child run of this one, in the same project."""
        return self.client.start_run(self.project, name=name, parent=self, **kwargs)

    def flush(self, timeout: float | None = None) -> None:
        """Write everything logged so far."""
        self._buffer.flush(timeout)

    def info(self) -> Run:
        """The run as stored now (flushes first)."""
        self.flush()
        return self.client.get_run(self.id)

    def end(self, status: str = "finished", error: str | None = None) -> None:
        """Finish the run: stop sampling, flush, record resource usage and cost."""
        if self._ended:
            return
        if status not in TERMINAL_STATUSES:
            raise InvalidInput(f"status must be one of {sorted(TERMINAL_STATUSES)}", field="status")
        self._ended = True
        self.client._open_runs.discard(self)
        usage = self._sampler.stop() if self._sampler else None
        if self._capture is not None:
            self._capture.join(timeout=self.client.settings.tracking.exit_flush_timeout_s)
        self._buffer.remove_live_run(self.id)
        try:
            self._buffer.flush(self.client.settings.tracking.exit_flush_timeout_s)
        finally:
            fields: dict[str, Any] = {}
            if usage is not None:
                from modelyard.tracking.cost import compute_cost

                fields = {
                    "wall_time_s": usage.wall_time_s,
                    "cpu_time_s": usage.cpu_time_s,
                    "peak_rss_bytes": usage.peak_rss_bytes,
                    "gpu_time_s": usage.gpu_time_s,
                    "cost": compute_cost(usage, self.client.settings.cost),
                }
            self.client.tracking.end_run(self.id, status, error=error, **fields)
            if self._owns_client:
                self.client.close()

    def __enter__(self) -> ActiveRun:
        self._token = _ACTIVE.set((*_ACTIVE.get(), self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _ACTIVE.reset(self._token)
            self._token = None
        if exc_type is None:
            self.end("finished")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end("killed", error="KeyboardInterrupt")
        else:
            self.end("failed", error="".join(traceback.format_exception(exc_type, exc, tb)))

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id} project={self.project!r} name={self.name!r}>"


def _as_mapping(values: Any, field: str) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise InvalidInput(f"{field} must be a dict; got {type(values).__name__}", field=field)
    return values


def _param_text(key: str, value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, bool | int | float):
        text = str(value)
    else:
        try:
            text = json.dumps(value, sort_keys=True, default=str)
        except (TypeError, ValueError):
            text = str(value)
    return limits.check_text(text, f"params.{key}", limits.PARAM_VALUE)
