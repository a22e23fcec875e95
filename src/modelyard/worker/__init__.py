"""The worker: an interface of its own, like the CLI and the API. It claims due schedule
occurrences from the schedule service and runs their pipelines, each fire in a fresh process
(``modelyard.worker._fire``) or inline. Only the worker imports pipeline code, and only from
what ``worker.pipeline_packages`` and ``worker.pipeline_dir`` allow."""

from modelyard.worker.worker import Worker

__all__ = ["Worker"]
