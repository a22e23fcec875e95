"""Which way is better for each metric of live performance (the ``performance``
monitor's metrics): higher, except for the errors and losses; ``mean_error`` has no
better direction (its sign is the bias). The monitoring checks and the rollouts' live
guard read it from here."""

from __future__ import annotations

__all__ = ["LOWER_IS_BETTER", "NO_DIRECTION", "higher_is_better"]

#: Metrics where a lower value is better (a drop is a rise).
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "rmse", "mae"})
#: Metrics with no better direction.
NO_DIRECTION = frozenset({"mean_error"})


def higher_is_better(metric: str) -> bool | None:
    """True when a higher ``metric`` is better, False when lower, None when neither."""
    if metric in NO_DIRECTION:
        return None
    return metric not in LOWER_IS_BETTER
