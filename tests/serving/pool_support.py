"""Helpers for the model pool tests that run in other processes (spawned: importable)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from modelyard.config import load_settings
from modelyard.sdk.client import Client
from modelyard.serving.models import ModelPool


def load_in_process(
    home: str, store_url: str, cache_dir: str, version_id: str, barrier: Any
) -> int:
    """Load the version through a pool on the shared ``cache_dir`` once every process is
    ready; returns its measured size."""
    settings = load_settings(home=home, store={"url": store_url})
    with Client(settings) as client:
        pool = ModelPool(
            client.model_service,
            cache_dir=Path(cache_dir),
            budget_bytes=1 << 30,
            idle_unload_s=0,
            load_concurrency=1,
            allow_code_formats=False,
        )

        async def load() -> int:
            try:
                return (await pool.get(version_id)).size_bytes
            finally:
                await pool.close()

        barrier.wait(timeout=60)
        return asyncio.run(load())
