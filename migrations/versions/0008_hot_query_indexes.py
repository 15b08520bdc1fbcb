"""Indexes for the hot queries: lists newest first, unfinished jobs for the sweep and recovery, a purge's cutoff.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

The single-column indexes on jobs.status and jobs.batch_id are replaced by the
composite ones that start with them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As worker.db.models spells it; a revision keeps its own copy so that it never changes.
UNFINISHED = "status NOT IN ('success', 'failure', 'canceled', 'dead')"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("ix_jobs_status")
        batch_op.drop_index("ix_jobs_batch_id")
        batch_op.create_index("ix_jobs_created_at", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_jobs_status_created_at", ["status", "created_at", "id"], unique=False)
        batch_op.create_index("ix_jobs_batch_id_created_at", ["batch_id", "created_at", "id"], unique=False)
        batch_op.create_index("ix_jobs_batch_id_item_name", ["batch_id", "item_name"], unique=False)
        batch_op.create_index(
            "ix_jobs_unfinished_updated_at",
            ["updated_at"],
            unique=False,
            postgresql_where=sa.text(UNFINISHED),
            sqlite_where=sa.text(UNFINISHED),
        )
        # ix_jobs_finished_at, which a purge's cutoff reads, came with revision 0007.
    with op.batch_alter_table("batches") as batch_op:
        batch_op.create_index("ix_batches_created_at", ["created_at"], unique=False)
    with op.batch_alter_table("dead_letters") as batch_op:
        batch_op.create_index("ix_dead_letters_created_at", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_dead_letters_group", ["reason", "error_code", "http_status", "created_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch_op:
        batch_op.drop_index("ix_dead_letters_group")
        batch_op.drop_index("ix_dead_letters_created_at")
    with op.batch_alter_table("batches") as batch_op:
        batch_op.drop_index("ix_batches_created_at")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("ix_jobs_unfinished_updated_at")
        batch_op.drop_index("ix_jobs_batch_id_item_name")
        batch_op.drop_index("ix_jobs_batch_id_created_at")
        batch_op.drop_index("ix_jobs_status_created_at")
        batch_op.drop_index("ix_jobs_created_at")
        batch_op.create_index("ix_jobs_batch_id", ["batch_id"], unique=False)
        batch_op.create_index("ix_jobs_status", ["status"], unique=False)
