"""The simulator stands for the outside world: it shares no code with the worker side."""

from __future__ import annotations

import ast
from pathlib import Path

import worker.simulator

PACKAGE = Path(worker.simulator.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_simulator_imports_nothing_from_the_rest_of_worker() -> None:
    sources = sorted(PACKAGE.glob("*.py"))
    assert len(sources) > 5
    outside = {
        f"{path.name}: {name}"
        for path in sources
        for name in imported_modules(path)
        if (name == "worker" or name.startswith("worker.")) and not name.startswith("worker.simulator")
    }
    assert outside == set()
