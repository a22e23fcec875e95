"""Property-based: schemathesis generates requests that fit, and requests that break, the
OpenAPI document of a live ``modelyard server`` (authentication on, every request signed
with an administrator's token), for every operation; none may get a 5xx answer.

Bounded for CI: ``MAX_EXAMPLES`` requests per operation and mode, the operations dealt
into ``SHARDS`` tests (each within the suite's per-test timeout on two cores as the API
grows). Strategies are drawn operation by operation rather than through
``schema.parametrize()``, whose lazy fixture loader does not support pytest 9.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from modelyard.config import load_settings
from modelyard.governance import SYSTEM, Governance
from modelyard.store import open_store
from server_support import ServerProcess

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 40
SHARDS = 4


def _arrow_stream(columns: dict[str, list[Any]]) -> bytes:
    table = pa.table(columns) if columns else pa.table({"x": pa.array([], pa.int64())})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


_NAMES = st.text(min_size=1, max_size=12)
_VALUES = st.sampled_from(
    [
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=True, allow_infinity=True),
        st.one_of(st.none(), st.text(max_size=20)),
    ]
)
_TABLES = st.integers(0, 20).flatmap(
    lambda rows: st.dictionaries(
        _NAMES,
        _VALUES.flatmap(lambda values: st.lists(values, min_size=rows, max_size=rows)),
        max_size=4,
    )
)
_VALID = _TABLES.map(_arrow_stream)
# Dataset uploads are Arrow IPC streams: valid ones, cut ones and plain noise.
schemathesis.openapi.media_type(
    "application/vnd.apache.arrow.stream",
    st.one_of(
        _VALID,
        st.tuples(_VALID, st.integers(0, 400)).map(lambda vb: vb[0][: vb[1]]),
        st.binary(max_size=300),
    ),
)


def _tar(files: dict[str, bytes]) -> bytes:
    sink = io.BytesIO()
    with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return sink.getvalue()


_VALID_TAR = st.dictionaries(_NAMES, st.binary(max_size=40), max_size=3).map(_tar)
# Model versions' files are tar streams: valid ones (any member names), cut ones and noise.
schemathesis.openapi.media_type(
    "application/x-tar",
    st.one_of(
        _VALID_TAR,
        st.tuples(_VALID_TAR, st.integers(0, 3000)).map(lambda vb: vb[0][: vb[1]]),
        st.binary(max_size=300),
    ),
)


def _parquet(rows: int) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    table = pa.table(
        {
            "prediction_id": [f"p-{i}" for i in range(rows)],
            "version_id": ["v"] * rows,
            "time": list(range(rows)),
        }
    )
    pq.write_table(table, sink)
    return sink.getvalue()


_VALID_PARQUET = st.integers(0, 5).map(_parquet)
# Prediction log segments are Parquet: valid ones, cut ones and noise.
schemathesis.openapi.media_type(
    "application/vnd.apache.parquet",
    st.one_of(
        _VALID_PARQUET,
        st.tuples(_VALID_PARQUET, st.integers(0, 1000)).map(lambda vb: vb[0][: vb[1]]),
        st.binary(max_size=300),
    ),
)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def live_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """The URL of a ``modelyard server`` process on a fresh store, and an administrator's
    access token."""
    home = tmp_path_factory.mktemp("schemathesis")
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'modelyard.db'}"
    else:
        url = request.getfixturevalue("_postgres_database")
    settings_ = load_settings(home=home / "home", store={"url": url})
    store = open_store(url, auto_upgrade=True)
    try:
        gov = Governance(store)
        gov.users.create_service_account("fuzz", actor=SYSTEM, admin=True)
        token = gov.tokens.create("fuzz", "schemathesis", actor=SYSTEM).secret
    finally:
        store.dispose()
    server = ServerProcess(settings_, home / "server.log", auth=True).start()
    try:
        yield server.url, token
    finally:
        server.stop()


@pytest.mark.parametrize("shard", range(SHARDS))
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_gets_a_server_error(
    live_api: tuple[str, str], mode: GenerationMode, shard: int
) -> None:
    url, token = live_api
    schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")
    every = [result.ok() for result in schema.get_all_operations()]
    assert len(every) >= 15
    operations = every[shard::SHARDS]
    failures: list[str] = []
    with requests.Session() as session:
        for operation in operations:

            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case: Any) -> None:
                answer = case.call(
                    base_url=url,
                    session=session,
                    timeout=30,
                    headers={"Authorization": f"Bearer {token}"},
                )
                if answer.status_code >= 500:
                    failures.append(f"{answer.status_code}: {case.as_curl_command()}")

            try:
                call()
            except Unsatisfiable:  # nothing to break: no parameters, no body
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert failures == []
