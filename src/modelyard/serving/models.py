"""The inference server's model versions in memory (:class:`ModelPool`): each loaded once
however many requests ask for it at once, different ones in parallel, off the event loop,
and unloaded, least recently used first, to keep their measured memory under a budget,
or once idle for a set time.

A version is read from the registry once (``get_version_by_id``) and kept: when the
control plane is unreachable later, a version already known still loads from the local
cache (:class:`~modelyard.serving._cache.FileCache`), whose files are checked against the
version's tree digest before every load; a copy that fails the check is fetched again
once. Loading goes through :func:`modelyard.registry._loading.load_model` (the flavor's
checks, as ``my.models.load`` makes them); the footprint is measured right after
(:func:`~modelyard.serving._footprint.footprint`). A version that fails to load answers
ModelUnavailable at once for a back-off before it is tried again, and :meth:`health`
names it with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from modelyard.errors import InvalidInput, ModelUnavailable, ModelyardError, StorageError
from modelyard.registry._loading import MODEL_DIR, load_model
from modelyard.registry.flavors import FLAVORS, predict
from modelyard.serving._cache import FileCache, version_name
from modelyard.serving._footprint import footprint

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.registry.contract import ModelContract
    from modelyard.registry.entities import ModelVersion
    from modelyard.registry.flavors import Flavor

__all__ = ["LoadedModel", "ModelPool"]

log = logging.getLogger("modelyard.serving")
T = TypeVar("T")


class LoadedModel:
    """A model version in memory, ready to predict (through its flavor)."""

    __slots__ = ("_used", "flavor", "last_used_at", "model", "size_bytes", "version")

    def __init__(self, version: ModelVersion, flavor: Flavor, model: Any, size_bytes: int) -> None:
        self.version = version
        self.flavor = flavor
        self.model = model
        #: The memory it was measured to take when it loaded.
        self.size_bytes = size_bytes
        #: When it was last asked for (seconds since the epoch).
        self.last_used_at = time.time()
        self._used = time.monotonic()

    def predict(self, frame: pd.DataFrame) -> Any:
        """One output per row of ``frame``."""
        return predict(self.flavor, self.model, frame)

    def _touch(self, now: float) -> None:
        self._used = now
        self.last_used_at = time.time()

    def __repr__(self) -> str:
        v = self.version
        return f"LoadedModel({v.project}/{v.ref}, {self.size_bytes} bytes)"


class ModelPool:
    """Loaded versions under a memory budget; see the module docstring.

    ``models``: the registry's contract (``client.model_service``, embedded or remote);
    ``cache_dir``: the local copy of their files; ``budget_bytes``: what the loaded
    versions may take together (one larger than all of it still loads, alone);
    ``idle_unload_s``: unload a version asked for by nothing for this long (0: never);
    ``load_concurrency``: versions loaded at once; ``allow_code_formats``: the
    installation's ``registry.allow_code_formats``, and ``project_setting(project)`` the
    project's (None: no project allows formats that run code); ``trusted``: types skops
    may load beyond its defaults (``registry.trusted_types``); ``retry_after_s``: how long
    a failed load is answered from memory before it is tried again."""

    def __init__(
        self,
        models: ModelContract,
        *,
        cache_dir: Path,
        budget_bytes: int,
        idle_unload_s: float,
        load_concurrency: int,
        allow_code_formats: bool,
        trusted: Sequence[str] = (),
        project_setting: Callable[[str], bool] | None = None,
        retry_after_s: float = 10.0,
    ) -> None:
        self._models = models
        self._files = FileCache(Path(cache_dir))
        self.budget_bytes = budget_bytes
        self._idle_s = idle_unload_s
        self._allow_code = allow_code_formats
        self._trusted = tuple(trusted)
        self._project_setting = project_setting
        self._retry_after_s = retry_after_s
        self._executor = ThreadPoolExecutor(load_concurrency, thread_name_prefix="modelyard-load")
        self._versions: dict[str, ModelVersion] = {}
        self._project_allows: dict[str, bool] = {}
        self._sizes: dict[str, int] = {}  # measured at the last load: room made before the next
        self._loaded: OrderedDict[str, LoadedModel] = OrderedDict()  # least recently used first
        self._loading: dict[str, asyncio.Task[LoadedModel]] = {}
        self._failed: dict[str, tuple[ModelUnavailable, float]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False

    # -- asking -------------------------------------------------------------------------

    async def get(self, version_id: str) -> LoadedModel:
        """The version, loaded (its files from the local cache, checked, or fetched); it
        becomes the most recently used. ModelUnavailable when it cannot be loaded."""
        if self._closed:
            raise ModelUnavailable("the model pool is closed", field="version")
        now = time.monotonic()
        self._unload_idle(now)
        found = self._loaded.get(version_id)
        if found is not None:
            found._touch(now)
            self._loaded.move_to_end(version_id)
            return found
        failed = self._failed.get(version_id)
        if failed is not None and now < failed[1]:
            raise ModelUnavailable(failed[0].message, field=failed[0].field)
        task = self._loading.get(version_id)
        if task is None:
            self._start_sweeper()
            task = asyncio.ensure_future(self._load(version_id))
            task.add_done_callback(_retrieved)
            self._loading[version_id] = task
        return await asyncio.shield(task)

    def loaded(self) -> Sequence[LoadedModel]:
        """The versions in memory, least recently used first (each with its measured size
        and when it was last asked for)."""
        return list(self._loaded.values())

    @property
    def used_bytes(self) -> int:
        """The measured memory of the versions loaded."""
        return sum(m.size_bytes for m in self._loaded.values())

    def health(self) -> dict[str, str]:
        """The versions whose last load failed (by id), each with why; a version leaves it
        when it loads."""
        return {version_id: error.message for version_id, (error, _) in self._failed.items()}

    async def close(self) -> None:
        """Unload everything and stop loading (loads under way are abandoned)."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for task in list(self._loading.values()):
            task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._loaded.clear()

    # -- loading ------------------------------------------------------------------------

    async def _load(self, version_id: str) -> LoadedModel:
        try:
            version = self._versions.get(version_id)
            if version is None:
                version = await self._off_loop(self._models.get_version_by_id, version_id)
                self._versions[version_id] = version
            self._make_room(self._sizes.get(version_id, version.size_bytes))
            loaded = await self._off_loop(self._load_version, version)
        except ModelUnavailable as exc:
            self._failed[version_id] = (exc, time.monotonic() + self._retry_after_s)
            log.warning("%s", exc.message)
            raise
        except Exception as exc:
            reason = exc.message if isinstance(exc, ModelyardError) else f"{exc!r}"
            if isinstance(exc, InvalidInput) and exc.field == "trusted":
                reason += " (to serve it, list them in the setting registry.trusted_types)"
            name = _name(self._versions.get(version_id), version_id)
            failure = ModelUnavailable(f"model version {name} could not be loaded: {reason}")
            self._failed[version_id] = (failure, time.monotonic() + self._retry_after_s)
            log.warning("%s", failure.message)
            raise failure from exc
        finally:
            self._loading.pop(version_id, None)
        self._failed.pop(version_id, None)
        self._sizes[version_id] = loaded.size_bytes
        if loaded.size_bytes > self.budget_bytes:
            log.warning(
                "model version %s takes %d bytes, more than the whole memory budget (%d): it "
                "is loaded alone",
                _name(version, version_id),
                loaded.size_bytes,
                self.budget_bytes,
            )
        self._make_room(loaded.size_bytes)
        if not self._closed:
            self._loaded[version_id] = loaded
        return loaded

    async def _off_loop(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    def _load_version(self, version: ModelVersion) -> LoadedModel:
        """In a loading thread: the version's files, checked or fetched, loaded with its
        flavor and measured."""
        files_bytes = 0

        @contextlib.contextmanager
        def files() -> Iterator[Path]:
            nonlocal files_bytes
            with self._files.checked(self._models, version) as folder:
                found = (folder / MODEL_DIR).rglob("*")
                files_bytes = sum(f.stat().st_size for f in found if f.is_file())
                yield folder

        model = load_model(
            version,
            files,
            installation=self._allow_code,
            project=self._project_allows_code,
            trusted=self._trusted,
            code_home=self._files.root / "code",
        )
        flavor = FLAVORS.get(version.flavor)
        return LoadedModel(version, flavor, model, footprint(model, files_bytes))

    def _project_allows_code(self, project: str) -> bool:
        """The project's ``registry.allow_code_formats``; the last answer known when the
        control plane cannot be reached."""
        if self._project_setting is None:
            return False
        try:
            allows = self._project_setting(project)
        except StorageError:
            if project not in self._project_allows:
                raise
            return self._project_allows[project]
        self._project_allows[project] = allows
        return allows

    # -- unloading ----------------------------------------------------------------------

    def _make_room(self, size: int) -> None:
        """Unload the least recently used until ``size`` more bytes fit the budget."""
        used = self.used_bytes
        while self._loaded and used + size > self.budget_bytes:
            _, gone = self._loaded.popitem(last=False)
            used -= gone.size_bytes
            log.info("unloaded model version %s to keep the memory budget", _name(gone.version))

    def _unload_idle(self, now: float) -> None:
        if self._idle_s <= 0:
            return
        while self._loaded:
            version_id, oldest = next(iter(self._loaded.items()))
            if now - oldest._used < self._idle_s:
                return
            del self._loaded[version_id]
            log.info("unloaded model version %s: idle", _name(oldest.version))

    def _start_sweeper(self) -> None:
        if self._sweeper is None and self._idle_s > 0:
            self._sweeper = asyncio.ensure_future(self._sweep())

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(self._idle_s / 4, 30.0))
            self._unload_idle(time.monotonic())


def _name(version: ModelVersion | None, version_id: str | None = None) -> str:
    return repr(version_id) if version is None else version_name(version)


def _retrieved(task: asyncio.Task[Any]) -> None:
    """Mark a load's failure as seen, should every request that waited for it be gone."""
    if not task.cancelled():
        task.exception()
