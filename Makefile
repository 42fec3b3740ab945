# STEP: every target creates .venv on first use (plain python3 -m venv + pip).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run test mirna preprocess bench clean-cache

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: the default mRNA job (STEPmr vs baselines, chronological protocol)
run: $(STAMP)
	$(BIN)/python -m mrna.STEPmr_train_test $(ARGS)

## test: the whole test suite on CPU
test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

## mirna: the default miRNA job
mirna: $(STAMP)
	$(BIN)/python -m mirna.STEPmi_train_test $(ARGS)

## preprocess: regenerate the corrected datasets from raw inputs
preprocess: $(STAMP)
	$(BIN)/python -m raw_data_conversion --config configs/preprocess/mrna.yaml --out dataset/corrected/mrna
	$(BIN)/python -m raw_data_conversion --config configs/preprocess/mirna.yaml --out dataset/corrected/mirna

## bench: wall time and peak memory of the main jobs (writes benchmarks/results/)
bench: $(STAMP)
	$(BIN)/python benchmarks/run_benchmarks.py $(ARGS)

clean-cache:
	rm -rf .cache
