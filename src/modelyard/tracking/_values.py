"""What a logged metric point must be: a number at an integer step and time within
:data:`modelyard.limits.INTEGER`.

The tracking service enforces these rules on every batch it stores; the SDK asks the same
functions where a value is logged, so that a bad one is refused at the call that logged
it rather than when the buffer is flushed.
"""

from __future__ import annotations

import numbers
from typing import Any

from modelyard.errors import InvalidInput
from modelyard.limits import INTEGER

__all__ = ["as_metric_value", "as_step", "as_timestamp"]


def as_metric_value(key: str, value: Any) -> float:
    """``value`` as a float (NaN and infinities included); text, bytes and None are not
    numbers."""
    if isinstance(value, str | bytes) or value is None:
        raise InvalidInput(f"metric {key!r} must be a number; got {value!r}", field="value")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"metric {key!r} must be a number; got {value!r}", field="value"
        ) from None


def as_step(step: Any) -> int:
    """``step`` as an int from 0 to :data:`~modelyard.limits.INTEGER`."""
    if _in_range(step):
        return int(step)
    raise InvalidInput(f"step must be an integer from 0 to {INTEGER}; got {step!r}", field="step")


def as_timestamp(timestamp: Any) -> int:
    """``timestamp`` (milliseconds since the epoch) as an int from 0 to
    :data:`~modelyard.limits.INTEGER`."""
    if _in_range(timestamp):
        return int(timestamp)
    raise InvalidInput(
        f"timestamp must be milliseconds since the epoch, an integer >= 0; got {timestamp!r}",
        field="timestamp",
    )


def _in_range(value: Any) -> bool:
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and 0 <= int(value) <= INTEGER
    )
