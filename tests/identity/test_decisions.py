"""The pure decisions behind identity: which item action, which echoed job is ours, which answer may be lost."""

from __future__ import annotations

import pytest

from worker.batches.items import CLAIM_INTERRUPTED_AFTER_S, ItemAction, plan_item
from worker.db.jobs import answer_may_be_lost
from worker.retrying import same_generation
from worker.states import JobStatus

S, D, F, C, R = JobStatus.SUCCESS, JobStatus.DEAD, JobStatus.FAILURE, JobStatus.CANCELED, JobStatus.IN_PROGRESS
OLD_CLAIM_S = CLAIM_INTERRUPTED_AFTER_S + 1


@pytest.mark.parametrize(
    ("claimed", "same", "status", "scenario", "age_s", "action"),
    [
        (False, False, None, False, 0, ItemAction.QUEUE),
        (True, True, S, True, 0, ItemAction.DONE),
        (True, True, R, True, 0, ItemAction.IN_FLIGHT),
        (True, True, JobStatus.CREATED, False, 0, ItemAction.IN_FLIGHT),
        (True, True, D, True, 0, ItemAction.ASK_SCENARIO),  # Scenario accepted it: never paid again blindly
        (True, True, D, False, 0, ItemAction.REQUEUE),
        (True, True, F, True, 0, ItemAction.REQUEUE),
        (True, True, C, True, 0, ItemAction.REQUEUE),
        (True, False, S, True, 0, ItemAction.SUPERSEDE),
        (True, False, R, True, 0, ItemAction.SUPERSEDE),
        (True, True, None, False, 1, ItemAction.IN_FLIGHT),  # claimed a moment ago: its job is being recorded
        (True, True, None, False, OLD_CLAIM_S, ItemAction.FINISH_CLAIM),
        (True, False, None, False, OLD_CLAIM_S, ItemAction.SUPERSEDE),
    ],
)
def test_each_item_gets_the_action_its_row_and_job_call_for(claimed, same, status, scenario, age_s, action):
    got = plan_item(claimed=claimed, same_version=same, status=status, has_scenario_job=scenario, claim_age_s=age_s)
    assert got is action


SENT = {"prompt": "a fox", "width": 512, "height": 512, "guidance": 3.5, "seed": "4242"}
DEFAULTS = {"width": 1024, "height": 1024, "numSamples": 1, "scheduler": "euler"}
DECLARED = {*DEFAULTS, *SENT, "negativePrompt", "referenceImages"}


@pytest.mark.parametrize(
    ("seen", "same"),
    [
        ({**SENT, "modelId": "flux.1-dev"}, True),
        ({**SENT, "seed": 4242}, True),  # a seed echoed as a number is the same seed
        ({**SENT, "numSamples": 1}, True),  # a default the job did not send
        ({**SENT, "seed": "4243"}, False),
        ({**SENT, "guidance": 7.0}, False),
        ({**SENT, "negativePrompt": "rain"}, False),  # an input this job never sent
        ({**SENT, "numSamples": 4}, False),  # not the default
        ({**SENT, "negativePrompt": ""}, True),  # an empty input is no input
        ({**SENT, "referenceImages": ["asset_x"]}, False),
        ({**SENT, "type": "txt2img", "hideResults": False}, True),  # the route's own keys, no input of the model
        ({**SENT, "modelId": "flux.1-schnell"}, False),  # another model
        ({k: v for k, v in SENT.items() if k != "seed"}, False),
        ({**SENT, "width": "512"}, False),
        ({**SENT, "guidance": True}, False),
    ],
)
def test_a_lost_answer_is_only_recognised_by_every_input_sent_and_nothing_else(seen, same):
    assert same_generation(SENT, seen, model_id="flux.1-dev", defaults=DEFAULTS, declared=DECLARED) is same


def test_without_the_models_defaults_extra_echoed_inputs_are_tolerated_but_every_sent_one_must_match():
    assert same_generation(SENT, {**SENT, "numSamples": 4}, model_id="flux.1-dev")
    assert not same_generation(SENT, {**SENT, "seed": "1"}, model_id="flux.1-dev")


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (None, True),  # a crash: nothing came back
        ({"type": "NetworkError", "status": None, "retryable": True}, True),
        ({"status": 500, "retryable": True}, True),
        ({"status": 503, "retryable": True}, True),
        ({"status": 408, "retryable": True}, True),
        ({"status": 429, "retryable": True}, False),  # refused: Scenario made nothing
        ({"status": 409, "retryable": True}, False),
        ({"status": 400, "retryable": False}, False),
        ({"status": 402, "retryable": False}, False),
        ({"type": "InputError", "status": None, "retryable": False}, False),
    ],
)
def test_only_an_answer_that_may_hide_a_made_job_is_looked_for(error, lost):
    assert answer_may_be_lost(error) is lost
