"""Data: profiles, drift statistics and expectations over streams of Arrow record batches."""

from modelyard.data import expect
from modelyard.data.drift import DriftChart, DriftReport, FeatureDrift, drift
from modelyard.data.expectations import Expectation
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
from modelyard.data.suite import dump_expectations, load_expectations, suggest_expectations
from modelyard.data.validation import ExpectationResult, ValidationReport, validate

__all__ = [
    "CategoryCount",
    "ColumnProfile",
    "DriftChart",
    "DriftReport",
    "Expectation",
    "ExpectationResult",
    "FeatureDrift",
    "Frequencies",
    "Histogram",
    "Profile",
    "QuantileSummary",
    "Seasonality",
    "TimeProfile",
    "ValidationReport",
    "drift",
    "dump_expectations",
    "expect",
    "load_expectations",
    "profile",
    "suggest_expectations",
    "validate",
]
