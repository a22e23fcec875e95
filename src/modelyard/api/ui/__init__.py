"""The web UI: server-rendered pages at ``/`` of ``modelyard server``, in the same
process and behind the same sign-in as the API (see :mod:`modelyard.api.ui._pages`).

Pages are Jinja2 templates (``templates/``); their script and styles, and the one
library they use (uPlot, for charts), are shipped in ``static/`` and served at
``/static``: nothing is fetched from elsewhere, so the UI works offline.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from modelyard.api.ui import (
    pages_account,
    pages_core,
    pages_data,
    pages_deploy,
    pages_models,
    pages_mon,
    pages_run,
)
from modelyard.api.ui._pages import render

__all__ = ["install_ui", "not_found_page"]

STATIC = Path(__file__).parent / "static"
ROUTERS = (
    pages_core.router,
    pages_run.router,
    pages_models.router,
    pages_deploy.router,
    pages_mon.router,
    pages_data.router,
    pages_account.router,
)


def install_ui(app: FastAPI) -> None:
    """Add the pages and their static files to ``app``."""
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def not_found_page(request: Request) -> HTMLResponse:
    """The friendly 404 page for a path that is no page."""
    from modelyard.api.ui._pages import _quiet_viewer

    return render(request, "error.html", _quiet_viewer(request), 404, error=None)
