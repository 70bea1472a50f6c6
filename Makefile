# filegate — `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# Installs come from the lock files in requirements/ (exact versions with hashes); `make lock`
# writes them from pyproject.toml. One stamp per lock: `make run` installs only what the service
# needs, `make install` adds the development tools.
RUN_STAMP := $(VENV)/.run-$(shell sha1sum requirements/run.txt | cut -c1-12)
DEV_STAMP := $(VENV)/.dev-$(shell sha1sum requirements/dev.txt | cut -c1-12)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUN_STAMP): requirements/run.txt pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet --require-hashes -r requirements/run.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.run-* && touch $@

$(DEV_STAMP): requirements/dev.txt pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.dev-* $(VENV)/.run-* && touch $@ $(RUN_STAMP)

.PHONY: install-run
install-run: $(RUN_STAMP) ## Create the virtualenv with what the service needs to run (no test tools)

.PHONY: install
install: $(DEV_STAMP) ## Create the virtualenv and install filegate with its development tools

.PHONY: lock
lock: install ## Write requirements/*.txt from pyproject.toml, keeping current pins (UPGRADE=1: newest releases)
	$(VENV)/bin/uv pip compile pyproject.toml $(LOCK_FLAGS) --extra monitor -o requirements/run.txt
	$(VENV)/bin/uv pip compile pyproject.toml $(LOCK_FLAGS) --extra monitor --extra dev -o requirements/dev.txt

LOCK_FLAGS = --quiet --universal --generate-hashes --python-version 3.11 $(if $(UPGRADE),--upgrade)

.PHONY: tools
tools: ## Install the system programs the tests and benchmarks use (unzip, 7z, Java, Chromium, wrk, ...)
	@bash scripts/ensure-tools.sh

.PHONY: run
run: install-run ## Run the API and a worker on the local store (Ctrl-C stops both)
	@url=$$($(PY) scripts/ensure-redis.py) && FILEGATE_REDIS_URL=$$url $(VENV)/bin/filegate dev

.PHONY: lint
lint: install ## ruff, formatting and mypy --strict
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts
	$(VENV)/bin/mypy

.PHONY: test
test: lint tools ## Lint, then the whole test suite against real Redis, S3 server, workers and HTTP
	$(VENV)/bin/pytest

LOWEST := .venv-lowest
.PHONY: test-lowest
test-lowest: install tools ## The suite (but its browser, fuzz and slow groups) with each dependency at its lower bound
	rm -rf $(LOWEST) && python3 -m venv $(LOWEST)
	$(VENV)/bin/uv pip install --quiet --python $(LOWEST)/bin/python -r requirements/dev.txt
	@# Each dependency of the service pinned to its lower bound, then installed with what it needs.
	$(VENV)/bin/uv pip compile pyproject.toml --extra monitor --resolution lowest-direct --no-deps \
		--no-header --no-annotate --python-version 3.11 --quiet -o $(LOWEST)/lowest.txt
	$(VENV)/bin/uv pip install --quiet --python $(LOWEST)/bin/python -r $(LOWEST)/lowest.txt
	$(VENV)/bin/uv pip install --quiet --python $(LOWEST)/bin/python --no-deps -e .
	@cat $(LOWEST)/lowest.txt
	$(LOWEST)/bin/pytest -m "not browser and not fuzz and not slow"

.PHONY: bench
bench: install tools ## Throughput and memory of archive builds against zip and cat
	$(PY) bench/run.py

.PHONY: bench-slots
bench-slots: install tools ## Build slots kept busy by the dispatcher, against strict FIFO
	$(PY) bench/slots.py

.PHONY: bench-browse
bench-browse: install tools ## GET /browse latency on a folder of 10,000 entries, local store and S3 (moto)
	$(PY) bench/browse.py

.PHONY: bench-page
bench-page: install tools ## The page in headless Chromium: Download pressed → first progress and ready shown
	$(PY) bench/page.py

.PHONY: bench-control
bench-control: install tools ## The control plane under load: POST /download at queue depths, SSE with 2,000 listeners
	$(PY) bench/control.py

.PHONY: bench-cluster
bench-cluster: install tools ## Several hosts in network namespaces (root): builds/min with 1 and 2 worker hosts, recovery times
	$(PY) bench/cluster.py

.PHONY: bench-s3
bench-s3: install tools ## S3 builds (moto) against the server's own multipart upload; GET bytes per archived byte
	$(PY) bench/s3.py

.PHONY: bench-deflate
bench-deflate: install tools ## compression deflate on text: the builder against zip -6 (speed and size)
	$(PY) bench/deflate_text.py

.PHONY: clean
clean: ## Remove the virtualenv, caches and local data
	rm -rf $(VENV) $(LOWEST) .mypy_cache .ruff_cache .pytest_cache data .run
