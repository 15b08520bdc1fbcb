"""The package as a user gets it: a wheel built from the sources, installed into a fresh venv.

The venv has no access to this checkout nor to the test environment's packages. Its
dependencies come from a wheelhouse downloaded once (through pip's own configuration) and
kept under .venv, keyed by what the wheel requires, so that later runs install offline.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What the build reads; copied, so that a build in the checkout leaves no build/ behind for
# parallel test processes to trip on, and no stale module of an earlier build gets in.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "worker", "migrations")
WHEELHOUSES = ROOT / ".venv" / "package-wheelhouse"
PIP_TIMEOUT_S = 600


def run(args: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command; on failure the assertion shows its output."""
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=PIP_TIMEOUT_S
    )
    assert done.returncode == 0, f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def build_wheel(folder: Path) -> Path:
    source = folder / "source"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    dist = folder / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, source],
        cwd=folder,
    )
    (wheel,) = dist.glob("scenario_worker-*.whl")
    return wheel


def requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode().splitlines()
    return sorted(line for line in lines if line.startswith("Requires-Dist:"))


def wheelhouse(wheel: Path, extras: str) -> Path:
    """Wheels of every dependency of `wheel[extras]`, downloaded the first time they are asked for."""
    key = hashlib.sha256("\n".join([sys.version, extras, *requirements(wheel)]).encode()).hexdigest()[:16]
    house = WHEELHOUSES / key
    if house.is_dir():
        return house
    partial = WHEELHOUSES / f"{key}.{os.getpid()}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    run([sys.executable, "-m", "pip", "download", "-q", "-d", partial, f"{wheel}[{extras}]"], cwd=wheel.parent)
    for own in partial.glob("scenario_worker-*"):
        own.unlink()
    try:
        partial.rename(house)
    except OSError:  # another test process got there first
        shutil.rmtree(partial, ignore_errors=True)
    return house


@dataclass
class FreshVenv:
    """A venv of its own (no system site-packages), outside the checkout."""

    path: Path

    @classmethod
    def create(cls, path: Path) -> FreshVenv:
        # pip itself is not needed inside: the test's pip installs into it with --python.
        run([sys.executable, "-m", "venv", "--without-pip", path], cwd=path.parent)
        return cls(path)

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name

    def install(self, requirement: str, house: Path) -> None:
        pip = [sys.executable, "-m", "pip", "--python", self.python, "install", "-q", "--no-compile"]
        run([*pip, "--no-index", "--find-links", house, requirement], cwd=self.path.parent)

    def env(self, **variables: str) -> dict[str, str]:
        """A clean environment: nothing from the test process leaks in (no PYTHONPATH, no settings)."""
        return {
            "PATH": f"{self.path / 'bin'}:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", str(self.path)),
            "LANG": "C.UTF-8",
            "PYTHONNOUSERSITE": "1",
            **variables,
        }
