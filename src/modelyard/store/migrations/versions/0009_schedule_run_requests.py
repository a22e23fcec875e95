"""schedules.requested_at, requested_by: a run asked for now (modelyard schedules run)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requested_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("requested_by", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_column("requested_by")
        batch_op.drop_column("requested_at")
