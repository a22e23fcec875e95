"""Self-contained HTML for profiles and drift reports: inline CSS, inline SVG, no scripts.

The validation report (``_validation_html.py``) uses the same page, CSS and charts.

Nothing is fetched: the documents open offline and can be archived as one file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelyard.data.drift import DriftChart, DriftReport, FeatureDrift
    from modelyard.data.profile import ColumnProfile, Profile, TimeProfile

__all__ = ["drift_html", "profile_html"]

REFERENCE_COLOR = "#4c78a8"
CURRENT_COLOR = "#f58518"
SVG_NS = "http://www.w3.org/2000/svg"
DASH = "&ndash;"

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;margin:2rem auto;
max-width:1100px;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
h3{margin:1.4rem 0 .4rem}.muted{color:#656d76}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border-bottom:1px solid #eaeef2;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.card{display:flex;gap:1.5rem;flex-wrap:wrap;align-items:flex-start;border:1px solid #d0d7de;
border-radius:6px;padding:.8rem 1rem;margin:.8rem 0}
.card dl{display:grid;grid-template-columns:auto auto;gap:.1rem .8rem;margin:0}
.card dt{color:#656d76}.card dd{margin:0;font-variant-numeric:tabular-nums}
.flag{display:inline-block;border-radius:4px;padding:0 .35rem;font-size:.8rem;margin-right:.25rem;
background:#ddf4ff;color:#0969da}.bad{background:#ffebe9;color:#cf222e}.ok{background:#dafbe1;
color:#1a7f37}.warn{background:#fff8c5;color:#9a6700}.banner{font-size:1.1rem;padding:.6rem 1rem;
border-radius:6px;margin:1rem 0}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 .8rem;
vertical-align:middle}
svg text{font:10px system-ui,sans-serif;fill:#656d76}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def _number(value: float | int | str | None, digits: int = 4) -> str:
    if value is None:
        return DASH
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "&infin;" if value > 0 else "&minus;&infin;"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.{digits - 1}e}"
    return f"{value:,.{digits}g}" if abs(value) >= 1 else f"{value:.{digits}g}"


def _percent(part: int | float, whole: int | float) -> str:
    return f"{100 * part / whole:.1f} %" if whole else DASH


def _svg(width: int, height: int, content: str, label: str) -> str:
    return (
        f'<svg xmlns="{SVG_NS}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
        f"{content}</svg>"
    )


def _columns_svg(
    series: Sequence[tuple[Sequence[float], str]],
    label: str,
    left_text: str = "",
    right_text: str = "",
    width: int = 420,
    height: int = 140,
) -> str:
    """Vertical bars, one slot per value; several series overlap with transparency."""
    slots = max((len(values) for values, _ in series), default=0)
    top = max((max(values, default=0.0) for values, _ in series), default=0.0)
    plot_height = height - 18
    parts = [f'<line x1="0" y1="{plot_height}" x2="{width}" y2="{plot_height}" stroke="#d0d7de"/>']
    if slots and top > 0:
        step = width / slots
        opacity = "0.55" if len(series) > 1 else "0.85"
        for values, color in series:
            for i, value in enumerate(values):
                bar = plot_height * value / top
                parts.append(
                    f'<rect x="{i * step + 0.5:.2f}" y="{plot_height - bar:.2f}" '
                    f'width="{max(step - 1, 0.5):.2f}" height="{bar:.2f}" fill="{color}" '
                    f'fill-opacity="{opacity}"/>'
                )
    parts.append(f'<text x="0" y="{height - 4}">{escape(left_text)}</text>')
    parts.append(
        f'<text x="{width}" y="{height - 4}" text-anchor="end">{escape(right_text)}</text>'
    )
    return _svg(width, height, "".join(parts), label)


def _rows_svg(
    labels: Sequence[str],
    series: Sequence[tuple[Sequence[float], str]],
    label: str,
    width: int = 420,
) -> str:
    """Horizontal bars, one row per label; several series side by side within a row."""
    row_height = 8 * len(series) + 8
    height = row_height * len(labels) + 4
    top = max((max(values, default=0.0) for values, _ in series), default=0.0) or 1.0
    text_width, parts = 140, []
    for row, name in enumerate(labels):
        y = row * row_height + 2
        short = name if len(name) <= 22 else name[:21] + "…"
        parts.append(f'<text x="0" y="{y + row_height / 2 + 3:.1f}">{escape(short)}</text>')
        for index, (values, color) in enumerate(series):
            bar = (width - text_width - 50) * values[row] / top
            parts.append(
                f'<rect x="{text_width}" y="{y + index * 8 + 2}" width="{bar:.2f}" height="7" '
                f'fill="{color}"/>'
            )
        parts.append(
            f'<text x="{width}" y="{y + row_height / 2 + 3:.1f}" text-anchor="end">'
            f"{_number(series[-1][0][row], 3)}</text>"
        )
    return _svg(width, height, "".join(parts), label)


# -- profile -------------------------------------------------------------------------------


def _flags(column: ColumnProfile) -> str:
    flags = []
    if column.count and column.missing == column.count:
        flags.append('<span class="flag bad">all missing</span>')
    elif column.constant:
        flags.append('<span class="flag bad">constant</span>')
    if column.id_like:
        flags.append('<span class="flag">ID-like</span>')
    if column.infinite:
        flags.append(f'<span class="flag bad">{column.infinite:,} infinite</span>')
    if column.outliers_iqr:
        flags.append(f'<span class="flag">{column.outliers_iqr:,} IQR outliers</span>')
    return "".join(flags)


def _column_card(column: ColumnProfile) -> str:
    facts: list[tuple[str, str]] = [
        ("type", f"{column.type} ({escape(column.arrow_type)})"),
        ("rows", _number(column.count)),
        ("missing", f"{_number(column.missing)} ({_percent(column.missing, column.count)})"),
    ]
    if column.distinct is not None:
        approx = "" if column.distinct_exact else " (estimate)"
        facts.append(("distinct", _number(column.distinct) + approx))
    for name in ("min", "max", "mean", "std"):
        value = getattr(column, name)
        if value is not None:
            facts.append((name, _number(value)))
    for name, value in (column.quantiles or {}).items():
        facts.append((name, _number(value)))
    if column.outliers_iqr is not None:
        facts.append(("outliers (IQR)", _number(column.outliers_iqr)))
        facts.append(("outliers (MAD)", _number(column.outliers_mad)))
    chart = ""
    if column.histogram is not None and column.histogram.counts:
        histogram = column.histogram
        chart = _columns_svg(
            [([float(count) for count in histogram.counts], REFERENCE_COLOR)],
            f"histogram of {column.name}",
            _number(histogram.edges[0]),
            _number(histogram.edges[-1]),
        )
    elif column.top:
        chart = _rows_svg(
            [item.value for item in column.top],
            [([item.frequency for item in column.top], REFERENCE_COLOR)],
            f"most frequent values of {column.name}",
        )
    details = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    return (
        f'<h3 id="col-{escape(column.name)}">{escape(column.name)} {_flags(column)}</h3>'
        f'<div class="card"><dl>{details}</dl><div>{chart}</div></div>'
    )


def _time_section(time: TimeProfile) -> str:
    chart = _columns_svg(
        [([float(value) for value in time.volume], REFERENCE_COLOR)],
        f"rows per {time.unit}",
        time.periods[0],
        time.periods[-1],
        width=900,
        height=160,
    )
    rows = "".join(
        f"<tr><td>{escape(item.column or 'row volume')}</td><td class='num'>{item.lag}</td>"
        f"<td>{escape(item.period) if item.period else DASH}</td>"
        f"<td class='num'>{_number(item.autocorrelation, 3)}</td>"
        f"<td>{'yes' if item.detected else 'no'}</td></tr>"
        for item in time.seasonality
    )
    gap = (
        f"longest gap {time.longest_gap} {time.unit}(s) from {escape(time.longest_gap_start)}"
        if time.longest_gap_start
        else "no gaps"
    )
    return (
        f"<h2>Over time: {escape(time.column)}</h2>"
        f"<p>Rows per {time.unit}, {escape(time.periods[0])} to {escape(time.periods[-1])}; "
        f"{time.missing:,} rows without a time.</p>{chart}"
        f"<p>Trend: <b>{time.trend}</b> (slope {_number(time.trend_slope)} rows per "
        f"{time.unit}, {_number(100 * time.trend_change, 3)} % over the span). "
        f"{time.empty_periods:,} empty periods; {gap}.</p>"
        "<table><tr><th>series</th><th>lag</th><th>period</th><th>autocorrelation</th>"
        f"<th>seasonal</th></tr>{rows}</table>"
    )


def profile_html(profile: Profile) -> str:
    """The profile as one HTML document."""
    overview = "".join(
        f'<tr><td><a href="#col-{escape(c.name)}">{escape(c.name)}</a></td><td>{c.type}</td>'
        f"<td class='num'>{_percent(c.missing, c.count)}</td>"
        f"<td class='num'>{_number(c.distinct)}</td><td class='num'>{_number(c.mean)}</td>"
        f"<td class='num'>{_number(c.std)}</td><td>{_flags(c)}</td></tr>"
        for c in profile.columns
    )
    body = (
        "<h1>Data profile</h1>"
        f'<p class="muted">{profile.rows:,} rows · {len(profile.columns)} columns</p>'
        "<table><tr><th>column</th><th>type</th><th>missing</th><th>distinct</th><th>mean</th>"
        f"<th>std</th><th>flags</th></tr>{overview}</table>"
        + (_time_section(profile.time) if profile.time is not None else "")
        + "<h2>Columns</h2>"
        + "".join(_column_card(column) for column in profile.columns)
    )
    return _page("Data profile", body)


# -- drift ---------------------------------------------------------------------------------


def _chart(feature: FeatureDrift, chart: DriftChart) -> str:
    series = [(chart.reference, REFERENCE_COLOR), (chart.current, CURRENT_COLOR)]
    if chart.labels:
        return _rows_svg(chart.labels, series, f"category shares of {feature.column}")
    return _columns_svg(
        series,
        f"distribution of {feature.column}",
        _number(chart.edges[0]),
        _number(chart.edges[-1]),
    )


def _feature_card(feature: FeatureDrift) -> str:
    verdict = (
        '<span class="flag bad">drift</span>'
        if feature.drifted
        else ('<span class="flag ok">no drift</span>' if feature.test else "")
    )
    facts = [
        ("test", escape(feature.test) if feature.test else DASH),
        ("statistic", _number(feature.statistic)),
        ("p-value", _number(feature.p_value)),
        ("threshold", _number(feature.threshold)),
        ("values", f"{_number(feature.reference_count)} → {_number(feature.current_count)}"),
        (
            "missing",
            f"{_percent(feature.reference_missing, 1)} → {_percent(feature.current_missing, 1)}",
        ),
    ]
    if feature.new_categories:
        facts.append(("new categories", escape(", ".join(feature.new_categories[:20]))))
    if feature.missing_categories:
        facts.append(("missing categories", escape(", ".join(feature.missing_categories[:20]))))
    if feature.note:
        facts.append(("note", escape(feature.note)))
    details = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    chart = _chart(feature, feature.chart) if feature.chart is not None else ""
    return (
        f'<h3 id="f-{escape(feature.column)}">{escape(feature.column)} {verdict}</h3>'
        f'<div class="card"><dl>{details}</dl><div>{chart}</div></div>'
    )


def drift_html(report: DriftReport) -> str:
    """The drift report as one HTML document."""
    tested = [feature for feature in report.features if feature.test is not None]
    drifted = sum(feature.drifted for feature in tested)
    banner_class = "bad" if report.dataset_drifted else "ok"
    verdict = "Dataset drift detected" if report.dataset_drifted else "No dataset drift"
    rows = "".join(
        f'<tr><td><a href="#f-{escape(f.column)}">{escape(f.column)}</a></td><td>{f.kind}</td>'
        f"<td>{escape(f.test) if f.test else DASH}</td><td class='num'>{_number(f.statistic)}</td>"
        f"<td class='num'>{_number(f.p_value)}</td><td class='num'>{_number(f.threshold)}</td>"
        f"<td>{'yes' if f.drifted else 'no'}</td></tr>"
        for f in report.features
    )
    body = (
        "<h1>Data drift</h1>"
        f'<p class="muted">reference {report.reference_rows:,} rows · current '
        f"{report.current_rows:,} rows</p>"
        f'<div class="banner flag {banner_class}">{verdict}: {drifted} of {len(tested)} '
        f"features drifted ({_percent(report.share_drifted, 1)}; the dataset drifts at "
        f"{_percent(report.drift_share, 1)})</div>"
        f'<p class="legend"><span style="background:{REFERENCE_COLOR}"></span>reference'
        f'<span style="background:{CURRENT_COLOR}"></span>current</p>'
        "<table><tr><th>feature</th><th>kind</th><th>test</th><th>statistic</th><th>p-value</th>"
        f"<th>threshold</th><th>drift</th></tr>{rows}</table>"
        "<h2>Features</h2>" + "".join(_feature_card(feature) for feature in report.features)
    )
    return _page("Data drift", body)
