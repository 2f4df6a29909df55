# Deskpilot developer commands. `make run` to try it, `make test` before you push.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# PostgreSQL database the second test run uses (it is wiped): `make test PG_URL=postgresql://...`
PG_URL ?= $(if $(filter postgres%,$(DESKPILOT_TEST_DATABASE_URL)),$(DESKPILOT_TEST_DATABASE_URL),postgresql://postgres@127.0.0.1:5432/test)
REDIS_URL ?= $(or $(DESKPILOT_TEST_REDIS_URL),redis://127.0.0.1:6379/15)
PYTEST_ARGS ?=
INSTALLED := $(VENV)/.deskpilot-installed

.PHONY: install run test test-sqlite test-postgres services lint fmt bench eval screenshots clean

install: $(INSTALLED)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Deskpilot needs Python 3.11 or newer: make install PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Reinstalls only when pyproject.toml changes; the package itself is installed in editable mode.
$(INSTALLED): pyproject.toml frontend/package.json | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix frontend --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: pages will work without htmx (make install again once Node.js is installed)" >&2; fi
	@touch $@

run: install
	$(BIN)/deskpilot db upgrade
	DESKPILOT_BASE_URL=$${DESKPILOT_BASE_URL:-http://$(HOST):$(PORT)} $(BIN)/deskpilot demo --if-empty
	$(BIN)/deskpilot serve --host $(HOST) --port $(PORT)

test: install
	bash scripts/test-packages.sh
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite: install
	DESKPILOT_TEST_DATABASE_URL=sqlite DESKPILOT_TEST_REDIS_URL=$(REDIS_URL) \
		$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-postgres: install services
	DESKPILOT_TEST_DATABASE_URL=$(PG_URL) DESKPILOT_TEST_REDIS_URL=$(REDIS_URL) \
		$(BIN)/python -m pytest -q $(PYTEST_ARGS)

services:
	bash scripts/services.sh "$(PG_URL)" "$(REDIS_URL)"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo --no-cache
	bash scripts/check-migrations.sh $(BIN)/deskpilot

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python bench/api_load.py

# The AI evaluations on the development data sets (../shared/datasets; minutes each, not in CI).
DATASETS ?= ../shared/datasets
eval: install
	$(BIN)/deskpilot eval retrieval --kb $(DATASETS)/covidfaq/kb.jsonl --queries $(DATASETS)/covidfaq/queries.jsonl
	$(BIN)/deskpilot eval answers --kb $(DATASETS)/covidfaq/kb.jsonl --queries $(DATASETS)/covidfaq/queries.jsonl --folds 5
	$(BIN)/deskpilot eval intents --data $(DATASETS)/banking77/train.csv --folds 5
	$(BIN)/deskpilot eval oos --data $(DATASETS)/clinc150/train_val.json

# Refresh the README's screenshots from the browser tests (SQLite; needs chromium).
screenshots: install
	bash scripts/test-packages.sh
	DESKPILOT_TEST_DATABASE_URL=sqlite DESKPILOT_SCREENSHOTS=docs/screenshots \
		$(BIN)/python -m pytest -q tests/e2e

clean:
	rm -rf build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -name __pycache__ -type d -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
