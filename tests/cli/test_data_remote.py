"""``modelyard data`` through a server: a clear one-line error until the routes exist."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from modelyard.cli.main import app


def test_data_commands_through_a_server(settings, sdk_mode: str, tmp_path: Path) -> None:
    base = ["--store-url", settings.store_url, "--home", str(settings.home)]
    if settings.tracking.uri:
        base += ["--tracking-uri", settings.tracking.uri]
    (tmp_path / "a.csv").write_text("a\n1\n")
    result = CliRunner().invoke(app, [*base, "data", "register", "w", str(tmp_path / "a.csv")])
    if sdk_mode == "local":
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2
    assert "not yet available over the server" in result.output
    assert "Traceback" not in result.output
