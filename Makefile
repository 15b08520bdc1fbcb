# Every target sets up .venv on first use; nothing needs to be installed by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install lint test demo bench worker flower migrate simulator clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# The system tests mostly wait on the network, so two test processes halve the time.
TEST_PROCESSES ?= 2

lint: $(STAMP)
	$(BIN)/ruff check worker bench tests
	$(BIN)/ruff format --check --quiet worker bench tests migrations

test: lint
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile $(PYTEST_ARGS)

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

clean:
	rm -rf $(VENV) .pytest_cache out *.egg-info
