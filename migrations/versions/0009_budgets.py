"""Spending within a budget: a batch's budget and what it has committed, a day's, a job's reservation.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch_op:
        batch_op.add_column(sa.Column("budget_cu", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("cu_committed", sa.Double(), nullable=False, server_default="0"))
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("cu_reserved", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("cu_day", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("paused_reason", sa.String(length=300), nullable=True))
    op.create_table(
        "cu_days",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("committed", sa.Double(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_cu_days")),
    )


def downgrade() -> None:
    op.drop_table("cu_days")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("paused_reason")
        batch_op.drop_column("cu_day")
        batch_op.drop_column("cu_reserved")
    with op.batch_alter_table("batches") as batch_op:
        batch_op.drop_column("cu_committed")
        batch_op.drop_column("budget_cu")
