"""mfa_secrets.secret: room for an encrypted secret (fernet:<token>, about 150 characters)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

The downgrade narrows the column again. Versions before this one read the secret as plain
text, so reset the MFA of every user first (PostgreSQL refuses the longer values).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mfa_secrets", schema=None) as batch_op:
        batch_op.alter_column(
            "secret",
            existing_type=sa.String(length=64),
            type_=sa.String(length=255),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("mfa_secrets", schema=None) as batch_op:
        batch_op.alter_column(
            "secret",
            existing_type=sa.String(length=255),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
