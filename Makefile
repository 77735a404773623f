# Two commands do everything on a fresh machine:
#   make demo   set up, then open the live monitor on a simulated patient
#   make test   set up, then lint, check the import contracts and run the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Every LSL process started from here stays on this machine (discovery on 127.0.0.1 only).
export LSLAPICFG := $(CURDIR)/acquisition/lsl_local.cfg

.PHONY: setup test lint demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/mirrorscope demo

bench: $(STAMP)
	$(BIN)/mirrorscope bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache
