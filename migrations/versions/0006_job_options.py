"""A job's options apart from its model inputs: idempotency key, metadata, priority, schedule, callback.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("request_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("metadata", sa.JSON(none_as_null=True), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="5"))
        batch_op.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("callback_url", sa.String(length=2000), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_jobs_idempotency_key"), ["idempotency_key"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_jobs_idempotency_key"), type_="unique")
        batch_op.drop_column("callback_url")
        batch_op.drop_column("not_before")
        batch_op.drop_column("priority")
        batch_op.drop_column("metadata")
        batch_op.drop_column("request_digest")
        batch_op.drop_column("idempotency_key")
