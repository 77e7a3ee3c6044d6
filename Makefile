# make demo: environment + the main job end to end on a small default. make test: the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO := demo

.PHONY: install demo test test-fast bench bench-full clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[loc,bench,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/chirpgen make --n 2000 --out $(DEMO)/data --seed 0
	$(BIN)/chirpgen info $(DEMO)/data
	$(BIN)/chirpgen export $(DEMO)/data --split test --n 8 --out $(DEMO)/pngs

test: $(STAMP)
	$(BIN)/pytest -m "not gpu"

test-fast: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_generate.py --quick --out benchmarks/results/tmp/generate_speed.json

bench-full: $(STAMP)
	$(BIN)/python benchmarks/bench_generate.py

clean:
	rm -rf $(DEMO) .pytest_cache
