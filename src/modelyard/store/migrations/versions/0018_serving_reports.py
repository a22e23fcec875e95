"""serving: what inference servers report (deployment_stats, deployment_incidents) and a
deployment's rollout (deployments.rollout, deployments.rollout_since)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rollout", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("rollout_since", sa.BigInteger(), nullable=True))
    op.create_table(
        "deployment_stats",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_stats_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "deployment_id",
            "version_id",
            "server",
            "window_start",
            name=op.f("pk_deployment_stats"),
        ),
    )
    with op.batch_alter_table("deployment_stats", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deployment_stats_deployment_id_window_end"),
            ["deployment_id", "window_end"],
        )
    op.create_table(
        "deployment_incidents",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_incidents_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "deployment_id", "version_id", name=op.f("pk_deployment_incidents")
        ),
    )


def downgrade() -> None:
    op.drop_table("deployment_incidents")
    with op.batch_alter_table("deployment_stats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_stats_deployment_id_window_end"))
    op.drop_table("deployment_stats")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("rollout_since")
        batch_op.drop_column("rollout")
