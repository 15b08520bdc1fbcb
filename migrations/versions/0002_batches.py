"""Batches, and the item fields jobs carry when they belong to one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("out_dir", sa.String(), nullable=True),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
        sa.UniqueConstraint("name", name=op.f("uq_batches_name")),
    )
    # Batch mode rebuilds the table on SQLite, which cannot add a foreign key in place.
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("item_name", sa.String(length=100), nullable=True))
        # Existing rows get empty lists; new rows get them from the model.
        batch_op.add_column(sa.Column("tags", sa.JSON(none_as_null=True), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("files", sa.JSON(none_as_null=True), nullable=False, server_default="[]"))
        batch_op.create_foreign_key(batch_op.f("fk_jobs_batch_id_batches"), "batches", ["batch_id"], ["id"])
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.alter_column("tags", server_default=None)
        batch_op.alter_column("files", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_jobs_batch_id_batches"), type_="foreignkey")
        batch_op.drop_column("files")
        batch_op.drop_column("tags")
        batch_op.drop_column("item_name")
    op.drop_table("batches")
