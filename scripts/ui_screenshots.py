"""Screenshots of the web UI for the README: a demo home filled by ``modelyard quickstart``
(its tour, then its monitoring story: minutes, with the story's progress bar on a
terminal), ``modelyard server`` on a loopback port with one admin user, signed in with
Playwright in headless Chromium (``/usr/bin/chromium``), a PNG of each page in
:data:`PAGES` saved to ``docs/ui/`` as a palette image (a quarter of the size; the pages
are flat colours). A page the server answers with 404 (one not built yet) is skipped and
said so.

The runs record where they came from (``source.argv``, the entry point, the user; see
``modelyard.tracking.capture``) and the registry, audit and loop record who acted: the
quickstart runs as ``modelyard quickstart`` (:data:`LAUNCH`) by the operating-system user
:data:`OS_USER` from a temporary folder, so neither the paths nor the user name of the
machine that takes the pictures are in them. The host name is recorded as it is.

Run it through ``scripts/ui-screenshots``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from playwright.sync_api import FloatRect, Page, ViewportSize

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "ui"
PROJECT = "quickstart"
#: The monitoring story's deployment (``modelyard.examples.quickstart_monitoring``).
DEPLOYMENT = "bikeshare-api"
USER, PASSWORD = "demo-admin", "screenshots-only-9f2c"
#: Who the quickstart runs as (``getpass.getuser`` reads it from the environment).
OS_USER = "demo"
#: ``modelyard ARGS`` as a run records it from the ``modelyard`` command, without the
#: paths of this checkout: ``sys.argv[0]`` and ``__main__``'s file ``modelyard``, its spec
#: ``modelyard.__main__``'s (``python -m modelyard``; the entry point ``-m modelyard``).
LAUNCH = (
    "import importlib.util, sys; "
    "sys.argv[0] = __file__ = 'modelyard'; "
    "__spec__ = importlib.util.find_spec('modelyard.__main__'); "
    "from modelyard.cli.main import main; "
    "main()"
)
#: (file name, path, down to): ``{project}``, ``{deployment}`` and ``{run}`` (the tour's
#: best run) are filled in; the picture is the window, or the page down to the end of the
#: element ``down to`` selects (the run's metric charts; the whole page).
PAGES: tuple[tuple[str, str, str | None], ...] = (
    ("projects", "/", None),
    ("project", "/projects/{project}", None),
    ("runs", "/projects/{project}/runs", None),
    ("run", "/projects/{project}/runs/{run}", '[aria-labelledby="h-charts"]'),
    ("models", "/projects/{project}/models", None),
    ("deployments", "/projects/{project}/deployments", None),
    ("deployment", "/projects/{project}/deployments/{deployment}?hours=1", "body"),
    ("monitoring", "/projects/{project}/monitoring", None),
    ("monitoring-deployment", "/projects/{project}/monitoring/{deployment}", "body"),
    ("alerts", "/projects/{project}/alerts", None),
    ("datasets", "/projects/{project}/datasets", None),
    ("pipelines", "/projects/{project}/pipelines", None),
    ("audit", "/projects/{project}/audit", None),
)
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
#: Every chart on the page has drawn (the charts' contract: ``data-drawn="1"``).
ALL_DRAWN = "[...document.querySelectorAll('[data-chart]')].every(e => e.dataset.drawn === '1')"


def modelyard(home: Path, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    """``modelyard ARGS`` on ``home``, run by :data:`OS_USER` in ``home``'s folder."""
    env = {
        **os.environ,
        "MODELYARD_HOME": str(home),
        **dict.fromkeys(("LOGNAME", "USER", "LNAME", "USERNAME"), OS_USER),
    }
    return subprocess.run(
        [sys.executable, "-c", LAUNCH, *args],
        env=env,
        cwd=home.parent,
        check=True,
        text=True,
        **kw,  # type: ignore[call-overload]
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MODELYARD_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelyard", "server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=home.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    raise SystemExit("modelyard server did not answer its health check in 60 s")


def save_small(png: bytes, file: Path) -> None:
    """``png`` as a palette PNG of at most 256 colours (a quarter of the size)."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
        small.save(file, optimize=True)


def picture(page: Page, down_to: str | None) -> bytes:
    """The page as a PNG: the window, or the page from its top to the end of the element
    ``down_to`` selects."""
    if down_to is None:
        return page.screenshot()
    box = page.locator(down_to).first.bounding_box()
    if box is None:
        raise SystemExit(f"{page.url}: {down_to} is not on the page")
    clip: FloatRect = {
        "x": 0,
        "y": 0,
        "width": VIEWPORT["width"],
        "height": box["y"] + box["height"],
    }
    return page.screenshot(full_page=True, clip=clip)


def shoot(base: str) -> list[str]:
    from playwright.sync_api import sync_playwright

    saved: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), headless=True)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{base}/signin")
        page.get_by_label("Username").fill(USER)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/")
        page.goto(f"{base}/projects/{PROJECT}/runs?all=1&order=metrics.val_auc+DESC")
        href = page.locator(f'tbody a[href^="/projects/{PROJECT}/runs/"]').first.get_attribute(
            "href"
        )
        run = (href or "").rsplit("/", 1)[-1]
        for name, path, down_to in PAGES:
            url = base + path.format(project=PROJECT, deployment=DEPLOYMENT, run=run)
            answer = page.goto(url)
            if answer is None or answer.status == 404:
                print(f"skipped {name}: {path} answers 404", file=sys.stderr)
                continue
            page.wait_for_load_state("networkidle")
            page.wait_for_function(ALL_DRAWN, timeout=10_000)
            file = OUT / f"{name}.png"
            save_small(picture(page, down_to), file)
            saved.append(f"{file.relative_to(ROOT)} ({file.stat().st_size // 1024} KB)")
        browser.close()
    return saved


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="modelyard-shots-") as tmp:
        home = Path(tmp) / "home"
        print(
            "seeding the demo home: modelyard quickstart, its tour (runs, pipelines, a model, "
            "a deployment), then its monitoring story (half a year of traffic replayed "
            "through bikeshare-api, watched); a few minutes ...",
            file=sys.stderr,
        )
        modelyard(home, "quickstart", stdout=subprocess.DEVNULL)
        modelyard(home, "users", "create", USER, "--admin", "--password-stdin", input=PASSWORD)
        print(
            f"seeded in {time.monotonic() - started:.0f} s; taking the pictures ...",
            file=sys.stderr,
        )
        port = free_port()
        server = start_server(home, port)
        try:
            for line in shoot(f"http://127.0.0.1:{port}"):
                print(line)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    print(f"{time.monotonic() - started:.0f} s in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
