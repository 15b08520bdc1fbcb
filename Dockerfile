# One image for every role: migrate, worker, flower, console and the dev simulator differ only
# in their command (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --user-group app

# Dependencies first, from pyproject.toml alone, so that a code change does not
# reinstall them.
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/pyproject.toml /tmp/requirements.txt

# The package is installed in place (editable) because worker.db.migrate looks for
# alembic.ini and migrations/ beside the `worker` package: all three live in /app,
# which is also the working directory, so a plain `alembic upgrade head` works too.
# README.md* is a wildcard so that a tree without the README (only the package
# metadata reads it) still builds.
WORKDIR /app
COPY pyproject.toml README.md* alembic.ini ./
COPY migrations ./migrations
COPY worker ./worker
RUN pip install --no-deps --editable . \
    && rm -rf build

USER app
CMD ["celery", "-A", "worker", "worker", "--loglevel=INFO"]
