"""An exact set of 64- or 128-bit keys that grows batch by batch: the memory of ``unique``.

Keys are kept as sorted runs of ``uint64`` arrays (a second, parallel array for 128-bit
keys), merged like a binary counter so that a run is at least twice the size of the next:
adding n keys in batches costs O(n log^2 n) and a membership test looks at O(log n) runs.
Memory is 8 (or 16) bytes per distinct key, plus a transient copy of the runs being merged.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["SeenKeys"]

Keys = npt.NDArray[np.uint64]
Mask = npt.NDArray[np.bool_]


class SeenKeys:
    """Keys seen so far; :meth:`add` says which of a batch's keys were seen before.

    After ``limit`` distinct keys the set stops growing (``full`` becomes True): later keys
    are still checked against the ones held, but not remembered.
    """

    def __init__(self, wide: bool, limit: int) -> None:
        self.wide = wide
        self.limit = limit
        self.size = 0
        self.full = False
        self._runs: list[tuple[Keys, Keys | None]] = []

    def add(self, first: Keys, second: Keys | None = None) -> Mask:
        """True for each key (``first``, plus ``second`` for wide keys) that occurred before:
        in an earlier batch, or earlier in this one."""
        n = first.size
        if n == 0:
            return np.zeros(0, dtype=bool)
        if self.wide:
            assert second is not None
            order = np.lexsort((second, first))  # stable: equal keys keep their row order
            low, high = first[order], second[order]
            repeat = (low[1:] == low[:-1]) & (high[1:] == high[:-1])
        else:
            order = np.argsort(first, kind="stable")
            low, high = first[order], None
            repeat = low[1:] == low[:-1]
        seen_sorted = np.concatenate([[False], repeat])
        fresh = np.flatnonzero(~seen_sorted)
        new_low = low[fresh]
        new_high = high[fresh] if high is not None else None
        held = np.zeros(fresh.size, dtype=bool)
        for run in self._runs:
            held |= _member(run, new_low, new_high)
        seen_sorted[fresh] = held
        if not self.full:
            keep = ~held
            self._insert(new_low[keep], new_high[keep] if new_high is not None else None)
        seen = np.empty(n, dtype=bool)
        seen[order] = seen_sorted
        return seen

    def _insert(self, low: Keys, high: Keys | None) -> None:
        if low.size == 0:
            return
        if self.size + low.size > self.limit:
            self.full = True
            return
        self.size += low.size
        self._runs.append((low, high))
        while len(self._runs) > 1 and self._runs[-2][0].size <= 2 * self._runs[-1][0].size:
            (a_low, a_high), (b_low, b_high) = self._runs[-2], self._runs[-1]
            merged_low = np.concatenate([a_low, b_low])
            if a_high is not None and b_high is not None:
                merged_high = np.concatenate([a_high, b_high])
                order = np.lexsort((merged_high, merged_low))
                self._runs[-2:] = [(merged_low[order], merged_high[order])]
            else:
                self._runs[-2:] = [(np.sort(merged_low, kind="stable"), None)]


def _member(run: tuple[Keys, Keys | None], low: Keys, high: Keys | None) -> Mask:
    """Which keys are in ``run`` (sorted by ``(low, high)``)."""
    run_low, run_high = run
    left = np.searchsorted(run_low, low, side="left")
    right = np.searchsorted(run_low, low, side="right")
    if run_high is None or high is None:
        return right > left
    found = np.zeros(low.size, dtype=bool)
    single = right - left == 1
    found[single] = run_high[left[single]] == high[single]
    for index in np.flatnonzero(right - left > 1):  # the first halves collide: rare
        found[index] = bool(np.any(run_high[left[index] : right[index]] == high[index]))
    return found
