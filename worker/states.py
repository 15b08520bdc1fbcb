"""The one list of job states, shared by the database column and the code."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job stands. Scenario's own statuses keep Scenario's spelling."""

    # Local states: the row exists but Scenario has not accepted the job yet.
    CREATED = "created"
    # Scenario's states, not final.
    PENDING = "pending"
    QUEUED = "queued"
    WARMING_UP = "warming-up"
    IN_PROGRESS = "in-progress"
    FINALIZING = "finalizing"
    # Scenario's final states.
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELED = "canceled"
    # Local final state: given up on (permanent error, retries or deadline run out).
    DEAD = "dead"

    @property
    def is_final(self) -> bool:
        return self in _FINAL

    @classmethod
    def from_scenario(cls, status: str) -> JobStatus | None:
        """Scenario's status as a member, or None for one this code does not know.

        An unknown status is treated as not final by the callers, and kept verbatim
        in the job's `scenario_status`, so a new status on Scenario's side never
        ends a job early.
        """
        member = cls._value2member_map_.get(status)
        if member is None or member in (cls.CREATED, cls.DEAD):
            return None
        return member  # type: ignore[return-value]


_FINAL = frozenset({JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.CANCELED, JobStatus.DEAD})
