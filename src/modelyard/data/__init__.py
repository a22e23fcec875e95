"""Data: profiles and drift statistics over streams of Arrow record batches."""

from modelyard.data.drift import DriftChart, DriftReport, FeatureDrift, drift
from modelyard.data.profile import (
    CategoryCount,
    ColumnProfile,
    Frequencies,
    Histogram,
    Profile,
    QuantileSummary,
    Seasonality,
    TimeProfile,
    profile,
)

__all__ = [
    "CategoryCount",
    "ColumnProfile",
    "DriftChart",
    "DriftReport",
    "FeatureDrift",
    "Frequencies",
    "Histogram",
    "Profile",
    "QuantileSummary",
    "Seasonality",
    "TimeProfile",
    "drift",
    "profile",
]
