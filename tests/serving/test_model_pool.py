"""The inference server's model pool: versions loaded once and measured, kept under a
memory budget (least recently used out first, idle ones after a set time), their files
cached locally and checked against their digests, loads in parallel off the event loop,
and a version that cannot load answering ModelUnavailable that names it."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.artifacts.blobs import blob_key, open_blob_store
from modelyard.config import Settings
from modelyard.errors import ModelUnavailable, StorageError
from modelyard.registry.entities import ModelVersion
from modelyard.registry.flavors import flavor_for, package_versions
from modelyard.sdk.client import Client
from modelyard.serving.models import ModelPool

GIB = 1 << 30
TREE = "sklearn.tree._tree.Tree"


class Contract:
    """The registry's contract as the pool uses it, counting downloads; a version's
    download can be held until released, and the whole made unreachable."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.downloads: Counter[str] = Counter()
        self.lookups: Counter[str] = Counter()
        self.gates: dict[str, threading.Event] = {}
        self.barrier: threading.Barrier | None = None
        self.down = False

    def get_version_by_id(self, version_id: str) -> ModelVersion:
        self.lookups[version_id] += 1
        if self.down:
            raise StorageError("the server at http://127.0.0.1:9 is unreachable")
        return self.inner.get_version_by_id(version_id)  # type: ignore[no-any-return]

    def download(self, version: ModelVersion, dest: str | Path) -> Path:
        self.downloads[version.id] += 1
        if self.down:
            raise StorageError("the server at http://127.0.0.1:9 is unreachable")
        gate = self.gates.get(version.id)
        if gate is not None:
            assert gate.wait(timeout=30)
        if self.barrier is not None:
            self.barrier.wait()
        return self.inner.download(version, dest)  # type: ignore[no-any-return]


def _frame(features: int, seed: int, rows: int = 20) -> pd.DataFrame:
    data = np.random.default_rng(seed).normal(size=(rows, features))
    return pd.DataFrame(data, columns=[f"f{i}" for i in range(features)])


def _logistic(features: int, seed: int, classes: int = 2) -> LogisticRegression:
    frame = _frame(features, seed, rows=max(60, 3 * classes))
    target = np.arange(len(frame)) % classes
    return LogisticRegression(C=0.5 + seed / 10, max_iter=50).fit(frame, target)


def _register(client: Client, name: str, model: Any) -> ModelVersion:
    """A version of ``model`` as the SDK saves it, registered without a run (fast)."""
    flavor = flavor_for(model)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "model").mkdir()
        config = flavor.save(model, Path(tmp) / "model")
        return client.model_service.register(
            name,
            tmp,
            project="lab",
            flavor=flavor.name,
            flavor_config=config,
            packages=package_versions(flavor.packages(model)),
        )


@pytest.fixture
def settings(settings_in_mode: Settings) -> Settings:
    """Embedded, and through a live server (the pool takes the registry's contract)."""
    return settings_in_mode


@pytest.fixture
def lab(client: Client) -> Client:
    client.projects.create("lab")
    return client


@pytest.fixture
def contract(lab: Client) -> Contract:
    return Contract(lab.model_service)


def _pool(contract: Contract, tmp_path: Path, **options: Any) -> ModelPool:
    values: dict[str, Any] = {
        "cache_dir": tmp_path / "serving-cache",
        "budget_bytes": GIB,
        "idle_unload_s": 0,
        "load_concurrency": 4,
        "allow_code_formats": False,
        "trusted": [TREE],
        **options,
    }
    return ModelPool(contract, **values)  # type: ignore[arg-type]


def _blob_path(settings: Settings, digest: str) -> Path:
    return Path(settings.artifacts_uri) / blob_key(digest)


def _model_file(client: Client, version: ModelVersion) -> str:
    """The digest of the version's model file (its one file under ``model/``)."""
    with open_blob_store(client.settings) as blobs:
        entries = blobs.read_tree(version.tree_digest)
    (entry,) = [e for e in entries if e.path.startswith("model/")]
    return entry.digest


