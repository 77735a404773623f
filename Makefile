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
	# Compile the signal core's kernels now, not in the first seconds of a live session.
	$(BIN)/python -m detection.warmup
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

# Most of the suite waits on real LSL streams in real time (a third of a core busy on
# average): two workers halve the wall time. One file per worker, so a module's shared
# recorded session is made once.
TEST_WORKERS ?= 2

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

demo: $(STAMP)
	$(BIN)/mirrorscope demo

bench: $(STAMP)
	$(BIN)/mirrorscope bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache
