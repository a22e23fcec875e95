"""Failed authentications counted per client address, in this server process.

The lock-out in ``governance/users.py`` counts failures per username, which does not slow
down one client trying a few passwords on each of many usernames. A throttle counts the
failures of one kind (password sign-ins; bearer tokens) of each client address: once
``limit`` of them fall within ``window_s``, that kind of request from that address is
answered 429 (with ``Retry-After``) until the oldest of them leaves the window. The
counts live in memory, per server process, and are bounded: at most ``limit`` times per
address and ``MAX_ADDRESSES`` addresses.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from modelyard.errors import TooManyRequests

__all__ = ["MAX_ADDRESSES", "AddressThrottle"]

#: Addresses tracked at most; past this, those with the oldest last failure are dropped.
MAX_ADDRESSES = 100_000


class AddressThrottle:
    """``check`` before an attempt, ``failed`` after a refused one. ``what`` names the
    attempts in the 429 message (``failed sign-ins``)."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        what: str = "failed sign-ins",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.what = what
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def check(self, addr: str | None) -> None:
        """Raise TooManyRequests while ``addr`` has ``limit`` failures in the window."""
        refused = self.refusal(addr)
        if refused is not None:
            raise refused

    def refusal(self, addr: str | None) -> TooManyRequests | None:
        """The TooManyRequests error ``check`` would raise for ``addr``, or None."""
        if addr is None:
            return None
        now = self._clock()
        with self._lock:
            times = self._recent(addr, now)
            if times is None or len(times) < self.limit:
                return None
            wait = max(1, math.ceil(times[0] + self.window_s - now))
        return TooManyRequests(
            f"too many {self.what} from this address: try again in {wait} s",
            retry_after=wait,
        )

    def failed(self, addr: str | None) -> None:
        """Count a refused sign-in from ``addr``."""
        if addr is None:
            return
        now = self._clock()
        with self._lock:
            times = self._recent(addr, now)
            if times is None:
                if len(self._failures) >= MAX_ADDRESSES:
                    self._forget(now)
                times = self._failures[addr] = deque(maxlen=self.limit)
            else:  # the most recent failure last: dicts keep insertion order
                del self._failures[addr]
                self._failures[addr] = times
            times.append(now)

    def _recent(self, addr: str, now: float) -> deque[float] | None:
        times = self._failures.get(addr)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[addr]
            return None
        return times

    def _forget(self, now: float) -> None:
        """Drop addresses whose failures all left the window, then the oldest ones."""
        for addr in [a for a, t in self._failures.items() if t[-1] <= now - self.window_s]:
            del self._failures[addr]
        excess = len(self._failures) - MAX_ADDRESSES + 1
        for addr in list(self._failures)[: max(0, excess)]:
            del self._failures[addr]
