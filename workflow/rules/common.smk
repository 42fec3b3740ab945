# Shared wiring: paths and the inputs each step depends on.
import shlex
import sys
import yaml
from pathlib import Path

R = config["results"]
# which dataset and preprocessing blocks of the config to use (a test config swaps in tiny ones)
DATASETS = config[config.get("datasets_key", "datasets")]
PREPROCESS = config[config.get("preprocess_key", "preprocess")]
# the python that runs Snakemake (.venv's), also inside a cluster job: the SLURM plugin re-runs
# Snakemake there with this same interpreter, but the job's PATH is the login shell's, whose
# `python` may be another one without the project installed (seen on the test cluster)
PY = shlex.quote(sys.executable)


def preprocess_inputs(cfg_path):
    """The raw files a preprocessing config reads (expression, annotation, Hi-C maps)."""
    c = yaml.safe_load(Path(cfg_path).read_text())
    files = [cfg_path, c["expression"]["path"]]
    if c["expression"].get("targets"):
        files.append(c["expression"]["targets"])
    for key in ("annotation", "tss", "symbols"):
        if c.get("genes", {}).get(key):
            files.append(c["genes"][key])
    h = c["hic"]
    if h.get("chrom_sizes"):
        files.append(h["chrom_sizes"])
    if "{chrom}" in h["path"]:
        files += [h["path"].format(chrom=ch) for ch in h["chromosomes"]]
    else:
        files.append(h["path"])
    return files


def dataset_csv(name):
    d = DATASETS[name]
    if "preprocessed" in d:
        return f"{R}/preprocessed/{d['preprocessed']}/interaction.csv"
    return d["data"]


def torch_threads(name):
    """Cores one train/test job of dataset ``name`` keeps busy: its config's train.torch_threads
    (0 = torch's default, all cores: 1024, which Snakemake caps at --cores). Declared as the rule's
    threads so that Snakemake does not run more jobs at once than there are cores (oversubscribed
    torch threads spin and slow every job down several-fold)."""
    from step.config import load_config

    n = load_config(DATASETS[name]["config"]).train.torch_threads
    return 1024 if n <= 0 else n
