"""Staying up under load, and keeping memory bounded with many jobs."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from urllib.parse import urlsplit

from tests.simulator.helpers import ApiClient
from worker.simulator import Simulator

CONNECTIONS = 200
AUTH_HEADER = "Basic " + base64.b64encode(b"sim-key:sim-secret").decode()


def test_two_hundred_concurrent_connections_are_all_answered(sim: Simulator) -> None:
    address = urlsplit(sim.url)
    barrier = threading.Barrier(CONNECTIONS, timeout=20)
    statuses: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def one_client(i: int) -> None:
        conn = http.client.HTTPConnection(address.hostname, address.port, timeout=20)
        try:
            conn.connect()  # every client holds its own open connection before any sends
            barrier.wait()
            body = json.dumps({"modelId": "flux.1-dev", "prompt": f"fox {i}", "width": 256, "height": 256})
            conn.request(
                "POST", "/v1/generate/txt2img", body, {"Authorization": AUTH_HEADER, "Content-Type": "application/json"}
            )
            first = conn.getresponse()
            first.read()
            conn.request("GET", "/v1/models/flux.1-dev", headers={"Authorization": AUTH_HEADER})
            second = conn.getresponse()  # the same connection, kept alive
            second.read()
            with lock:
                statuses.extend([first.status, second.status])
        except BaseException as error:  # collected and asserted below, never swallowed
            with lock:
                failures.append(error)
        finally:
            conn.close()

    threads = [threading.Thread(target=one_client, args=(i,)) for i in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert statuses == [200] * (2 * CONNECTIONS)
    stats = sim.stats()
    assert stats["jobs_created"] == CONNECTIONS
    assert stats["requests_total"] == 2 * CONNECTIONS
    assert stats["concurrent_peak"] > 1


def test_old_final_jobs_are_forgotten_beyond_max_jobs(start_simulator) -> None:
    sim = start_simulator(max_jobs=20, job_duration_s=0.0)
    api = ApiClient(sim.api_url)
    ids = [api.submit_job(f"fox {i}")["jobId"] for i in range(60)]
    assert len(sim.world.jobs()) == 20
    assert api.get(f"/jobs/{ids[0]}").status_code == 404
    assert api.get(f"/jobs/{ids[-1]}").status_code == 200


def test_running_jobs_are_kept_even_beyond_max_jobs(start_simulator) -> None:
    sim = start_simulator(max_jobs=3, job_duration_s=30.0)
    api = ApiClient(sim.api_url)
    ids = [api.submit_job(f"fox {i}")["jobId"] for i in range(6)]
    assert all(api.get(f"/jobs/{job_id}").status_code == 200 for job_id in ids)
