# One image for every role: migrate, worker, flower, console and the dev simulator differ only
# in their command (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --user-group app

# Dependencies first, from pyproject.toml alone, so that a code change does not
# reinstall them: the base install and the extras of every role the image plays
# (PostgreSQL's driver, the console, Flower).
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c "import tomllib; p = tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']; extras = p['optional-dependencies']; print('\n'.join(p['dependencies'] + [d for e in ('postgres', 'console', 'flower') for d in extras[e]]))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/pyproject.toml /tmp/requirements.txt

# The package carries its migrations (`scenario-worker db upgrade` runs them from
# the installed package); alembic.ini and migrations/ sit in /app, the working
# directory, as well, so that a plain `alembic upgrade head` works there too.
# README.md* is a wildcard so that a tree without the README (only the package
# metadata reads it) still builds.
WORKDIR /app
COPY pyproject.toml setup.py README.md* alembic.ini ./
COPY migrations ./migrations
COPY worker ./worker
# `celery -A worker` imports the package from the working directory, where no bytecode is
# written at run time (PYTHONDONTWRITEBYTECODE, a read-only tree): compiled here, once, a
# worker's start does not compile every module again, while a rolling restart waits for it.
RUN pip install --no-deps . \
    && rm -rf build *.egg-info \
    && python -m compileall -q worker

USER app
CMD ["celery", "-A", "worker", "worker", "--loglevel=INFO"]
