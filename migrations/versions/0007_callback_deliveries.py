"""Completion callbacks: one delivery per job, its attempts, and the dead ones kept for a replay;
jobs indexed by when they ended, for the recovery of callbacks never recorded.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "callback_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "status", sa.Enum("pending", "delivered", "dead", "gone", native_enum=False, length=16), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_http_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_callback_deliveries_job_id_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_deliveries")),
        sa.UniqueConstraint("job_id", name=op.f("uq_callback_deliveries_job_id")),
        sa.UniqueConstraint("webhook_id", name=op.f("uq_callback_deliveries_webhook_id")),
    )
    op.create_index(op.f("ix_callback_deliveries_status"), "callback_deliveries", ["status"], unique=False)
    op.create_index(op.f("ix_jobs_finished_at"), "jobs", ["finished_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_jobs_finished_at"), table_name="jobs")
    op.drop_index(op.f("ix_callback_deliveries_status"), table_name="callback_deliveries")
    op.drop_table("callback_deliveries")
