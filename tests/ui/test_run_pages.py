"""The run page's details (metric charts, overlay, system metrics, artifact previews,
source, lineage) and the compare page, in Chromium; and what is cheaper without a
browser (the inline artifact answer's headers, the server's downsampling, 404s) through
plain HTTP."""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression
from ui_support import PROJECT, UiServer, Watched, critical_violations, pretty

from modelyard.api.ui.pages_run import HISTORY_POINTS, MAX_CHARTS, TEXT_HEAD_BYTES
from modelyard.sdk.client import Client
from modelyard.tracking._buffer import Batch
from server_support import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Page

EVIL = "<script>window.__owned = 1</script><b>bold</b>"
EVIL_ARTIFACT = "<img src=x onerror=window.__owned=1>.txt"
DIFF = "diff --git a/train.py b/train.py\n+lr = 0.1  # <b>not bold</b>\n"
REPORT = "<html><body><h1>Report</h1><script>parent.document.title='x'</script></body></html>"
OTHER_PROJECT = "elsewhere"
MILLION = 1_000_000
BATCH = 50_000  # the most metrics one batch may hold


def _png() -> bytes:
    """A valid 2x2 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _parquet() -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table({"id": list(range(50)), "name": [f"row-{i}" for i in range(50)]}), out)
    return out.getvalue()


@pytest.fixture(scope="module")
def runs(ui_server: UiServer) -> dict[str, str]:
    """Runs in ``demo``: ``base`` (2,000 points of ``loss`` with one spike, a system
    metric, params with markup, an image, a JSON, a Parquet table, an artifact named
    with markup, a dataset read and one made), ``other`` (for overlay), ``cmp-a`` and
    ``cmp-b`` (to compare), ``reports`` (an HTML report that tries to script the app);
    and ``stranger``, a run of another project."""
    found: dict[str, str] = {}
    with Client(ui_server.settings) as client:
        client.datasets.register("raw", pa.table({"a": [1, 2, 3]}), project=PROJECT)
        with client.start_run(PROJECT, name="base", capture=False) as run:
            client.datasets.load("raw", project=PROJECT)
            for step in range(2000):
                run.log_metric("loss", 100.0 if step == 1234 else 1.0 / (step + 1), step=step)
            for step in range(5):
                run.log_metric("system/cpu_percent", 10.0 * step, step=step)
            run.log_params({"lr": 0.1, "note": EVIL})
            run.set_tag("git.commit", "0123456789abcdef0123456789abcdef01234567")
            run.set_tag("git.branch", "main")
            run.log_bytes(_png(), "plot.png")
            run.log_dict({"auc": 0.9, "comment": EVIL}, "metrics.json")
            run.log_bytes(_parquet(), "head.parquet")
            run.log_text(EVIL, EVIL_ARTIFACT)
            run.log_text(DIFF, "_modelyard/git.diff")
            client.datasets.register("clean", pa.table({"a": [1]}), project=PROJECT)
            x, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
            client.models.log(LogisticRegression().fit(x, y), "churn", input_example=x[:2])
            found["base"] = run.id
        with client.start_run(PROJECT, name="other", capture=False) as run:
            for step in range(50):
                run.log_metric("loss", 2.0 / (step + 1), step=step)
            found["other"] = run.id
        for i, name in enumerate(("cmp-a", "cmp-b")):
            with client.start_run(PROJECT, name=name, capture=False) as run:
                run.log_params({"depth": i + 3, "seed": 7, "optimizer": ["adam", "sgd"][i]})
                for step in range(20):
                    run.log_metric("acc", 0.5 + i / 10 + step / 100, step=step)
                found[name] = run.id
        with client.start_run(PROJECT, name="reports", capture=False) as run:
            run.log_text(REPORT, "report.html")
            found["reports"] = run.id
        with client.start_run(PROJECT, name=EVIL, capture=False) as run:
            run.log_params({"depth": 9, "seed": 7, "optimizer": EVIL})
            run.log_metric("acc", 0.9)
            found["evil"] = run.id
        client.create_project(OTHER_PROJECT)
        with client.start_run(OTHER_PROJECT, name="stranger", capture=False) as run:
            run.log_metric("acc", 0.1)
            found["stranger"] = run.id
    return found


@pytest.fixture(scope="module")
def million(ui_server: UiServer) -> str:
    """A run with a 1,000,000-point metric ``loss`` (a spike at step 123,456 and a dip at
    step 654,321), written in batches as the SDK's log buffer writes them."""
    with Client(ui_server.settings) as client:
        with client.start_run(PROJECT, name="million", capture=False) as run:
            for start in range(0, MILLION, BATCH):
                rows = [
                    (run.id, "loss", _million_value(step), step, 1_700_000_000_000 + step)
                    for step in range(start, start + BATCH)
                ]
                client.services.tracking.write_batch(Batch(metrics=rows))
        return run.id


