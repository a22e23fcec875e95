"""What the inference server is built from, as interfaces: a pool of loaded model
versions, a micro-batcher per version, and the prediction log. The server's request
handling depends on these; ``modelyard serve`` puts the real ones together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from modelyard.registry.entities import ModelVersion
    from modelyard.serving.entities import Deployment

__all__ = ["Batcher", "LoadedModel", "ModelPool", "PredictionSink", "Rows"]


@dataclass(frozen=True, slots=True)
class Rows:
    """One request's rows as they travel from the protocol to the model: plain column
    lists (cheap to build per request: no DataFrame for one row) or one tensor. The
    batcher gathers many into one frame for the model."""

    count: int
    columns: dict[str, list[Any]] | None = None
    tensor: np.ndarray | None = None


class LoadedModel(Protocol):
    """A model version in memory, ready to predict."""

    @property
    def version(self) -> ModelVersion: ...

    @property
    def size_bytes(self) -> int:
        """The memory it was measured to take when it loaded."""
        ...

    def predict(self, frame: pd.DataFrame) -> Any:
        """One output per row of ``frame`` (an array, a Series or a DataFrame)."""
        ...


class ModelPool(Protocol):
    """Loaded versions under a memory budget: each loads once, however many ask at once;
    different versions load in parallel; the least recently used are unloaded to keep
    the budget, and idle ones after a set time."""

    async def get(self, version_id: str) -> LoadedModel:
        """The version, loaded (its files fetched and verified against their digests, or
        taken from the local cache); ModelUnavailable when it cannot be."""
        ...

    def loaded(self) -> Sequence[LoadedModel]: ...

    async def close(self) -> None: ...


class Batcher(Protocol):
    """Requests for one loaded version gathered into batches of at most a set number of
    rows (a request's own rows count), waiting only while others are arriving. It is
    built with the function that predicts a batch (``list[Rows]`` in, one output
    sequence per ``Rows`` out), run off the event loop."""

    async def submit(self, rows: Rows) -> Sequence[Any]:
        """The outputs for ``rows`` (one per row); Overloaded when the queue is past what
        the version can answer in time."""
        ...

    @property
    def queue_rows(self) -> int: ...

    async def close(self) -> None:
        """Answer what is queued, then take no more."""
        ...


class PredictionSink(Protocol):
    """Where answered predictions go, off the request path: ``record`` never blocks and
    never raises; rows it cannot keep are counted in ``dropped``."""

    def record(
        self,
        *,
        deployment_id: str,
        version_id: str,
        prediction_ids: Sequence[str],
        inputs: Rows,
        outputs: Sequence[Any],
        latency_ms: float,
        at_ms: int,
        shadow: bool = False,
    ) -> None: ...

    def track(self, deployment: Deployment) -> None:
        """Log ``deployment`` from now on, with its plan's versions and its sample rate
        (called again with each new plan: the sink keeps the rate's share of requests)."""
        ...

    def forget(self, deployment_id: str) -> None:
        """Stop logging a deployment the server no longer serves."""
        ...

    @property
    def dropped(self) -> int: ...

    @property
    def queue_rows(self) -> int: ...

    async def start(self) -> None: ...

    async def close(self) -> None:
        """Write what is queued, then stop."""
        ...
