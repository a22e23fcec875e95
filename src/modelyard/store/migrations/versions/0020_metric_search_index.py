"""tracking: the latest metrics' (key, value) index also holds run_id, so a search that
filters or sorts runs by a metric reads the matching runs from the index alone

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("latest_metrics", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_latest_metrics_key_value_run_id"),
            ["key", "value", "run_id"],
            unique=False,
        )
        batch_op.drop_index(batch_op.f("ix_latest_metrics_key_value"))


def downgrade() -> None:
    with op.batch_alter_table("latest_metrics", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_latest_metrics_key_value"), ["key", "value"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_latest_metrics_key_value_run_id"))
