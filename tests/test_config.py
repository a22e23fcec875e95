"""Settings: precedence, validation, and every setting documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.config import iter_settings, load_settings
from modelyard.errors import InvalidInput

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_embedded_defaults() -> None:
    s = load_settings()
    assert s.home == Path(".modelyard")
    assert s.store_url == "sqlite:///.modelyard/modelyard.db"
    assert s.artifacts_uri == ".modelyard/artifacts"


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path, monkeypatch) -> None:
    cfg = tmp_path / "modelyard.toml"
    cfg.write_text('[store]\nurl = "sqlite:///file.db"\n[cost]\ncpu_hour = 0.25\ngpu_hour = 2.0\n')
    assert load_settings(cfg).store_url == "sqlite:///file.db"
    monkeypatch.setenv("MODELYARD_STORE_URL", "sqlite:///env.db")
    monkeypatch.setenv("MODELYARD_COST_GPU_HOUR", "3.5")
    s = load_settings(cfg)
    assert s.store_url == "sqlite:///env.db"
    assert s.cost.cpu_hour == 0.25 and s.cost.gpu_hour == 3.5
    assert load_settings(cfg, store={"url": "sqlite:///flag.db"}).store_url == "sqlite:///flag.db"


def test_config_file_found_in_cwd_and_through_env(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "modelyard.toml").write_text("home = 'from-cwd'\n")
    assert load_settings().home == Path("from-cwd")
    other = tmp_path / "other.toml"
    other.write_text("home = 'from-env-file'\n")
    monkeypatch.setenv("MODELYARD_CONFIG", str(other))
    assert load_settings().home == Path("from-env-file")


def test_home_moves_store_and_artifacts(monkeypatch) -> None:
    monkeypatch.setenv("MODELYARD_HOME", "/data/my")
    s = load_settings()
    assert s.store_url == "sqlite:////data/my/modelyard.db"
    assert s.artifacts_uri == "/data/my/artifacts"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tracking": {"flush_interval_s": -1}}, "tracking.flush_interval_s"),
        ({"cost": {"cpu_hour": "cheap"}}, "cost.cpu_hour"),
        ({"nonsense": 1}, "nonsense"),
        ({"worker": {"concurrency": 0}}, "worker.concurrency"),
        ({"worker": {"concurrency": 65}}, "worker.concurrency"),
    ],
)
def test_invalid_settings_name_the_field(kwargs, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        load_settings(**kwargs)
    assert info.value.field == field


def test_broken_config_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[store\n")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        load_settings(bad)
    with pytest.raises(InvalidInput, match="not found"):
        load_settings(tmp_path / "missing.toml")


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text()
    missing = [env for _path, env, _default, _doc in iter_settings() if f"`{env}`" not in text]
    assert missing == []
    undescribed = [path for path, _env, _default, doc in iter_settings() if not doc]
    assert undescribed == []
