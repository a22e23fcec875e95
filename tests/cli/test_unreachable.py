"""No silent waits: with no server listening, the command line says at once that it
cannot reach it and is retrying until a deadline (``tracking.retry_timeout_s``), then
fails in one line naming the URL and the setting."""

from __future__ import annotations

import time

from typer.testing import CliRunner

from modelyard.cli.main import app
from server_support import free_port


def test_a_closed_port_is_reported_then_one_error_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = CliRunner().invoke(
        app,
        ["--tracking-uri", url, "runs", "list", "-p", "p"],
        env={"MODELYARD_TRACKING_RETRY_TIMEOUT_S": "1"},
    )
    assert 1 <= time.monotonic() - started < 10
    assert result.exit_code == 8, result.output
    warning, error = result.output.strip().splitlines()
    assert warning.startswith(f"warning: cannot reach the tracking server at {url}: ")
    assert "retrying for up to 1 s, until " in warning and "(tracking.retry_timeout_s)" in warning
    assert error.startswith(f"error: the tracking server at {url} did not answer in ")
    assert "within 1 s (tracking.retry_timeout_s, MODELYARD_TRACKING_RETRY_TIMEOUT_S)" in error
