# codexhub: `make run` starts the hub, `make test` runs lint and the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
AGENTS := tests/agents
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install agent run worker beat test lint e2e migrate superuser bench constraints clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

# After changing requirements.txt: pin what it pulls in.
constraints: $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	{ head -n 2 constraints.txt; $(BIN)/python -m pip freeze | grep -v '^-e'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

# The coding agents the tests run for real, at the versions tests/agents/package-lock.json pins
# (into tests/agents/node_modules, never globally). Without npm only those tests fail.
$(AGENTS)/node_modules/.installed: $(AGENTS)/package.json $(AGENTS)/package-lock.json
	@if command -v npm >/dev/null; then \
		cd $(AGENTS) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else \
		echo "make: npm not found: the tests running the real Codex CLI need it (apt-get install nodejs npm)"; \
	fi

install: $(VENV)/.installed $(AGENTS)/node_modules/.installed

# The host agent's wheel (agent/pyproject.toml), which the hub serves at /agent/<wheel> for
# `pipx install` on a workstation; rebuilt when hostagent/ or protocol/ change. Built with the
# backend requirements.txt installs, so nothing is downloaded.
AGENT_WHEEL_DIR ?= agent/dist
AGENT_VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' hostagent/__init__.py)
AGENT_WHEEL := $(AGENT_WHEEL_DIR)/codexhub_agent-$(AGENT_VERSION)-py3-none-any.whl
AGENT_SOURCES := $(shell find hostagent protocol -name __pycache__ -prune -o \( -type d -o -name '*.py' \) -print)

$(AGENT_WHEEL): $(AGENT_SOURCES) agent/pyproject.toml agent/hatch_build.py $(VENV)/.installed
	rm -f $(AGENT_WHEEL_DIR)/codexhub_agent-*.whl
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir $(AGENT_WHEEL_DIR) ./agent

agent: $(AGENT_WHEEL)

migrate: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py vapid_keys

run: migrate agent
	@echo ""
	@echo "  codexhub is starting at http://$(HOST):$(PORT)/"
	@echo "  Open it and create the first account, or make an admin with: make superuser"
	@echo ""
	$(BIN)/daphne --bind $(HOST) --port $(PORT) codexhub.asgi:application

# With REDIS_URL set, jobs run in separate workers instead of in-process.
worker: migrate
	$(BIN)/celery --app codexhub worker --loglevel INFO

# Exactly one beat process: it schedules the task housekeeping.
beat: migrate
	$(BIN)/celery --app codexhub beat --loglevel INFO

# Asks for an email and a password (accounts' createsuperuser); the admin sets
# up two-factor at the first sign-in, before anything else.
superuser: migrate
	$(BIN)/python manage.py createsuperuser

# ruff, then the layering (pyproject's [tool.importlinter]), then types ([tool.mypy]).
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

test: lint agent
	$(BIN)/python -m pytest

e2e: install
	$(BIN)/python -m pytest -m e2e

bench: migrate
	$(BIN)/python bench/backup_codes.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/link.py
	$(BIN)/python bench/mirror.py
	$(BIN)/python bench/mirror_repo.py
	$(BIN)/python bench/mirror_browse.py
	$(BIN)/python bench/git_worktree.py
	$(BIN)/python bench/config_reload.py
	$(BIN)/python bench/computer_live.py
	$(BIN)/python bench/tasks.py
	$(BIN)/python bench/apply.py
	$(BIN)/python bench/load.py 200 5 20
	$(BIN)/python bench/idle.py 1000 30

clean:
	rm -rf $(VENV) var/test_db.sqlite3 test-artifacts $(AGENTS)/node_modules agent/dist
