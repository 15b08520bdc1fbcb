"""Batch items by name, each pointing at the job that stands for it; the unanswered-submit marker.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

Existing batches get one item row per (batch, item name), pointing at that item's
newest job, so status and export list each item once from the first upgrade on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batch_items",
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("item_key", sa.String(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_batch_items_batch_id_batches")),
        sa.PrimaryKeyConstraint("batch_id", "name", name=op.f("pk_batch_items")),
        sa.UniqueConstraint("job_id", name=op.f("uq_batch_items_job_id")),
    )
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("unanswered_submit_at", sa.DateTime(timezone=True), nullable=True))
    _backfill_items()


def _backfill_items() -> None:
    jobs = sa.table(
        "jobs",
        sa.column("id", sa.String()),
        sa.column("batch_id", sa.String()),
        sa.column("item_name", sa.String()),
        sa.column("item_key", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    items = sa.table(
        "batch_items",
        sa.column("batch_id", sa.String()),
        sa.column("name", sa.String()),
        sa.column("item_key", sa.String()),
        sa.column("job_id", sa.String()),
        sa.column("claimed_at", sa.DateTime(timezone=True)),
    )
    rows = op.get_bind().execute(
        sa.select(jobs.c.id, jobs.c.batch_id, jobs.c.item_name, jobs.c.item_key, jobs.c.created_at)
        .where(jobs.c.batch_id.is_not(None), jobs.c.item_name.is_not(None), jobs.c.item_key.is_not(None))
        .order_by(jobs.c.created_at, jobs.c.id)
    )
    newest: dict[tuple[str, str], dict] = {}
    for job_id, batch_id, name, key, created_at in rows:
        newest[(batch_id, name)] = {
            "batch_id": batch_id,
            "name": name,
            "item_key": key,
            "job_id": job_id,
            "claimed_at": created_at,
        }
    if newest:
        op.bulk_insert(items, list(newest.values()))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("unanswered_submit_at")
    op.drop_table("batch_items")
