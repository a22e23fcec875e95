"""Settings: one typed tree, read from flags, the environment and an optional file.

Precedence, highest first: explicit overrides (CLI flags, keyword arguments) >
environment variables (``MODELYARD_`` + the path, e.g. ``MODELYARD_STORE_URL``) >
the config file (TOML; ``--config``, ``MODELYARD_CONFIG`` or ``./modelyard.toml``) >
defaults. Every setting is listed in ``docs/configuration.md`` (a test checks it).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from modelyard.errors import InvalidInput

__all__ = ["Settings", "iter_settings", "load_settings", "setting_origin"]

CONFIG_ENV = "MODELYARD_CONFIG"
DEFAULT_CONFIG_FILE = "modelyard.toml"


class StoreSettings(BaseModel):
    url: str | None = Field(
        None,
        description="SQLAlchemy URL of the metadata store; default sqlite:///<home>/modelyard.db. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db.",
    )
    busy_timeout_s: float = Field(
        30.0, gt=0, description="How long a SQLite writer waits for the lock before retrying."
    )
    auto_upgrade: bool = Field(
        True,
        description="Apply pending migrations to an embedded SQLite store on first use "
        "(PostgreSQL always needs an explicit `modelyard db upgrade`).",
    )


class ArtifactSettings(BaseModel):
    uri: str | None = Field(
        None,
        description="Where blobs live: a local directory (default <home>/artifacts), "
        "file:///path or s3://bucket/prefix; the scheme chooses the artifact backend (another "
        "package may add one, see architecture.md).",
    )
    endpoint_url: str | None = Field(
        None, description="Endpoint of an S3-compatible server (for example http://127.0.0.1:9000)."
    )
    region: str | None = Field(None, description="S3 region name.")
    access_key_id: str | None = Field(None, description="S3 access key id.")
    secret_access_key: str | None = Field(None, description="S3 secret access key.")
    chunk_size: int = Field(
        8 * 1024 * 1024, ge=64 * 1024, description="Bytes per read when hashing and copying blobs."
    )


class TrackingSettings(BaseModel):
    flush_interval_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Longest time a logged value waits in memory before it is written; "
        "a process killed with SIGKILL loses at most this much.",
    )
    buffer_size: int = Field(
        100_000,
        ge=100,
        description="Bounded in-memory queue of pending metrics/params/tags; when full, "
        "logging waits for the flusher (back-pressure, nothing is dropped).",
    )
    exit_flush_timeout_s: float = Field(
        10.0, ge=0, description="How long leaving a run or exiting the process waits for the flush."
    )
    heartbeat_interval_s: float = Field(
        5.0, gt=0, description="How often a running run records that its process is alive."
    )
    heartbeat_timeout_s: float = Field(
        60.0,
        gt=0,
        description="A running run whose heartbeat is older than this is shown as `lost`.",
    )
    system_metrics_interval_s: float = Field(
        10.0,
        ge=0,
        description="Seconds between system-metric samples (CPU, memory, I/O, GPU); 0 turns "
        "sampling off.",
    )
    capture_git: bool = Field(
        True, description="Record git commit, branch, remote, dirty flag, diff."
    )
    capture_packages: bool = Field(
        True, description="Record installed packages as a pip-freeze artifact (in the background)."
    )
    max_diff_bytes: int = Field(
        5 * 1024 * 1024, ge=0, description="Largest uncommitted git diff stored with a run."
    )
    uri: str | None = Field(
        None,
        description="URL of a Modelyard server (http:// or https://). When set, the SDK and "
        "the CLI track runs there over HTTP instead of in the local store.",
    )
    token: str | None = Field(
        None,
        description="API token sent to the tracking server as `Authorization: Bearer <token>`.",
    )
    retry_timeout_s: float = Field(
        30.0,
        ge=0,
        description="How long a call to the tracking server keeps retrying connection errors "
        "and 5xx answers (exponential backoff with jitter) before it fails with StorageError. "
        "The first failure is reported at once with the deadline (a warning on the "
        "`modelyard.remote` logger; a `warning:` line from the CLI).",
    )

    @field_validator("uri")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or a fragment")
        return value.strip().rstrip("/")


class ServerSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address `modelyard server` binds to.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port `modelyard server` listens on.")
    workers: int = Field(1, ge=1, le=64, description="Worker processes of `modelyard server`.")
    max_body_bytes: int = Field(
        64 * 1024 * 1024,
        ge=64 * 1024,
        description="Largest JSON request body the server reads; a larger one is answered "
        "with 413.",
    )
    max_body_bytes_in_flight: int = Field(
        128 * 1024 * 1024,
        ge=64 * 1024,
        description="JSON request bytes the server holds at once, all requests together "
        "(each body from its first byte until its answer is sent); a request that does not "
        "fit is answered 503 with Retry-After, but a body alone always fits.",
    )
    max_artifact_bytes: int = Field(
        10 * 1024**3,
        ge=1,
        description="Largest artifact upload (one file, or a folder sent as a tar); a larger "
        "one is answered with 413.",
    )
    allowed_hosts: list[str] | None = Field(
        None,
        description="Host header values the server answers (protection against DNS "
        "rebinding); the address it binds is added. `*.example.com` matches subdomains, `*` "
        "any host. Unset: it follows `host` -- every interface (0.0.0.0, ::): any host; a "
        "loopback address: 127.0.0.1, localhost, ::1; another address: that address and "
        "its names.",
    )
    cors_origins: list[str] = Field(
        [],
        description="Browser origins allowed to call the API (CORS); empty: none. `*` allows "
        "any origin, but then without credentials.",
    )
    login_failures_per_address: int = Field(
        50,
        ge=1,
        description="Failed password sign-ins from one client address within "
        "`login_failure_window_s` after which sign-ins from that address are answered 429 "
        "until the oldest leaves the window (counted in memory, per server process; the "
        "per-username lock-out applies as well). The same limit applies, counted apart, to "
        "requests with a refused bearer token from one address.",
    )
    login_failure_window_s: float = Field(
        900.0, gt=0, description="Window of `login_failures_per_address`, in seconds."
    )
    reauth_window_s: float = Field(
        600.0,
        ge=0,
        description="How long after a password sign-in a browser session may create tokens "
        "and enrol an authenticator without sending the password again; later, and always "
        "with an access token, those requests must carry the current password. 0: always.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Fernet key (32 bytes, URL-safe base64) that encrypts TOTP secrets in the "
        "metadata store. Unset: the key in the file <home>/secret.key, created (mode 0600) "
        "on first need; when set, the file is not read.",
    )
    previous_secret_keys: list[SecretStr] = Field(
        [],
        description="Earlier values of `secret_key`, still accepted for decryption while "
        "`modelyard mfa encrypt-secrets` re-encrypts with the current key (rotation).",
    )
    forwarded_allow_ips: list[str] = Field(
        [],
        description="Reverse proxies (IP addresses, CIDR networks, or `*` for any) whose "
        "X-Forwarded-For and X-Forwarded-Proto headers give the client's address and scheme "
        "(what sign-in and token throttling count, audit events record, and the Secure "
        "cookie flag follows). Empty (the default): no proxy is trusted; each connection's own "
        "address counts, so no client can choose the address its sign-in failures count "
        "against.",
    )

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address, a CIDR network or `*`") from None
        return value

    @field_validator("secret_key")
    @classmethod
    def _one_fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _is_fernet_key(value.get_secret_value()):
            raise ValueError(_NOT_A_FERNET_KEY)
        return value

    @field_validator("previous_secret_keys")
    @classmethod
    def _fernet_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for n, key in enumerate(value):
            if not _is_fernet_key(key.get_secret_value()):
                raise ValueError(f"entry {n}: {_NOT_A_FERNET_KEY}")
        return value


_NOT_A_FERNET_KEY = (
    "must be a Fernet key, 32 bytes in URL-safe base64 (make one with: python -c "
    "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
)


def _is_fernet_key(key: str) -> bool:
    """Whether ``key`` is what ``cryptography.fernet.Fernet`` accepts (checked without it)."""
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
    except (binascii.Error, UnicodeEncodeError):
        return False


class CostSettings(BaseModel):
    cpu_hour: float = Field(
        0.04,
        ge=0,
        allow_inf_nan=False,
        description="Price of one CPU core for one hour (default: a typical cloud rate).",
    )
    gb_hour: float = Field(
        0.005,
        ge=0,
        allow_inf_nan=False,
        description="Price of one GiB of memory (peak RSS) for one hour.",
    )
    gpu_hour: float = Field(
        2.5, ge=0, allow_inf_nan=False, description="Price of one GPU for one hour."
    )
    currency: str = Field("USD", description="Currency the cost figures are shown in.")


class WorkerSettings(BaseModel):
    poll_interval_s: float = Field(
        30.0,
        gt=0,
        description="How often `modelyard worker` looks for due cron occurrences, new dataset "
        "versions and fires whose worker stopped.",
    )
    lease_s: float = Field(
        60.0,
        ge=1,
        description="How long a worker holds a fire without renewing it; it renews every third "
        "of this while the pipeline runs, and a fire whose worker stopped is taken over by "
        "another worker after this.",
    )
    isolation: Literal["process", "inline"] = Field(
        "process",
        description="Where `modelyard worker` runs a fire's pipeline: `process`, a fresh Python "
        "process per fire (code changes are picked up, a crash fails only that fire); `inline`, "
        "in the worker's own process (for tests and debugging).",
    )
    concurrency: int = Field(
        1,
        ge=1,
        le=64,
        description="How many fires `modelyard worker` runs at once; it claims a due occurrence "
        "only while fewer are running, so it never holds a fire it cannot start.",
    )
    retirement_interval_s: float = Field(
        3600.0,
        ge=0,
        description="How often `modelyard worker` applies the model retirement policies of "
        "every project (archive and retire versions, as the system actor); 0: never.",
    )
    pipeline_packages: list[str] = Field(
        [],
        description="Top-level packages whose modules a schedule may name as MODULE:PIPELINE "
        "(`mypkg` allows `mypkg.pipelines:nightly`); empty: none. The server checks a "
        "schedule's reference against it without importing anything; only `modelyard worker` "
        "imports, and only from here.",
    )
    pipeline_dir: Path | None = Field(
        None,
        description="Folder whose FILE.py files (after symlinks) a schedule may name as "
        "FILE.py:PIPELINE; a relative path in a reference is taken from it. Unset: the "
        "working directory of the server, the worker or the program.",
    )

    @field_validator("pipeline_packages")
    @classmethod
    def _top_level_names(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not entry.isidentifier():
                raise ValueError(f"{entry!r} is not a top-level package name")
        return value


class RegistrySettings(BaseModel):
    allow_code_formats: bool = Field(
        False,
        description="Whether models may be saved and loaded in formats that run code when "
        "they are loaded (pickle, cloudpickle: the `python_function` flavor). Off: only formats "
        "that cannot run code (skops for scikit-learn) are registered or loaded.",
    )
    retired_retention_days: float = Field(
        30.0,
        ge=0,
        description="How long a retired model version's files are kept: after this, garbage "
        "collection may delete them, unless an alias (or, with serving, a deployment) points "
        "at the version.",
    )
    trusted_types: list[str] = Field(
        default_factory=list,
        description="Types (`module.Class`) that skops may load beyond its defaults when the "
        "registry loads a version where the store is, to evaluate it: on a server, the only "
        "types trusted (a caller cannot vouch for others through a server).",
    )


class WebhookSettings(BaseModel):
    allowed_hosts: list[str] = Field(
        [],
        description="Host names a webhook may send to whatever addresses they resolve to "
        "(private, loopback, link-local ...); by default only public addresses are allowed.",
    )
    timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds a webhook attempt may take to connect, to send and to be "
        "answered, each; a worker holds a delivery for three times this.",
    )
    max_attempts: int = Field(
        8, ge=1, le=50, description="Attempts at a delivery before it is dead."
    )
    backoff_s: float = Field(
        10.0,
        gt=0,
        description="Wait after the first failed attempt; it doubles after each one, with jitter.",
    )
    max_backoff_s: float = Field(
        3600.0, gt=0, description="The longest wait between two attempts at a delivery."
    )
    poll_interval_s: float = Field(
        2.0, gt=0, description="How often `modelyard worker` looks for deliveries due."
    )


class ServingSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address `modelyard serve` listens on.")
    port: int = Field(8600, ge=1, le=65535, description="Port `modelyard serve` listens on.")
    cache_dir: Path | None = Field(
        None,
        description="Folder where `modelyard serve` keeps the model files it fetched, by tree "
        "digest (verified again when loaded); default `<home>/serving-cache`.",
    )
    memory_budget_mb: float = Field(
        1024.0,
        gt=0,
        description="Memory the loaded model versions of one `modelyard serve` process may take "
        "together, as measured when each loads; past it the least recently used are unloaded.",
    )
    idle_unload_s: float = Field(
        900.0,
        ge=0,
        description="A loaded version that answered nothing for this long is unloaded; `0`: never.",
    )
    load_concurrency: int = Field(
        4, ge=1, le=64, description="Model versions `modelyard serve` loads at once."
    )
    plan_poll_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often `modelyard serve` reads the deployments' plans from the control "
        "plane: a plan change reaches it within this (plus one read).",
    )
    report_s: float = Field(
        5.0,
        gt=0,
        le=300,
        description="How often `modelyard serve` reports each version's requests, errors, "
        "latencies and health to the control plane (the rollouts' guard rails judge them).",
    )
    max_batch_rows: int = Field(
        64,
        ge=1,
        description="Most rows one call to a model predicts: requests are gathered into batches "
        "of at most this (a request's own rows count; a larger request is predicted alone).",
    )
    max_wait_ms: float = Field(
        2.0,
        ge=0,
        description="Longest a request waits for others to join its batch; a request that "
        "arrives alone waits nothing.",
    )
    max_queue_ms: float = Field(
        500.0,
        gt=0,
        description="Requests whose wait in a version's queue would pass this, at its measured "
        "rate, are refused with 503 and `Retry-After` instead of queued.",
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        description="Largest request body `modelyard serve` reads; larger is refused with 413.",
    )
    max_rows: int = Field(
        100_000,
        ge=1,
        description="Most rows one prediction request may hold; more is refused with 413.",
    )
    auth: Literal["token", "open"] = Field(
        "token",
        description="`token`: every request carries a Modelyard token whose user may predict in "
        "the project; `open`: anyone who reaches the port may predict.",
    )
    shutdown_grace_s: float = Field(
        10.0,
        ge=0,
        description="On SIGTERM, how long `modelyard serve` keeps answering the requests in "
        "flight (and writing the prediction log) before it stops.",
    )
    accept_event_time: bool = Field(
        False,
        description="Whether a prediction request may set the logged time of its rows with the "
        "`Modelyard-Event-Time` header (ms since the epoch or ISO 8601 with a zone; at most 5 "
        "minutes ahead): for replays and backfills. Off: a request carrying it is refused "
        "with 400.",
    )
    log_flush_rows: int = Field(
        10_000,
        ge=1,
        description="Prediction-log rows that, once waiting, are written at once (one Parquet "
        "segment per deployment) rather than at the next `log_flush_s`.",
    )
    log_flush_s: float = Field(
        1.0, gt=0, description="Longest a prediction-log row waits before its segment is written."
    )
    log_max_queue_rows: int = Field(
        200_000,
        ge=1,
        description="Prediction-log rows held while the store cannot take them; past this new "
        "rows are dropped and counted (`modelyard_prediction_log_dropped_total`).",
    )


class MonitoringSettings(BaseModel):
    pass_interval_s: float = Field(
        60.0,
        gt=0,
        description="How often `modelyard worker` runs a monitoring pass over each deployment "
        "with monitors (a pass reads only the log segments and labels that are new).",
    )
    label_horizon_days: float = Field(
        30.0,
        gt=0,
        description="How far back a pass joins newly given labels to their predictions' hours: "
        "a label for a prediction older than this is counted as late and left out.",
    )
    label_delay_hours: float = Field(
        24.0,
        gt=0,
        description="How long labels are expected to take: the health score's label freshness "
        "is 100 while the rows older than this are labelled, and falls to 0 at "
        "`label_horizon_days`.",
    )
    label_coverage: float = Field(
        0.9,
        gt=0,
        le=1,
        description="The share of an hour's logged rows that must be labelled for the health "
        "score's label freshness to count the hour as labelled.",
    )


class RaySettings(BaseModel):
    address: str | None = Field(
        None,
        description="Ray cluster the `ray` pipeline executor and `modelyard serve --ray` connect "
        "to (`ray://host:10001`, `host:6379` or `auto`). Unset: a process already connected to "
        "Ray uses that connection; otherwise a local Ray instance is started for the run (or "
        "the server) and stopped after.",
    )


class Settings(BaseSettings):
    """Everything configurable in Modelyard."""

    model_config = SettingsConfigDict(
        env_prefix="MODELYARD_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        validate_default=True,
    )

    home: Path = Field(
        Path(".modelyard"), description="Folder for the embedded store and artifacts."
    )
    store: StoreSettings = Field(default_factory=StoreSettings, description="Metadata store.")
    artifacts: ArtifactSettings = Field(
        default_factory=ArtifactSettings, description="Artifact (blob) store."
    )
    tracking: TrackingSettings = Field(
        default_factory=TrackingSettings, description="Run tracking and logging."
    )
    cost: CostSettings = Field(default_factory=CostSettings, description="Price table for costs.")
    server: ServerSettings = Field(
        default_factory=ServerSettings, description="The control-plane server."
    )
    worker: WorkerSettings = Field(
        default_factory=WorkerSettings, description="`modelyard worker`: schedules and triggers."
    )
    ray: RaySettings = Field(
        default_factory=RaySettings,
        description="The `ray` executor of pipelines and sweeps, and `modelyard serve --ray`.",
    )
    registry: RegistrySettings = Field(
        default_factory=RegistrySettings, description="The model registry."
    )
    webhooks: WebhookSettings = Field(
        default_factory=WebhookSettings, description="Webhooks and their deliveries."
    )
    serving: ServingSettings = Field(
        default_factory=ServingSettings, description="`modelyard serve`: the inference server."
    )
    monitoring: MonitoringSettings = Field(
        default_factory=MonitoringSettings,
        description="Monitors, alerts, costs and the closed loop.",
    )

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{self.home / 'modelyard.db'}"

    @property
    def artifacts_uri(self) -> str:
        return self.artifacts.uri or str(self.home / "artifacts")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)


def _config_path(path: Path | None) -> Path | None:
    """The config file that is read: ``path``, else $MODELYARD_CONFIG, else
    ./modelyard.toml when there is one."""
    if path is not None:
        return path
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return Path(DEFAULT_CONFIG_FILE) if Path(DEFAULT_CONFIG_FILE).is_file() else None


def _read_config_file(path: Path | None) -> dict[str, Any]:
    path = _config_path(path)
    if path is None:
        return {}
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InvalidInput(f"config file not found: {path}", field="config") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"config file {path} is not valid TOML: {exc}", field="config") from None


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


class _Resolved(Settings):
    """Settings validated from an already-merged dict (no second read of the environment)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings: overrides > environment > config file > defaults.

    ``overrides`` may be nested dicts (``store={"url": ...}``); ``None`` values are ignored.
    """
    file_values = _read_config_file(Path(config_file) if config_file else None)
    env_values = EnvSettingsSource(Settings)()
    clean = {k: v for k, v in overrides.items() if v is not None}
    merged = _merge(_merge(file_values, env_values), clean)
    try:
        return _Resolved(**merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(f"invalid setting {where}: {err['msg']}", field=where) from None


def setting_origin(
    path: str, config_file: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> str:
    """Where :func:`load_settings` takes setting ``path`` (dotted, e.g. ``store.url``)
    from: ``"override"`` (a flag or keyword argument), the environment variable's name,
    ``"config file PATH"`` or ``"default"``."""
    parts = path.split(".")

    def given(values: dict[str, Any]) -> bool:
        for part in parts:
            if not isinstance(values, dict) or values.get(part) is None:
                return False
            values = values[part]
        return True

    if given(overrides or {}):
        return "override"
    env = "MODELYARD_" + "_".join(parts).upper()
    if os.environ.get(env):
        return env
    file = _config_path(Path(config_file) if config_file else None)
    if file is not None and given(_read_config_file(file)):
        return f"config file {file}"
    return "default"


def iter_settings(
    model: type[BaseModel] = Settings, prefix: str = ""
) -> Iterator[tuple[str, str, Any, str]]:
    """Yield (dotted path, env var, default, description) for every leaf setting."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from iter_settings(ann, f"{path}.")
            continue
        env = "MODELYARD_" + path.replace(".", "_").upper()
        yield path, env, field.default, field.description or ""