def _million_value(step: int) -> float:
    return {123_456: 100.0, 654_321: -100.0}.get(step, 1.0 / (1 + step / 1000))


def _run_url(ui_server: UiServer, run_id: str, query: str = "") -> str:
    return f"{ui_server.url}/projects/{PROJECT}/runs/{run_id}{query}"


def _drawn(page: Page, kind: str) -> None:
    page.wait_for_selector(f'[data-chart="{kind}"][data-drawn="1"]')


def _series_count(page: Page, key: str) -> int:
    count: int = page.eval_on_selector(
        f'[data-chart="metric"][data-key="{key}"]', "el => el.uplot.series.length - 1"
    )
    return count


# -- the run page ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_the_run_page_draws_its_charts_for_each_role(
    ui_server: UiServer, runs: dict[str, str], signed_in: Callable[[str], Page], role: str
) -> None:
    page = signed_in(role)
    page.goto(_run_url(ui_server, runs["base"]))
    _drawn(page, "metric")
    _drawn(page, "system")
    assert page.get_by_role("heading", name="System metrics").is_visible()
    system = page.locator('[data-chart="system"]')
    assert system.get_attribute("data-key") == "system/cpu_percent"
    # system metrics are not among the metric charts
    assert page.locator('[data-chart="metric"][data-key^="system/"]').count() == 0
    source = page.get_by_role("region", name="Source", exact=True)
    assert "0123456789abcdef0123456789abcdef01234567" in source.inner_text()
    lineage = page.locator('svg[data-chart="lineage"][data-drawn="1"]')
    assert lineage.locator("a[data-way=in]").all_text_contents() == ["dataset: raw v1"]
    made = lineage.locator("a[data-way=out]").all_text_contents()
    assert sorted(made) == ["dataset: clean v1", "model: churn v1"]
    source.get_by_text("Diff against the commit").click()
    assert source.locator("pre").inner_text() == DIFF
    assert critical_violations(page) == [], pretty(critical_violations(page))


def test_an_outsider_gets_no_run_or_compare_page(
    ui_server: UiServer,
    runs: dict[str, str],
    signed_in: Callable[[str], Page],
    watched: Watched,
) -> None:
    watched.allow("status of 40")
    page = signed_in("outsider")
    answer = page.goto(_run_url(ui_server, runs["base"]))
    assert answer is not None and answer.status in (403, 404)
    assert page.locator("[data-chart]").count() == 0
    answer = page.goto(f"{ui_server.url}/projects/{PROJECT}/compare?runs={runs['base']}")
    assert answer is not None and answer.status in (403, 404)
    assert page.locator("[data-chart]").count() == 0


