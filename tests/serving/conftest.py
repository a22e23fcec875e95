from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from serving_support import (
    PROJECT,
    DictPlans,
    JsonCodecs,
    ListSink,
    SklearnPool,
    direct_batcher,
)

from modelyard.config import ServingSettings
from modelyard.serving._auth import Authorizer
from modelyard.serving.server import InferenceServer
from server_support import LiveServer


class Served:
    def __init__(self, app: InferenceServer, live: LiveServer) -> None:
        self.app = app
        self.url = live.url
        self.sink: ListSink = app.sink  # type: ignore[assignment]
        self.stop = live.stop


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """Start an inference server over test doubles on 127.0.0.1; stopped after the test."""
    started: list[LiveServer] = []

    def start(
        plans: DictPlans,
        pool: SklearnPool,
        *,
        auth: Authorizer | None = None,
        names: tuple[str, ...] = (),
        make_batcher: Any = direct_batcher,
        labels: Any = None,
        **settings: Any,
    ) -> Served:
        app = InferenceServer(
            deployments=plans,  # type: ignore[arg-type]
            project=PROJECT,
            pool=pool,
            make_batcher=make_batcher,
            sink=ListSink(),
            codecs=JsonCodecs(),
            settings=ServingSettings(**{"plan_poll_s": 0.05, **settings}),
            auth=auth,
            names=names,
            labels=labels,
        )
        live = LiveServer(app).start()
        started.append(live)
        return Served(app, live)

    yield start
    for live in started:
        live.stop()
