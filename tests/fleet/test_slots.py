"""The fleet's parallel slots and the submit lease, against a real Redis."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from worker.fleet.coordination import Coordination
from worker.fleet.slots import APPLICATION, BATCH, FleetSlots, SlotsUnavailable, turn_step_ms

pytestmark = pytest.mark.redis

GRACE_S = 5.0
ALIVE_S = 30.0


@pytest.fixture
def key() -> str:
    return f"test-slots:{uuid.uuid4().hex}"


@pytest.fixture
def client(redis_url) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def slots(client, key, *, cap=3, lease_s=30.0, learned_for_s=60.0) -> FleetSlots:
    return FleetSlots(client, cap=cap, lease_s=lease_s, learned_for_s=learned_for_s, key=key)


@pytest.mark.parametrize(
    ("cap", "lease_s", "learned_for_s", "named"),
    [(-1, 1, 1, "cap"), (1.5, 1, 1, "cap"), (True, 1, 1, "cap"), (1, 0, 1, "lease_s"), (1, 1, -2, "learned_for_s")],
)
def test_a_bad_setting_is_refused_by_name(cap, lease_s, learned_for_s, named):
    with pytest.raises(ValueError, match=named):
        FleetSlots(redis.Redis(), cap=cap, lease_s=lease_s, learned_for_s=learned_for_s)


@pytest.mark.parametrize(("cap", "jobs", "granted"), [(1, 3, 1), (3, 3, 3), (3, 5, 3), (5, 2, 2)])
def test_slots_are_granted_up_to_the_cap_and_no_further(client, key, cap, jobs, granted):
    fleet = slots(client, key, cap=cap)

    answers = [fleet.acquire(f"job-{n}") for n in range(jobs)]

    assert answers == [True] * granted + [False] * (jobs - granted)
    assert fleet.in_use() == granted


def test_a_holder_asking_again_keeps_its_one_slot(client, key):
    fleet = slots(client, key, cap=2)

    assert fleet.acquire("a") and fleet.acquire("a") and fleet.acquire("a")

    assert fleet.in_use() == 1
    assert fleet.acquire("b")


def test_with_no_cap_of_our_own_every_job_gets_a_slot(client, key):
    fleet = slots(client, key, cap=0)

    assert all(fleet.acquire(f"job-{n}") for n in range(50))
    assert fleet.cap is None and fleet.in_use() == 50


def test_many_workers_racing_for_the_last_slots_never_exceed_the_cap(redis_url, key):
    granted: list[str] = []
    lock = threading.Lock()

    def race(worker: int) -> None:
        c = redis.Redis.from_url(redis_url)
        fleet = slots(c, key, cap=4)
        for n in range(10):
            if fleet.acquire(f"w{worker}-{n}"):
                with lock:
                    granted.append(f"w{worker}-{n}")
        c.close()

    threads = [threading.Thread(target=race, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(granted) == 4


def test_a_release_wakes_the_oldest_waiter(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("running")
    for job in ("first", "second", "third"):
        assert not fleet.acquire(job)
        fleet.wait(job, alive_s=ALIVE_S)

    woken = fleet.release("running", wake_grace_s=GRACE_S)

    assert woken == ["first"]
    assert fleet.in_use() == 0


def test_an_applications_job_is_woken_before_batch_items_that_waited_longer(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("running")
    for job in ("item-1", "item-2"):
        assert not fleet.acquire(job, priority=BATCH)
        fleet.wait(job, alive_s=ALIVE_S, priority=BATCH)
    assert not fleet.acquire("app-job", priority=APPLICATION)
    place = fleet.wait("app-job", alive_s=ALIVE_S, priority=APPLICATION)

    woken = fleet.release("running", wake_grace_s=GRACE_S)

    assert place == 0
    assert woken == ["app-job"]
    assert not fleet.acquire("item-1", priority=BATCH)
    assert fleet.acquire("app-job", priority=APPLICATION)


def test_an_applications_newcomer_takes_a_free_slot_that_a_batch_item_waits_for(client, key):
    fleet = slots(client, key, cap=2)
    fleet.acquire("running")
    fleet.wait("item-1", alive_s=ALIVE_S, priority=BATCH)

    assert fleet.acquire("app-job", priority=APPLICATION)
    assert not fleet.acquire("item-1", priority=BATCH)


def test_applications_jobs_keep_their_order_among_themselves(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("running")
    fleet.wait("item-1", alive_s=ALIVE_S, priority=BATCH)
    for job in ("app-1", "app-2"):
        fleet.wait(job, alive_s=ALIVE_S, priority=APPLICATION)

    assert fleet.release("running", wake_grace_s=GRACE_S) == ["app-1"]
    assert not fleet.acquire("app-2", priority=APPLICATION)
    assert fleet.acquire("app-1", priority=APPLICATION)


def test_a_newcomer_does_not_overtake_a_woken_waiter(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("running")
    fleet.wait("patient", alive_s=ALIVE_S)
    fleet.release("running", wake_grace_s=GRACE_S)

    assert not fleet.acquire("newcomer")
    assert fleet.acquire("patient")
    assert not fleet.acquire("newcomer")


def test_two_freed_slots_wake_two_waiters_and_a_woken_one_is_not_named_twice(client, key):
    fleet = slots(client, key, cap=2)
    fleet.acquire("a")
    fleet.acquire("b")
    for job in ("w1", "w2", "w3"):
        fleet.wait(job, alive_s=ALIVE_S)

    assert fleet.release("a", wake_grace_s=GRACE_S) == ["w1"]
    assert fleet.release("b", wake_grace_s=GRACE_S) == ["w2"]  # w1 is on its way, not woken again


def test_a_waiter_keeps_its_place_when_it_asks_again(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("running")

    assert fleet.wait("old", alive_s=ALIVE_S) == 0
    assert fleet.wait("young", alive_s=ALIVE_S) == 1
    assert fleet.wait("old", alive_s=ALIVE_S) == 0


def test_a_waiter_that_stops_asking_is_dropped_and_holds_no_one_back(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("running")
    fleet.wait("vanished", alive_s=0.2)
    fleet.wait("alive", alive_s=ALIVE_S)
    time.sleep(0.3)

    assert fleet.release("running", wake_grace_s=GRACE_S) == ["alive"]


def test_releasing_a_job_that_holds_no_slot_wakes_no_one(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("running")
    fleet.wait("waiting", alive_s=ALIVE_S)

    assert fleet.release("never-held", wake_grace_s=GRACE_S) == []


def test_a_released_waiter_leaves_the_waiting_list(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("running")
    fleet.wait("canceled", alive_s=ALIVE_S)
    fleet.wait("next", alive_s=ALIVE_S)

    fleet.release("canceled", wake_grace_s=GRACE_S)

    assert fleet.release("running", wake_grace_s=GRACE_S) == ["next"]


def test_a_holder_whose_lease_ran_out_is_reclaimed_by_the_next_acquire(client, key):
    fleet = slots(client, key, cap=1, lease_s=0.2)
    assert fleet.acquire("vanished")
    assert not fleet.acquire("next")

    time.sleep(0.3)

    assert fleet.acquire("next")
    assert fleet.in_use() == 1


def test_a_refreshed_lease_outlives_its_first_expiry(client, key):
    fleet = slots(client, key, cap=1, lease_s=0.4)
    fleet.acquire("running")
    time.sleep(0.25)

    fleet.refresh(["running"])
    time.sleep(0.25)

    assert fleet.in_use() == 1
    assert not fleet.acquire("other")


def test_a_refresh_gives_a_running_job_its_lapsed_slot_back(client, key):
    fleet = slots(client, key, cap=2, lease_s=0.2)
    fleet.acquire("running")
    time.sleep(0.3)
    assert fleet.in_use() == 0

    assert fleet.refresh(["running"]) == 1
    assert fleet.in_use() == 1


def test_a_late_refresh_does_not_give_an_ended_job_its_slot_back(client, key):
    fleet = slots(client, key, cap=2)
    fleet.acquire("ended")
    fleet.acquire("running")
    # A webhook's look ends the job; a sweep that read it running a moment before refreshes after.
    fleet.release("ended", wake_grace_s=GRACE_S)

    assert fleet.refresh(["ended", "running"]) == 1
    assert fleet.in_use() == 1
    assert fleet.acquire("next")


def test_an_ended_jobs_mark_lapses_with_the_lease(client, key):
    fleet = slots(client, key, cap=2, lease_s=0.2)
    fleet.acquire("job")
    fleet.release("job", wake_grace_s=GRACE_S)
    time.sleep(0.3)

    assert fleet.refresh(["job"]) == 1
    assert client.zcard(f"{{{key}}}:ended") == 0


@pytest.mark.parametrize(
    ("configured", "shrinks", "effective"),
    [(5, [3], 3), (5, [0], 1), (5, [-2], 1), (5, [8], 5), (5, [3, 4], 3), (5, [4, 2], 2), (0, [3], 3)],
)
def test_shrink_to_caps_at_the_smallest_learned_number_and_at_least_one(client, key, configured, shrinks, effective):
    fleet = slots(client, key, cap=configured)

    for n in shrinks:
        fleet.shrink_to(n)

    assert fleet.cap == effective


def test_a_shrunk_cap_refuses_slots_beyond_it(client, key):
    fleet = slots(client, key, cap=5)
    fleet.acquire("a")
    fleet.acquire("b")

    fleet.shrink_to(2)

    assert not fleet.acquire("c")
    assert fleet.release("a", wake_grace_s=GRACE_S) == []  # nobody waits
    assert fleet.acquire("c")


def test_a_learned_cap_grows_back_one_at_a_time_then_expires_so_a_plan_upgrade_is_picked_up(client, key):
    fleet = slots(client, key, cap=5, learned_for_s=4.0)  # one more slot a second
    assert fleet.shrink_to(1) == 1
    assert fleet.cap == 1

    time.sleep(1.1)
    grown = fleet.cap
    time.sleep(3.0)

    assert grown >= 2
    assert fleet.cap == 5


def test_a_refusal_after_the_cap_grew_back_pins_it_where_it_proved(client, key):
    fleet = slots(client, key, cap=8, learned_for_s=4.0)
    fleet.shrink_to(2)
    time.sleep(1.1)

    assert fleet.shrink_to(6) == fleet.cap < 6  # the grown cap is smaller than what this refusal proves
    assert fleet.shrink_to(1) == 1


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.acquire("a"),
        lambda s: s.wait("a", alive_s=1),
        lambda s: s.release("a", wake_grace_s=1),
        lambda s: s.refresh(["a"]),
        lambda s: s.shrink_to(1),
        lambda s: s.in_use(),
        lambda s: s.cap,
    ],
)
def test_a_redis_that_does_not_answer_raises_slots_unavailable(call):
    dead = redis.Redis(port=closed_port(), socket_connect_timeout=0.5)
    with pytest.raises(SlotsUnavailable):
        call(FleetSlots(dead, cap=1, lease_s=1, learned_for_s=1))


def test_the_submit_lease_is_released_only_by_its_holder(client):
    coordination = Coordination(client, interval_s=1.0)
    what = f"submit:{uuid.uuid4().hex}"
    assert coordination.claim(what, "mine", hold_s=30)

    assert not coordination.release(what, "someone-else")
    assert coordination.held_for(what) > 0
    assert coordination.release(what, "mine")
    assert coordination.held_for(what) == 0


def test_a_lapsed_submit_lease_taken_by_another_run_survives_the_first_runs_release(client):
    coordination = Coordination(client, interval_s=1.0)
    what = f"submit:{uuid.uuid4().hex}"
    coordination.claim(what, "first", hold_s=0.1)
    time.sleep(0.2)
    assert coordination.claim(what, "second", hold_s=30)

    coordination.release(what, "first")

    assert coordination.held_for(what) > 0


def served_in_turn(fleet: FleetSlots, holder: str, count: int) -> list[str]:
    """The waiters the slot goes to, one after another, as each ends in turn."""
    order = []
    for _ in range(count):
        (woken,) = fleet.release(holder, wake_grace_s=GRACE_S)
        assert fleet.acquire(woken, group=woken.split("-")[0])
        order.append(holder := woken)
    return order


def test_batches_waiting_together_take_turns(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("running")
    for n in range(4):
        fleet.wait(f"library-{n}", alive_s=ALIVE_S, group="library")
    for n in range(2):
        fleet.wait(f"small-{n}", alive_s=ALIVE_S, group="small")

    order = served_in_turn(fleet, "running", 6)

    assert order == ["library-0", "small-0", "library-1", "small-1", "library-2", "library-3"]


def test_a_small_batch_after_a_long_library_goes_before_the_librarys_later_items(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("running")
    for n in range(30):
        fleet.wait(f"library-{n}", alive_s=ALIVE_S, group="library")
    fleet.wait("small-0", alive_s=ALIVE_S, group="small")

    order = served_in_turn(fleet, "running", 3)

    assert order.index("small-0") <= 1


def test_a_small_batch_beside_a_big_library_gets_most_turns_while_the_library_still_moves(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("running")
    for n in range(10):
        fleet.wait(f"library-{n}", alive_s=ALIVE_S, group="library", group_items=1000)
    for n in range(20):
        fleet.wait(f"small-{n}", alive_s=ALIVE_S, group="small", group_items=20)

    order = served_in_turn(fleet, "running", 24)

    assert [job for job in order if job.startswith("small")] == [f"small-{n}" for n in range(20)]
    assert sum(job.startswith("library") for job in order[:24]) == 4


@pytest.mark.parametrize(("items", "step_ms"), [(None, 1000), (1, 1000), (4, 2000), (20, 4472), (1000, 31623)])
def test_a_bigger_batch_steps_further_between_its_waiters(items, step_ms):
    assert turn_step_ms(items) == step_ms


def test_a_waiter_of_a_higher_priority_is_woken_first_within_its_class(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("running")
    for job, rank in [("app-late", 7), ("app-default", 5), ("app-urgent", 0)]:
        assert not fleet.acquire(job, priority=APPLICATION, rank=rank)
        fleet.wait(job, alive_s=ALIVE_S, priority=APPLICATION, rank=rank)

    assert fleet.release("running", wake_grace_s=GRACE_S) == ["app-urgent"]
    assert not fleet.acquire("app-late", priority=APPLICATION, rank=7)
    assert fleet.acquire("app-urgent", priority=APPLICATION, rank=0)
    assert fleet.release("app-urgent", wake_grace_s=GRACE_S) == ["app-default"]


def test_priority_never_lifts_a_batch_item_over_an_applications_job(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("running")
    fleet.wait("app-last", alive_s=ALIVE_S, priority=APPLICATION, rank=9)
    fleet.wait("item-first", alive_s=ALIVE_S, priority=BATCH, rank=0)

    assert fleet.release("running", wake_grace_s=GRACE_S) == ["app-last"]


@pytest.mark.parametrize("rank", [-1, 10, 2.5, True])
def test_a_rank_outside_the_priorities_is_refused_by_name(client, key, rank):
    with pytest.raises(ValueError, match="rank"):
        slots(client, key).acquire("job", rank=rank)


def test_a_waiter_behind_the_free_slots_is_told_to_keep_waiting_and_stays_alive(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("holder")
    fleet.wait("first", alive_s=ALIVE_S)
    fleet.wait("second", alive_s=ALIVE_S)

    assert fleet.still_waiting("first", alive_s=ALIVE_S) == 0
    assert fleet.still_waiting("second", alive_s=ALIVE_S) == 1
    assert fleet.still_waiting("never-waited", alive_s=ALIVE_S) is None


def test_a_waiter_a_free_slot_is_for_or_that_was_woken_takes_the_whole_path(client, key):
    fleet = slots(client, key, cap=2)
    fleet.acquire("holder-1")
    fleet.acquire("holder-2")
    fleet.wait("first", alive_s=ALIVE_S)
    fleet.wait("second", alive_s=ALIVE_S)
    fleet.wait("third", alive_s=ALIVE_S)

    assert fleet.release("holder-1", wake_grace_s=GRACE_S) == ["first"]

    assert fleet.still_waiting("first", alive_s=ALIVE_S) is None  # woken: its submit is on its way
    assert fleet.still_waiting("second", alive_s=ALIVE_S) == 1  # the free slot is for the one ahead
    fleet.acquire("first")
    fleet.release("holder-2", wake_grace_s=0.001)
    time.sleep(0.01)
    assert fleet.still_waiting("second", alive_s=ALIVE_S) is None  # the freed slot is for it now
    assert fleet.still_waiting("third", alive_s=ALIVE_S) == 1


def test_a_waiter_that_looks_on_its_own_is_not_dropped_for_silence(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("holder")
    fleet.wait("waiter", alive_s=0.2)

    for _ in range(4):
        time.sleep(0.1)
        assert fleet.still_waiting("waiter", alive_s=0.2) == 0

    assert fleet.release("holder", wake_grace_s=GRACE_S) == ["waiter"]


def test_parked_items_take_their_places_in_order_and_the_free_slots_wake_the_first(client, key):
    fleet = slots(client, key, cap=2)
    fleet.acquire("running")

    woken = fleet.park([(f"item-{n}", 5) for n in range(5)], group="batch", group_items=5, wake_grace_s=GRACE_S)

    assert woken == ["item-0"]  # one slot is free
    assert fleet.waiting_among([f"item-{n}" for n in range(5)] + ["stranger"]) == {f"item-{n}" for n in range(5)}
    assert fleet.acquire("item-0", group="batch", group_items=5)
    assert fleet.release("running", wake_grace_s=GRACE_S) == ["item-1"]


def test_a_parked_item_is_not_dropped_for_silence(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("running")
    fleet.park([("parked", 5)], group="batch", group_items=1, wake_grace_s=GRACE_S)
    fleet.wait("silent", alive_s=0.01, priority=APPLICATION)

    time.sleep(0.05)

    assert fleet.waiting_among(["parked", "silent"]) == {"parked"}
    assert fleet.release("running", wake_grace_s=GRACE_S) == ["parked"]


def test_without_a_cap_nothing_is_parked(client, key):
    fleet = slots(client, key, cap=0)

    assert fleet.park([("item", 5)], group="batch", group_items=1, wake_grace_s=GRACE_S) is None
    assert fleet.waiting_among(["item"]) == set()


def test_a_small_batch_parked_after_a_big_one_is_served_among_its_first_items(client, key):
    fleet = slots(client, key, cap=1)
    fleet.acquire("running")
    fleet.park([(f"library-{n}", 5) for n in range(1000)], group="library", group_items=1000, wake_grace_s=GRACE_S)
    fleet.park([(f"small-{n}", 5) for n in range(20)], group="small", group_items=20, wake_grace_s=GRACE_S)

    order = served_in_turn(fleet, "running", 24)

    assert [job for job in order if job.startswith("small")] == [f"small-{n}" for n in range(20)]
    assert 1 <= sum(job.startswith("library") for job in order) <= 4


def test_wake_names_the_waiters_the_free_slots_admit_once_within_the_grace(client, key):
    fleet = slots(client, key, cap=2)
    fleet.acquire("running")
    fleet.park([("first", 5), ("second", 5)], group="batch", group_items=2, wake_grace_s=0.001)
    time.sleep(0.01)  # the park's own wake lapsed, as a lost submit's does

    assert fleet.wake(wake_grace_s=GRACE_S) == ["first"]
    assert fleet.wake(wake_grace_s=GRACE_S) == []


def test_a_forgotten_waiter_leaves_the_list_and_keeps_a_slot_it_holds(client, key):
    fleet = slots(client, key, cap=2)
    fleet.acquire("holder")
    fleet.park([("ended", 5), ("next", 5)], group="batch", group_items=2, wake_grace_s=GRACE_S)

    fleet.forget(["ended", "holder"])

    assert fleet.waiting_among(["ended", "next"]) == {"next"}
    assert fleet.in_use() == 1
