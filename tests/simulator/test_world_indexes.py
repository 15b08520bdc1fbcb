"""The world's time indexes give a listing the same jobs a look at every job would."""

from __future__ import annotations

from worker.simulator.lifecycle import job_state
from worker.simulator.models import CATALOGUE
from worker.simulator.timefmt import to_ms
from worker.simulator.world import World

MODEL = next(iter(CATALOGUE.values()))


def _world(now: float) -> World:
    world = World(max_jobs=40, credits=1e9)
    for n in range(60):
        owner = "team-a" if n % 3 else "team-b"
        world.create_job(
            owner_id=owner,
            author_id="u",
            model=MODEL,
            inputs={},
            duration_s=[0.5, 5.0, 50.0][n % 3],
            error="boom" if n % 7 == 0 else None,
            cu_cost=1,
            now=now - 60 + n,
        )
    for record in world.jobs()[::5]:
        world.cancel(record.job_id, now - 2)
    return world


def test_the_jobs_ending_after_a_moment_hold_every_job_changed_since() -> None:
    now = 1_800_000_000.0
    world = _world(now)
    for since in (now - 70, now - 30, now - 5, now, now + 100):
        since_ms = to_ms(since)
        changed = {r.job_id for r in world.jobs() if to_ms(job_state(r.times, now).updated_at) > since_ms}
        assert changed <= {r.job_id for r in world.ending_after(since_ms)}
        assert all(to_ms(r.ends_at()) > since_ms for r in world.ending_after(since_ms))


def test_the_newest_created_are_the_owners_page_below_the_cursor() -> None:
    now = 1_800_000_000.0
    world = _world(now)
    keyed = sorted(((to_ms(r.times.created_at), r.job_id), r) for r in world.jobs() if r.owner_id == "team-a")
    for below in (None, keyed[-1][0], keyed[10][0]):
        for above_ms in (None, to_ms(now - 40)):
            expected = [
                r
                for key, r in reversed(keyed)
                if (below is None or key < below) and (above_ms is None or key[0] > above_ms)
            ][:6]
            assert world.newest_created(owner_id="team-a", below=below, above_ms=above_ms, limit=6) == expected
