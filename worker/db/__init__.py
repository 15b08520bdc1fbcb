"""Persistence with SQLAlchemy; knows nothing of Celery."""

from worker.db.deadletters import DeadLetterRepository
from worker.db.jobs import JobNotFound, JobRepository
from worker.db.models import DeadLetterReason
from worker.db.session import Database
from worker.db.views import DeadLetterView, JobView

__all__ = [
    "Database",
    "DeadLetterReason",
    "DeadLetterRepository",
    "DeadLetterView",
    "JobNotFound",
    "JobRepository",
    "JobView",
]
