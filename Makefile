# Two commands do all the set-up on a fresh machine:
#   make run   - the TUI on the quickstart experiment (headless when there is no terminal)
#   make test  - the test suite
# Both create .venv if it is missing and install what they need into it.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPEC   ?= sample_workflows/quickstart/quickstart.xxp

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,examples,dask]'
	@touch $(STAMP)

# The tests exercise every optional feature (DataFrames, Parquet, MLflow, Dask): install them all.
ALL_STAMP := $(VENV)/.installed-all
$(ALL_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[all]'
	@touch $(ALL_STAMP)

run: $(STAMP)
	$(BIN)/xxp-tui run $(SPEC)

test: $(ALL_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --timeout=600 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/reuse.py
	$(BIN)/python benchmarks/tui.py
	$(BIN)/python benchmarks/shim_cost.py

clean:
	rm -rf $(VENV) .pytest_cache .xxp
