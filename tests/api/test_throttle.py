"""Failed sign-ins counted per client address: a sliding window, bounded memory."""

from __future__ import annotations

import pytest

from modelyard.api import _throttle
from modelyard.api._throttle import AddressThrottle
from modelyard.errors import TooManyRequests


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_refuses_until_the_oldest_failure_leaves_the_window() -> None:
    clock = Clock()
    throttle = AddressThrottle(3, 60, clock=clock)
    for moment in (1000.0, 1010.0, 1030.0):
        clock.now = moment
        throttle.check("10.0.0.1")
        throttle.failed("10.0.0.1")
    clock.now = 1050.0
    with pytest.raises(TooManyRequests, match="try again in 10 s") as refused:
        throttle.check("10.0.0.1")  # the failure at 1000 leaves the window at 1060
    assert refused.value.retry_after == 10 and refused.value.http_status == 429
    throttle.check("10.0.0.2")  # other addresses are not affected
    throttle.check(None)  # nor requests without an address
    clock.now = 1060.0
    throttle.check("10.0.0.1")  # the failure at 1000 has left the window
    throttle.failed("10.0.0.1")
    with pytest.raises(TooManyRequests):
        throttle.check("10.0.0.1")


def test_at_most_max_addresses_are_kept_the_stale_and_oldest_go_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_throttle, "MAX_ADDRESSES", 3)
    clock = Clock()
    throttle = AddressThrottle(1, 60, clock=clock)
    throttle.failed("stale")
    clock.now += 100
    for addr in ("a", "b"):
        throttle.failed(addr)
    throttle.failed("c")  # full: "stale" has left the window and goes
    assert set(throttle._failures) == {"a", "b", "c"}
    throttle.failed("a")  # a failure again moves "a" to the back
    throttle.failed("d")  # full, none stale: the oldest, "b", goes
    assert list(throttle._failures) == ["c", "a", "d"]
    with pytest.raises(TooManyRequests):
        throttle.check("d")
