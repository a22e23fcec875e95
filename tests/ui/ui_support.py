"""What the browser tests share with their fixtures (``conftest.py``): the seeded
users' password, the project, the server's handle, signing in through the form, and the
accessibility scan (axe-core, shipped in ``vendor/``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.config import Settings
from monitoring_support import insert_value

if TYPE_CHECKING:
    from playwright.sync_api import Page, Request
    from sqlalchemy import Connection

PASSWORD = "correct-horse-battery-9"
ROLES = ("admin", "viewer", "contributor", "approver", "outsider")
PROJECT = "demo"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"


@dataclass
class UiServer:
    """The live server, its settings, and the users' names by role."""

    url: str
    settings: Settings
    users: dict[str, str] = field(default_factory=dict)


@dataclass
class Watched:
    """What went wrong on a page: console errors and failed requests (less those a test
    expects: ``allow("status of 401")``)."""

    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, text: str) -> None:
        self.allowed.append(text)

    def _failed(self, request: Request) -> None:
        # a request the browser abandoned because the page moved on (ERR_ABORTED) failed
        # nothing: the page it belonged to is gone
        if request.failure != "net::ERR_ABORTED":
            failed = f"{request.method} {request.url} ({request.failure})"
            self.errors.append(f"request failed: {failed}")

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]

    def watch(self, page: Page) -> Page:
        page.on(
            "console",
            lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("requestfailed", self._failed)
        page.on(
            "response",
            lambda res: (
                self.errors.append(f"HTTP {res.status}: {res.url}") if res.status >= 500 else None
            ),
        )
        return page


def sign_in(page: Page, base: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through the sign-in form and wait for the projects page."""
    page.goto(f"{base}/signin")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def critical_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's critical violations on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    found: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["html"] for n in v["nodes"]][:3]}
        for v in found["violations"]
        if v["impact"] == "critical"
    ]


def pretty(found: object) -> str:
    return json.dumps(found, indent=1)


def add_window(conn: Connection, monitor_id: str, end: int, value: float, **details: Any) -> None:
    """One hour's finding of a monitor over all versions, ending at ``end``, as the pass
    writes it (breached when a feature in ``details["features"]`` drifted)."""
    drifted = any(f["drifted"] for f in details.get("features", {}).values())
    insert_value(
        conn, monitor_id, end, value, status="breached" if drifted else "ok", details=details
    )
