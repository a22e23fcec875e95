"""The BentoML services benchmarks/serving.py starts (`bentoml serve bento_service:Batched`),
as in the shared peer harness (shared/bench/serving/bento/service.py): MODEL_PATH names
the joblib file, MAX_LATENCY_MS the adaptive batcher's latency bound."""

import os

import bentoml
import joblib
import numpy as np

PATH = os.environ["MODEL_PATH"]
LATENCY_MS = int(os.environ.get("MAX_LATENCY_MS", "100"))


@bentoml.service  # the defaults: one worker, one thread
class Plain:
    def __init__(self) -> None:
        self.m = joblib.load(PATH)

    @bentoml.api
    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.m.predict(rows)


@bentoml.service
class Batched:
    def __init__(self) -> None:
        self.m = joblib.load(PATH)

    @bentoml.api(batchable=True, max_batch_size=64, max_latency_ms=LATENCY_MS)
    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.m.predict(rows)
