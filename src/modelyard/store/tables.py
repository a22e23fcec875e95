"""Metadata tables (SQLAlchemy Core). Migrations in ``migrations/`` must match these.

Each metric of a run is one row of ``latest_metrics`` (its series: the newest value and
step, used by search and ordering); its points are rows of ``metrics`` that refer to the
series by integer id, which keeps the hot table narrow. Times are integer milliseconds
since the epoch. Metric values that are NaN are stored as NULL (SQLite cannot store NaN)
and read back as NaN; ±inf are stored as they are.

Governance tables (users, credentials, memberships, the audit chain) are at the end;
``docs/governance.md`` explains them.

A column that points at blobs (a blob digest, or JSON holding digests) carries
``info={BLOB_DIGEST: True}``. Garbage collection deletes a blob only when no such column
points at it, and refuses to run unless the services it asks (``gc.BlobReferences``)
answer for every one of them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# SQLite auto-increments only an INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
_BigInt = Integer().with_variant(BigInteger, "postgresql")

BLOB_DIGEST = "blob_digest"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

projects = Table(
    "projects",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=True),
    Column("name", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("heartbeat_at", BigInteger, nullable=False),
    Column("user_name", String(255), nullable=False, default=""),
    Column("host", String(255), nullable=False, default=""),
    Column("entry_point", Text, nullable=False, default=""),
    Column("error", Text, nullable=True),
    Column("wall_time_s", Float, nullable=True),
    Column("cpu_time_s", Float, nullable=True),
    Column("peak_rss_bytes", BigInteger, nullable=True),
    Column("gpu_time_s", Float, nullable=True),
    Column("cost", Float, nullable=True),
    Column("deleted_at", BigInteger, nullable=True),
    Index(None, "project_id", "start_time"),
    Index(None, "status", "heartbeat_at"),
    Index(None, "parent_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("id", _BigInt, primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("value", Float, nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    UniqueConstraint("run_id", "key"),
    # run_id too: a search filtering or sorting by a metric reads only the index
    Index(None, "key", "value", "run_id"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", _BigInt, primary_key=True),
    Column(
        "series_id",
        _BigInt,
        ForeignKey("latest_metrics.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("value", Float, nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index(None, "series_id", "step"),
)


artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False, info={BLOB_DIGEST: True}),
    Column("kind", String(8), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "digest"),
)

write_batches = Table(
    "write_batches",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "created_at"),
)


# -- governance ------------------------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("username", String(128), nullable=False, unique=True),
    Column("email", String(255), nullable=True),
    # argon2id PHC string; NULL for service accounts, which never sign in with a password.
    Column("password_hash", Text, nullable=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("is_service_account", Boolean, nullable=False, default=False),
    Column("disabled_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("password_changed_at", BigInteger, nullable=True),
    Column("last_login_at", BigInteger, nullable=True),
)

# Failed sign-ins per username (known or not, so lock-out reveals nothing about existence).
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("username", String(128), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("locked_until", BigInteger, nullable=True),
    Index(None, "window_start"),
)

access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Column("last_used_at", BigInteger, nullable=True),
    # The token whose request minted this one (None: minted by a password session or the
    # operator); it expires no later than its parent and is revoked with it.
    Column(
        "parent_id", String(32), ForeignKey("access_tokens.id", ondelete="CASCADE"), nullable=True
    ),
    Index(None, "user_id"),
    Index(None, "parent_id"),
)

mfa_secrets = Table(
    "mfa_secrets",
    metadata,
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # ``fernet:<token>``, encrypted with the server key (plain base32 if stored before 0008).
    Column("secret", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("confirmed_at", BigInteger, nullable=True),
    # The newest TOTP time step accepted; a code for this step or an older one is refused.
    Column("last_step", BigInteger, nullable=True),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", _BigInt, primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("used_at", BigInteger, nullable=True),
    Index(None, "user_id"),
)

memberships = Table(
    "memberships",
    metadata,
    Column(
        "project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("granted_at", BigInteger, nullable=False),
    Column("granted_by", String(255), nullable=False),
    Index(None, "user_id"),
)

# Signed-in browser sessions: the cookie carries a secret whose digest is ``secret_hash``;
# ``csrf_hash`` is the digest of the token state-changing requests must echo in a header.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("csrf_hash", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Column("client_addr", String(64), nullable=True),
    Index(None, "user_id"),
    Index(None, "expires_at"),
)

# Instance-wide governance switches (``mfa_required``), one row per key.
governance_settings = Table(
    "governance_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Append-only and hash-chained: ``seq`` is assigned as the tail's seq + 1 (never by the
# database), ``digest`` covers every other column including ``prev_digest``.
audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", _BigInt, primary_key=True, autoincrement=False),
    Column("time", BigInteger, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object_type", String(64), nullable=False),
    Column("object_id", String(255), nullable=False),
    Column("summary", Text, nullable=False),
    Column("client_addr", String(64), nullable=True),
    Column("prev_digest", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Index(None, "time"),
)


# -- datasets and lineage --------------------------------------------------------------
# A dataset is a name in a project; its versions are immutable, numbered 1, 2, 3, and
# identified by a content digest of their values (``datasets/digest.py``). A version's data
# is a tree of Parquet blobs (``tree_digest``); reports (profile, validation) are JSON
# blobs with an optional HTML rendering. ``latest`` is computed, never stored as an alias.

datasets = Table(
    "datasets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("project_id", "name"),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("dataset_id", String(32), ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("tree_digest", String(64), nullable=False, info={BLOB_DIGEST: True}),
    Column("schema_json", Text, nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("num_columns", Integer, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("source", Text, nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("created_by", String(255), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    UniqueConstraint("dataset_id", "version"),
    UniqueConstraint("dataset_id", "digest"),
    Index(None, "digest"),
    Index(None, "run_id"),
)

dataset_aliases = Table(
    "dataset_aliases",
    metadata,
    Column(
        "dataset_id", String(32), ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("alias", String(128), primary_key=True),
    Column(
        "version_id",
        String(32),
        ForeignKey("dataset_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("updated_at", BigInteger, nullable=False),
    Index(None, "version_id"),
)

dataset_reports = Table(
    "dataset_reports",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "version_id",
        String(32),
        ForeignKey("dataset_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("kind", String(32), nullable=False),
    Column("data_digest", String(64), nullable=False, info={BLOB_DIGEST: True}),
    Column("html_digest", String(64), nullable=True, info={BLOB_DIGEST: True}),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "version_id", "kind"),
)

# "Was derived from" edges between any two objects, named by kind and id:
# dataset_version, run (and later artifact, model_version, deployment, prediction).
# Ids are not foreign keys, so one table serves every kind; readers resolve them.
lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("id", _BigInt, primary_key=True),
    Column("source_kind", String(32), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("target_kind", String(32), nullable=False),
    Column("target_id", String(64), nullable=False),
    Column("relation", String(32), nullable=False),
    Column("run_id", String(32), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint(
        "source_kind",
        "source_id",
        "target_kind",
        "target_id",
        "relation",
        name="uq_lineage_edges_edge",
    ),
    Index(None, "target_kind", "target_id"),
)

# One row per step run of a pipeline: the step's cache key, the parts it was computed
# from (JSON, for `explain`), whether it was served from the cache (and by which run),
# and its outputs (JSON: digest, kind, size, materializer; NULL when the step failed).
# The cache is the newest finished row with the same key in the project.
step_runs = Table(
    "step_runs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "pipeline_run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    ),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("pipeline", String(255), nullable=False),
    Column("step", String(255), nullable=False),
    Column("cache_key", String(64), nullable=False),
    Column("key_parts", Text, nullable=False),
    Column("cached", Boolean, nullable=False),
    Column("source_run_id", String(32), nullable=True),
    Column("outputs", Text, nullable=True, info={BLOB_DIGEST: True}),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "project_id", "cache_key"),
    Index(None, "project_id", "pipeline", "step", "created_at"),
    Index(None, "pipeline_run_id"),
)

# Schedules run a pipeline (``pipeline``: MODULE:NAME or /abs/path/file.py:NAME, with
# ``params`` as JSON) on a cron expression in a timezone, or on each new version of a
# dataset of the project. ``cursor_at`` (cron) and ``seen_version`` (dataset) mark what
# is done: occurrences at or before the cursor, versions up to the number. A worker
# claims an occurrence by moving the cursor past it and inserting its fire in the same
# transaction; the unique constraints make a second claim of the same occurrence fail.
schedules = Table(
    "schedules",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("pipeline", Text, nullable=False),
    Column("params", Text, nullable=False),
    Column("cron", String(255), nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("dataset", String(128), nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("cursor_at", BigInteger, nullable=True),
    Column("seen_version", Integer, nullable=True),
    # A run asked for now (``run_now``), until a worker claims it: when, and by whom.
    Column("requested_at", BigInteger, nullable=True),
    Column("requested_by", String(255), nullable=True),
    Column("created_by", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("project_id", "name"),
)

# One row per claimed occurrence of a schedule: its trigger, the worker holding it until
# ``lease_until`` (renewed while the pipeline runs; an expired lease of a ``running`` fire
# lets another worker take it over), and the outcome (pipeline run, status, error).
schedule_fires = Table(
    "schedule_fires",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "schedule_id", String(32), ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False
    ),
    Column("due_at", BigInteger, nullable=True),
    Column("dataset_version_id", String(32), nullable=True),
    Column("trigger", String(512), nullable=False),
    Column("missed", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("worker", String(255), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("lease_until", BigInteger, nullable=False),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("error", Text, nullable=True),
    Column("claimed_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    UniqueConstraint("schedule_id", "due_at"),
    UniqueConstraint("schedule_id", "dataset_version_id"),
    Index(None, "status", "lease_until"),
    Index(None, "schedule_id", "claimed_at"),
)


# -- model registry --------------------------------------------------------------------
# A registered model is a name in a project; its versions are immutable, numbered 1, 2,
# 3 (allocated under a lock on the model's row), and identified by the digest of their
# blob tree (the flavor's files and the input example): the same bytes registered again
# under the same name are the same version. A version keeps what its run knew when it was
# registered (metrics, the dataset versions it read, the git commit) as JSON. Aliases are
# movable names on versions; every move is a row of ``model_alias_moves``, never updated.

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("owners", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("project_id", "name"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "model_id",
        String(32),
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("version", Integer, nullable=False),
    Column("tree_digest", String(64), nullable=False, info={BLOB_DIGEST: True}),
    Column("size_bytes", BigInteger, nullable=False),
    Column("flavor", String(64), nullable=False),
    Column("flavor_config", Text, nullable=False),
    Column("packages", Text, nullable=False),
    Column("signature", Text, nullable=True),
    Column("input_example", String(255), nullable=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("metrics", Text, nullable=False),
    Column("dataset_versions", Text, nullable=False),
    Column("code_commit", String(64), nullable=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_by", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False, server_default="registered"),
    # The last load (updated at most once an hour), and when the version was retired.
    Column("last_loaded_at", BigInteger, nullable=True),
    Column("retired_at", BigInteger, nullable=True),
    UniqueConstraint("model_id", "version"),
    UniqueConstraint("model_id", "tree_digest"),
    Index(None, "run_id"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column(
        "model_id",
        String(32),
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("alias", String(128), primary_key=True),
    Column(
        "version_id",
        String(32),
        ForeignKey("model_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("updated_at", BigInteger, nullable=False),
    Index(None, "version_id"),
)

model_alias_moves = Table(
    "model_alias_moves",
    metadata,
    Column("id", _BigInt, primary_key=True),
    Column(
        "model_id",
        String(32),
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("alias", String(128), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("moved_by", String(255), nullable=False),
    Column("moved_at", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Index(None, "model_id", "alias", "moved_at"),
)

# An evaluation of a model version on some data (optionally against a baseline version on
# the same rows): the report's JSON and its HTML page are blobs; the headline metrics are
# copied into the row so listings need no blob. Appended, never replaced.
model_evaluations = Table(
    "model_evaluations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "version_id",
        String(32),
        ForeignKey("model_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "baseline_version_id",
        String(32),
        ForeignKey("model_versions.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("task", String(16), nullable=False),
    Column("target", String(255), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("data_digest", String(64), nullable=False, info={BLOB_DIGEST: True}),
    Column("html_digest", String(64), nullable=False, info={BLOB_DIGEST: True}),
    Column("created_by", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "version_id", "created_at"),
)

# -- model cards, status changes through policy gates, alerts (migration 0013) ----------
# A version's card holds the fields people fill in (JSON: intended use, limitations, ...);
# the rest of a card is generated from what the registry knows. A policy is YAML text per
# project (``model`` = "") or per model, kept with its parsed form. A status change is a
# request (its rules' results as JSON) with the approvals and rejections decided on it.

model_cards = Table(
    "model_cards",
    metadata,
    Column(
        "version_id",
        String(32),
        ForeignKey("model_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("fields", Text, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

model_policies = Table(
    "model_policies",
    metadata,
    Column(
        "project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("model", String(128), primary_key=True),
    Column("source", Text, nullable=False),
    Column("spec", Text, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# The retirement policy of a project (model "") or of one model (its name).
model_retirement_policies = Table(
    "model_retirement_policies",
    metadata,
    Column(
        "project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("model", String(128), primary_key=True),
    Column("source", Text, nullable=False),
    Column("spec", Text, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

model_transition_requests = Table(
    "model_transition_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "version_id",
        String(32),
        ForeignKey("model_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("from_status", String(16), nullable=False),
    Column("to_status", String(16), nullable=False),
    Column("comment", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("approvals_needed", Integer, nullable=False),
    Column("checks", Text, nullable=False),
    Column("requested_by", String(255), nullable=False),
    Column("requested_at", BigInteger, nullable=False),
    Column("closed_at", BigInteger, nullable=True),
    Index(None, "version_id", "state"),
)

model_transition_decisions = Table(
    "model_transition_decisions",
    metadata,
    Column(
        "request_id",
        String(32),
        ForeignKey("model_transition_requests.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("decided_by", String(255), primary_key=True),
    Column("decision", String(16), nullable=False),
    Column("comment", Text, nullable=False),
    Column("decided_at", BigInteger, nullable=False),
)

# An alert on a subject (a model, a model version, later a deployment), raised by a
# monitor; the monitoring issue raises them and extends this table. The status gate reads
# the open critical ones.
alerts = Table(
    "alerts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("subject_kind", String(32), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("monitor", String(128), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("opened_at", BigInteger, nullable=False),
    Column("resolved_at", BigInteger, nullable=True),
    # what the monitoring issue added (migration 0019)
    Column("monitor_id", String(32), nullable=True),
    Column("title", Text, nullable=False, server_default=""),
    Column("details", Text, nullable=False, server_default="{}"),
    Column("acknowledged_at", BigInteger, nullable=True),
    Column("acknowledged_by", String(255), nullable=True),
    Column("resolved_by", String(255), nullable=True),
    Column("last_seen_at", BigInteger, nullable=True),
    Column("occurrences", BigInteger, nullable=False, server_default="1"),
    Index(None, "subject_kind", "subject_id", "status"),
    Index(None, "project_id", "status", "opened_at"),
)

# -- events and webhooks ---------------------------------------------------------------
# ``events`` is the outbox: a row per registry or dataset change, written in the
# transaction of the change (``modelyard.events.emit``), with one ``webhook_deliveries``
# row per webhook of the project subscribed to its kind. A delivery is ``pending`` until it
# is ``delivered`` or, after its last attempt failed, ``dead``; a worker holds it while it
# sends (``worker``, ``lease_until``: a worker that died leaves it to the next one after
# the lease). A webhook's secret is sealed with the server key (it is needed to sign).

events = Table(
    "events",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "project_id", "created_at"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=False),
    Column("format", String(16), nullable=False),
    Column("secret", Text, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "project_id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("webhook_id", String(32), ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", String(32), ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("lease_until", BigInteger, nullable=True),
    Column("worker", String(255), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("delivered_at", BigInteger, nullable=True),
    Index(None, "status", "next_attempt_at"),
    Index(None, "webhook_id", "created_at"),
    Index(None, "event_id"),
)

# -- serving -----------------------------------------------------------------------------
# A deployment is a name in a project with its current traffic plan (JSON: routes and
# shadows as model plus reference, weights, the sticky key) and that plan's revision;
# ``deployment_plans`` keeps every revision (never changed) with who made it, how and why.
# Routes name versions by number or alias and are resolved when read.

deployments = Table(
    "deployments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", Text, nullable=False),
    Column("plan", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("sample_rate", Float, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # the rollout (JSON: guards and steps) and when it began (migration 0018)
    Column("rollout", Text, nullable=True),
    Column("rollout_since", BigInteger, nullable=True),
    UniqueConstraint("project_id", "name"),
)

deployment_plans = Table(
    "deployment_plans",
    metadata,
    Column(
        "deployment_id",
        String(32),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("revision", Integer, primary_key=True),
    Column("plan", Text, nullable=False),
    Column("action", String(16), nullable=False),
    Column("changed_by", String(255), nullable=False),
    Column("changed_at", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
)

# -- what inference servers report (migration 0018) -------------------------------------
# Each server reports, every serving.report_s, per deployment and version: requests, errors
# and a latency histogram (JSON counts over fixed buckets) for a window; a retried report
# replaces itself. ``deployment_incidents`` holds the versions servers found unhealthy: one
# row per version while reports keep naming it, so one incident is one event.

deployment_stats = Table(
    "deployment_stats",
    metadata,
    Column(
        "deployment_id",
        String(32),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version_id", String(32), primary_key=True),
    Column("server", String(255), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("window_end", BigInteger, nullable=False),
    Column("requests", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("latency_ms", Text, nullable=False),
    Index(None, "deployment_id", "window_end"),
)

deployment_incidents = Table(
    "deployment_incidents",
    metadata,
    Column(
        "deployment_id",
        String(32),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version_id", String(32), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("opened_at", BigInteger, nullable=False),
    Column("last_seen_at", BigInteger, nullable=False),
)

# -- the prediction log and its labels (migration 0017) ---------------------------------
# The inference server writes answered predictions as Parquet segments (blobs); each
# segment is one row here, with the time span and the model versions of its rows, so a
# read opens only the segments its window overlaps. Labels (ground truth) come later, by
# prediction id; a later label of the same prediction replaces the earlier. Both name the
# deployment by project and name (and a segment its id too), without a foreign key: a
# deployment's log outlives the deployment.

prediction_segments = Table(
    "prediction_segments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("deployment", String(128), nullable=False),
    Column("deployment_id", String(64), nullable=False),
    Column("digest", String(64), nullable=False, info={BLOB_DIGEST: True}),
    Column("rows", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("min_time", BigInteger, nullable=False),
    Column("max_time", BigInteger, nullable=False),
    Column("version_ids", Text, nullable=False),
    Column("writer", String(255), nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "project_id", "deployment", "min_time"),
)

prediction_labels = Table(
    "prediction_labels",
    metadata,
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("deployment", String(128), nullable=False),
    Column("prediction_id", String(128), nullable=False),
    Column("label", Text, nullable=False),
    Column("labelled_by", String(255), nullable=False),
    Column("labelled_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("project_id", "deployment", "prediction_id"),
    Index(None, "project_id", "deployment", "labelled_at"),
)

# -- monitoring (migration 0019) ---------------------------------------------------------
# A monitor is a check on a deployment (drift, prediction drift, performance, volume,
# latency, errors, data quality, data loads) with its configuration as JSON. A monitoring
# pass reads each prediction-log segment once (``monitor_reads``: the segments a
# deployment's pass has read) and merges its rows into one summary per deployment, model
# version and hour (``monitor_windows``: the inputs' and outputs' sketches in ``summary``,
# the performance accumulators in ``performance``, rebuilt when labels arrive, and the
# digest of the window's outputs kept for joining later labels); longer and sliding windows
# merge hours. ``monitor_values`` is what each monitor found per window (the dashboards'
# series). ``alerts`` (migration 0013) gains what the monitoring issue needs: a title, the
# details, who acknowledged and resolved it, how often it was seen; ``alert_notes`` is each
# alert's history (opened, seen again, acknowledged, commented, resolved). ``server_usage``
# is each inference server's CPU-seconds and memory-time per report window (per project:
# a server reports for one, and no project's reports touch another's), priced per
# deployment by its share of requests; ``budgets`` caps a project's spending per month.
# ``loop_policies`` and ``loop_runs`` are the closed loop: a policy per deployment, and
# each loop as one record with its steps, held by one worker at a time (a lease).

monitors = Table(
    "monitors",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column(
        "deployment_id",
        String(32),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("config", Text, nullable=False),
    Column("window", String(16), nullable=False),
    Column("slide", String(16), nullable=True),
    Column("severity", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("last_pass_at", BigInteger, nullable=True),
    UniqueConstraint("deployment_id", "name"),
)

monitor_reads = Table(
    "monitor_reads",
    metadata,
    Column(
        "deployment_id",
        String(32),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("segment_id", String(32), primary_key=True),
    Column("read_at", BigInteger, nullable=False),
)

# A deployment's label cursor (when the last label a pass took in was given); a segment's
# merge locks this row, so two passes never merge into the same hour at once.
monitor_cursors = Table(
    "monitor_cursors",
    metadata,
    Column(
        "deployment_id",
        String(32),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("labelled_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column(
        "deployment_id",
        String(32),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version_id", String(32), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("window_end", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("labelled", BigInteger, nullable=False),
    Column("summary", LargeBinary, nullable=False),
    Column("performance", LargeBinary, nullable=True),
    Column("outputs_digest", String(64), nullable=True, info={BLOB_DIGEST: True}),
    Column("updated_at", BigInteger, nullable=False),
    Index(None, "deployment_id", "window_start"),
)

monitor_values = Table(
    "monitor_values",
    metadata,
    Column(
        "monitor_id",
        String(32),
        ForeignKey("monitors.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version_id", String(32), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("window_end", BigInteger, primary_key=True),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("status", String(16), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("details", Text, nullable=False),
    Column("computed_at", BigInteger, nullable=False),
)

alert_notes = Table(
    "alert_notes",
    metadata,
    Column("id", _BigInt, primary_key=True, autoincrement=True),
    Column("alert_id", String(32), ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("action", String(32), nullable=False),
    Column("by", String(255), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("comment", Text, nullable=False),
    Index(None, "alert_id", "id"),
)

server_usage = Table(
    "server_usage",
    metadata,
    Column(
        "project_id",
        String(32),
        ForeignKey("projects.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("server", String(255), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("window_end", BigInteger, nullable=False),
    Column("cpu_s", Float, nullable=False),
    Column("memory_byte_s", Float, nullable=False),
    Index(None, "project_id", "server", "window_end"),  # priced with the stats ending then
    Index(None, "window_end"),
)

budgets = Table(
    "budgets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("amount", Float, nullable=False),
    Column("thresholds", Text, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("project_id", "scope"),
)

loop_policies = Table(
    "loop_policies",
    metadata,
    Column(
        "deployment_id",
        String(32),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("config", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

loop_runs = Table(
    "loop_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(32), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column(
        "deployment_id",
        String(32),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("trigger", Text, nullable=False),
    Column("state", String(32), nullable=False),
    Column("steps", Text, nullable=False),
    Column("champion_version_id", String(32), nullable=True),
    Column("candidate_version_id", String(32), nullable=True),
    Column("decision", Text, nullable=True),
    Column("lease_owner", String(255), nullable=True),
    Column("lease_until", BigInteger, nullable=True),
    Column("created_by", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger, nullable=True),
    Index(None, "deployment_id", "created_at"),
    Index(None, "state", "lease_until"),
)
