"""What a run cost, from its measured resource usage and the configured price table."""

from __future__ import annotations

from modelyard.config import CostSettings
from modelyard.tracking.system import ResourceUsage

__all__ = ["compute_cost"]

_SECONDS_PER_HOUR = 3600.0
_BYTES_PER_GIB = 1024.0**3


def compute_cost(usage: ResourceUsage, prices: CostSettings) -> float:
    """Price ``usage`` in ``prices.currency``, rounded to 6 decimals::

        cost = cpu_time_s / 3600 * cpu_hour
             + peak_rss_bytes / 2**30 * wall_time_s / 3600 * gb_hour
             + gpu_time_s / 3600 * gpu_hour

    CPU and GPU are charged for time actually used (CPU-seconds, utilization-weighted
    GPU-seconds); memory is charged for its peak held over the whole wall-clock time.
    """
    cpu = usage.cpu_time_s / _SECONDS_PER_HOUR * prices.cpu_hour
    memory = (
        usage.peak_rss_bytes / _BYTES_PER_GIB * usage.wall_time_s / _SECONDS_PER_HOUR
    ) * prices.gb_hour
    gpu = usage.gpu_time_s / _SECONDS_PER_HOUR * prices.gpu_hour
    return round(cpu + memory + gpu, 6)
