# Two commands do all the set-up on a fresh machine:
#   make run   - the TUI on the quickstart experiment (headless when there is no terminal)
#   make test  - the test suite
# Both create .venv if it is missing and install what they need into it, showing progress.
# `make run` installs only what running needs (plus an extra the chosen SPEC's tasks need, such as
# `examples` for sample_workflows/classify); `make test` installs the rest (every extra: test tools, examples, dask, frames, mlflow…).

SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -c

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP     := $(VENV)/.installed
# The quickstart's tasks need only the standard library: no extra to look for.
QUICKSTART := sample_workflows/quickstart/quickstart.xxp
SPEC   ?= $(QUICKSTART)
PIP    := $(BIN)/python -m pip install --disable-pip-version-check
PROGRESS = $(PYTHON) tools/pip_progress.py

.PHONY: run test lint bench clean

$(BIN)/python:
	@echo "make: creating $(VENV) ($(PYTHON) -m venv), once"
	@$(PYTHON) -m venv $(VENV)

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	@echo "make: installing xxp-tui and what running needs into $(VENV), once (make test adds the test tools)"
	@$(PIP) -e . 2>&1 | $(PROGRESS) "xxp-tui"
	@touch $@

# The tests exercise every optional feature (DataFrames, Parquet, MLflow, Dask…): install them all.
$(STAMP): pyproject.toml | $(BIN)/python
	@echo "make: installing xxp-tui with every extra (tests, examples, dask, frames, mlflow…) into $(VENV), once"
	@$(PIP) -e '.[all]' 2>&1 | $(PROGRESS) "xxp-tui[all]"
	@touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
ifneq ($(SPEC),$(QUICKSTART))
	@extras=$$($(BIN)/python -m xxp_tui.engine.requirements $(SPEC)); \
	if [ -n "$$extras" ]; then \
		echo "make: $(SPEC) needs the $$extras extra of xxp-tui; installing it"; \
		$(PIP) -e ".[$$extras]" 2>&1 | $(PROGRESS) "xxp-tui[$$extras]"; \
	fi
endif
	$(BIN)/xxp-tui run $(SPEC)

# The second pytest: the engine tests marked `launchers` (supervisor, adoption, leftover children) again with
# the fork server's other setting (default on, so: off), so both ways of starting a task stay tested.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -n 3 --dist worksteal --timeout=600 $(PYTEST_ARGS)
	XXP_FORK_SERVER=$$($(BIN)/python -c "from xxp_tui.engine.executors.fork_client import DEFAULT; print(int(not DEFAULT))") \
		$(BIN)/python -m pytest -n 3 --dist worksteal --timeout=600 -m launchers tests/engine $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/reuse.py
	$(BIN)/python benchmarks/tui.py
	$(BIN)/python benchmarks/shim_cost.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .xxp
