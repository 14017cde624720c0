PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench lint reliability clean

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

# `make run` keeps its data across restarts in INFERTRACE_DATA_DIR (the variable serve
# reads too); `make run ARGS=--no-persist` (or INFERTRACE_NO_PERSIST=1) keeps nothing.
# ARGS go to `infertrace serve`.
INFERTRACE_DATA_DIR ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/infertrace
ARGS ?=

run: $(STAMP)
	@mkdir -p "$(INFERTRACE_DATA_DIR)"
	$(BIN)/infertrace serve --data-dir "$(INFERTRACE_DATA_DIR)" $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks

reliability: $(STAMP)
	$(BIN)/python -m reliability

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks reliability
	$(BIN)/ruff format --check src tests benchmarks reliability
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
