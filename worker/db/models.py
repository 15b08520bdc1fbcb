"""The tables: generation jobs, the batches they belong to, and dead letters."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from worker.states import JobStatus

# Named constraints make Alembic's autogenerate output identical on SQLite and
# PostgreSQL, and let later revisions drop constraints by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class DeadLetterReason(StrEnum):
    """Why a job was given up on."""

    PERMANENT_ERROR = "permanent_error"
    RETRIES_EXHAUSTED = "retries_exhausted"
    JOB_FAILED = "job_failed"
    JOB_CANCELED = "job_canceled"
    DEADLINE = "deadline"
    POISON = "poison"


# Final statuses as the partial index of unfinished jobs spells them; `not_final()` renders the same.
UNFINISHED_PREDICATE = "status NOT IN ('success', 'failure', 'canceled', 'dead')"
# Jobs Scenario accepted and has not ended: the sweep's read, few beside a batch's thousands still to send.
IN_FLIGHT_PREDICATE = f"scenario_job_id IS NOT NULL AND {UNFINISHED_PREDICATE}"
# Batch jobs that succeeded and have no files yet: the downloads still to fetch, few among millions.
AWAITING_DOWNLOAD_PREDICATE = (
    "status = 'success' AND batch_id IS NOT NULL AND (files IS NULL OR CAST(files AS VARCHAR) = '[]')"
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC and read back as UTC on every backend."""

    # SQLite keeps no zone: without this, rows would come back naive there and aware on PostgreSQL.
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value.isoformat()} has no time zone; pass an aware datetime")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _enum_column(enum: type[StrEnum], length: int) -> Enum:
    # A VARCHAR holding the values ("in-progress"), not the member names, and no
    # CHECK constraint, so a new member needs no migration.
    return Enum(
        enum,
        native_enum=False,
        values_callable=lambda members: [m.value for m in members],
        length=length,
        validate_strings=True,
    )


# SQL NULL, not the JSON literal null, when a nullable document is None.
JSONDocument = JSON(none_as_null=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONDocument, list[Any]: JSONDocument}


