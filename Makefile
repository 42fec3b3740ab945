# STEP: every target creates .venv on first use (plain python3 -m venv + pip).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run test test-services mirna yeast yeast-data preprocess bench bench-null bench-synthetic bench-scale bench-hic bench-hic-test bench-intervals bench-defaults bench-study bench-seeds bench-beside results ablate hic-test workflow tune clean-cache

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# the reference embedding backend (embedding.backend: node2vec; the extra 'node2vec'), --no-deps: its numpy<2 pin is
	# stricter than it needs (tests/graph/test_embeddings.py runs it with this numpy)
	$(BIN)/python -m pip install --quiet --no-deps node2vec==0.5.0
	touch $(STAMP)

## run: the default mRNA job (STEPmr vs baselines, chronological protocol)
run: $(STAMP)
	$(BIN)/python -m mrna.STEPmr_train_test $(ARGS)

## test: the whole test suite on CPU
test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

## test-services: the cluster path for real, minutes, not part of `make test`: a throw-away
## PostgreSQL server (two step.jobs.tune workers on one study) and a one-node SLURM cluster (the tiny
## workflow through workflow/profiles/slurm), started in /tmp and stopped afterwards; installs the
## `cluster` extra and, as root, slurm-wlm + munge (apt-get) when missing. Prints the trials counted
## in PostgreSQL and the jobs that went through SLURM; also in results/services/report.json
test-services: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,cluster]'
	bash tests/services/install_slurm.sh
	STEP_SERVICES=1 STEP_SERVICES_REPORT=$(CURDIR)/results/services/report.json \
		$(BIN)/python -m pytest tests/services -o addopts="" -v -rs $(ARGS)

## mirna: the default miRNA job
mirna: $(STAMP)
	$(BIN)/python -m mirna.STEPmi_train_test $(ARGS)

## yeast: the real development case (yeast cell cycle + yeast Hi-C, rolling origin; dataset/yeast/README.md)
yeast: $(STAMP)
	$(BIN)/python -m mrna.STEPmr_train_test --config configs/yeast.yaml $(ARGS)

## yeast-data: rebuild dataset/yeast/converted from dataset/yeast/raw
yeast-data: $(STAMP)
	$(BIN)/python -m raw_data_conversion.genome --config configs/preprocess/yeast.yaml --out dataset/yeast/converted

## preprocess: regenerate the corrected datasets from raw inputs
preprocess: $(STAMP)
	$(BIN)/python -m raw_data_conversion --config configs/preprocess/mrna.yaml --out dataset/corrected/mrna
	$(BIN)/python -m raw_data_conversion --config configs/preprocess/mirna.yaml --out dataset/corrected/mirna

## bench: wall time and peak memory of the main jobs (writes benchmarks/results/)
bench: $(STAMP)
	$(BIN)/python benchmarks/run_benchmarks.py $(ARGS)

## results: rerun everything behind the README results table (rolling origin, 5 seeds, six
## datasets, ablations) and rewrite the table; about 1.5 h on a 2-core machine (measured 91 min, ~82 min estimated since; see README)
results: $(STAMP)
	$(BIN)/python -m step.study $(ARGS)

## ablate: does the Hi-C graph help? (CONFIG=configs/mrna.yaml by default)
CONFIG ?= configs/mrna.yaml
ablate: $(STAMP)
	$(BIN)/python -m step.ablate --config $(CONFIG) $(ARGS)

## hic-test: do Hi-C neighbours carry predictive information? (a fixed learner, with power; several
## courses of one organism pooled), e.g. make hic-test CONFIGS="configs/yeast.yaml configs/yeast_elutriation.yaml"
CONFIGS ?= configs/yeast.yaml configs/yeast_elutriation.yaml
hic-test: $(STAMP)
	$(BIN)/python -m step.hic_test $(foreach c,$(CONFIGS),--config $(c)) $(ARGS)

## bench-hic-test: the Hi-C test's power, interval coverage and false-verdict rate on synthetic data
bench-hic-test: $(STAMP)
	$(BIN)/python benchmarks/bench_hic_test.py $(ARGS)

## bench-intervals: coverage of the 80 % / 95 % intervals on the real courses (rolling, 1 seed; ~12 min)
bench-intervals: $(STAMP)
	$(BIN)/python benchmarks/bench_intervals.py $(ARGS)

## bench-null: the verdict rule's false-verdict rate on null data and its power (benchmarks/results/)
bench-null: $(STAMP)
	$(BIN)/python benchmarks/bench_null_calibration.py $(ARGS)

## bench-synthetic: accuracy on data with a known generating process (graph-driven and null)
bench-synthetic: $(STAMP)
	$(BIN)/python benchmarks/bench_synthetic.py $(ARGS)

## bench-scale: genome scale end to end (synthetic cooler + matrix -> results) for 2,000, 5,000 and
## 20,000 genes x 40 time points; wall time and peak RSS -> benchmarks/results/scale.json
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/bench_scale.py --csv 2000,5000 $(ARGS)
	$(BIN)/python benchmarks/bench_hic.py

## bench-hic: the converter on a synthetic whole-mouse .mcool at 1 Mb, 100 kb, 10 kb and 5 kb
## (benchmarks/hic_scale_data.py; wall time and peak RSS -> benchmarks/results/hic_scale.json)
bench-hic: $(STAMP)
	$(BIN)/python benchmarks/bench_hic.py $(ARGS)

## bench-study: make results timed cell by cell, then resumed (benchmarks/results/study.json; hours for the
## whole table: ARGS="--datasets yeast,yeast_elutriation" or ARGS=--no-ablation for a part)
bench-study: $(STAMP)
	$(BIN)/python benchmarks/bench_study.py $(ARGS)

## bench-seeds: a rolling job's 5 seeds in one process against each fit's seeds in worker processes
## (train.seed_workers), mRNA and corrected miRNA; writes benchmarks/results/seeds.json
bench-seeds: $(STAMP)
	$(BIN)/python benchmarks/bench_seeds.py $(ARGS)

## bench-beside: jobs with their per-gene smoothers in their own process against beside it
## (baselines.processes 1 vs auto), alternating cold runs; writes benchmarks/results/beside.json
bench-beside: $(STAMP)
	$(BIN)/python benchmarks/bench_beside.py $(ARGS)

## bench-defaults: the default job (no --config) on 2,000 and 20,000 synthetic genes x 40 times in the
## interaction-CSV schema, and the embedding.method auto threshold -> benchmarks/results/defaults.json
bench-defaults: $(STAMP)
	$(BIN)/python benchmarks/bench_defaults.py --threshold 200,500,1000,2000 --jobs 2000,20000 $(ARGS)

## workflow: the whole study as a Snakemake workflow on this machine's cores
## (report: results/summary/index.md; cluster: see README "Workflows and sweeps")
workflow: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -s workflow/Snakefile --cores all $(ARGS)

## tune: an Optuna sweep on validation error (CONFIG=..., ARGS="--trials 20")
tune: $(STAMP)
	$(BIN)/python -m step.tune --config $(CONFIG) --trials 20 $(ARGS)

clean-cache:
	rm -rf .cache
