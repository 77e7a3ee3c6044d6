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
	$(BIN)/chirpgen make --n 10000 --out $(DEMO)/data --seed 2 --set "signal.snr_db=[5, 15]" --quiet
	$(BIN)/chirpgen info $(DEMO)/data
	$(BIN)/chirploc pretrain --data $(DEMO)/data --out $(DEMO)/pre --config configs/debug.yaml --no-progress
	$(BIN)/chirploc train --data $(DEMO)/data --out $(DEMO)/run --config configs/debug.yaml --backbone $(DEMO)/pre --no-progress
	$(BIN)/chirploc evaluate $(DEMO)/run --data $(DEMO)/data --split test
	$(BIN)/chirpgen export $(DEMO)/data --split test --n 3 --out $(DEMO)/pngs
	$(BIN)/chirploc package $(DEMO)/run --out $(DEMO)/model
	$(BIN)/chirploc describe $(DEMO)/pngs --model $(DEMO)/model --plot $(DEMO)/figures
	@echo "the packaged default model on the same images:"
	$(BIN)/chirploc describe $(DEMO)/pngs --json
	@echo "their labels:" && cat $(DEMO)/pngs/labels.csv

test: $(STAMP)
	$(BIN)/pytest -m "not gpu"

test-fast: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_generate.py --quick --out benchmarks/results/tmp/generate_speed.json
	$(BIN)/python benchmarks/bench_data.py
	$(BIN)/python benchmarks/accuracy.py --data data/bench --split test --n 300 --out benchmarks/results/tmp/accuracy.json
	$(BIN)/python benchmarks/tables.py benchmarks/results/tmp/accuracy.json --out benchmarks/results/tmp/accuracy.md

bench-full: $(STAMP)
	$(BIN)/python benchmarks/bench_data.py
	$(BIN)/python benchmarks/train_reference.py --recipe benchmarks/reference/cpu_dense.yaml
	$(BIN)/python benchmarks/accuracy.py --data data/bench --split test --model chirploc/models/default --out benchmarks/results/accuracy.json
	$(BIN)/python benchmarks/tables.py benchmarks/results/accuracy.json --out benchmarks/results/accuracy.md
	$(BIN)/python benchmarks/detection.py
	$(BIN)/chirpgen make --n 6000 --seed 31337 --out data/fresh --quiet
	$(BIN)/python benchmarks/accuracy.py --data data/fresh --split train --model chirploc/models/default --out benchmarks/results/accuracy_fresh.json
	$(BIN)/python benchmarks/decode_steps.py
	$(BIN)/python benchmarks/kind_separation.py
	$(BIN)/python benchmarks/track_precision.py
	$(BIN)/python benchmarks/recordings.py
	$(BIN)/python benchmarks/ablation.py --backbone runs/reference-cpu_dense-pre --images 25600
	$(BIN)/python benchmarks/bench_generate.py
	$(BIN)/python benchmarks/bench_train_speed.py --config benchmarks/reference/cpu_dense.yaml --threads 2 --out benchmarks/results/train_speed_cpu_reference.json
	$(BIN)/python benchmarks/bench_inference.py
	$(BIN)/python benchmarks/readme.py

clean:
	rm -rf $(DEMO) .pytest_cache