class Job(Base):
    """One image generation: its inputs, where it stands on Scenario, and its delivery counters."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scenario_job_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    model_id: Mapped[str] = mapped_column(String())
    # The whole generation input as sent to Scenario (camelCase keys).
    params: Mapped[dict[str, Any]]
    status: Mapped[JobStatus] = mapped_column(_enum_column(JobStatus, 16), default=JobStatus.CREATED)
    # Scenario's status verbatim, even one JobStatus does not know.
    scenario_status: Mapped[str | None] = mapped_column(String(64))
    progress: Mapped[float] = mapped_column(default=0.0)
    status_history: Mapped[list[Any]] = mapped_column(default=list)
    asset_ids: Mapped[list[Any]] = mapped_column(default=list)
    attempts: Mapped[int] = mapped_column(default=0)
    # Poison-task detection: how often the same task id was handed to a worker.
    deliveries: Mapped[int] = mapped_column(default=0)
    last_task_id: Mapped[str | None] = mapped_column(String(64))
    # Compare-and-set counter so that two pollers of one job never both apply a snapshot.
    poll_seq: Mapped[int] = mapped_column(default=0)
    polls: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[dict[str, Any] | None]
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id"))
    # The item's stable key (batch + inputs), its name (the file name) and tags.
    item_key: Mapped[str | None] = mapped_column(String(), index=True)
    item_name: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    # The images written for a batch item: [{file, asset_id, bytes, sha256, width, height}].
    files: Mapped[list[Any]] = mapped_column(default=list)
    # Creative units Scenario charged when it accepted the job, and gave back when it failed.
    cu_cost: Mapped[float | None]
    cu_refunded: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Indexed: the sweep and the recovery read jobs by it every few seconds.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    submitted_at: Mapped[datetime | None]
    # Indexed: the recovery looks for recent ends whose callback was never recorded.
    # Indexed: a purge finds the jobs that ended before its cutoff, the recovery recent ends.
    finished_at: Mapped[datetime | None] = mapped_column(index=True)
    deadline_at: Mapped[datetime | None]
    # When a submit request left whose answer has not come back (a crash, a timeout, a 5xx):
    # Scenario may hold the job, so the next attempt looks for it once before paying again.
    unanswered_submit_at: Mapped[datetime | None]
    # Who may send this job now. A sender takes the row by compare-and-set: its token, a fence
    # that grows with every claim, and a time until which the claim holds. Every write of the
    # submit names its fence, so a sender whose claim lapsed and was taken over writes nothing.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claim_fence: Mapped[int] = mapped_column(default=0)
    claim_until: Mapped[datetime | None]
    # A cancel that came while a submit held the row: the sender carries it out on Scenario.
    cancel_requested_at: Mapped[datetime | None]
    # The live chain of submit messages: a message carrying an older number is a stale copy.
    submit_seq: Mapped[int] = mapped_column(default=0)
    # The caller's options (worker.options.JobOptions). The key is unique: a retried enqueue
    # finds the first call's row instead of paying for a second job.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # What the keyed request asked for (sha256 of its model, inputs and options as given): the same
    # key sent with anything else is refused rather than answered with this job.
    request_digest: Mapped[str | None] = mapped_column(String(64))
    # "metadata" is taken on declarative classes; the column keeps the plain name.
    job_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    priority: Mapped[int] = mapped_column(default=5)
    not_before: Mapped[datetime | None]
    callback_url: Mapped[str | None] = mapped_column(String(2000))
    # Creative units this job holds in its budgets (the dry run's estimate, then Scenario's price),
    # and the UTC day they count against; given back if the job ends without reaching Scenario.
    cu_reserved: Mapped[float | None]
    cu_day: Mapped[str | None] = mapped_column(String(10))
    # Why the job waits without a message: a budget it would pass. It goes on when the budget allows.
    paused_reason: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (
        # Lists are newest first, filtered by nothing, a status or a batch: each reads its first
        # page, or the page below a given time, straight off one of these.
        Index("ix_jobs_created_at", "created_at", "id"),
        Index("ix_jobs_status_created_at", "status", "created_at", "id"),
        Index("ix_jobs_batch_id_created_at", "batch_id", "created_at", "id"),
        # An item's versions: a batch's downloads and a purge's files look them up by name.
        Index("ix_jobs_batch_id_item_name", "batch_id", "item_name"),
        # The sweep, the recovery and the counts read only unfinished jobs, a few among millions
        # of final ones; the predicate is `not_final()` written out, so that queries match it.
        Index(
            "ix_jobs_unfinished_updated_at",
            "updated_at",
            postgresql_where=text(UNFINISHED_PREDICATE),
            sqlite_where=text(UNFINISHED_PREDICATE),
        ),
        Index(
            "ix_jobs_in_flight_updated_at",
            "updated_at",
            postgresql_where=text(IN_FLIGHT_PREDICATE),
            sqlite_where=text(IN_FLIGHT_PREDICATE),
        ),
        # The recovery asks each recent batch whether a download is left; a partial index answers at once.
        Index(
            "ix_jobs_awaiting_download",
            "batch_id",
            "finished_at",
            "id",
            postgresql_where=text(AWAITING_DOWNLOAD_PREDICATE),
            sqlite_where=text(AWAITING_DOWNLOAD_PREDICATE),
        ),
    )


class Batch(Base):
    """A library generated from one manifest; its jobs point here."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The manifest's batch name: submitting the same name again resumes this batch.
    name: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String())
    out_dir: Mapped[str | None] = mapped_column(String())
    item_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    canceled_at: Mapped[datetime | None]
    # The most the batch may spend, in creative units (None: no limit of its own), and what its
    # jobs hold of it: Scenario's price for each sent job, the estimate for each being sent.
    budget_cu: Mapped[float | None]
    cu_committed: Mapped[float] = mapped_column(default=0.0)

    __table_args__ = (Index("ix_batches_created_at", "created_at"),)


