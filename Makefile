# MNR Expert Roster — every developer command. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
SERVICES := roster requests matching portal
PYTEST_ARGS ?=
# Cached bytecode roughly halves every process start (tests, `make run`); keep it even where
# the environment asks Python not to write it.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help install chromium run seed demo bench bench-api test test-pg lint fmt migrate revision clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## Install uv if missing, then every package and tool from uv.lock into .venv
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --frozen --all-packages --quiet
	@$(MAKE) --no-print-directory chromium

chromium: ## Install Debian's Chromium for the browser tests when it is missing (root + apt-get)
	@if [ -n "$$MNR_CHROMIUM" ] || command -v chromium >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Chromium for the browser tests (apt-get install chromium)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
			|| { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; \
	else \
		echo "The browser tests need Chromium. Run: sudo apt-get install -y chromium"; \
		echo "(or point MNR_CHROMIUM at a Chromium or Chrome binary); they are skipped until then."; \
	fi

run: install ## Run everything on SQLite: dev issuer :8000, roster :8001, requests :8002, matching :8003
	@$(UV) run --frozen python deploy/run_local.py

seed: install ## Generate the deterministic demo data into var/demo (once; FORCE=1 to redo)
	@$(UV) run --frozen python deploy/seed.py --out var/demo $(if $(FORCE),--force,)

demo: install ## Walk the whole path against a running `make run` (second terminal)
	@$(UV) run --frozen python deploy/demo.py

bench: install ## Ranking benchmark: 100,000 experts, 200 requests (see bench/RESULTS.md)
	@$(UV) run --frozen python bench/ranking.py $(BENCH_ARGS)

bench-api: install ## API benchmark on its own stack: roster vs bare Starlette/FastAPI, candidates, creates, import, cold start
	@$(UV) run --frozen python bench/api.py $(BENCH_API_ARGS)

test: install ## Run every test on SQLite (the embedded default)
	@$(UV) run --frozen pytest $(PYTEST_ARGS)

test-pg: install ## Run every test on PostgreSQL (MNR_TEST_PG_URL, default postgres@127.0.0.1:5432)
	@MNR_TEST_DATABASE=postgresql $(UV) run --frozen pytest $(PYTEST_ARGS)

lint: install ## ruff (lint + format check) and mypy --strict with the pydantic plugin
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy shared/src services/*/src devkit/src services/*/migrations deploy tests

fmt: install ## Format and auto-fix with ruff
	@$(UV) run --frozen ruff check --fix .
	@$(UV) run --frozen ruff format .

migrate: install ## Upgrade every service database to head (URLs from ROSTER_/REQUESTS_/MATCHING_DATABASE_URL)
	@for svc in $(SERVICES); do \
		echo "migrating $$svc"; \
		$(UV) run --frozen alembic -c services/$$svc/alembic.ini upgrade head || exit 1; \
	done

revision: install ## New Alembic revision: make revision svc=roster m="add experts"
	@test -n "$(svc)" -a -n "$(m)" || { echo 'usage: make revision svc=roster m="message"'; exit 2; }
	@$(UV) run --frozen alembic -c services/$(svc)/alembic.ini revision --autogenerate -m "$(m)"

clean: ## Remove local databases, keys, demo data and caches (var/, .venv stays)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
