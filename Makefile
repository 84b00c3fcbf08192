# Two commands for a newcomer (see README.md):
#   make demo   install everything, build the control plane, play the platform demo
#   make test   lint, type-check and run every test (unit + integration on a real dev cluster)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: install lock demo test lint unit integration bench clean

install: $(VENV)/.installed
	sh scripts/system-packages.sh

# Every dependency comes from requirements.lock, pinned with hashes; quarterdeck itself
# is installed on top without resolving anything (see docs/dependencies.md).
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $@

# Refresh requirements.lock after changing dependencies in pyproject.toml. Pins already
# in the lock are kept; `make lock UPGRADE=--upgrade` moves everything to the newest allowed.
UPGRADE ?=
lock:
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/pip install --quiet 'uv>=0.9,<1'
	$(VENV)-lock/bin/uv pip compile pyproject.toml --extra dev --generate-hashes \
		--python-version 3.11 $(UPGRADE) -o requirements.lock
	rm -rf $(VENV)-lock

# The platform's story (docs/demo.md); it stays up serving the dashboard until Ctrl-C.
# `make demo DEMO=--no-serve` plays it and exits (what the demo's test runs).
DEMO ?= --serve
demo: install
	$(BIN)/qd dev build
	$(BIN)/qd demo $(DEMO)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/qd dev build
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

clean:
	-$(BIN)/qd dev down --all
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
