"""The one part of the build pyproject.toml cannot say: migrations/ ships inside the package.

The migrations stay at the top of the repository, where `alembic upgrade head` finds them
through alembic.ini; a wheel carries the same files as worker/migrations, where
worker.db.migrate looks first. Nothing is copied in the repository.
"""

from setuptools import find_namespace_packages, setup

MIGRATIONS = {"worker.migrations": "migrations", "worker.migrations.versions": "migrations/versions"}

setup(
    packages=[*find_namespace_packages(include=["worker", "worker.*"]), *MIGRATIONS],
    package_dir=MIGRATIONS,
)
