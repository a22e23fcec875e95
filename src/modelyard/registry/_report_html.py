"""An evaluation report as one self-contained HTML page: inline CSS and SVG charts, no
script, no external address, so it opens offline. Every value from the report is escaped.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

__all__ = ["render"]

_W, _H, _PAD = 320, 220, 32
_STYLE = """
body{font:14px system-ui,sans-serif;margin:2em;color:#222;max-width:70em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f4f4f4}.flag{background:#fde2e2}.l{text-align:left}
svg{border:1px solid #ddd;margin:0 1em 1em 0;background:#fff}figure{display:inline-block;margin:0}
figcaption{font-size:12px;color:#555}
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _n(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else _e(value)


def _table(header: list[str], rows: list[list[Any]], flags: list[bool] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="flag"' if flags and flags[i] else ""
        cells = "".join(
            f'<td class="l">{_e(c)}</td>' if isinstance(c, str) else f"<td>{_n(c)}</td>"
            for c in row
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _chart(title: str, inner: str, x_label: str, y_label: str) -> str:
    axes = (
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - 8}" y2="{_H - _PAD}" stroke="#888"/>'
        f'<line x1="{_PAD}" y1="8" x2="{_PAD}" y2="{_H - _PAD}" stroke="#888"/>'
        f'<text x="{_W / 2}" y="{_H - 8}" font-size="11" text-anchor="middle">{_e(x_label)}</text>'
        f'<text x="10" y="{_H / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 10 {_H / 2})">{_e(y_label)}</text>'
    )
    return (
        f'<figure><svg width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role="img">'
        f"<title>{_e(title)}</title>{axes}{inner}</svg><figcaption>{_e(title)}</figcaption></figure>"
    )


def _xy(x: float, y: float) -> str:
    px = _PAD + x * (_W - 8 - _PAD)
    py = _H - _PAD - y * (_H - _PAD - 8)
    return f"{px:.1f},{py:.1f}"


def _unit_lines(title: str, series: list[list[list[float]]], x: str, y: str) -> str:
    diagonal = f'<polyline points="{_xy(0, 0)} {_xy(1, 1)}" stroke="#bbb" fill="none"/>'
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    lines = "".join(
        f'<polyline points="{" ".join(_xy(a, b) for a, b in points)}" fill="none" '
        f'stroke="{colours[i % len(colours)]}" stroke-width="1.5"/>'
        for i, points in enumerate(series)
        if points
    )
    return _chart(title, diagonal + lines, x, y)


def _bars(title: str, labels: list[str], values: list[float], x: str, y: str) -> str:
    if not values:
        return ""
    top = max(max(values), 0.0) or 1.0
    low = min(min(values), 0.0)
    span = top - low or 1.0
    width = (_W - 8 - _PAD) / len(values)
    zero = _H - _PAD - (0 - low) / span * (_H - _PAD - 8)
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y_top = _H - _PAD - (max(value, 0) - low) / span * (_H - _PAD - 8)
        height = abs(value) / span * (_H - _PAD - 8)
        bars.append(
            f'<rect x="{_PAD + i * width:.1f}" y="{min(y_top, zero):.1f}" '
            f'width="{max(width - 1, 1):.1f}" height="{height:.1f}" fill="#1f77b4">'
            f"<title>{_e(label)}: {_n(value)}</title></rect>"
        )
    return _chart(title, "".join(bars), x, y)


def render(report: dict[str, Any], title: str) -> str:
    """The page for ``report`` (as :func:`modelyard.registry.evaluation.evaluate` makes it)."""
    parts = [f"<h1>{_e(title)}</h1>"]
    parts.append(
        f"<p>{_e(report.get('task'))} on {_n(report.get('rows'))} rows, target "
        f"<code>{_e(report.get('target'))}</code>; data: {_e(report.get('source', ''))}</p>"
    )
    metrics = report.get("metrics", {})
    base = report.get("baseline_metrics")
    header = ["metric", "model"] + (["baseline"] if base else [])
    rows = [[k, v] + ([base.get(k)] if base else []) for k, v in metrics.items()]
    parts += ["<h2>Metrics</h2>", _table(header, rows)]
    if report.get("averaging"):
        parts.append(f"<p>Averaging: {_e(report['averaging'])}.</p>")
    comparison = report.get("comparison")
    if comparison:
        parts.append(
            f"<h2>Against the baseline</h2><p>Paired Poisson bootstrap, "
            f"{_n(comparison['replicates'])} replicates, 95% intervals of model minus baseline.</p>"
        )
        parts.append(
            _table(
                ["metric", "model", "baseline", "difference", "low", "high", "verdict"],
                [
                    [k, v["model"], v["baseline"], v["difference"], *v["ci95"], v["verdict"]]
                    for k, v in comparison["metrics"].items()
                ],
            )
        )
    charts = []
    for curve in report.get("roc_curve", []):
        charts.append(_unit_lines(f"ROC, class {curve['label']}", [curve["points"]], "FPR", "TPR"))
    for curve in report.get("calibration", []):
        points = [list(p) for p in zip(curve["prob_pred"], curve["prob_true"], strict=True)]
        charts.append(
            _unit_lines(f"Calibration, class {curve['label']}", [points], "predicted", "observed")
        )
    residuals = report.get("residuals")
    if residuals:
        hist = residuals["histogram"]
        charts.append(
            _bars(
                "Residuals (actual - predicted)",
                [f"[{_n(lo)}, {_n(hi)})" for lo, hi, _ in hist],
                [float(c) for _, _, c in hist],
                "residual",
                "rows",
            )
        )
    importance = report.get("importance", {}).get("features", [])[:20]
    if importance:
        charts.append(
            _bars(
                f"Permutation importance (drop in {report['importance']['score']})",
                [f["feature"] for f in importance],
                [f["mean"] for f in importance],
                "feature",
                "drop",
            )
        )
    if charts:
        parts += ["<h2>Charts</h2>", "".join(charts)]
    matrix = report.get("confusion_matrix")
    if matrix:
        labels = [str(label) for label in matrix["labels"]]
        parts += [
            "<h2>Confusion matrix</h2><p>Rows: actual; columns: predicted.</p>",
            _table(
                ["", *labels],
                [[lab, *r] for lab, r in zip(labels, matrix["matrix"], strict=True)],
            ),
        ]
    if residuals:
        parts += [
            "<h2>Residuals</h2>",
            _table(
                ["mean", "std", "min", "max", *[f"p{q}" for q in residuals["quantiles"]]],
                [
                    [
                        residuals["mean"],
                        residuals["std"],
                        residuals["min"],
                        residuals["max"],
                        *residuals["quantiles"].values(),
                    ]
                ],
            ),
        ]
    slices = report.get("slices", [])
    if slices:
        names = list(slices[0]["metrics"])
        parts += [
            "<h2>Slices</h2>",
            f"<p>Flagged (shaded): {_e(report.get('method', {}).get('flag_rule', ''))}.</p>",
            _table(
                ["column", "slice", "rows", *names],
                [[s["column"], s["slice"], s["rows"], *s["metrics"].values()] for s in slices],
                [bool(s["flagged"]) for s in slices],
            ),
        ]
    if importance:
        parts += [
            "<h2>Permutation importance</h2>",
            _table(
                ["feature", "mean drop", "std"],
                [[f["feature"], f["mean"], f["std"]] for f in importance],
            ),
        ]
    method = report.get("method", {})
    if method:
        parts += [
            "<h2>Method</h2>",
            _table(
                ["", "value"],
                [
                    [k, ", ".join(map(str, v)) if isinstance(v, list) else str(v)]
                    for k, v in method.items()
                ],
            ),
        ]
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>\n"
    )
