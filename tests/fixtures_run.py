"""Build a small synthetic run folder (the files the train/test jobs write) for tests.

Import :func:`make_run`, :func:`make_genesets`, :func:`job_config`, :func:`scramble_times` and the
tiny course's paths (``TINY``, ``CONFIG``) from the tests (tests/conftest.py
puts this folder on the path and wraps :func:`job_config` as the ``tiny_mrna_config`` fixture).
The gene names mimic the published panel's spellings (aliases, upper case, a
name with a PMID note) so that the analysis' name normalisation is exercised.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests/data/tiny_mrna.csv"              # the tiny mRNA course of the end-to-end tests
CONFIG = ROOT / "configs/test_tiny_mrna.yaml"         # its config

GENES = ["ABCA3", "TTF-1", "RAGE", "SFTP-D", "GUCY1A2  sGC(soluble guanylate cyclase) (PMID 23934926)",
         "Vegf", "hmbs", "CD38", "EGFR", "Thy1", "Tnc", "Mystery1"]
BASELINES = ["persistence", "mean_last", "ridge_ar_gene", "ridge_ar_pooled", "ridge_ar_graph"]
# Tiny collections in mouse case; Gene-set-only symbols (Zz*) pad the sets to a realistic size.
GENESETS = {
    "mh.all.test.symbols.gmt": {
        "HALLMARK_LUNG": ["Abca3", "Nkx2-1", "Sftpd", "Ager", "Zz1", "Zz2"],
        "HALLMARK_HOUSEKEEPING": ["Hmbs", "Cd38", "Zz3", "Zz4", "Zz5"],
    },
    "m5.go.bp.test.symbols.gmt.gz": {
        "GOBP_SIGNALLING": ["Egfr", "Vegfa", "Gucy1a2", "Thy1", "Zz6", "Zz7"],
        "GOBP_MATRIX": ["Tnc", "Thy1", "Cd38", "Zz8", "Zz9"],
        "GOBP_TOO_SMALL": ["Abca3", "Egfr"],
    },
}


def write_gmt(path: Path, sets: dict[str, list[str]]) -> Path:
    text = "".join(f"{name}\thttp://example/{name}\t" + "\t".join(genes) + "\n" for name, genes in sets.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def make_genesets(folder: Path) -> Path:
    """Write the tiny test collections (one plain, one gzipped GMT) into ``folder``."""
    for name, sets in GENESETS.items():
        write_gmt(folder / name, sets)
    return folder


def make_run(root: Path, *, n_times: int = 20, history: int = 3, seeds: tuple[int, ...] = (0, 1),
             transform: str = "none", protocol: str = "chronological", embeddings: bool = True,
             genesets_dir: Path | None = None, aliases: str | None = None, seed: int = 0) -> Path:
    """Write a complete synthetic run folder under ``root/run`` and return its path.

    The main model ``STEPmr`` predicts the first half of the genes well and the
    second half badly, so the ranking has a known direction.
    """
    rng = np.random.default_rng(seed)
    run = root / "run"
    run.mkdir(parents=True, exist_ok=True)
    genes = GENES
    n = len(genes)
    display = [g.split("  ")[0] for g in genes]
    times = np.concatenate([[-4.5], np.arange(1, n_times) * 0.5])
    t = np.arange(n_times)[:, None]
    X = 5 + 2 * np.sin(t / 3.0 + np.arange(n)[None, :]) + rng.normal(0, 0.3, (n_times, n))
    X = np.clip(X, 0.1, None)

    pd.DataFrame({"time": np.repeat(times, n), "gene": np.tile(genes, n_times), "value": X.ravel()}).to_csv(
        run / "series.csv", index=False)

    targets = np.arange(history, n_times)
    if protocol == "chronological":
        n_tr, n_va = int(0.7 * len(targets)), int(0.1 * len(targets))
        split_of = ["train"] * n_tr + ["val"] * n_va + ["test"] * (len(targets) - n_tr - n_va)
    else:
        perm = rng.permutation(len(targets))
        split_of = np.where(np.argsort(perm) < int(0.8 * len(targets)), "train", "val").tolist()
    splits = {s: [float(times[i]) for i, sp in zip(targets, split_of) if sp == s] for s in ("train", "val", "test")}
    splits["history"] = history
    (run / "splits.json").write_text(json.dumps(splits))

    rows = []
    good = np.arange(n) < n // 2
    for w, (i, sp) in enumerate(zip(targets, split_of)):
        last, y = X[i - 1], X[i]
        base = {"persistence": last, "mean_last": X[i - history:i].mean(axis=0),
                "ridge_ar_gene": last + 0.2 * (y - last) + rng.normal(0, 0.05, n),
                "ridge_ar_pooled": 0.5 * (last + X[i - history:i].mean(axis=0)),
                "ridge_ar_graph": last + rng.normal(0, 0.1, n)}
        for m, p in base.items():
            rows += [(m, 0, sp, times[i], g, y[j], p[j]) for j, g in enumerate(genes)]
        for s in seeds:
            noise = np.where(good, 0.05, 1.0) * rng.normal(0, 1, n)
            p = np.clip(y + noise, 0.0, None)
            rows += [("STEPmr", s, sp, times[i], g, y[j], p[j]) for j, g in enumerate(genes)]
    pd.DataFrame(rows, columns=["model", "seed", "split", "target_time", "gene", "y_true", "y_pred"]).to_csv(
        run / "predictions.csv", index=False)

    metrics = {"dataset": "mrna", "protocol": protocol, "history": history, "main_model": "STEPmr",
               "transform": transform, "best_baseline": "mean_last", "splits": splits,
               "models": {m: {"test": {}, "val": {}} for m in ["STEPmr"] + BASELINES}}
    if protocol == "paper":
        metrics["optimistic"] = True
    (run / "metrics.json").write_text(json.dumps(metrics))

    deg = rng.integers(1, 8, n)
    pd.DataFrame({"gene": genes, "display": display, "chromosome": rng.choice(["1", "5", "17"], n),
                  "bin": rng.integers(0, 100, n) * 1e6, "compartment": ["A", "B", ""] * (n // 3) + ["A"] * (n % 3),
                  "insulation": rng.normal(0, 1, n), "tad_distance": rng.uniform(0, 1e6, n), "degree": deg,
                  "variability": X[: int(0.7 * n_times)].std(axis=0),
                  "mean_expression": X.mean(axis=0)}).to_csv(run / "gene_features.csv", index=False)

    hist = [(s, e, 1.0 / (e + 1), 1.2 / (e + 1), 0.8 / (e + 1), 0.1, 0.05, 0.01, 0.0)
            for s in seeds for e in range(5)]
    pd.DataFrame(hist, columns=["seed", "epoch", "train_loss", "val_loss", "base", "direction", "trend",
                                "smooth", "consistency"]).to_csv(run / "history.csv", index=False)

    if embeddings:
        et = times[history - 1:n_times - 1]
        emb = rng.normal(0, 1, (len(et), n, 4)).cumsum(axis=0)
        np.savez_compressed(run / "embeddings.npz", times=et, genes=np.array(genes), emb=emb)

    (run / "results.txt").write_text("Comparison table (test)\nmodel  rmse\nSTEPmr 0.1\npersistence 0.2\n")
    if genesets_dir is not None:
        cfg = {"analysis": {"genesets_dir": str(genesets_dir), "min_set_size": 3, "max_set_size": 500,
                            "group_frac": 0.333},
               "output": {"genes_per_page": 6}}
        if aliases is not None:
            cfg["analysis"]["aliases"] = aliases
        import yaml

        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    return run


def scramble_times(csv: Path, times, out: Path, seed: int) -> Path:
    """Copy an interaction CSV with every gene's expression at ``times`` changed
    (scaled and shifted per gene, consistently across rows); for leak tests."""
    df = pd.read_csv(csv)
    rng = np.random.default_rng(seed)
    genes = pd.unique(pd.concat([df.Gene1, df.Gene2]))
    shift = {g: rng.normal(0, 3) for g in genes}
    for t in times:
        for side in ("Gene1", "Gene2"):
            col = f"{side}_Time_{t:.1f}"
            df[col] = df[col] * 1.7 + df[side].map(shift)
    df.to_csv(out, index=False)
    return out


def job_config(config: Path | str, tmp_path: Path, **over):
    """A job config for the tests: ``config`` with the embedding cache under ``tmp_path``, no plots
    and no analysis (the tests that want them say so), then ``over`` (dotted keys)."""
    from step.config import load_config

    base = {"embedding.cache_dir": str(Path(tmp_path) / "cache"), "output.plots": False, "analysis.enabled": False}
    base.update(over)
    return load_config(config, base)
