from __future__ import annotations

import time

import pytest

from modelyard.config import CostSettings, load_settings
from modelyard.errors import InvalidInput
from modelyard.tracking.cost import compute_cost
from modelyard.tracking.system import ResourceUsage, SystemSampler

GIB = 1024**3


def _prices(**kwargs: float) -> CostSettings:
    """A price table that is zero except for what the test sets."""
    return CostSettings(**{"cpu_hour": 0, "gb_hour": 0, "gpu_hour": 0, **kwargs})


def test_cost_formula() -> None:
    usage = ResourceUsage(
        wall_time_s=7200, cpu_time_s=1800, peak_rss_bytes=2 * GIB, gpu_time_s=3600, gpu_count=1
    )
    prices = CostSettings(cpu_hour=0.04, gb_hour=0.005, gpu_hour=2.5)
    # 0.5 CPU-h * 0.04 + 2 GiB * 2 h * 0.005 + 1 GPU-h * 2.5
    assert compute_cost(usage, prices) == pytest.approx(0.02 + 0.02 + 2.5, abs=1e-9)


@pytest.mark.parametrize(
    ("usage", "prices", "expected"),
    [
        (ResourceUsage(3600, 3600, GIB), _prices(cpu_hour=1), 1.0),
        (ResourceUsage(3600, 0, GIB), _prices(gb_hour=1), 1.0),
        (ResourceUsage(1800, 0, GIB // 2), _prices(gb_hour=1), 0.25),
        (ResourceUsage(10, 0, 0, gpu_time_s=7200, gpu_count=2), _prices(gpu_hour=3), 6.0),
        (ResourceUsage(3600, 3600, 8 * GIB, 3600, 1), _prices(), 0.0),
    ],
)
def test_each_term(usage: ResourceUsage, prices: CostSettings, expected: float) -> None:
    assert compute_cost(usage, prices) == pytest.approx(expected)


def test_rounded_to_six_decimals() -> None:
    # 1 CPU-second at 1 per hour = 0.000277777...
    assert compute_cost(ResourceUsage(1, 1, 0), _prices(cpu_hour=1)) == 0.000278


def test_cost_of_a_measured_run() -> None:
    sampler = SystemSampler(lambda values, step: None, interval_s=0)
    sampler.start()
    end = time.process_time() + 0.1
    while time.process_time() < end:
        pass
    usage = sampler.stop()
    cost = compute_cost(usage, CostSettings(cpu_hour=3600, gb_hour=1, gpu_hour=1))
    assert cost >= round(usage.cpu_time_s, 6) > 0


@pytest.mark.parametrize("price", ["inf", "nan", "-0.5"])
@pytest.mark.parametrize("key", ["cpu_hour", "gb_hour", "gpu_hour"])
def test_prices_are_finite_and_not_negative(key: str, price: str) -> None:
    """An infinite price would make every run's cost one the service refuses at its end."""
    with pytest.raises(InvalidInput) as refused:
        load_settings(cost={key: price})
    assert key in str(refused.value.field or refused.value.message)
