"""A worker's start freezes the parent's objects for its pool's forks, and thaws them once the pool runs."""

from __future__ import annotations

import gc

import pytest

from worker.forking import StartFreeze


@pytest.fixture
def thawed():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_forks_of_a_start_leave_the_parents_objects_out_of_every_collection(thawed):
    freeze = StartFreeze()

    assert freeze.before_fork()
    assert gc.get_freeze_count() > 0
    # A collection before the next fork walks only what is new.
    assert freeze.before_fork()


def test_once_the_pool_runs_nothing_stays_frozen_and_later_forks_are_left_as_they_are(thawed):
    freeze = StartFreeze()
    freeze.before_fork()

    freeze.pool_running()

    assert gc.get_freeze_count() == 0
    assert not freeze.before_fork()
    assert gc.get_freeze_count() == 0


def test_a_pool_that_runs_before_any_fork_freezes_nothing_later(thawed):
    freeze = StartFreeze()

    freeze.pool_running()

    assert not freeze.before_fork()
    assert gc.get_freeze_count() == 0
