"""An index of the jobs in flight: accepted by Scenario and not final.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

The sweep reads the jobs in flight, least recently updated first, several times a second
while a batch runs. Through the index of unfinished jobs that read stepped over every job still
waiting to be sent, which are the oldest: 12,000 rows to find 100 in a 20,000-item batch. This
index holds only the jobs in flight, so the read costs what it returns.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As worker.db.models spells it; a revision keeps its own copy so that it never changes.
IN_FLIGHT = "scenario_job_id IS NOT NULL AND status NOT IN ('success', 'failure', 'canceled', 'dead')"


def upgrade() -> None:
    # Not in batch mode: on SQLite a rebuilt `jobs` would lose the tally triggers of revision 0010.
    op.create_index(
        "ix_jobs_in_flight_updated_at",
        "jobs",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text(IN_FLIGHT),
        sqlite_where=sa.text(IN_FLIGHT),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_in_flight_updated_at", table_name="jobs")
