"""The limits on every string Modelyard stores, and on the numbers and counts of a batch of
logged values, in one place.

The services enforce them with :func:`check_text` (so the SDK, the CLI and the REST API
refuse the same values) and the API's request models reuse them for the OpenAPI
document. Lengths are in characters. A value over its limit is :class:`InvalidInput`
(422 over HTTP) whose message names the field and the limit (``tags.note: 70000
characters, the limit is 5000``), and nothing of the call is stored. The table in
``docs/limits.md`` lists each constant; a test keeps the two in step.
"""

from __future__ import annotations

from modelyard.errors import InvalidInput

__all__ = [
    "ALERTS_PAGE",
    "ALERT_NOTES",
    "BATCH_ROWS",
    "CRON",
    "DESCRIPTION",
    "EMAIL",
    "ENTRY_POINT",
    "EVALUATION_JSON",
    "EVENT_PAYLOAD",
    "INTEGER",
    "KEY",
    "MODEL_JSON",
    "MONITORS",
    "MONITOR_CONFIG",
    "NAME",
    "NUMBER",
    "PARAM_VALUE",
    "PIPELINE_REF",
    "PLAN_ROUTES",
    "PREDICTION_ID",
    "PREDICTION_LABEL",
    "PREDICTION_LABELS",
    "PREDICTION_PAGE_ROWS",
    "PREDICTION_SEGMENT_BYTES",
    "PREDICTION_SEGMENT_ROWS",
    "RUN_ERROR",
    "RUN_NAME",
    "SCHEDULE_PARAMS",
    "SHORT_TEXT",
    "SOURCE",
    "TAG_VALUE",
    "TIMEZONE",
    "WEBHOOK_URL",
    "check_text",
    "head",
    "preview",
    "tail",
]

#: Names of projects, datasets, aliases, schedules and users (letters, digits, ``._-``).
NAME = 128
#: Metric, param and tag keys; access token names.
KEY = 250
#: Run names.
RUN_NAME = 255
#: Tag values.
TAG_VALUE = 5000
#: Param values (as text).
PARAM_VALUE = 64 * 1024
#: Descriptions of projects and dataset versions.
DESCRIPTION = 10_000
#: A run's user and host names; who registered a dataset version.
SHORT_TEXT = 255
#: E-mail addresses of users.
EMAIL = 255
#: A run's entry point (the command that started it).
ENTRY_POINT = 4096
#: The error of an ended run or a schedule's fire: the end of a longer one is kept.
RUN_ERROR = 64 * 1024
#: Where a dataset version's data came from.
SOURCE = 4096
#: A schedule's pipeline reference (``MODULE:NAME`` or ``FILE.py:NAME``).
PIPELINE_REF = 1024
#: A schedule's cron expression.
CRON = 255
#: A schedule's timezone name.
TIMEZONE = 64
#: A schedule's parameters, as JSON text.
SCHEDULE_PARAMS = 64 * 1024
#: A model version's flavor configuration, packages and signature, each as JSON text.
MODEL_JSON = 1024 * 1024
#: A model evaluation's report, as JSON text.
EVALUATION_JSON = 16 * 1024 * 1024
#: A webhook's URL.
WEBHOOK_URL = 2048
#: An event's payload, as JSON text.
EVENT_PAYLOAD = 64 * 1024
#: A deployment's traffic plan: its live routes, and its shadow routes, each at most this.
PLAN_ROUTES = 20

#: A prediction's id (``<request id>-<row>``, or a caller's own).
PREDICTION_ID = 128
#: A prediction's label (its ground truth), as JSON text.
PREDICTION_LABEL = 64 * 1024
#: Most labels in one call.
PREDICTION_LABELS = 10_000
#: A segment of the prediction log: its Parquet bytes, and its rows.
PREDICTION_SEGMENT_BYTES = 64 * 1024 * 1024
PREDICTION_SEGMENT_ROWS = 1_000_000
#: Most rows in one page of a prediction log read through a server (a page holds whole
#: segments, at least one).
PREDICTION_PAGE_ROWS = 100_000
#: Most notes people add to one alert (acknowledgement, comments, resolution).
ALERT_NOTES = 1000
#: Most alerts in one listing.
ALERTS_PAGE = 1000

#: Monitors on one deployment (and in one document ``apply`` reads).
MONITORS = 100
#: A monitor's configuration, as JSON text.
MONITOR_CONFIG = 64 * 1024

#: Metric steps and timestamps, byte counts: integers from 0 to this (64-bit columns).
INTEGER = 2**63 - 1
#: Model version numbers and deployment plan revisions: integers from 1 to this (32-bit
#: columns).
NUMBER = 2**31 - 1
#: Most rows of one kind (metric points, params, tags, heartbeats) in one batch of writes.
BATCH_ROWS = 50_000

_PREVIEW = 60


def check_text(value: object, field: str, limit: int) -> str:
    """``value`` if it is a string of at most ``limit`` characters without NUL (which
    PostgreSQL cannot store); else InvalidInput on ``field``."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, not {type(value).__name__}", field=field)
    if len(value) > limit:
        raise InvalidInput(f"{field}: {len(value)} characters, the limit is {limit}", field=field)
    if "\x00" in value:
        raise InvalidInput(f"{field} has a NUL character", field=field)
    return value


def head(text: str, limit: int) -> str:
    """The first characters of ``text``, at most ``limit`` with the mark that says it was
    cut: for text Modelyard records by itself (a program's arguments, an error)."""
    if len(text) <= limit:
        return text
    marker = f" [cut: {len(text)} characters]"
    return text[: limit - len(marker)] + marker


def tail(text: str | None, limit: int) -> str | None:
    """The last ``limit`` characters of ``text`` (an error's traceback ends with the
    exception), marked as cut when they are not all of it."""
    if text is None or len(text) <= limit:
        return text
    marker = "[earlier lines cut]\n"
    return marker + text[len(text) - limit + len(marker) :]


def preview(value: object) -> str:
    """``repr(value)``, cut to a few dozen characters: what an error message may quote of
    a value that can be as long as a request body."""
    if isinstance(value, str) and len(value) > _PREVIEW:
        return f"{value[:_PREVIEW]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= 2 * _PREVIEW else f"{text[: 2 * _PREVIEW]}..."