@pytest.mark.slow
@pytest.mark.local_only("the pool through a server is tested below")
def test_fifty_versions_serve_from_one_process_within_a_gibibyte(
    lab: Client, contract: Contract, tmp_path: Path
) -> None:
    import lightgbm
    import xgboost
    from sklearn.ensemble import RandomForestClassifier

    frame = _frame(8, 0, rows=200)
    target = (frame["f0"] + frame["f1"] > 0).astype(int)
    models: list[Any] = [_logistic(8, seed) for seed in range(30)]
    models += [
        RandomForestClassifier(n_estimators=5 + seed, max_depth=4, random_state=seed).fit(
            frame, target
        )
        for seed in range(10)
    ]
    models += [
        lightgbm.train(
            {"num_leaves": 4 + seed, "verbose": -1, "seed": seed},
            lightgbm.Dataset(frame, target),
            num_boost_round=10,
        )
        for seed in range(5)
    ]
    models += [
        xgboost.train({"max_depth": 2 + seed}, xgboost.DMatrix(frame, target), num_boost_round=10)
        for seed in range(5)
    ]
    versions = [_register(lab, f"m{i % 5}", model) for i, model in enumerate(models)]
    assert len({v.id for v in versions}) == 50
    pool = _pool(contract, tmp_path, budget_bytes=GIB)

    async def serve() -> None:
        loaded = await asyncio.gather(*(pool.get(v.id) for v in versions))
        for version, model, answer in zip(versions, models, loaded, strict=True):
            assert answer.version.id == version.id
            expected = (
                model.predict(xgboost.DMatrix(frame))
                if isinstance(model, xgboost.Booster)
                else model.predict(frame)
            )
            np.testing.assert_allclose(np.asarray(answer.predict(frame)), expected)
        assert len(pool.loaded()) == 50 and pool.used_bytes <= GIB  # none unloaded
        await pool.close()

    asyncio.run(serve())
    assert set(contract.downloads) == {v.id for v in versions}
    assert set(contract.downloads.values()) == {1}


