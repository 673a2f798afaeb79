# afnio — the two commands of the README: `make lab` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.afnio-installed
NOTEBOOK_DIR := notebooks
LAB_PORT ?= 8888

.PHONY: lab test env js lint typecheck pytest jstest system-deps bench clean help

help:
	@echo "make lab    - set up what the lab needs and open JupyterLab on notebooks/"
	@echo "make test   - set up everything and run every test (Python, JS, notebooks, browser)"
	@echo "make bench  - run the benchmarks (after make test)"

# -- environment -------------------------------------------------------------------------------
# `make lab` installs what the lab needs (afnio, the widgets, JupyterLab); `make test` adds the test
# tools and PyTorch. Each step is a file target, so a second run does only what changed.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

node_modules/.package-lock.json: package.json $(wildcard package-lock.json)
	npm ci --no-audit --no-fund || npm install --no-audit --no-fund
	@touch $@

# The bundles are rebuilt only when a widget source or the build set-up changed (js/build.mjs
# writes each bundle atomically, and leaves one whose content did not change alone).
JS_SOURCES := $(filter-out %.test.js js/test-helpers.js js/test-worker-stub.js,\
	$(wildcard js/*.js js/*.mjs js/*.css js/package.json))
BUNDLE := afnio_widgets/static/widget.js
$(BUNDLE): $(JS_SOURCES) package.json node_modules/.package-lock.json
	npm run build
	@touch $@

js: $(BUNDLE)

LAB_STAMP := $(VENV)/.afnio-lab
$(LAB_STAMP): $(BIN)/python pyproject.toml | $(BUNDLE)
	$(BIN)/python -m pip install --quiet -e ".[lab]"
	@touch $@

$(STAMP): $(BIN)/python pyproject.toml | $(BUNDLE)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@ $(LAB_STAMP)

# PyTorch is the oracle of some core tests and the reference of the engine benchmark. Only a
# local CPU build is installed (a plain `pip install torch` would fetch a multi-GB CUDA build);
# without one those tests are skipped.
TORCH_WHEEL := $(firstword $(wildcard /opt/wheels/torch-*+cpu-cp311-*.whl))
$(VENV)/.afnio-torch: $(STAMP)
	@if $(BIN)/python -c "import torch" 2>/dev/null; then :; \
	elif [ -n "$(TORCH_WHEEL)" ] && $(BIN)/python -c "import sys; sys.exit(sys.version_info[:2] != (3, 11))"; then \
	  $(BIN)/python -m pip install --quiet "$(TORCH_WHEEL)"; \
	else echo "No local CPU build of torch: the PyTorch-oracle tests will be skipped."; fi
	@touch $@

env: $(BUNDLE) $(STAMP) $(VENV)/.afnio-torch

# -- tests -------------------------------------------------------------------------------------
lint: env
	$(BIN)/ruff check afnio afnio_widgets tests benchmarks
	$(BIN)/ruff format --check afnio afnio_widgets tests benchmarks

# mypy checks the afnio package (pyproject.toml), then the browser-test harness the widget
# benchmark shares (tests/browser/jupyter_lab.py; not part of the package).
typecheck: env
	$(BIN)/mypy
	$(BIN)/mypy tests/browser/jupyter_lab.py
	npm run typecheck

jstest: env
	npm test

system-deps:
	@bash scripts/ensure-system-deps.sh

# The browser tests run in a pytest process of their own: Playwright's sync API and a JupyterLab
# server leave event-loop and file-descriptor state behind that the rest of the suite should not
# inherit.
pytest: env system-deps
	$(BIN)/pytest --ignore=tests/browser
	$(BIN)/pytest tests/browser

test: lint typecheck jstest pytest

# -- lab ---------------------------------------------------------------------------------------
lab: $(BUNDLE) $(LAB_STAMP)
	@bash scripts/lab.sh $(LAB_PORT) $(NOTEBOOK_DIR)

bench: env system-deps
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) node_modules afnio_widgets/static .pytest_cache .mypy_cache .ruff_cache
