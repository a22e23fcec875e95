"""The validation report as one self-contained HTML document, in the style of the profile
and drift reports (their CSS, number formatting and inline SVG; nothing is fetched)."""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any

from modelyard.data._checks import plural
from modelyard.data._report import DASH, _number, _page, _percent, _rows_svg

if TYPE_CHECKING:
    from modelyard.data.validation import ExpectationResult, ValidationReport

__all__ = ["validation_html"]

PASSED_COLOR = "#1a7f37"
WARNING_COLOR = "#9a6700"
CRITICAL_COLOR = "#cf222e"


def _status(result: ExpectationResult) -> str:
    if result.passed:
        return '<span class="flag ok">passed</span>'
    if result.severity == "critical":
        return '<span class="flag bad">failed</span>'
    return '<span class="flag warn">warning</span>'


def _value(value: Any) -> str:
    if value is None or isinstance(value, int | float | str):
        return _number(value)
    return escape(json.dumps(value, ensure_ascii=False, default=str))


def _row(index: int, result: ExpectationResult) -> str:
    failing = DASH
    if result.failing_rows is not None:
        failing = _number(result.failing_rows)
    examples = ", ".join(_value(value) for value in result.examples) or DASH
    approx = "" if result.exact else ' <span class="muted">(estimate)</span>'
    return (
        f'<tr id="r-{index}"><td>{_status(result)}</td><td>{escape(result.severity)}</td>'
        f"<td>{escape(result.kind)}</td><td>{escape(result.column or DASH)}</td>"
        f"<td>{_value(result.observed)}{approx}</td><td>{_value(result.expected)}</td>"
        f"<td class='num'>{failing}</td><td>{examples}</td></tr>"
    )


def _details(index: int, result: ExpectationResult) -> str:
    rows = ""
    if result.example_rows:
        rows = " · rows " + ", ".join(_number(row) for row in result.example_rows)
    return (
        f'<li><a href="#r-{index}">{escape(result.rule.describe())}</a> '
        f"{_status(result)} {escape(result.message)}"
        f'<span class="muted">{rows}</span></li>'
    )


def validation_html(report: ValidationReport) -> str:
    """The report as one HTML document."""
    total = len(report.results)
    critical, warnings = len(report.critical_failures), len(report.warnings)
    passed = total - len(report.failures)
    warned = plural(warnings, "warning")
    if report.ok:
        banner = f"Passed: no critical failures ({warned})"
    else:
        banner = f"Failed: {plural(critical, 'critical expectation')} failed ({warned})"
    chart = _rows_svg(
        ["passed", "warnings", "critical failures"],
        [([float(passed), float(warnings), float(critical)], PASSED_COLOR)],
        "expectations by outcome",
    )
    rows = "".join(_row(index, result) for index, result in enumerate(report.results))
    failed = [
        _details(index, result) for index, result in enumerate(report.results) if not result.passed
    ]
    body = (
        "<h1>Data validation</h1>"
        f'<p class="muted">{report.rows:,} rows · {len(report.columns)} columns · '
        f"{total} expectations · checked at {escape(report.now)}</p>"
        f'<div class="banner flag {"ok" if report.ok else "bad"}">{escape(banner)}</div>'
        f"<div>{chart}</div>"
        f"<p>{passed} passed ({_percent(passed, total)}), "
        f"{plural(critical, 'critical failure')}, {warned}.</p>"
        "<table><tr><th>status</th><th>severity</th><th>kind</th><th>column</th>"
        "<th>observed</th><th>expected</th><th>failing rows</th><th>examples</th></tr>"
        f"{rows}</table>" + (f"<h2>Failures</h2><ul>{''.join(failed)}</ul>" if failed else "")
    )
    return _page("Data validation", body)
