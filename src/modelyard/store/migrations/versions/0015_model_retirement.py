"""model registry: retirement (model_versions.last_loaded_at and retired_at,
model_retirement_policies)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_loaded_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("retired_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "model_retirement_policies",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_model_retirement_policies_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "model", name=op.f("pk_model_retirement_policies")),
    )


def downgrade() -> None:
    op.drop_table("model_retirement_policies")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
        batch_op.drop_column("last_loaded_at")
