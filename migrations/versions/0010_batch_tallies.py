"""A batch's counts kept as its jobs change; indexes for downloads still to fetch and dead-letter groups.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

`batch_tallies` holds, per batch and status, what `batch status` and the console show: jobs,
downloaded, priced, units spent and charged, first creation and last end. Triggers on `jobs`
and `batch_items` keep it in step inside the very statement that changes a job's status, cost,
files or an item's current job, so no write path can forget it and nothing drifts. The
existing rows are counted once here.

On PostgreSQL the job trigger takes a KEY SHARE lock on the job's item row before it decides
whether the job is the item's current one: a concurrent move of the item to another job then
waits (or is waited for), and the two never count the same job twice. Every lock is taken in
the order job row, item row, tally rows (the two tally rows of a status change in key order),
so writers of one batch queue on its tally rows instead of deadlocking.

A later revision that makes SQLite copy `jobs` or `batch_items` (batch mode rebuilding the
table) drops their triggers with the old table and must create them again;
tests/db/test_batch_tallies.py, run at head, fails if it does not.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As worker.db.models spells it; a revision keeps its own copy so that it never changes.
AWAITING_DOWNLOAD = "status = 'success' AND batch_id IS NOT NULL AND (files IS NULL OR CAST(files AS VARCHAR) = '[]')"

COUNTERS = ("jobs", "downloaded", "priced", "spent_micro_cu", "charged_micro_cu", "spent_all_micro_cu")
# Columns whose change moves a job's share of its batch's tally.
# A job of no batch, before and after, is in no tally: most single jobs never reach a trigger's body.
BATCH_JOB = "(OLD.batch_id IS NOT NULL OR NEW.batch_id IS NOT NULL)"
TALLIED = ("batch_id", "item_name", "status", "files", "cu_cost", "cu_refunded", "created_at", "finished_at")


def _spent(r: str) -> str:
    # Units in millionths, as integers: sums taken back out on a change come back exactly to zero.
    net = f"COALESCE({r}.cu_cost, 0.0) - COALESCE({r}.cu_refunded, 0.0)"
    return f"CAST(ROUND(CASE WHEN {net} > 0 THEN {net} ELSE 0.0 END * 1000000) AS BIGINT)"


def _charged(r: str) -> str:
    return f"CAST(ROUND(COALESCE({r}.cu_cost, 0.0) * 1000000) AS BIGINT)"


def _has_files(r: str) -> str:
    return f"CASE WHEN {r}.files IS NOT NULL AND CAST({r}.files AS VARCHAR) <> '[]' THEN 1 ELSE 0 END"


def _priced(r: str) -> str:
    return f"CASE WHEN {r}.cu_cost IS NOT NULL THEN 1 ELSE 0 END"


def _current(r: str, s: str) -> str:
    """1 when no item row names another job for this job's item (a newer version, a resubmit), else 0."""
    return (
        f"CASE WHEN EXISTS (SELECT 1 FROM {s}batch_items i WHERE i.batch_id = {r}.batch_id"
        f" AND i.name = {r}.item_name AND i.job_id <> {r}.id) THEN 0 ELSE 1 END"
    )


def _ensure_row(r: str, s: str) -> str:
    return (
        f"INSERT INTO {s}batch_tallies (batch_id, status) SELECT {r}.batch_id, {r}.status"
        f" WHERE {r}.batch_id IS NOT NULL ON CONFLICT DO NOTHING"
    )


def _add_job(r: str, sign: int, current: str, s: str) -> str:
    """UPDATE adding (sign 1) or taking out (-1) one job row's share of its batch's tally."""
    extremes = ""
    if sign > 0:
        extremes = (
            f", first_created = CASE WHEN first_created IS NULL OR {r}.created_at < first_created"
            f" THEN {r}.created_at ELSE first_created END"
            f", last_finished = CASE WHEN {r}.finished_at IS NOT NULL AND"
            f" (last_finished IS NULL OR {r}.finished_at > last_finished) THEN {r}.finished_at ELSE last_finished END"
        )
    c = f"({sign}) * ({current})"
    return (
        f"UPDATE {s}batch_tallies SET jobs = jobs + {c}, downloaded = downloaded + {c} * {_has_files(r)},"
        f" priced = priced + {c} * {_priced(r)}, spent_micro_cu = spent_micro_cu + {c} * {_spent(r)},"
        f" charged_micro_cu = charged_micro_cu + {c} * {_charged(r)},"
        f" spent_all_micro_cu = spent_all_micro_cu + ({sign}) * {_spent(r)}{extremes}"
        f" WHERE batch_id = {r}.batch_id AND status = {r}.status"
    )


