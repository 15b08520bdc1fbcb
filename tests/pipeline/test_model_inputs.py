"""Any model, any input: checked by the model's own schema before anything is recorded or spent."""

from __future__ import annotations

import pytest

from tests.conftest import ON_POSTGRES
from worker import enqueue_generation, runtime
from worker.db.models import DeadLetterReason
from worker.states import JobStatus

pytestmark = ON_POSTGRES


def job_count() -> int:
    return sum(runtime.current().jobs.count_by_status().values())


def submits(system) -> int:
    return sum(system.sim.stats()["requests"].get("submit", {}).values())


@pytest.mark.parametrize(
    ("model_id", "inputs", "named"),
    [
        # type
        ("model_audio-sfx", {"prompt": "a door creaks", "loop": "yes"}, "loop"),
        # bounds
        ("model_audio-sfx", {"prompt": "a door creaks", "durationSeconds": 90}, "durationSeconds"),
        # allowed values
        ("flux.1-dev", {"prompt": "a fox", "aspectRatio": "5:7"}, "aspectRatio"),
        # lengths (item counts of an array)
        ("flux.1-dev", {"prompt": "a fox", "referenceImages": ["asset_a"] * 5}, "referenceImages"),
        # required: always
        ("model_upscale", {"scaleFactor": 2}, "image"),
        # required: ifDefined
        ("flux.1-dev", {"prompt": "a fox", "referenceImages": ["asset_a"]}, "referenceStrength"),
        # required: ifNotDefined
        ("model_edit", {"prompt": "make it blue"}, "image"),
        # required: conditional
        ("model_edit", {"prompt": "fill it", "image": "asset_a", "mode": "inpaint"}, "mask"),
        # unknown input, with a suggestion
        ("flux.1-dev", {"prompt": "a fox", "guidence": 3}, "guidence"),
    ],
)
def test_an_input_the_models_schema_refuses_is_named_and_nothing_is_recorded_or_sent(system, model_id, inputs, named):
    jobs_before, submits_before = job_count(), submits(system)

    with pytest.raises(ValueError) as caught:
        enqueue_generation(model_id=model_id, inputs=inputs)

    message = str(caught.value)
    assert model_id in message and named in message
    assert job_count() == jobs_before
    assert submits(system) == submits_before


def test_an_unknown_input_is_refused_with_a_suggestion(system):
    with pytest.raises(ValueError, match="prompt"):
        enqueue_generation(model_id="flux.1-dev", inputs={"promt": "a fox"})


def test_a_model_this_key_may_not_use_is_refused_at_enqueue_naming_the_model(system):
    jobs_before = job_count()
    with pytest.raises(ValueError, match="model_private-other-team"):
        enqueue_generation("a crest", model_id="model_private-other-team")
    with pytest.raises(ValueError, match="model_no-such-model"):
        enqueue_generation("a crest", model_id="model_no-such-model")
    assert job_count() == jobs_before


def test_any_models_inputs_go_through_the_custom_route_with_the_models_defaults_and_a_string_seed(system):
    job = system.wait_for(enqueue_generation("a lighthouse at dusk", aspect_ratio="16:9", num_samples=2))

    assert job.status is JobStatus.SUCCESS
    assert job.params["aspectRatio"] == "16:9"
    assert isinstance(job.params["seed"], str)  # chosen before the first submit
    assert "numInferenceSteps" in job.params  # the model's default, filled in


def test_a_job_whose_inputs_fail_the_check_at_the_worker_is_dead_lettered_without_a_paid_request(system):
    # Recorded as if Scenario had been out of reach at enqueue: only local checks ran.
    rt = runtime.current()
    job = rt.jobs.create(model_id="flux.1-dev", params={"modelId": "flux.1-dev", "prompt": "x", "numSamples": 99})
    from worker.tasks import submit_generation

    before = submits(system)
    submit_generation.apply_async((job.id,))

    job = system.wait_for(job.id)
    assert job.status is JobStatus.DEAD
    letter = next(d for d in system.dead_letters.list(limit=1000) if d.job_id == job.id)
    assert letter.reason == DeadLetterReason.PERMANENT_ERROR
    assert "numSamples" in letter.error_message
    assert submits(system) == before
