"""write batches: client batch ids, so a retried batch is stored once

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "write_batches",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_batches")),
    )
    with op.batch_alter_table("write_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_write_batches_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("write_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_write_batches_created_at"))
    op.drop_table("write_batches")
