"""What waits to be sent, per submit lane: read at scrape time by the metrics."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from worker import lanes
from worker.db.models import Job
from worker.db.session import Database
from worker.states import JobStatus


def oldest_unsent(database: Database) -> dict[str, datetime]:
    """Submit lane -> when its oldest job Scenario has not accepted yet was enqueued (lanes with none left out)."""
    single = Job.batch_id.is_(None)
    query = select(single, func.min(Job.created_at)).where(Job.status == JobStatus.CREATED).group_by(single)
    with database.session() as session:
        rows = session.execute(query).all()
    return {lanes.SUBMIT if is_single else lanes.BATCH: oldest for is_single, oldest in rows if oldest is not None}