@pytest.mark.local_only("what stays in memory is the pool's own")
def test_the_least_recently_used_are_unloaded_to_keep_the_budget_by_bytes(
    lab: Client, contract: Contract, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a, b, c = (_register(lab, "small", _logistic(200, seed)) for seed in range(3))
    big = _register(lab, "big", _logistic(300, 9))  # about half as large again as each
    sizes: dict[str, int] = {}

    async def measure() -> None:
        pool = _pool(contract, tmp_path)
        for version in (a, b, c, big):
            sizes[version.id] = (await pool.get(version.id)).size_bytes
        await pool.close()

    asyncio.run(measure())
    assert sizes[b.id] < sizes[big.id] <= sizes[b.id] + sizes[c.id]
    budget = sizes[a.id] + sizes[b.id] + sizes[c.id]

    async def serve() -> list[list[str]]:
        pool = _pool(contract, tmp_path, budget_bytes=budget)
        seen = []
        for version in (a, b, c, a, big):
            await pool.get(version.id)
            assert pool.used_bytes <= budget
            assert pool.used_bytes == sum(m.size_bytes for m in pool.loaded())
            seen.append([m.version.id for m in pool.loaded()])
        await pool.close()
        return seen

    seen = asyncio.run(serve())
    assert seen[3] == [b.id, c.id, a.id]  # a asked for again: the most recently used
    assert seen[4] == [a.id, big.id]  # b then c (least recently used) made room for big
    # Files come from the local cache once fetched: one download each, whatever the loads.
    assert set(contract.downloads.values()) == {1}

    async def too_big() -> list[str]:
        pool = _pool(contract, tmp_path, budget_bytes=sizes[big.id] - 1)
        await pool.get(a.id)
        with caplog.at_level(logging.WARNING, logger="modelyard.serving"):
            await pool.get(big.id)
        names = [m.version.id for m in pool.loaded()]
        await pool.close()
        return names

    assert asyncio.run(too_big()) == [big.id]  # loaded alone
    assert "more than the whole memory budget" in caplog.text


@pytest.mark.local_only("what stays in memory is the pool's own")
def test_idle_versions_unload_after_the_idle_time(
    lab: Client, contract: Contract, tmp_path: Path
) -> None:
    a, b = (_register(lab, "m", _logistic(4, seed)) for seed in range(2))

    async def serve(idle_unload_s: float) -> tuple[list[str], list[str], list[str]]:
        pool = _pool(contract, tmp_path, idle_unload_s=idle_unload_s)
        await pool.get(a.id)
        await pool.get(b.id)
        both = [m.version.id for m in pool.loaded()]
        for _ in range(8):  # b stays in use, a does not
            await asyncio.sleep(0.1)
            await pool.get(b.id)
        used = [m.version.id for m in pool.loaded()]
        await asyncio.sleep(1.0)  # nothing asked: the background sweep unloads b too
        idle = [m.version.id for m in pool.loaded()]
        await pool.get(a.id)  # loads again, from the local cache
        await pool.close()
        return both, used, idle

    assert asyncio.run(serve(0)) == ([a.id, b.id], [a.id, b.id], [a.id, b.id])  # 0: never
    both, used, idle = asyncio.run(serve(0.5))
    assert (both, used, idle) == ([a.id, b.id], [b.id], [])
    assert contract.downloads == {a.id: 1, b.id: 1}


def test_a_version_asked_for_by_fifty_at_once_loads_once(
    lab: Client, contract: Contract, tmp_path: Path
) -> None:
    good = _register(lab, "m", _logistic(4, 0))
    bad = _register(lab, "m", _logistic(4, 1))
    _blob_path(lab.settings, _model_file(lab, bad)).write_bytes(b"not the model")

    async def ask() -> tuple[list[Any], list[Any], dict[str, str]]:
        pool = _pool(contract, tmp_path)
        goods = await asyncio.gather(*(pool.get(good.id) for _ in range(50)))
        bads = await asyncio.gather(*(pool.get(bad.id) for _ in range(50)), return_exceptions=True)
        with pytest.raises(ModelUnavailable):  # remembered: not fetched again at once
            await pool.get(bad.id)
        health = pool.health()
        await pool.close()
        return goods, bads, health

    goods, bads, health = asyncio.run(ask())
    assert all(m is goods[0] for m in goods)
    assert all(e is bads[0] for e in bads) and isinstance(bads[0], ModelUnavailable)
    assert f"lab/m/{bad.version} ({bad.id})" in bads[0].message
    assert contract.downloads == {good.id: 1, bad.id: 1}
    assert contract.lookups == {good.id: 1, bad.id: 1}
    assert health == {bad.id: bads[0].message}
    if not lab.is_remote:  # a server cuts the stream short at the corrupt blob
        assert "the store's copy of its files is corrupt" in bads[0].message


def test_a_failed_load_is_tried_again_after_its_back_off(
    lab: Client, contract: Contract, tmp_path: Path
) -> None:
    version = _register(lab, "m", _logistic(4, 0))
    contract.down = True

    async def ask() -> tuple[dict[str, str], dict[str, str]]:
        pool = _pool(contract, tmp_path, retry_after_s=0.2)
        for _ in range(3):
            with pytest.raises(ModelUnavailable, match="unreachable"):
                await pool.get(version.id)
        assert contract.lookups[version.id] == 1
        unhealthy = pool.health()
        contract.down = False
        await asyncio.sleep(0.3)
        await pool.get(version.id)
        healthy = pool.health()
        await pool.close()
        return unhealthy, healthy

    unhealthy, healthy = asyncio.run(ask())
    assert list(unhealthy) == [version.id] and healthy == {}
    assert contract.lookups[version.id] == 2


def test_a_corrupt_cached_file_is_fetched_again_and_a_corrupt_stored_one_is_unavailable(
    lab: Client, contract: Contract, tmp_path: Path
) -> None:
    version = _register(lab, "m", _logistic(4, 0))
    cache = tmp_path / "serving-cache"

    async def load() -> None:
        pool = _pool(contract, tmp_path)
        try:
            await pool.get(version.id)
        finally:
            await pool.close()

    asyncio.run(load())
    cached = cache / version.tree_digest / "model" / "model.skops"
    original = cached.read_bytes()
    cached.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    asyncio.run(load())  # the cached copy fails its check: fetched again
    assert cached.read_bytes() == original
    assert contract.downloads[version.id] == 2
    asyncio.run(load())  # intact now: no fetch
    assert contract.downloads[version.id] == 2
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []  # no leftovers

    cached.write_bytes(b"corrupt here")
    _blob_path(lab.settings, _model_file(lab, version)).write_bytes(b"and in the store")
    with pytest.raises(ModelUnavailable) as exc:
        asyncio.run(load())
    assert f"lab/m/{version.version} ({version.id})" in exc.value.message
    if not lab.is_remote:
        assert "the store's copy of its files is corrupt" in exc.value.message
    assert contract.downloads[version.id] == 3  # fetched again once


def test_cached_versions_still_load_when_the_store_is_unreachable(
    lab: Client, contract: Contract, tmp_path: Path
) -> None:
    a, b, never = (_register(lab, "m", _logistic(4, seed)) for seed in range(3))
    frame = _frame(4, 5)

    async def serve() -> Any:
        pool = _pool(contract, tmp_path, budget_bytes=1)  # room for one at a time
        await pool.get(a.id)
        await pool.get(b.id)
        assert [m.version.id for m in pool.loaded()] == [b.id]
        contract.down = True  # the control plane and the store are gone
        shutil.rmtree(Path(lab.settings.artifacts_uri))
        answer = (await pool.get(a.id)).predict(frame)
        with pytest.raises(ModelUnavailable, match="unreachable"):
            await pool.get(never.id)
        await pool.close()
        return answer

    answer = asyncio.run(serve())
    np.testing.assert_array_equal(answer, _logistic(4, 0).predict(frame))
    assert contract.downloads[a.id] == 1


class Doubler:
    def predict(self, x: Any) -> Any:
        return np.asarray(x) * 2


@pytest.fixture
def code_models(tmp_path: Path, store_url: str) -> Iterator[Client]:
    """An installation that allows formats that run code, its project too."""
    from modelyard.config import load_settings

    settings = load_settings(
        home=tmp_path / "home",
        store={"url": store_url},
        tracking={"system_metrics_interval_s": 0, "capture_packages": False},
        registry={"allow_code_formats": True},
    )
    with Client(settings) as client:
        client.projects.create("lab")
        client.projects.set_setting("lab", "registry.allow_code_formats", True)
        yield client


def test_a_format_that_runs_code_loads_only_where_both_settings_allow_it(
    code_models: Client, tmp_path: Path
) -> None:
    version = _register(code_models, "doubler", Doubler())
    contract = Contract(code_models.model_service)

    async def ask(**options: Any) -> Any:
        pool = _pool(contract, tmp_path, **options)
        try:
            return (await pool.get(version.id)).predict(pd.DataFrame({"x": [1, 2]}))
        finally:
            await pool.close()

    with pytest.raises(ModelUnavailable, match=r"setting registry\.allow_code_formats is off"):
        asyncio.run(ask(allow_code_formats=False, project_setting=lambda project: True))
    with pytest.raises(ModelUnavailable, match="project 'lab' does not allow them"):
        asyncio.run(ask(allow_code_formats=True, project_setting=lambda project: False))
    with pytest.raises(ModelUnavailable, match="does not allow them"):
        asyncio.run(ask(allow_code_formats=True))  # no project's setting: none allows
    assert contract.downloads == {}  # refused before anything was fetched
    answer = asyncio.run(ask(allow_code_formats=True, project_setting=lambda project: True))
    assert np.asarray(answer).ravel().tolist() == [2, 4]


def test_a_loaded_version_answers_while_others_load_in_parallel(
    lab: Client, contract: Contract, tmp_path: Path
) -> None:
    ready, slow, c, d = (_register(lab, "m", _logistic(4, seed)) for seed in range(4))
    frame = _frame(4, 0)
    contract.gates[slow.id] = threading.Event()

    async def serve() -> None:
        pool = _pool(contract, tmp_path, load_concurrency=2)
        await pool.get(ready.id)
        loading = asyncio.ensure_future(pool.get(slow.id))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        for _ in range(20):  # answered at once, though a load is under way
            (await pool.get(ready.id)).predict(frame)
        assert time.monotonic() - started < 0.5 and not loading.done()
        contract.gates[slow.id].set()
        assert (await loading).version.id == slow.id
        # Two loads at once: each download waits for the other to start.
        contract.barrier = threading.Barrier(2, timeout=10)
        both = await asyncio.gather(pool.get(c.id), pool.get(d.id))
        assert [m.version.id for m in both] == [c.id, d.id]
        await pool.close()

    asyncio.run(serve())


def test_the_footprint_is_the_memory_a_model_holds(tmp_path: Path) -> None:
    """Measured against tracemalloc around the load for scikit-learn models (their numpy
    buffers are traced), within 20%; a forest's trees, which tracemalloc does not see,
    by their node arrays."""
    import tracemalloc

    from sklearn.ensemble import RandomForestClassifier

    from modelyard.registry._sklearn import SklearnFlavor
    from modelyard.serving._footprint import footprint

    frame = _frame(50, 0, rows=2000)
    target = (frame["f0"] > 0).astype(int)
    flavor = SklearnFlavor()
    wide = _logistic(2000, 0, classes=50)
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(frame, target)
    for name, model in (("wide", wide), ("forest", forest)):
        (tmp_path / name).mkdir()
        config = flavor.save(model, tmp_path / name)
        flavor.load(tmp_path / name, config, trusted=[TREE])  # modules imported
        tracemalloc.start()
        try:
            loaded = flavor.load(tmp_path / name, config, trusted=[TREE])
            traced = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        measured = footprint(loaded, 0)
        if name == "wide":
            assert abs(measured - traced) <= 0.2 * traced
            assert measured >= wide.coef_.nbytes
        else:
            nodes = sum(
                e.tree_.__getstate__()["nodes"].nbytes + e.tree_.value.nbytes
                for e in loaded.estimators_
            )
            assert nodes <= measured <= 1.2 * nodes + traced


def test_a_boosters_native_memory_is_taken_from_its_files(tmp_path: Path) -> None:
    """Python sees little of a LightGBM or XGBoost booster: 1.5 bytes for each byte of its
    files are counted (measured against resident memory: docs/serving.md)."""
    import lightgbm
    import xgboost

    from modelyard.serving._footprint import footprint

    frame = _frame(8, 0, rows=500)
    target = (frame["f0"] > 0).astype(int)
    boosters = [
        lightgbm.train({"verbose": -1}, lightgbm.Dataset(frame, target), num_boost_round=20),
        lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(frame, target),
        xgboost.train({}, xgboost.DMatrix(frame, target), num_boost_round=20),
        xgboost.XGBClassifier(n_estimators=20).fit(frame, target),
    ]
    for booster in boosters:
        files = 100_000
        measured = footprint(booster, files)
        assert 1.5 * files <= measured <= 1.5 * files + 50_000, type(booster)
    assert footprint(_logistic(8, 0), files) < 50_000  # no booster: the files do not count


@pytest.mark.slow
@pytest.mark.local_only("each process reaches the store itself")
def test_processes_sharing_a_cache_folder_replace_a_corrupt_copy_without_clashing(
    lab: Client, contract: Contract, tmp_path: Path
) -> None:
    import multiprocessing

    from pool_support import load_in_process

    version = _register(lab, "m", _logistic(40, 0))
    cache = tmp_path / "serving-cache"
    asyncio.run(_load_once(_pool(contract, tmp_path), version.id))
    cached = cache / version.tree_digest / "model" / "model.skops"
    original = cached.read_bytes()
    cached.write_bytes(b"corrupt")
    settings = lab.settings
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Manager().Barrier(4)
    with ctx.Pool(4) as processes:
        sizes = processes.starmap(
            load_in_process,
            [(str(settings.home), settings.store_url, str(cache), version.id, barrier)] * 4,
        )
    assert len(set(sizes)) == 1 and sizes[0] > 40 * 8
    assert cached.read_bytes() == original
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []  # no leftovers


async def _load_once(pool: ModelPool, version_id: str) -> None:
    try:
        await pool.get(version_id)
    finally:
        await pool.close()


class _Slotted:
    __slots__ = ("__private", "weights")

    def __init__(self) -> None:
        self.weights = np.zeros(10_000)
        self.__private = np.zeros(20_000)


def test_the_footprint_reaches_slots_private_ones_too() -> None:
    from modelyard.serving._footprint import footprint

    assert 30_000 * 8 <= footprint(_Slotted(), 0) < 30_000 * 8 + 2_000


def test_a_type_skops_does_not_trust_names_the_setting_that_trusts_it(
    lab: Client, contract: Contract, tmp_path: Path
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    frame = _frame(3, seed=1, rows=40)
    forest = RandomForestClassifier(n_estimators=2, random_state=0)
    version = _register(lab, "forest", forest.fit(frame, np.arange(40) % 2))
    pool = _pool(contract, tmp_path, trusted=[])

    async def load() -> None:
        try:
            await pool.get(version.id)
        finally:
            await pool.close()

    with pytest.raises(ModelUnavailable, match=rf"{TREE}.*registry\.trusted_types"):
        asyncio.run(load())
