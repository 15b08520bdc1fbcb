from __future__ import annotations

import sys

import pytest

from worker.db.session import DatabaseUrlError, missing_driver
from worker.extras import MissingExtra, install_hint, missing_extra, require


@pytest.mark.parametrize(
    "module, hint",
    [
        ("psycopg", "pip install 'scenario-worker[postgres]'"),
        ("flask", "pip install 'scenario-worker[console]'"),
        ("werkzeug.serving", "pip install 'scenario-worker[console]'"),
        ("flower", "pip install 'scenario-worker[flower]'"),
        ("MySQLdb", None),
        (None, None),
    ],
)
def test_each_optional_module_is_brought_by_a_named_extra(module, hint):
    assert install_hint(module) == hint


def test_a_missing_optional_module_is_told_with_the_extra_to_install():
    error = missing_extra(ModuleNotFoundError("No module named 'flask'", name="flask"), "the console")

    assert isinstance(error, MissingExtra) and isinstance(error, ImportError)
    assert str(error) == (
        "the console needs the Python module 'flask', which is not installed; "
        "install it with: pip install 'scenario-worker[console]'"
    )


def test_a_missing_module_no_extra_brings_is_left_as_it_was():
    original = ModuleNotFoundError("No module named 'nothing_here'", name="nothing_here")

    assert missing_extra(original, "the console") is original


def test_require_is_silent_for_an_installed_module_and_names_the_extra_otherwise(monkeypatch):
    require("flask", "the console")

    monkeypatch.setitem(sys.modules, "flower", None)  # imports of it now fail
    with pytest.raises(MissingExtra, match=r"scenario-worker\[flower\]"):
        require("flower", "Flower")


def test_a_database_url_whose_driver_is_missing_names_the_extra_and_masks_the_password():
    error = missing_driver(
        "postgresql+psycopg://app:hunter2@db/app", ModuleNotFoundError("No module named 'psycopg'", name="psycopg")
    )

    assert isinstance(error, DatabaseUrlError)
    assert "hunter2" not in str(error)
    assert "'psycopg', which is not installed; install it with: pip install 'scenario-worker[postgres]'" in str(error)