class BatchStatusTally(Base):
    """A batch's jobs in one status, summed as they change: what its progress shows, read in one row.

    Written only by the database's triggers on `jobs` and `batch_items` (revision 0010), inside
    the statement that changes a job's status, cost, files or an item's current job; never by
    the code. `jobs` to `charged_micro_cu` count the current jobs (one per item, see
    `BatchRepository.current_jobs`), `spent_all_micro_cu` every job. Units are in millionths,
    as integers, so that a share taken out comes back exactly to zero. `first_created` and
    `last_finished` only ever move outwards: when the batch's first job was made, its last one ended.
    """

    __tablename__ = "batch_tallies"

    batch_id: Mapped[str] = mapped_column(String(32), ForeignKey("batches.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    jobs: Mapped[int] = mapped_column(BigInteger, server_default="0")
    downloaded: Mapped[int] = mapped_column(BigInteger, server_default="0")
    priced: Mapped[int] = mapped_column(BigInteger, server_default="0")
    spent_micro_cu: Mapped[int] = mapped_column(BigInteger, server_default="0")
    charged_micro_cu: Mapped[int] = mapped_column(BigInteger, server_default="0")
    spent_all_micro_cu: Mapped[int] = mapped_column(BigInteger, server_default="0")
    first_created: Mapped[datetime | None]
    last_finished: Mapped[datetime | None]


class CuDay(Base):
    """Creative units the fleet has committed on one UTC day, against SCENARIO_DAILY_CU_BUDGET."""

    __tablename__ = "cu_days"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    committed: Mapped[float] = mapped_column(default=0.0)


class BatchItem(Base):
    """One item of a batch, by name: which version of it (key) and which job stand for it now.

    The primary key is the item itself, so two submits of one manifest cannot both
    queue it: each inserts or moves the row from the job it saw, and the database lets
    one of them win. `job_id` is claimed before that job's row is written (a crash in
    between leaves an id the next submit records), hence no foreign key.
    """

    __tablename__ = "batch_items"

    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    # The current version's key (`ManifestItem.key`): a changed input makes a new one.
    item_key: Mapped[str] = mapped_column(String())
    job_id: Mapped[str] = mapped_column(String(32), unique=True)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeadLetter(Base):
    """A job given up on, with everything needed to understand and replay it."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Unique: dead-lettering a job twice returns the first row; a replay makes a new job.
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True, unique=True)
    task_name: Mapped[str] = mapped_column(String())
    payload: Mapped[dict[str, Any]]
    reason: Mapped[DeadLetterReason] = mapped_column(_enum_column(DeadLetterReason, 32))
    http_status: Mapped[int | None]
    error_code: Mapped[str | None] = mapped_column(String())
    error_message: Mapped[str] = mapped_column(Text())
    attempts: Mapped[int] = mapped_column(default=0)
    scenario_job_id: Mapped[str | None] = mapped_column(String(64))
    status_history: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    replayed_at: Mapped[datetime | None]
    replayed_job_id: Mapped[str | None] = mapped_column(String(32))

    # The list is newest first, whole or one group of it (reason, error code, HTTP status).
    __table_args__ = (
        Index("ix_dead_letters_created_at", "created_at", "id"),
        Index("ix_dead_letters_group", "reason", "error_code", "http_status", "created_at", "id"),
        # The groups, each letter and those waiting for a replay counted off this index alone.
        Index("ix_dead_letters_group_replayed", "reason", "error_code", "http_status", "replayed_at"),
    )


class CallbackStatus(StrEnum):
    """Where a job's completion callback stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    # Past its budget of attempts: a dead letter of its own, replayable.
    DEAD = "dead"
    # The receiver answered 410 Gone: it wants no more deliveries to that URL.
    GONE = "gone"


class CallbackDelivery(Base):
    """The one completion callback of a job: what is sent (the body is signed as stored), and how it went.

    `job_id` is unique, so a job's end recorded twice (two racing workers) queues one delivery.
    """

    __tablename__ = "callback_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    # The `webhook-id` header: the same for every attempt, so the receiver can drop a repeat.
    webhook_id: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    body: Mapped[str] = mapped_column(Text())
    status: Mapped[CallbackStatus] = mapped_column(_enum_column(CallbackStatus, 16), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_http_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    delivered_at: Mapped[datetime | None]
    replayed_at: Mapped[datetime | None]
