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


API_REFERENCE = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()


def test_the_api_reference_has_an_entry_for_every_public_name():
    import worker
    from worker import aio

    headings = {line.removeprefix("### ").strip() for line in API_REFERENCE.splitlines() if line.startswith("### ")}
    named = {part.strip() for heading in headings for part in heading.split(",")}
    assert sorted(set(worker.__all__) - named) == []
    async_section = API_REFERENCE.split("## Asynchronous: worker.aio", 1)[1].split("\n## ", 1)[0]
    assert [name for name in aio.__all__ if name not in async_section] == []


def test_the_readme_links_to_the_docs_it_moved_there():
    assert "(docs/how-it-works.md)" in README and "(docs/api.md)" in README
