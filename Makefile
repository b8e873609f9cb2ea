# Two commands do all set-up: `make run` (serve the embedded default) and `make test` (the whole suite).
SHELL := /bin/bash
TOOLS := .tools
UV := $(TOOLS)/bin/uv
PY := .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test install install-dev services lint fmt typecheck schema pytest bench

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv

install: $(UV)
	$(UV) sync --frozen --no-dev

install-dev: $(UV)
	$(UV) sync --frozen

run: install
	$(PY) -m app migrate
	$(PY) -m app serve --host $(HOST) --port $(PORT)

services:
	bash scripts/ensure-services.sh

lint: install-dev
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

fmt: install-dev
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

typecheck: install-dev
	.venv/bin/mypy

schema: install-dev
	$(PY) -m app export-schema

pytest: install-dev services
	$(PY) -m pytest $(PYTEST_ARGS)

test: install-dev services lint typecheck pytest

bench: install-dev services
	$(PY) bench/stream.py