def _move_current(sign: int, batch: str, name: str, which: str, s: str) -> str:
    """UPDATE counting (sign 1) or no longer counting (-1) as current the jobs of one item that `which` picks."""
    chosen = f"j.batch_id = {batch} AND j.item_name = {name} AND {which}"

    def total(expression: str) -> str:
        return (
            f"({sign}) * (SELECT COALESCE(SUM({expression}), 0) FROM {s}jobs j"
            f" WHERE {chosen} AND j.status = {s}batch_tallies.status)"
        )

    return (
        f"UPDATE {s}batch_tallies SET jobs = jobs + {total('1')}, downloaded = downloaded + {total(_has_files('j'))},"
        f" priced = priced + {total(_priced('j'))}, spent_micro_cu = spent_micro_cu + {total(_spent('j'))},"
        f" charged_micro_cu = charged_micro_cu + {total(_charged('j'))}"
        f" WHERE batch_id = {batch} AND status IN (SELECT j.status FROM {s}jobs j WHERE {chosen})"
    )


def _changed(columns: Sequence[str]) -> str:
    # PostgreSQL's json has no equality: the documents are compared as text.
    def side(row: str, column: str) -> str:
        return f"{row}.{column}::text" if column == "files" else f"{row}.{column}"

    return " OR ".join(f"{side('OLD', c)} IS DISTINCT FROM {side('NEW', c)}" for c in columns)


def _backfill(s: str) -> str:
    current = _current("j", s)
    return (
        f"INSERT INTO {s}batch_tallies (batch_id, status, {', '.join(COUNTERS)}, first_created, last_finished)"
        f" SELECT j.batch_id, j.status, SUM({current}), SUM(({current}) * {_has_files('j')}),"
        f" SUM(({current}) * {_priced('j')}), SUM(({current}) * {_spent('j')}), SUM(({current}) * {_charged('j')}),"
        f" SUM({_spent('j')}), MIN(j.created_at), MAX(j.finished_at)"
        f" FROM {s}jobs j WHERE j.batch_id IS NOT NULL GROUP BY j.batch_id, j.status"
    )


def _sqlite_triggers() -> list[str]:
    when_batch = "WHEN NEW.batch_id IS NOT NULL"
    changed = f"{BATCH_JOB} AND ({' OR '.join(f'OLD.{c} IS NOT NEW.{c}' for c in TALLIED)})"
    other = "j.id <> {job}"
    return [
        f"CREATE TRIGGER tally_job_insert AFTER INSERT ON jobs {when_batch} BEGIN"
        f" {_ensure_row('NEW', '')}; {_add_job('NEW', 1, _current('NEW', ''), '')}; END",
        f"CREATE TRIGGER tally_job_update AFTER UPDATE ON jobs WHEN {changed} BEGIN"
        f" {_add_job('OLD', -1, _current('OLD', ''), '')};"
        f" {_ensure_row('NEW', '')}; {_add_job('NEW', 1, _current('NEW', ''), '')}; END",
        f"CREATE TRIGGER tally_job_delete AFTER DELETE ON jobs WHEN OLD.batch_id IS NOT NULL BEGIN"
        f" {_add_job('OLD', -1, _current('OLD', ''), '')}; END",
        "CREATE TRIGGER tally_item_insert AFTER INSERT ON batch_items BEGIN"
        f" {_move_current(-1, 'NEW.batch_id', 'NEW.name', other.format(job='NEW.job_id'), '')}; END",
        "CREATE TRIGGER tally_item_update AFTER UPDATE OF job_id ON batch_items"
        " WHEN OLD.job_id IS NOT NEW.job_id BEGIN"
        f" {_move_current(-1, 'OLD.batch_id', 'OLD.name', 'j.id = OLD.job_id', '')};"
        f" {_move_current(1, 'NEW.batch_id', 'NEW.name', 'j.id = NEW.job_id', '')}; END",
        "CREATE TRIGGER tally_item_delete AFTER DELETE ON batch_items BEGIN"
        f" {_move_current(1, 'OLD.batch_id', 'OLD.name', other.format(job='OLD.job_id'), '')}; END",
    ]


