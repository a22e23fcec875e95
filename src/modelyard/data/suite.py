"""Expectation suites: read from YAML, written to YAML, suggested from a reference profile.

A suite is a list of expectations. In YAML it is a list of mappings, each with a ``kind``
and that kind's fields, either at the top level or under ``expectations``::

    format: modelyard.expectations/1      # optional
    expectations:
      - kind: schema
        columns: [id, age, plan]
        types: {age: numeric}
      - kind: not_null
        column: id
      - kind: in_range
        column: age
        min: 0
        max: 120
        severity: warning
      - kind: fresh
        column: created
        max_age: 1d 12h

Anything wrong is an :class:`~modelyard.errors.InvalidInput` that names the entry (its
number and line) and the field.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from modelyard.data.expectations import (
    ColumnExpectation,
    Expectation,
    InRange,
    InSet,
    MaxCardinality,
    MaxOutliers,
    NotNull,
    RowCount,
    Schema,
    Unique,
)
from modelyard.data.profile import ColumnProfile, Profile, profile
from modelyard.errors import InvalidInput, NotFound

__all__ = ["FORMAT", "dump_expectations", "load_expectations", "suggest_expectations"]

FORMAT = "modelyard.expectations/1"
MAX_SET_SIZE = 20
MIN_OUTLIER_SLACK = 0.02


def load_expectations(
    source: str | os.PathLike[str] | Sequence[Mapping[str, Any]] | Mapping[str, Any],
) -> list[Expectation]:
    """The expectations in a YAML file (a path), YAML text, or already parsed data (a list
    of mappings, or a mapping with ``expectations``)."""
    lines: list[int] = []
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFound(f"no expectations file {str(path)!r}", field="path") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read expectations file {str(path)!r}: {exc}") from None
        data, lines = _parse_yaml(text, str(path))
    elif isinstance(source, str):
        data, lines = _parse_yaml(source, "expectations")
    else:
        data = source
    return _entries(data, lines)


def dump_expectations(
    suite: Iterable[Expectation], path: str | os.PathLike[str] | None = None
) -> str:
    """The suite as YAML (fields at their defaults left out); written to ``path`` too when
    given. :func:`load_expectations` reads it back to an equal suite."""
    entries = []
    for number, rule in enumerate(suite, 1):
        if not isinstance(rule, Expectation):
            raise InvalidInput(
                f"suite item {number} is a {type(rule).__name__}, not an Expectation",
                field="suite",
            )
        entries.append(rule.to_dict())
    text = yaml.safe_dump(
        {"format": FORMAT, "expectations": entries},
        sort_keys=False,
        default_flow_style=None,
        allow_unicode=True,
        width=100,
    )
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def _looks_like_path(text: str) -> bool:
    if "\n" in text or ":" in text.split("/")[-1].split("\\")[-1]:
        return False
    return text.strip().lower().endswith((".yaml", ".yml", ".json")) or Path(text).is_file()


def _parse_yaml(text: str, name: str) -> tuple[Any, list[int]]:
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidInput(f"{name} is not valid YAML{where}: {problem}") from None
    if isinstance(node, yaml.MappingNode):
        node = next(
            (value for key, value in node.value if getattr(key, "value", None) == "expectations"),
            None,
        )
    lines = (
        [item.start_mark.line + 1 for item in node.value]
        if isinstance(node, yaml.SequenceNode)
        else []
    )
    return data, lines


def _entries(data: Any, lines: list[int]) -> list[Expectation]:
    if isinstance(data, Mapping):
        unknown = [str(key) for key in data if key not in ("format", "expectations")]
        if unknown:
            raise InvalidInput(
                f"unknown top-level key {unknown[0]!r}; expected 'expectations' (and 'format')",
                field=unknown[0],
            )
        if "format" in data and data["format"] != FORMAT:
            raise InvalidInput(f"format must be {FORMAT!r}; got {data['format']!r}", field="format")
        data = data.get("expectations", [])
        if data is None:
            data = []
    if isinstance(data, str):
        raise InvalidInput(
            "expectations must be a list of mappings, each with a 'kind'; got the text "
            f"{data[:80]!r} (if that is a path, the file does not exist)"
        )
    if not isinstance(data, Sequence):
        raise InvalidInput(
            "expectations must be a list of mappings, each with a 'kind'; "
            f"got {type(data).__name__}"
        )
    suite = []
    for index, entry in enumerate(data):
        try:
            suite.append(Expectation.from_dict(entry))
        except InvalidInput as exc:
            raise InvalidInput(
                f"{_where(index, entry, lines)}: {exc.message}", field=exc.field
            ) from None
    return suite


def _where(index: int, entry: Any, lines: list[int]) -> str:
    parts = [f"expectation {index + 1}"]
    if index < len(lines):
        parts.append(f"line {lines[index]}")
    if isinstance(entry, Mapping):
        kind, column = entry.get("kind"), entry.get("column")
        if isinstance(kind, str):
            parts.append(kind if not isinstance(column, str) else f"{kind} {column!r}")
    return f"{parts[0]} ({', '.join(parts[1:])})" if len(parts) > 1 else parts[0]


# -- suggestions ---------------------------------------------------------------------------


def suggest_expectations(
    reference: Profile | object,
    *,
    margin: float = 0.1,
    max_set_size: int = MAX_SET_SIZE,
) -> list[Expectation]:
    """A starting suite derived from a reference :class:`Profile` (or data, profiled first).

    Critical: the schema (every column, numeric columns as "numeric", so that integers that
    gain missing values and turn float still pass); ``not_null`` for columns without nulls;
    ``unique`` for ID-like columns whose values are all distinct.

    Warnings (what a sample shows, but new data may rightly differ from): ``in_set`` for
    text columns with at most ``max_set_size`` values (all counted exactly); ``in_range``
    for numeric columns without ±inf and not ID-like, the observed range widened by
    ``margin`` of its span on each side and rounded outward to a multiple of the power of
    ten at or below that widening, so the bounds print short (whole numbers for integer
    columns; not below 0 when the reference has no negative values); ``max_outliers``
    (IQR) for numeric columns with more than ``max_set_size`` distinct values, at twice the
    observed share or the share plus 2 %, whichever is more, rounded up to two significant
    digits; ``max_cardinality`` for the other text columns that
    are not ID-like, the distinct count grown by ``margin``; ``row_count`` within
    ``margin`` of the reference's rows.

    Review the suite before relying on it: it describes the reference, not the rules of the
    domain.
    """
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin < 10:
        raise InvalidInput(f"margin must be a number from 0 to 10; got {margin!r}", field="margin")
    if isinstance(max_set_size, bool) or not isinstance(max_set_size, int) or max_set_size < 1:
        raise InvalidInput(
            f"max_set_size must be a positive integer; got {max_set_size!r}",
            field="max_set_size",
        )
    if not isinstance(reference, Profile):
        reference = profile(reference)
    types = {
        column.name: "numeric" if column.kind == "numeric" else column.type
        for column in reference.columns
        if column.type != "null"
    }
    suite: list[Expectation] = [Schema(reference.names, types=types)]
    for column in reference.columns:
        suite.extend(_for_column(column, margin, max_set_size))
    if reference.rows:
        suite.append(
            RowCount(
                max(1, math.floor(reference.rows * (1 - margin))),
                math.ceil(reference.rows * (1 + margin)),
                severity="warning",
            )
        )
    return suite


def _for_column(column: ColumnProfile, margin: float, max_set_size: int) -> list[Expectation]:
    name = column.name
    if column.count == 0 or column.present == 0:
        return []
    found: list[ColumnExpectation] = []
    if column.missing == 0:
        found.append(NotNull(name))
    all_distinct = (
        column.distinct is not None and column.distinct_exact and column.distinct == column.present
    )
    if column.id_like and all_distinct:
        found.append(Unique(name))
    if column.kind == "numeric":
        found.extend(_numeric(column, margin, max_set_size))
    elif column.kind == "categorical" and column.type != "boolean" and not column.id_like:
        frequencies = column.frequencies
        complete = frequencies is not None and frequencies.exact and frequencies.other == 0
        if frequencies is not None and complete and len(frequencies.values) <= max_set_size:
            found.append(InSet(name, frequencies.values, severity="warning"))
        elif column.distinct is not None:
            ceiling = max(column.distinct + 1, math.ceil(column.distinct * (1 + margin)))
            found.append(MaxCardinality(name, ceiling, severity="warning"))
    return list(found)


def _numeric(column: ColumnProfile, margin: float, max_set_size: int) -> list[ColumnExpectation]:
    found: list[ColumnExpectation] = []
    low, high = column.min, column.max
    if (
        isinstance(low, int | float)
        and isinstance(high, int | float)
        and not column.infinite
        and not column.id_like
    ):
        span = float(high) - float(low)
        pad = margin * span if span > 0 else margin * max(abs(float(low)), 1.0)
        lower, upper = _round_out(float(low) - pad, float(high) + pad, pad)
        if low >= 0:
            lower = max(lower, 0.0)
        if column.type == "integer":
            found.append(
                InRange(column.name, math.floor(lower), math.ceil(upper), severity="warning")
            )
        elif math.isfinite(lower) and math.isfinite(upper):
            found.append(InRange(column.name, lower, upper, severity="warning"))
    many_values = column.distinct is None or column.distinct > max_set_size
    if many_values and column.outliers_iqr is not None and not column.id_like:
        values = column.present - column.infinite
        share = column.outliers_iqr / values if values else 0.0
        bound = min(1.0, max(2 * share, share + MIN_OUTLIER_SLACK))
        found.append(MaxOutliers(column.name, _round_up(bound), severity="warning"))
    return found


def _round_out(lower: float, upper: float, pad: float) -> tuple[float, float]:
    """``lower`` rounded down and ``upper`` up to a multiple of the power of ten at or
    below ``pad``: bounds that print short (``0.3``, ``1200``) and still hold the observed
    range, widened by less than ``pad`` more on each side."""
    if not (pad > 0 and math.isfinite(pad) and math.isfinite(lower) and math.isfinite(upper)):
        return lower, upper
    exponent = math.floor(math.log10(pad))
    if exponent >= 0:
        step = 10**exponent
        return float(math.floor(lower / step) * step), float(math.ceil(upper / step) * step)
    scale = 10**-exponent
    return (
        math.floor(round(lower * scale, 6)) / scale,
        math.ceil(round(upper * scale, 6)) / scale,
    )


def _round_up(share: float, digits: int = 2) -> float:
    """``share`` (0 to 1) rounded up to ``digits`` significant digits."""
    if share <= 0:
        return share
    scale = 10 ** (digits - 1 - math.floor(math.log10(share)))
    return min(1.0, math.ceil(round(share * scale, 6)) / scale)
