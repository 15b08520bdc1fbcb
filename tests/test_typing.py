"""A type checker sees the public API's real types: a wrong call fails by name, the examples pass."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

WRONG_CALLS = """
from worker import JobOptions, enqueue_generation, get_job

enqueue_generation("a fox", options="x")
JobOptions(priority="high")
get_job("abc").no_such_field
"""


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.timeout(320)
def test_mypy_fails_a_wrong_call_naming_each_wrong_argument(tmp_path):
    script = tmp_path / "wrong_calls.py"
    script.write_text(WRONG_CALLS)

    checked = mypy(str(script))

    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert 'Argument "options" to "enqueue_generation" has incompatible type "str"' in checked.stdout
    assert 'Argument "priority" to "JobOptions" has incompatible type "str"' in checked.stdout
    assert '"JobView" has no attribute "no_such_field"' in checked.stdout
    assert "Found 3 errors in 1 file" in checked.stdout


@pytest.mark.timeout(320)
def test_mypy_passes_the_public_modules_and_every_example():
    checked = mypy()

    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Every file under examples/ is checked, including ones added later.
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    assert "examples" in listed
    expected = len([f for f in listed if f.endswith(".py")]) + len(list((ROOT / "examples").rglob("*.py")))
    found = re.search(r"Success: no issues found in (\d+) source files", checked.stdout)
    assert found is not None and int(found.group(1)) == expected, checked.stdout