def _grouped_jobs(rows: str, sign: int, s: str) -> str:
    """Upsert of the tally rows by the jobs of a statement's transition table, one row per batch and status,
    written in key order. Their item rows are locked first (KEY SHARE), as a single job's are."""
    current = _current("j", s)
    extremes = "MIN(j.created_at), MAX(j.finished_at)" if sign > 0 else "NULL::timestamptz, NULL::timestamptz"
    counted = ", ".join(
        f"{sign} * SUM({e})"
        for e in (
            current,
            f"({current}) * {_has_files('j')}",
            f"({current}) * {_priced('j')}",
            f"({current}) * {_spent('j')}",
            f"({current}) * {_charged('j')}",
            _spent("j"),
        )
    )
    added = ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in COUNTERS)
    return f"""
    PERFORM 1 FROM {s}batch_items i JOIN {rows} r ON i.batch_id = r.batch_id AND i.name = r.item_name
        ORDER BY i.batch_id, i.name FOR KEY SHARE OF i;
    INSERT INTO {s}batch_tallies AS t (batch_id, status, {", ".join(COUNTERS)}, first_created, last_finished)
    SELECT j.batch_id, j.status, {counted}, {extremes}
    FROM {rows} j WHERE j.batch_id IS NOT NULL GROUP BY j.batch_id, j.status ORDER BY j.batch_id, j.status
    ON CONFLICT (batch_id, status) DO UPDATE SET {added},
        first_created = LEAST(t.first_created, EXCLUDED.first_created),
        last_finished = GREATEST(t.last_finished, EXCLUDED.last_finished)"""


def _postgresql_functions(s: str) -> list[str]:
    # A statement that writes many jobs at once (a batch's chunk, a purge's) tallies them once, grouped:
    # one write per tally row, not one per job.
    inserted = f"""
CREATE FUNCTION {s}tally_jobs_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{_grouped_jobs("new_jobs", 1, s)};
    RETURN NULL;
END $$"""
    deleted = f"""
CREATE FUNCTION {s}tally_jobs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{_grouped_jobs("old_jobs", -1, s)};
    RETURN NULL;
END $$"""
    # One job changed: its item row is locked (KEY SHARE) before the job is judged current, and the
    # two tally rows of a status change are written in key order.
    job = f"""
CREATE FUNCTION {s}tally_job() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pointer varchar;
    old_current integer := 0;
    new_current integer := 0;
    new_first boolean := false;
BEGIN
    IF OLD.batch_id IS NOT NULL THEN
        SELECT i.job_id INTO pointer FROM {s}batch_items i
            WHERE i.batch_id = OLD.batch_id AND i.name = OLD.item_name FOR KEY SHARE;
        old_current := CASE WHEN pointer IS NULL OR pointer = OLD.id THEN 1 ELSE 0 END;
    END IF;
    IF NEW.batch_id IS NOT NULL THEN
        pointer := NULL;
        SELECT i.job_id INTO pointer FROM {s}batch_items i
            WHERE i.batch_id = NEW.batch_id AND i.name = NEW.item_name FOR KEY SHARE;
        new_current := CASE WHEN pointer IS NULL OR pointer = NEW.id THEN 1 ELSE 0 END;
        {_ensure_row("NEW", s)};
        new_first := OLD.batch_id IS NULL OR (NEW.batch_id, NEW.status::text) < (OLD.batch_id, OLD.status::text);
    END IF;
    IF new_first THEN
        {_add_job("NEW", 1, "new_current", s)};
    END IF;
    IF OLD.batch_id IS NOT NULL THEN
        {_add_job("OLD", -1, "old_current", s)};
    END IF;
    IF NEW.batch_id IS NOT NULL AND NOT new_first THEN
        {_add_job("NEW", 1, "new_current", s)};
    END IF;
    RETURN NULL;
END $$"""
    items_inserted = f"""
CREATE FUNCTION {s}tally_items_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{_items_moved("new_items", -1, s)};
    RETURN NULL;
END $$"""
    items_deleted = f"""
CREATE FUNCTION {s}tally_items_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{_items_moved("old_items", 1, s)};
    RETURN NULL;
END $$"""
    item = f"""
CREATE FUNCTION {s}tally_item() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_move_current(-1, "OLD.batch_id", "OLD.name", "j.id = OLD.job_id", s)};
    {_move_current(1, "NEW.batch_id", "NEW.name", "j.id = NEW.job_id", s)};
    RETURN NULL;
END $$"""
    return [inserted, deleted, job, items_inserted, items_deleted, item]


