# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates or updates the virtualenv in .venv and installs what it needs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the test suite needs (installed with apt-get when missing).
DEBIAN_PACKAGES ?= chromium
PYTEST_ARGS ?=

.PHONY: demo test lint format typecheck docs bench system-deps clean help

help:
	@echo "make demo   build the demo data, serve it and open JupyterLab on the tour"
	@echo "make test   run the whole test suite (lint, types, tests, docs)"
	@echo "make docs   build the documentation site into site/"
	@echo "make bench  run the benchmarks (figures, not tests)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,docs]"
	touch $(STAMP)

system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

demo: $(STAMP)
	$(BIN)/bioshare demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: $(STAMP) system-deps lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(MAKE) docs

bench: $(STAMP)
	$(BIN)/python benchmarks/open_read.py
	$(BIN)/python benchmarks/search.py

clean:
	rm -rf $(VENV) site demo-data .pytest_cache .mypy_cache .ruff_cache
