"""``modelyard serve``'s run loop over the test doubles, as a process of its own:
``python serve_doubles.py PORT DELAY_S``. Deployment ``slow`` answers after DELAY_S; the
parts print when they are closed, so a test can see the shutdown reach them."""

from __future__ import annotations

import sys

from serving_support import (
    Constant,
    DictPlans,
    JsonCodecs,
    ListSink,
    deployment,
    direct_batcher,
    pool_of,
    route,
)

from modelyard.config import ServingSettings
from modelyard.serving.server import InferenceServer, run


class PrintingSink(ListSink):
    async def close(self) -> None:
        print(f"sink closed with {len(self.records)} records", flush=True)


def main() -> None:
    port, delay_s = int(sys.argv[1]), float(sys.argv[2])
    app = InferenceServer(
        deployments=DictPlans(deployment("slow", [route("m", 1)])),  # type: ignore[arg-type]
        project="default",
        pool=pool_of(("m", 1, Constant(1, delay_s=delay_s))),
        make_batcher=direct_batcher,
        sink=PrintingSink(),
        codecs=JsonCodecs(),
        settings=ServingSettings(auth="open", shutdown_grace_s=10),
        auth=None,
    )
    run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