def _items_moved(rows: str, sign: int, s: str) -> str:
    """Item rows made (sign -1) or removed (1) by one statement: the other jobs of each item stop, or start
    again, counting as current. Usually there are none: an item's row comes before its first job."""
    chosen = f"FROM {rows} n JOIN {s}jobs j ON j.batch_id = n.batch_id AND j.item_name = n.name AND j.id <> n.job_id"
    sums = ", ".join(
        f"{sign} * SUM({e}) AS {c}"
        for c, e in zip(
            COUNTERS[:5],
            ("1", _has_files("j"), _priced("j"), _spent("j"), _charged("j")),
            strict=True,
        )
    )
    added = ", ".join(f"{c} = t.{c} + d.{c}" for c in COUNTERS[:5])
    return f"""
    UPDATE {s}batch_tallies t SET {added}
    FROM (SELECT j.batch_id, j.status, {sums} {chosen} GROUP BY j.batch_id, j.status) d
    WHERE t.batch_id = d.batch_id AND t.status = d.status"""


def _postgresql_triggers(s: str) -> list[str]:
    return [
        f"CREATE TRIGGER tally_job_insert AFTER INSERT ON {s}jobs REFERENCING NEW TABLE AS new_jobs"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {s}tally_jobs_inserted()",
        f"CREATE TRIGGER tally_job_update AFTER UPDATE ON {s}jobs FOR EACH ROW"
        f" WHEN ({BATCH_JOB} AND ({_changed(TALLIED)})) EXECUTE FUNCTION {s}tally_job()",
        f"CREATE TRIGGER tally_job_delete AFTER DELETE ON {s}jobs REFERENCING OLD TABLE AS old_jobs"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {s}tally_jobs_deleted()",
        f"CREATE TRIGGER tally_item_insert AFTER INSERT ON {s}batch_items REFERENCING NEW TABLE AS new_items"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {s}tally_items_inserted()",
        f"CREATE TRIGGER tally_item_update AFTER UPDATE ON {s}batch_items FOR EACH ROW"
        f" WHEN (OLD.job_id IS DISTINCT FROM NEW.job_id) EXECUTE FUNCTION {s}tally_item()",
        f"CREATE TRIGGER tally_item_delete AFTER DELETE ON {s}batch_items REFERENCING OLD TABLE AS old_items"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {s}tally_items_deleted()",
    ]


FUNCTIONS = (
    "tally_jobs_inserted",
    "tally_jobs_deleted",
    "tally_job",
    "tally_items_inserted",
    "tally_items_deleted",
    "tally_item",
)
TRIGGERS = (
    ("jobs", "tally_job_insert"),
    ("jobs", "tally_job_update"),
    ("jobs", "tally_job_delete"),
    ("batch_items", "tally_item_insert"),
    ("batch_items", "tally_item_update"),
    ("batch_items", "tally_item_delete"),
)


def _prefix() -> str:
    """The tables' schema as SQL text ends up naming it ("" on SQLite); trigger bodies name it outright."""
    schema = op.get_context().version_table_schema
    return f'"{schema}".' if schema else ""


def upgrade() -> None:
    op.create_table(
        "batch_tallies",
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0") for name in COUNTERS),
        sa.Column("first_created", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_batch_tallies_batch_id_batches")),
        sa.PrimaryKeyConstraint("batch_id", "status", name=op.f("pk_batch_tallies")),
    )
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.create_index(
            "ix_jobs_awaiting_download",
            ["batch_id", "finished_at", "id"],
            unique=False,
            postgresql_where=sa.text(AWAITING_DOWNLOAD),
            sqlite_where=sa.text(AWAITING_DOWNLOAD),
        )
    with op.batch_alter_table("dead_letters") as batch_op:
        batch_op.create_index(
            "ix_dead_letters_group_replayed", ["reason", "error_code", "http_status", "replayed_at"], unique=False
        )
    s = _prefix()
    op.execute(_backfill(s))
    if op.get_context().dialect.name == "postgresql":
        for statement in (*_postgresql_functions(s), *_postgresql_triggers(s)):
            op.execute(statement)
    else:
        for statement in _sqlite_triggers():
            op.execute(statement)


def downgrade() -> None:
    s = _prefix()
    postgresql = op.get_context().dialect.name == "postgresql"
    for table, name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {s}{table}" if postgresql else f"DROP TRIGGER IF EXISTS {name}")
    if postgresql:
        for function in FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {s}{function}()")
    with op.batch_alter_table("dead_letters") as batch_op:
        batch_op.drop_index("ix_dead_letters_group_replayed")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("ix_jobs_awaiting_download")
    op.drop_table("batch_tallies")
