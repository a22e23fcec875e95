"""monitoring: monitors, their per-hour window summaries and values, alert notes and the
alerts' new columns, server usage, budgets, loop policies and loop runs; labels indexed by
when they were given

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_usage",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("cpu_s", sa.Float(), nullable=False),
        sa.Column("memory_byte_s", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_server_usage_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "server", "window_start", name=op.f("pk_server_usage")
        ),
    )
    with op.batch_alter_table("server_usage", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_server_usage_project_id_server_window_end"),
            ["project_id", "server", "window_end"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_server_usage_window_end"), ["window_end"], unique=False
        )

    op.create_table(
        "budgets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("thresholds", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_budgets_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
        sa.UniqueConstraint("project_id", "scope", name=op.f("uq_budgets_project_id_scope")),
    )
    op.create_table(
        "alert_notes",
        sa.Column(
            "id",
            sa.Integer().with_variant(sa.BigInteger(), "postgresql"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("alert_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("by", sa.String(length=255), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_notes_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notes")),
    )
    with op.batch_alter_table("alert_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_notes_alert_id_id"), ["alert_id", "id"], unique=False
        )

    op.create_table(
        "loop_policies",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_loop_policies_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_loop_policies_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deployment_id", name=op.f("pk_loop_policies")),
    )
    op.create_table(
        "loop_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("champion_version_id", sa.String(length=32), nullable=True),
        sa.Column("candidate_version_id", sa.String(length=32), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_until", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_loop_runs_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_loop_runs_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loop_runs")),
    )
    with op.batch_alter_table("loop_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loop_runs_deployment_id_created_at"),
            ["deployment_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_loop_runs_state_lease_until"), ["state", "lease_until"], unique=False
        )

    op.create_table(
        "monitor_reads",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("segment_id", sa.String(length=32), nullable=False),
        sa.Column("read_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_monitor_reads_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deployment_id", "segment_id", name=op.f("pk_monitor_reads")),
    )
    op.create_table(
        "monitor_cursors",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("labelled_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_monitor_cursors_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deployment_id", name=op.f("pk_monitor_cursors")),
    )
    op.create_table(
        "monitor_windows",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("labelled", sa.BigInteger(), nullable=False),
        sa.Column("summary", sa.LargeBinary(), nullable=False),
        sa.Column("performance", sa.LargeBinary(), nullable=True),
        sa.Column("outputs_digest", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_monitor_windows_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "deployment_id", "version_id", "window_start", name=op.f("pk_monitor_windows")
        ),
    )
    with op.batch_alter_table("monitor_windows", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_monitor_windows_deployment_id_window_start"),
            ["deployment_id", "window_start"],
            unique=False,
        )

    op.create_table(
        "monitors",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("window", sa.String(length=16), nullable=False),
        sa.Column("slide", sa.String(length=16), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("last_pass_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_monitors_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_monitors_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitors")),
        sa.UniqueConstraint("deployment_id", "name", name=op.f("uq_monitors_deployment_id_name")),
    )
    op.create_table(
        "monitor_values",
        sa.Column("monitor_id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_monitor_values_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "monitor_id", "version_id", "window_start", "window_end", name=op.f("pk_monitor_values")
        ),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("monitor_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("title", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("details", sa.Text(), server_default="{}", nullable=False))
        batch_op.add_column(sa.Column("acknowledged_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_by", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("resolved_by", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("last_seen_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("occurrences", sa.BigInteger(), server_default="1", nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_alerts_project_id_status_opened_at"),
            ["project_id", "status", "opened_at"],
            unique=False,
        )

    with op.batch_alter_table("prediction_labels", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prediction_labels_project_id_deployment_labelled_at"),
            ["project_id", "deployment", "labelled_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("prediction_labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prediction_labels_project_id_deployment_labelled_at"))

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_project_id_status_opened_at"))
        batch_op.drop_column("occurrences")
        batch_op.drop_column("last_seen_at")
        batch_op.drop_column("resolved_by")
        batch_op.drop_column("acknowledged_by")
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("details")
        batch_op.drop_column("title")
        batch_op.drop_column("monitor_id")

    op.drop_table("monitor_values")
    op.drop_table("monitors")
    with op.batch_alter_table("monitor_windows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitor_windows_deployment_id_window_start"))

    op.drop_table("monitor_windows")
    op.drop_table("monitor_reads")
    op.drop_table("monitor_cursors")
    with op.batch_alter_table("loop_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loop_runs_state_lease_until"))
        batch_op.drop_index(batch_op.f("ix_loop_runs_deployment_id_created_at"))

    op.drop_table("loop_runs")
    op.drop_table("loop_policies")
    with op.batch_alter_table("alert_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_notes_alert_id_id"))

    op.drop_table("alert_notes")
    op.drop_table("budgets")
    with op.batch_alter_table("server_usage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_server_usage_window_end"))
        batch_op.drop_index(batch_op.f("ix_server_usage_project_id_server_window_end"))

    op.drop_table("server_usage")
