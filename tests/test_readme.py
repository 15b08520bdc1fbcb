from __future__ import annotations

from pathlib import Path

from worker.settings import ENV_NAMES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_readme_starts_with_the_demo_and_test_commands():
    first_lines = README.splitlines()[:6]
    assert any(line.startswith("make demo") for line in first_lines)
    assert any(line.startswith("make test") for line in first_lines)


def test_the_readme_documents_every_setting():
    missing = [name for name in ENV_NAMES.values() if f"`{name}`" not in README]
    assert missing == []
