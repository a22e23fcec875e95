"""Batch scoring on Ray (``modelyard predict --ray``; Ray connected by
:func:`modelyard._ray.ray_session`, as the ``ray`` pipeline executor connects): one actor
per worker loads the model version once, from its files sent through Ray's object store,
with the registry's one loader and this installation's rules; batches go to the actors
in turn, at most two per actor in flight, and come back in their order."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.serving.scoring import Plan, score_batch

if TYPE_CHECKING:
    import pyarrow as pa

    from modelyard.config import Settings
    from modelyard.registry.contract import ModelContract
    from modelyard.registry.entities import ModelVersion

__all__ = ["RayRunner"]

#: Batches in flight per actor.
_IN_FLIGHT = 2


class RayRunner:
    """Scores batches on Ray actors (see the module docstring). ``project_setting(name)``:
    the project's ``registry.allow_code_formats`` (asked only for a flavor that runs
    code)."""

    def __init__(
        self,
        ray: Any,
        models: ModelContract,
        settings: Settings,
        project_setting: Callable[[str], bool],
        workers: int | None = None,
    ) -> None:
        self.ray = ray
        self.models = models
        self.settings = settings
        self.project_setting = project_setting
        self.workers = workers

    def scored(
        self,
        plan: Plan,
        version: ModelVersion,
        batches: Iterator[tuple[int, pa.RecordBatch]],
        held: Callable[[int], None],
    ) -> Iterator[pa.RecordBatch]:
        from modelyard.registry.flavors import FLAVORS

        ray = self.ray
        runs_code = FLAVORS.get(version.flavor).runs_code
        allows = self.project_setting(version.project) if runs_code else False
        files = ray.put(self._files(version))
        count = self.workers or max(int(ray.available_resources().get("CPU", 1)), 1)
        actor = ray.remote(num_cpus=1, max_restarts=0)(_Worker)
        actors = [
            actor.remote(
                version,
                files,
                self.settings.registry.allow_code_formats,
                allows,
                tuple(self.settings.registry.trusted_types),
            )
            for _ in range(count)
        ]
        pending: deque[tuple[Any, int]] = deque()
        try:
            for turn, (start, batch) in enumerate(batches):
                held(batch.num_rows)
                pending.append(
                    (actors[turn % count].score.remote(plan, batch, start), batch.num_rows)
                )
                if len(pending) >= _IN_FLIGHT * count:
                    yield self._result(*pending.popleft(), held)
            while pending:
                yield self._result(*pending.popleft(), held)
        finally:
            for each in actors:
                ray.kill(each)

    def _result(self, handle: Any, rows: int, held: Callable[[int], None]) -> pa.RecordBatch:
        from ray.exceptions import RayTaskError

        try:
            batch: pa.RecordBatch = self.ray.get(handle)
        except RayTaskError as exc:  # the batch's own error, as score_batch raised it
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise
        held(-rows)
        return batch

    def _files(self, version: ModelVersion) -> dict[str, bytes]:
        """The version's files (verified as they are fetched), by relative path."""
        with tempfile.TemporaryDirectory(prefix="modelyard-model-") as tmp:
            self.models.download(version, tmp)
            root = Path(tmp)
            return {
                str(path.relative_to(root)): path.read_bytes()
                for path in root.rglob("*")
                if path.is_file()
            }


class _Worker:
    """A Ray actor holding one loaded model version."""

    def __init__(
        self,
        version: ModelVersion,
        files: dict[str, bytes],
        installation: bool,
        project_allows: bool,
        trusted: tuple[str, ...],
    ) -> None:
        from modelyard.registry._loading import load_model
        from modelyard.registry.flavors import FLAVORS

        folder = Path(tempfile.mkdtemp(prefix="modelyard-model-"))
        try:
            for name, data in files.items():
                path = folder / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            self.model = load_model(
                version,
                lambda: contextlib.nullcontext(folder),
                installation=installation,
                project=lambda _name: project_allows,
                trusted=trusted,
                code_home=None,
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.flavor = FLAVORS.get(version.flavor)

    def score(self, plan: Plan, batch: pa.RecordBatch, start: int) -> pa.RecordBatch:
        from modelyard.registry.flavors import predict

        return score_batch(
            plan, lambda frame: predict(self.flavor, self.model, frame), batch, start
        )
