# Two commands for a newcomer (see README.md):
#   make demo   install everything, build the control plane, run the demo
#   make test   lint, type-check and run every test (unit + integration on a real dev cluster)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: install demo test lint unit integration bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: install
	$(BIN)/qd dev build
	$(BIN)/qd demo

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
