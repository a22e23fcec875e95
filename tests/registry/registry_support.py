"""Helpers for the registry tests that run in other processes (spawned: importable)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from modelyard.config import load_settings
from modelyard.sdk.client import Client


def register_in_process(home: str, store_url: str, index: int, barrier: Any) -> tuple[int, str]:
    """Register distinct files as a version of ``racy`` once every process is ready;
    returns (version number, id)."""
    settings = load_settings(
        home=home,
        store={"url": store_url},
        tracking={"system_metrics_interval_s": 0, "capture_packages": False},
    )
    with Client(settings) as client, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "model").mkdir()
        (folder / "model" / "model.skops").write_bytes(f"model {index}".encode())
        service = client.models.service
        barrier.wait(timeout=60)
        found = service.register("racy", folder, project="lab", flavor="sklearn")
        return found.version, found.id


def move_alias_in_process(home: str, store_url: str, version: int, barrier: Any) -> None:
    settings = load_settings(home=home, store={"url": store_url})
    with Client(settings) as client:
        service = client.models.service
        barrier.wait(timeout=60)
        service.set_alias("racy", "champion", version, project="lab", reason=f"to {version}")


def model_files(folder: Path, content: bytes) -> Path:
    """A folder as a flavor writes it (``model/``), with ``content`` as its one file."""
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.skops").write_bytes(content)
    return folder
