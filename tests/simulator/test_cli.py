"""`python -m worker.simulator`: flags, errors, and a real run stopped by a signal."""

from __future__ import annotations

import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from worker.simulator.cli import build_parser, config_from_args, main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.simulator", *args], cwd=ROOT, capture_output=True, text=True, timeout=20
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--bogus"], "--bogus"),
        (["--rate-500", "1.5"], "--rate-500"),
        (["--rate-drop", "-0.1"], "--rate-drop"),
        (["--rate-429", "often"], "--rate-429"),
        (["--port", "70000"], "--port"),
        (["--burst", "0"], "--burst"),
        (["--parallel-inferences", "-1"], "--parallel-inferences"),
        (["--error-shape", "xml"], "--error-shape"),
        (["--max-upload-bytes", "0"], "--max-upload-bytes"),
    ],
)
def test_a_bad_flag_exits_2_naming_the_flag(args: list[str], named: str, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2
    assert named in capsys.readouterr().err


def test_a_bad_flag_from_the_module_command_exits_2_naming_it() -> None:
    result = run_cli("--rate-500", "1.5")
    assert result.returncode == 2
    assert "--rate-500" in result.stderr and "0..1" in result.stderr
    unknown = run_cli("--frobnicate")
    assert unknown.returncode == 2
    assert "unrecognized arguments: --frobnicate" in unknown.stderr


def test_the_help_documents_the_default_credentials(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert "sim-key" in out and "sim-secret" in out and "--rate-job-failure" in out


def test_flags_become_the_config() -> None:
    args = build_parser().parse_args(
        [
            "--job-duration",
            "0.5",
            "--rate-limit",
            "3",
            "--burst",
            "4",
            "--seed",
            "9",
            "--rate-503",
            "0.25",
            "--slow-seconds",
            "1.5",
            "--asset-url-ttl",
            "60",
            "--api-key",
            "k",
            "--api-secret",
            "s",
        ]
    )
    config = config_from_args(args)
    assert (config.job_duration_s, config.rate_limit_per_s, config.rate_limit_burst, config.seed) == (0.5, 3.0, 4, 9)
    assert (config.rate_503, config.slow_s, config.asset_url_ttl_s) == (0.25, 1.5, 60.0)
    assert (config.api_key, config.api_secret) == ("k", "s")
    assert (config.parallel_inferences, config.error_shape, config.strict_list_filters) == (0, "scenario", False)


def test_the_contract_flags_become_the_config() -> None:
    args = build_parser().parse_args(
        ["--parallel-inferences", "3", "--error-shape", "mixed", "--strict-list-filters", "--max-upload-bytes", "1000"]
    )
    config = config_from_args(args)
    assert (config.parallel_inferences, config.error_shape) == (3, "mixed")
    assert (config.strict_list_filters, config.max_upload_bytes) == (True, 1000)


def test_the_help_documents_the_contract_flags(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for flag in ("--parallel-inferences", "--error-shape", "--strict-list-filters", "--max-upload-bytes"):
        assert flag in out


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_command_serves_until_a_signal_then_exits_0(stop_with: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.simulator", "--port", "0", "--api-key", "k1", "--api-secret", "s1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        assert ready, "the simulator printed nothing"
        line = proc.stdout.readline()
        url = re.search(r"(http://\S+/v1)", line).group(1)
        assert "curl -u k1:s1" in line
        response = requests.get(f"{url}/models/flux.1-dev", auth=("k1", "s1"), timeout=5)
        assert response.status_code == 200
        assert response.json()["model"]["id"] == "flux.1-dev"
        proc.send_signal(stop_with)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
