"""Each monitor kind's :class:`~modelyard.monitoring._parts.Check`, by kind."""

from __future__ import annotations

from modelyard.errors import InvalidInput
from modelyard.monitoring._parts import Check
from modelyard.monitoring.checks_data import DriftCheck, PredictionDriftCheck, QualityCheck
from modelyard.monitoring.checks_ops import DataLoadCheck, ErrorsCheck, LatencyCheck, VolumeCheck
from modelyard.monitoring.checks_perf import PerformanceCheck
from modelyard.monitoring.entities import MONITOR_KINDS

__all__ = ["CHECKS", "check_for"]

#: The checks by kind (every kind of ``MONITOR_KINDS`` once all are built).
CHECKS: dict[str, Check] = {}
CHECKS["volume"] = VolumeCheck()
CHECKS["latency"] = LatencyCheck()
CHECKS["errors"] = ErrorsCheck()
CHECKS["data_load"] = DataLoadCheck()
CHECKS["performance"] = PerformanceCheck()
CHECKS["drift"] = DriftCheck()
CHECKS["prediction_drift"] = PredictionDriftCheck()
CHECKS["quality"] = QualityCheck()


def check_for(kind: object) -> Check:
    """The check of ``kind``; InvalidInput naming the kinds there are."""
    if not isinstance(kind, str) or kind not in CHECKS:
        known = [k for k in MONITOR_KINDS if k in CHECKS]
        raise InvalidInput(f"kind must be one of {known}; got {kind!r}", field="kind")
    return CHECKS[kind]
