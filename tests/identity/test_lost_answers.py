"""A submit carries its own identity: a lost answer is found by every input the job sent, never guessed."""

from __future__ import annotations

from worker import enqueue_generation, runtime
from worker.states import JobStatus


def test_sixty_identical_jobs_with_thirty_lost_answers_make_sixty_scenario_jobs_and_no_dead_letter(system):
    prompt = "a plain wooden crate, sixty times over"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=0.3)
    # Scenario makes the job, then answers 500: thirty answers are lost on the way back.
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=500, action="respond_after", times=30)
    before = system.sim.stats()

    ids = [enqueue_generation(prompt, width=256, height=256) for _ in range(60)]
    jobs = [system.wait_for(job_id, timeout_s=120) for job_id in ids]

    after = system.sim.stats()
    assert [j.status for j in jobs] == [JobStatus.SUCCESS] * 60
    assert len({j.scenario_job_id for j in jobs}) == 60
    assert after["jobs_created"] - before["jobs_created"] == 60
    assert after["duplicate_submissions"] == before["duplicate_submissions"]
    assert all(system.dead_letters.get_for_job(job_id) is None for job_id in ids)
    system.wait_for_log("adopted an earlier submission", count=30)


def test_a_lost_answer_never_adopts_a_planted_look_alike_with_other_inputs(system):
    prompt = "a lighthouse in a storm, its answer lost"
    inputs = {"prompt": prompt, "width": 256, "height": 256, "seed": "4242", "guidance": 3.5}
    # Made "by another program" just before: the same prompt, one input apart each.
    planted = [
        system.sim.create_job("flux.1-dev", {**inputs, "seed": "4243"}, api_key="other-program"),
        system.sim.create_job("flux.1-dev", {**inputs, "negativePrompt": "rain"}, api_key="other-program"),
        system.sim.create_job("flux.1-dev", {**inputs, "guidance": 7.0}, api_key="other-program"),
        system.sim.create_job("flux.1-dev", {**inputs, "scheduler": "ddim"}, api_key="other-program"),
    ]
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=500, action="respond_after", times=1)
    before = system.sim.stats()["jobs_created"]

    job = system.wait_for(enqueue_generation(model_id="flux.1-dev", inputs=inputs))

    assert job.status is JobStatus.SUCCESS
    assert job.scenario_job_id not in {p["jobId"] for p in planted}
    echoed = runtime.current().client.get_job(job.scenario_job_id)["metadata"]["input"]
    assert (echoed["seed"], echoed["guidance"]) == ("4242", 3.5)
    assert "negativePrompt" not in echoed and "scheduler" not in echoed
    # Its own Scenario job, made before the answer was lost, was adopted: nothing was paid twice.
    assert system.sim.stats()["jobs_created"] - before == 1
    system.wait_for_log(f"adopted an earlier submission job_id={job.id}")


def test_a_look_alike_held_by_another_job_is_never_adopted_twice(system):
    prompt = "a pair of twin statues, no seed to tell them apart"
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=500, action="respond_after", times=2)

    first = enqueue_generation(prompt, width=256, height=256, seed="77")
    second = enqueue_generation(prompt, width=256, height=256, seed="77")
    jobs = [system.wait_for(first), system.wait_for(second)]

    assert [j.status for j in jobs] == [JobStatus.SUCCESS] * 2
    assert jobs[0].scenario_job_id != jobs[1].scenario_job_id


def test_the_lost_answer_search_waits_out_a_failing_jobs_list_without_spending_submit_tries(system):
    prompt = "a bell tower, its answer lost and the list down for a while"
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=500, action="respond_after", times=1)
    # More list failures than the suite's three retries: a search failure must not count as one.
    system.sim.faults.add_rule(endpoint="list_jobs", status=503, times=5)
    before = system.sim.stats()["jobs_created"]

    job = system.wait_for(enqueue_generation(prompt, width=256, height=256), timeout_s=90)

    assert job.status is JobStatus.SUCCESS
    assert job.attempts == 1
    assert system.sim.stats()["jobs_created"] - before == 1
    system.wait_for_log("adopted an earlier submission")


def test_a_submit_refused_before_scenario_made_anything_never_adopts_a_look_alike_carrying_more_inputs(system):
    prompt = "a windmill at dusk, its first submit refused outright"
    inputs = {"prompt": prompt, "width": 256, "height": 256, "seed": "5151", "guidance": 3.5}
    # Every input this job sends, plus one it does not: someone else's job.
    planted = [
        system.sim.create_job("flux.1-dev", {**inputs, "negativePrompt": "rain"}, api_key="other-program"),
        system.sim.create_job("flux.1-dev", {**inputs, "scheduler": "ddim"}, api_key="other-program"),
    ]
    # A 500 with no job made: the answer may have been lost, so the next attempt searches.
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=500, times=1)
    before = system.sim.stats()["jobs_created"]

    job = system.wait_for(enqueue_generation(model_id="flux.1-dev", inputs=inputs))

    assert job.status is JobStatus.SUCCESS
    assert job.scenario_job_id not in {p["jobId"] for p in planted}
    assert system.sim.stats()["jobs_created"] - before == 1
    assert f"adopted an earlier submission job_id={job.id}" not in system.logs()
