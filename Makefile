# Every target sets up .venv on first use; nothing needs to be installed by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install lint test chaos demo bench worker flower migrate simulator console browser clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# The system tests mostly wait on the network and on their simulated renders (about half of two
# cores stays idle with three test processes): four keep both cores busy.
TEST_PROCESSES ?= 4

lint: $(STAMP)
	$(BIN)/ruff check worker bench tests examples
	$(BIN)/ruff format --check --quiet worker bench tests migrations examples
	# The public API strictly, and every example written against it ([tool.mypy] in pyproject.toml).
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile --ignore=tests/chaos $(PYTEST_ARGS)

# Faults injected into a running system (killed workers, Redis and PostgreSQL outages, a flaky
# Scenario): one at a time, since each times its own recovery; each prints its counts.
chaos: $(STAMP)
	$(BIN)/python -m pytest -n 0 -s -p no:cacheprovider tests/chaos $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/scenario-worker demo $(DEMO_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

migrate: $(STAMP)
	$(BIN)/scenario-worker db upgrade

worker: $(STAMP)
	$(BIN)/celery -A worker worker --loglevel=INFO --concurrency=$${CONCURRENCY:-4}

flower: $(STAMP)
	$(BIN)/celery -A worker flower --port=$${FLOWER_PORT:-5555}

simulator: $(STAMP)
	$(BIN)/scenario-worker simulator --host 127.0.0.1 --port $${SIMULATOR_PORT:-8765}

console: $(STAMP)
	CONSOLE_DEV_MODE=$${CONSOLE_DEV_MODE:-true} $(BIN)/scenario-worker console --host 127.0.0.1 --port $${CONSOLE_PORT:-8080}

# The console's browser tests drive Debian's chromium (Playwright's own browser download is never used).
browser:
	@test -x /usr/bin/chromium || { echo "installing chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

clean:
	rm -rf $(VENV) .pytest_cache out *.egg-info