def test_dragging_on_a_chart_zooms_and_a_double_click_resets(
    ui_server: UiServer, runs: dict[str, str], signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(_run_url(ui_server, runs["base"]))
    _drawn(page, "metric")
    chart = '[data-chart="metric"][data-key="loss"]'
    note = page.locator(".chart-box", has=page.locator(chart)).locator("p.muted")
    points = page.eval_on_selector(chart, "el => el.uplot.data[0].length")
    assert 2 < points <= HISTORY_POINTS
    assert note.inner_text() == f"base: {points} of 2000 points (lowest and highest kept)"
    scale = "el => [el.uplot.scales.x.min, el.uplot.scales.x.max]"
    before = page.eval_on_selector(chart, scale)
    box = page.locator(f"{chart} .u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    zoomed = page.eval_on_selector(chart, scale)
    assert before[0] < zoomed[0] < zoomed[1] < before[1], (before, zoomed)
    page.locator(f"{chart} .u-over").dblclick()
    assert page.eval_on_selector(chart, scale) == before


def test_a_million_point_metric_is_drawn_from_the_downsampled_points_alone(
    ui_server: UiServer, million: str, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(_run_url(ui_server, million))
    _drawn(page, "metric")
    shipped = json.loads(page.locator("#chart-data").text_content() or "{}")["loss"]
    assert len(shipped) == 1 and shipped[0]["total"] == MILLION
    assert len(shipped[0]["x"]) <= HISTORY_POINTS
    chart = '[data-chart="metric"][data-key="loss"]'
    x, y = page.eval_on_selector(chart, "el => el.uplot.data")
    assert len(x) == len(shipped[0]["x"]) <= HISTORY_POINTS
    assert x[0] == 0 and x[-1] == MILLION - 1
    assert max(y) == 100.0 and y[x.index(123_456)] == 100.0  # the spike survives
    assert min(y) == -100.0 and y[x.index(654_321)] == -100.0  # and the dip
    note = page.locator(".chart-box", has=page.locator(chart)).locator("p.muted")
    assert note.inner_text() == f"million: {len(x)} of {MILLION} points (lowest and highest kept)"


def test_overlaying_a_run_by_name_adds_its_series(
    ui_server: UiServer, runs: dict[str, str], signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(_run_url(ui_server, runs["base"]))
    _drawn(page, "metric")
    assert _series_count(page, "loss") == 1
    page.get_by_label("Overlay runs").fill("other")
    page.get_by_role("button", name="Add").click()
    page.wait_for_url("**overlay=other*")
    _drawn(page, "metric")
    assert _series_count(page, "loss") == 2
    labels = page.eval_on_selector(
        '[data-chart="metric"][data-key="loss"]', "el => el.uplot.series.map(s => s.label)"
    )
    assert labels[1:] == ["base", "other"]
    # by id prefix too, kept beside the first
    page.get_by_label("Overlay runs").fill(runs["cmp-a"][:10])
    page.get_by_role("button", name="Add").click()
    page.wait_for_url(f"**overlay={runs['cmp-a'][:10]}*")
    _drawn(page, "metric")
    assert page.get_by_role("link", name="cmp-a").is_visible()
    assert _series_count(page, "loss") == 2  # cmp-a has no loss: no series for it


def test_an_unknown_overlay_run_says_so_beside_the_box(
    ui_server: UiServer, runs: dict[str, str], signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(_run_url(ui_server, runs["base"], "?overlay=no-such-run"))
    assert "no-such-run" in page.get_by_role("alert").inner_text()
    _drawn(page, "metric")
    assert _series_count(page, "loss") == 1
    # a run of another project is not found from here either
    page.goto(_run_url(ui_server, runs["base"], f"?overlay={runs['stranger']}"))
    assert page.get_by_role("alert").inner_text().strip() != ""


def test_artifacts_show_previews_and_user_text_as_text(
    ui_server: UiServer, runs: dict[str, str], signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(_run_url(ui_server, runs["base"]))
    image = page.locator('[data-artifact="plot.png"] img')
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => document.querySelector('[data-artifact=\"plot.png\"] img').naturalWidth === 2"
    )
    assert EVIL in page.locator('[data-artifact="metrics.json"] pre').inner_text()
    table = page.locator('[data-artifact="head.parquet"] table')
    assert table.locator("tbody tr").count() == 20
    assert table.locator("thead th").all_inner_texts() == ["id", "name"]
    assert table.locator("tbody tr").first.locator("td").all_inner_texts() == ["0", "row-0"]
    # markup in params and artifact names renders as text
    assert page.get_by_role("cell", name=EVIL).is_visible()
    assert page.get_by_text(EVIL_ARTIFACT, exact=True).is_visible()
    assert page.evaluate("window.__owned") is None


def test_an_html_report_runs_sandboxed_and_cannot_reach_the_page(
    ui_server: UiServer,
    runs: dict[str, str],
    signed_in: Callable[[str], Page],
    watched: Watched,
) -> None:
    # Chromium reports the report's blocked script on the console: that is the point
    watched.allow("Blocked script execution")
    watched.allow("Content Security Policy")
    page = signed_in("viewer")
    with page.expect_response("**/artifacts/content?path=report.html&inline=true") as answer:
        page.goto(_run_url(ui_server, runs["reports"]))
    headers = answer.value.headers
    assert headers["content-type"].startswith("text/html")
    assert headers["content-security-policy"].startswith("sandbox")
    assert headers["x-content-type-options"] == "nosniff"
    frame = page.locator('[data-artifact="report.html"] iframe')
    assert frame.get_attribute("sandbox") == ""
    inner = page.frame_locator('[data-artifact="report.html"] iframe')
    assert inner.get_by_role("heading", name="Report").is_visible()
    title = page.title()
    assert title.startswith("Run reports")
    page.wait_for_timeout(200)  # a script, were it allowed, has long run by now
    assert page.title() == title


# -- compare ----------------------------------------------------------------------------------


def test_filter_select_two_runs_and_compare_them(
    ui_server: UiServer, runs: dict[str, str], signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(f"{ui_server.url}/projects/{PROJECT}/runs")
    page.get_by_label("Filter").fill("attributes.name like 'cmp-%'")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**filter=*")
    assert page.locator("#runs tbody tr").count() == 2
    page.get_by_label("select cmp-a").check()
    page.get_by_label("select cmp-b").check()
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url(f"**/projects/{PROJECT}/compare?runs=*")
    table = page.locator("#param-diff")
    assert table.locator("thead th").all_inner_texts()[1:] == ["cmp-b", "cmp-a"] or (
        table.locator("thead th").all_inner_texts()[1:] == ["cmp-a", "cmp-b"]
    )
    differs = table.locator("tr.differs th").all_inner_texts()
    assert sorted(d.split()[0] for d in differs) == ["depth", "optimizer"]
    assert table.locator("tr:not(.differs) th[scope=row]").all_inner_texts() == ["seed"]
    _drawn(page, "compare")
    count = page.eval_on_selector(
        '[data-chart="compare"][data-key="acc"]', "el => el.uplot.series.length - 1"
    )
    assert count == 2
    _drawn(page, "parallel")
    assert page.locator("[data-chart=parallel] g[data-run]").count() == 2
    assert critical_violations(page) == [], pretty(critical_violations(page))


def test_compare_for_admin_and_its_404s(
    ui_server: UiServer,
    runs: dict[str, str],
    signed_in: Callable[[str], Page],
    watched: Watched,
) -> None:
    watched.allow("status of 404")
    page = signed_in("admin")
    base = f"{ui_server.url}/projects/{PROJECT}/compare"
    page.goto(f"{base}?runs={runs['base']}&runs={runs['other']}")
    _drawn(page, "compare")
    _drawn(page, "parallel")
    assert page.locator("#param-diff").is_visible()
    for query in (f"runs={runs['base']}&runs={'f' * 32}", f"runs={runs['stranger']}"):
        answer = page.goto(f"{base}?{query}")
        assert answer is not None and answer.status == 404
        assert page.locator("[data-chart]").count() == 0


def test_the_compare_page_shows_markup_in_names_and_params_as_text(
    ui_server: UiServer, runs: dict[str, str], signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(
        f"{ui_server.url}/projects/{PROJECT}/compare?runs={runs['cmp-a']}&runs={runs['evil']}"
    )
    _drawn(page, "compare")
    _drawn(page, "parallel")
    table = page.locator("#param-diff")
    assert table.locator("thead th").all_inner_texts() == ["Param", "cmp-a", EVIL]
    assert table.get_by_role("cell", name=EVIL).is_visible()
    labels = page.eval_on_selector(
        '[data-chart="compare"][data-key="acc"]', "el => el.uplot.series.map(s => s.label)"
    )
    assert labels[1:] == ["cmp-a", EVIL]
    assert page.locator(".u-legend").first.get_by_text(EVIL).is_visible()
    assert page.evaluate("window.__owned") is None


# -- without a browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(ui_server: UiServer, runs: dict[str, str]) -> Iterator[httpx.Client]:
    """An HTTP client of a server over the same store without sign-in (``--no-auth``)."""
    from modelyard.api import create_app
    from modelyard.api.auth import no_auth

    server = LiveServer(create_app(ui_server.settings, auth=no_auth)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as found:
            yield found
    finally:
        server.stop()


def _page_json(html: str, element_id: str) -> Any:
    start = html.index(f'id="{element_id}">') + len(f'id="{element_id}">')
    return json.loads(html[start : html.index("</script>", start)])


def test_the_charts_are_downsampled_on_the_server_keeping_the_spike(
    client: httpx.Client, runs: dict[str, str]
) -> None:
    answer = client.get(f"/projects/{PROJECT}/runs/{runs['base']}")
    assert answer.status_code == 200
    loss = _page_json(answer.text, "chart-data")["loss"]
    assert len(loss) == 1
    assert loss[0]["total"] == 2000
    assert len(loss[0]["x"]) <= HISTORY_POINTS
    assert max(loss[0]["y"]) == 100.0  # the spike survives
    assert loss[0]["x"][0] == 0 and loss[0]["x"][-1] == 1999


def test_an_artifact_is_served_inline_only_as_a_safe_type(
    client: httpx.Client, runs: dict[str, str]
) -> None:
    url = f"/api/v1/runs/{runs['base']}/artifacts/content"
    image = client.get(url, params={"path": "plot.png", "inline": "true"})
    assert image.headers["content-type"] == "image/png"
    plain = client.get(url, params={"path": "plot.png"})
    assert plain.headers["content-type"] == "application/octet-stream"
    odd = client.get(url, params={"path": "head.parquet", "inline": "true"})
    assert odd.headers["content-type"] == "application/octet-stream"
    for answer in (image, plain, odd):
        assert answer.headers["content-security-policy"].startswith("sandbox;")
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_compare_without_runs_says_how_to_choose_them(client: httpx.Client) -> None:
    answer = client.get(f"/projects/{PROJECT}/compare")
    assert answer.status_code == 200
    assert "Compare selected" in answer.text


def test_compare_of_a_run_of_another_project_is_404(
    client: httpx.Client, runs: dict[str, str]
) -> None:
    answer = client.get(f"/projects/{PROJECT}/compare", params={"runs": runs["stranger"]})
    assert answer.status_code == 404
    assert runs["stranger"] in answer.text


def test_a_run_with_more_metrics_than_charts_lists_the_rest(
    client: httpx.Client, ui_server: UiServer
) -> None:
    with (
        Client(ui_server.settings) as sdk,
        sdk.start_run(PROJECT, name="wide", capture=False) as run,
    ):
        run.log_metrics({f"m{i:03d}": float(i) for i in range(MAX_CHARTS + 3)})
        run_id = run.id
    answer = client.get(f"/projects/{PROJECT}/runs/{run_id}")
    assert answer.status_code == 200
    charts = _page_json(answer.text, "chart-data")
    assert sorted(charts) == [f"m{i:03d}" for i in range(MAX_CHARTS)]
    assert answer.text.count('data-chart="metric"') == MAX_CHARTS
    assert "m040, m041, m042" in answer.text


def test_previews_show_the_head_of_a_long_text_and_survive_a_broken_parquet(
    client: httpx.Client, ui_server: UiServer
) -> None:
    with (
        Client(ui_server.settings) as sdk,
        sdk.start_run(PROJECT, name="odd-files", capture=False) as run,
    ):
        run.log_text("a" * TEXT_HEAD_BYTES + "TAIL", "long.log")
        run.log_bytes(b"not parquet at all", "broken.parquet")
        run_id = run.id
    answer = client.get(f"/projects/{PROJECT}/runs/{run_id}")
    assert answer.status_code == 200
    assert "a" * 100 in answer.text
    assert "TAIL" not in answer.text
    assert "The head of the file" in answer.text
    assert "not a readable Parquet file" in answer.text


def test_a_chart_of_large_values_keeps_its_y_labels_whole(
    ui_server: UiServer, signed_in: Callable[[str], Page]
) -> None:
    with Client(ui_server.settings) as client, client.start_run(PROJECT, capture=False) as run:
        for step in range(5):
            run.log_metric("system/memory_bytes", 12_345_678_901.0 + 1e9 * step, step=step)
    page = signed_in("viewer")
    page.goto(_run_url(ui_server, run.id))
    _drawn(page, "system")
    widest, size = page.locator('[data-chart="system"]').evaluate(
        """el => {
          const u = el.uplot, axis = u.axes[1];
          u.ctx.font = axis.font[0];
          const widths = axis._values.map(v => u.ctx.measureText(v).width / devicePixelRatio);
          return [Math.max(...widths), axis._size];
        }"""
    )
    assert widest + 8 <= size, (widest, size)  # and 8 px for the ticks and their gap
