"""Settings of an installation whose webhooks may reach 127.0.0.1 (the tests' receivers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.config import Settings, load_settings


def hook_settings(tmp_path: Path, store_url: str, **webhooks: Any) -> Settings:
    return load_settings(
        home=tmp_path / "home",
        store={"url": store_url},
        tracking={"system_metrics_interval_s": 0, "capture_packages": False},
        webhooks={"allowed_hosts": ["127.0.0.1"], "timeout_s": 2.0, "backoff_s": 0.05, **webhooks},
    )
