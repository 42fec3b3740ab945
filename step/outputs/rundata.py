"""Reading a finished run folder: the saved files, validated, and per-gene scores on them.

:func:`load_run` reads ``predictions.csv``, ``metrics.json``, ``gene_features.csv``,
``series.csv``, ``splits.json`` (and ``history.csv`` when present) into a
:class:`RunData`; :func:`last_inputs`, :func:`gene_scores`, :func:`gene_table` and
:func:`assign_groups` are pure computations on it. Shared by :mod:`step.outputs.analyze`
and :mod:`step.outputs.plots`; imports neither.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from step.forecasters.baselines import BASELINES
from step.errors import InputError

log = logging.getLogger(__name__)

PRED_COLUMNS = ["model", "seed", "split", "target_time", "gene", "y_true", "y_pred"]
FEATURE_COLUMNS = ["gene", "display", "chromosome", "bin", "compartment", "insulation",
                   "tad_distance", "degree", "variability", "mean_expression"]
SERIES_COLUMNS = ["time", "gene", "value"]
# per-gene metrics, in genes.csv order; those with a std across seeds
GENE_METRICS = ["skill_vs_best_baseline", "skill_vs_persistence", "rmse", "mae",
                "direction_accuracy", "pearson"]
WITH_STD = ("skill_vs_best_baseline", "skill_vs_persistence", "rmse")


# --------------------------------------------------------------------------- loading

@dataclass
class RunData:
    """The saved files of one run folder, validated."""

    run_dir: Path
    predictions: pd.DataFrame
    metrics: dict[str, Any]
    features: pd.DataFrame
    series: pd.DataFrame
    splits: dict[str, Any]
    main_model: str
    best_baseline: str
    transform: str
    history: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def primary_split(self) -> str:
        """``test`` when the run has test windows, else ``val`` (paper protocol)."""
        return "test" if (self.predictions["split"] == "test").any() else "val"

    @property
    def optimistic(self) -> bool:
        return bool(self.metrics.get("optimistic", False)) or self.metrics.get("protocol") == "paper"

    def working(self, y: np.ndarray | pd.Series) -> np.ndarray:
        """Values in the scale the models work in (log1p for ``transform: log1p``)."""
        y = np.asarray(y, dtype=float)
        return np.log1p(y) if self.transform == "log1p" else y

    @property
    def display(self) -> dict[str, str]:
        return dict(zip(self.features["gene"], self.features["display"]))


def _read_csv(path: Path, required: list[str], what: str) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: missing; the run folder must hold {path.name} ({what}).")
    try:
        df = pd.read_csv(path, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({exc}).") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(required)}.")
    return df


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"{path}: missing; the run folder must hold {path.name}.")
    try:
        obj = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}).") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: expected a JSON object at the top level.")
    return obj


def load_run(run_dir: str | Path) -> RunData:
    """Read and check the files of a run folder (raises InputError naming file and column)."""
    d = Path(run_dir)
    if not d.is_dir():
        raise InputError(f"{d}: run folder not found.")
    pred = _read_csv(d / "predictions.csv", PRED_COLUMNS, "per-window predictions of every model")
    if "horizon" in pred.columns:  # multi-step runs: the analysis and the plots read the one-step forecasts
        pred = pred[pd.to_numeric(pred["horizon"], errors="coerce") == 1].reset_index(drop=True)
    for col in ("target_time", "y_true", "y_pred", "seed"):
        if not pd.api.types.is_numeric_dtype(pred[col]):
            raise InputError(f"{d / 'predictions.csv'}: column {col} must be numeric.")
    pred["gene"] = pred["gene"].astype(str)
    pred["model"] = pred["model"].astype(str)
    bad = sorted(set(pred["split"]) - {"train", "val", "test"})
    if bad:
        raise InputError(f"{d / 'predictions.csv'}: column split has {bad}; allowed: train, val, test.")
    metrics = _read_json(d / "metrics.json")
    feats = _read_csv(d / "gene_features.csv", FEATURE_COLUMNS, "per-gene features")
    feats["gene"] = feats["gene"].astype(str)
    feats["display"] = feats["display"].fillna(feats["gene"]).astype(str)
    feats["compartment"] = feats["compartment"].fillna("").astype(str)
    feats["chromosome"] = feats["chromosome"].fillna("").astype(str)
    series = _read_csv(d / "series.csv", SERIES_COLUMNS, "the observed time course")
    series["gene"] = series["gene"].astype(str)
    splits = _read_json(d / "splits.json")
    transform = str(metrics.get("transform", "none"))
    if transform not in ("none", "log1p"):
        raise InputError(f"{d / 'metrics.json'}: transform = {transform!r}; expected none or log1p.")
    models = list(dict.fromkeys(pred["model"]))
    main = metrics.get("main_model") or next((m for m in models if m not in BASELINES), None)
    if main is None or main not in models:
        raise InputError(f"{d / 'predictions.csv'}: no rows for the main model {main!r} (metrics.json main_model); models present: {models}.")
    best = metrics.get("best_baseline")
    if best not in models:
        best = _pick_best_baseline(pred, models)
        log.warning("metrics.json names no usable best_baseline; using %s (lowest validation MSE)", best)
    if "persistence" not in models:
        raise InputError(f"{d / 'predictions.csv'}: no rows for model persistence; per-gene skill needs it.")
    hist = None
    if (d / "history.csv").is_file():
        hist = pd.read_csv(d / "history.csv")
    run = RunData(d, pred, metrics, feats, series, splits, main, best, transform, hist)
    missing = sorted(set(pred["gene"]) - set(feats["gene"]))
    if missing:
        log.warning("%d gene(s) of predictions.csv are not in gene_features.csv: %s", len(missing), missing[:10])
        run.notes.append(f"{len(missing)} predicted gene(s) lack features: {', '.join(missing[:10])}")
    return run


def _pick_best_baseline(pred: pd.DataFrame, models: list[str]) -> str:
    base = [m for m in models if m in BASELINES]
    if not base:
        raise InputError("predictions.csv: no baseline model rows; cannot rank genes against a baseline.")
    sub = pred[pred["model"].isin(base) & (pred["split"] == "val")]
    if sub.empty:
        return "persistence"
    mse = sub.assign(e=(sub["y_true"] - sub["y_pred"]) ** 2).groupby("model")["e"].mean()
    return str(mse.idxmin())


# --------------------------------------------------------------------------- per-gene scores

def _one_per_window(df: pd.DataFrame) -> pd.DataFrame:
    """Baselines are seed-independent: keep one row per (split, target_time, gene)."""
    return df.sort_values("seed", kind="mergesort").drop_duplicates(["split", "target_time", "gene"])


def last_inputs(run: RunData) -> pd.DataFrame:
    """Value at each window's last input time (= persistence's prediction), working scale."""
    p = _one_per_window(run.predictions[run.predictions["model"] == "persistence"])
    return pd.DataFrame({"split": p["split"], "target_time": p["target_time"], "gene": p["gene"],
                         "last": run.working(p["y_pred"])})


def _per_seed_gene(df: pd.DataFrame) -> pd.DataFrame:
    """Per (seed, gene) sums for one model on one split; columns yt, yp, last in working scale."""
    e = df["yp"] - df["yt"]
    dt, dp = df["yt"] - df["last"], df["yp"] - df["last"]
    work = pd.DataFrame({
        "seed": df["seed"], "gene": df["gene"], "se": e ** 2, "ae": e.abs(),
        "dir": (np.sign(dt) == np.sign(dp)).astype(float),
        "x": df["yp"], "y": df["yt"], "xx": df["yp"] ** 2, "yy": df["yt"] ** 2, "xy": df["yp"] * df["yt"],
    })
    g = work.groupby(["seed", "gene"], sort=False)
    s = g.agg(n=("se", "size"), mse=("se", "mean"), mae=("ae", "mean"), direction_accuracy=("dir", "mean"),
              x=("x", "mean"), y=("y", "mean"), xx=("xx", "mean"), yy=("yy", "mean"), xy=("xy", "mean"))
    vx, vy = s["xx"] - s["x"] ** 2, s["yy"] - s["y"] ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (s["xy"] - s["x"] * s["y"]) / np.sqrt(vx * vy)
    ok = (s["n"] >= 3) & (vx > 1e-12 * (1 + s["xx"])) & (vy > 1e-12 * (1 + s["yy"]))
    s["pearson"] = r.where(ok).clip(-1, 1)
    return s[["n", "mse", "mae", "direction_accuracy", "pearson"]].reset_index()


def gene_scores(run: RunData, split: str) -> pd.DataFrame:
    """Per-gene scores of the main model on one split, mean and std over seeds.

    Returns
    -------
    DataFrame indexed by gene with columns ``<metric>``, ``<metric>_std`` (for
    :data:`WITH_STD`), ``rmse_best_baseline``, ``rmse_persistence``, ``n_windows``,
    ``n_seeds``. Skill = 1 - MSE(model) / MSE(reference) per gene over the split's
    windows (NaN where the reference MSE is 0). Working scale.
    """
    pred = run.predictions[run.predictions["split"] == split]
    if pred.empty:
        return pd.DataFrame()
    last = last_inputs(run)
    last = last[last["split"] == split].drop(columns="split")

    def prep(df: pd.DataFrame) -> pd.DataFrame:
        df = df.merge(last, on=["target_time", "gene"], how="left", validate="many_to_one")
        return df.assign(yt=run.working(df["y_true"]), yp=run.working(df["y_pred"]))

    main = prep(pred[pred["model"] == run.main_model])
    if main.empty:
        return pd.DataFrame()
    ref_mse = {}
    for name in ("persistence", run.best_baseline):
        ref = prep(_one_per_window(pred[pred["model"] == name]))
        ref_mse[name] = _per_seed_gene(ref).set_index("gene")["mse"]
    s = _per_seed_gene(main)
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, col in ((run.best_baseline, "skill_vs_best_baseline"), ("persistence", "skill_vs_persistence")):
            ref = s["gene"].map(ref_mse[name]).to_numpy(dtype=float)
            s[col] = np.where(ref > 0, 1.0 - s["mse"].to_numpy() / np.where(ref > 0, ref, 1.0), np.nan)
    s["rmse"] = np.sqrt(s["mse"])
    g = s.groupby("gene", sort=False)
    out = g[GENE_METRICS].mean()
    for m in WITH_STD:
        out[m + "_std"] = g[m].std(ddof=1)
    out["rmse_best_baseline"] = np.sqrt(ref_mse[run.best_baseline].reindex(out.index))
    out["rmse_persistence"] = np.sqrt(ref_mse["persistence"].reindex(out.index))
    out["n_windows"] = g["n"].max()
    out["n_seeds"] = g["seed"].nunique()
    return out


RANK_MEASURES = ("skill_vs_best_baseline", "skill_vs_persistence")


def choose_rank_measure(tab: pd.DataFrame, split: str, tol: float) -> tuple[str | None, str]:
    """The per-gene measure to rank on, and why.

    The model's skill against the best baseline when it separates genes (its spread across genes
    exceeds ``tol``); otherwise -- the model forecasts as the best baseline does, e.g. it stayed at
    the moving average, and that skill is float noise around 0 -- its own skill against
    persistence; None when neither separates the genes.
    """
    for m in RANK_MEASURES:
        key = f"{split}_{m}"
        if key not in tab:
            continue
        v = pd.to_numeric(tab[key], errors="coerce").dropna()
        spread = float(v.max() - v.min()) if len(v) else 0.0
        if len(v) >= 2 and spread > tol:
            why = ("the model's per-gene skill against the best baseline differs between genes"
                   if m == "skill_vs_best_baseline" else
                   f"the model's forecasts equal the best baseline's to within {tol:g} in per-gene skill "
                   "(that skill is numerical noise), so genes are ranked on the model's own skill "
                   "against persistence")
            return key, f"{why} (spread {spread:.3g} across {len(v)} genes)"
    return None, (f"no per-gene measure separates the genes by more than {tol:g} "
                  f"({', '.join(RANK_MEASURES)} on the {split} windows)")


def gene_table(run: RunData, tol: float = 1e-4) -> pd.DataFrame:
    """The ranked ``genes.csv`` table (without groups): primary split first, then ``val_``.

    Ranked on :func:`choose_rank_measure`; skills within ``tol`` of each other are ties (same
    rank: the measure is quantised to ``tol`` and ranked with ``min``). Columns ``ranked_on``
    (the measure, empty when nothing separates the genes) and ``rank_reason``.
    """
    primary = run.primary_split
    parts = []
    for split in dict.fromkeys([primary, "val"]):
        sc = gene_scores(run, split)
        if not sc.empty:
            parts.append(sc.add_prefix(f"{split}_"))
    if not parts:
        raise InputError(f"{run.run_dir / 'predictions.csv'}: no {primary} or val rows for {run.main_model}; nothing to rank.")
    scores = pd.concat(parts, axis=1)
    feats = run.features.set_index("gene")
    genes = list(dict.fromkeys(list(run.features["gene"]) + list(scores.index)))
    tab = pd.DataFrame(index=pd.Index(genes, name="gene"))
    tab["display"] = [feats["display"].get(g, g) for g in genes]
    tab = tab.join(scores)
    for c in ("degree", "variability", "mean_expression", "chromosome", "compartment"):
        tab[c] = feats[c].reindex(tab.index)
    for m in RANK_MEASURES:
        if f"{primary}_{m}" not in tab:
            tab[f"{primary}_{m}"] = np.nan
    key, why = choose_rank_measure(tab, primary, tol)
    if key is None:
        rank = np.full(len(tab), np.nan)
    else:
        tab = tab.sort_values(key, ascending=False, na_position="last", kind="mergesort")
        q = np.floor(pd.to_numeric(tab[key], errors="coerce") / tol)
        rank = (-q).rank(method="min").to_numpy()
    tab.insert(1, "rank", rank)
    tab.insert(2, "ranked_on", key or "")
    tab.insert(3, "rank_reason", why)
    return tab.reset_index()


def assign_groups(tab: pd.DataFrame, frac: float) -> tuple[pd.DataFrame, int]:
    """Mark the top / bottom ``frac`` of ranked genes. Ties are never split: a gene is in the top
    group when every gene tied with it is within the first ``k`` ranks, in the bottom group when
    every gene tied with it is within the last ``k`` (so a group can be smaller than ``k``); when
    either group would be empty, neither is formed (``k`` = 0: nothing separates the genes).
    Returns the table and ``k``."""
    ranked = tab["rank"].notna().to_numpy()
    n = int(ranked.sum())
    k = max(1, int(round(frac * n))) if n and frac > 0 else 0
    k = min(k, n // 2) if n >= 2 else 0
    group = np.full(len(tab), "", dtype=object)
    if k:
        r = tab["rank"].to_numpy(dtype=float)
        last_of_tie = pd.Series(r).map(pd.Series(r).value_counts()).to_numpy() + r - 1  # max rank of the tie
        top = ranked & (last_of_tie <= k)   # the whole tie ends within the first k
        bottom = ranked & (r > n - k)       # the whole tie starts after n - k
        if (top & bottom).any() or not top.any() or not bottom.any():
            k = 0
        else:
            group[top] = "top"
            group[bottom] = "bottom"
    tab = tab.copy()
    pos = list(tab.columns).index("rank_reason") + 1 if "rank_reason" in tab else 3
    tab.insert(pos, "group", group)
    return tab, k
