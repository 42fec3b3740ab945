"""Does Hi-C help?  ``python -m step.ablate --config CONFIG [--data CSV] [--seeds N]
[--protocol chronological|paper|rolling] [--out DIR] [--jobs N]``

Runs the same configuration as variants, each for every seed, and compares
them on the reported split with paired intervals:

- ``real``: the data's Hi-C pairs and the configured edge weights;
- ``randomised_1 .. randomised_K``: degree-preserving randomised graphs
  (double edge swaps, :func:`randomise_pairs`, seeded; ``ablation.randomisations``
  = K); each pair's contact value travels with a random new edge;
- ``no_graph``: no Hi-C pairs at all (no neighbour mixing anywhere: the model's
  graph operator is zero, the embedding sees only temporal edges);
- ``no_embedding``: the temporal Node2Vec channels left out;
- ``hic_only``: edge weights from the Hi-C features only (``w_expression = 0``);
- ``expression_only``: edge weights from expression similarity only.

Writes one folder ``<out>/ablation-<timestamp>-<hash>/`` with

- ``ablation.csv``: one row per variant x seed: ``variant, seed, rmse, mae,
  skill_vs_best_baseline`` (working scale: log1p for counts; the best baseline
  is chosen on validation within each run);
- ``ablation.png``: skill vs the best baseline per variant with its 95 %
  interval (paired bootstrap over target times, seeds pooled);
- ``verdict.json``: ``{"real_vs_randomised": {"rmse_diff", "ci95", "verdict",
  ...}, "real_vs_no_graph": ..., ...}``, where ``rmse_diff`` is real minus the
  other variant, paired by target time and seed (randomisations are paired with
  the real run of the same seed; a variant whose forecasts equal the real graph's bit for bit in
  every run gets the verdict :data:`IDENTICAL` and ``identical_forecasts: true``), and ``better`` means the real graph's error is
  lower with the interval excluding zero (the interval resamples target
  times; ``share_of_runs_real_lower`` says in how many of the paired seed runs
  the real graph's RMSE was lower, the seed-to-seed part of the uncertainty);
- ``predictions.csv`` (``variant, seed, split, target_time, gene, y_true,
  y_pred``, original scale, reported split only) and ``config.yaml``
  (provenance);
- ``hic_test.json`` (``ablation.hic_test``, on by default): the model-independent Hi-C
  information test of :mod:`step.evaluation.hic_test` (a fixed global learner with own lags only, + Hi-C
  neighbour lags, + randomised or expression-graph neighbour lags, refitted at every origin), with
  each comparison's effect, interval, verdict and minimum detectable effect; its sentences close
  ``summary.txt``.

Variants run in a process pool (``--jobs``, default: the machine's cores), each task on one torch
thread: one task per variant with every seed, as a train/test job with several seeds (the data
loaded, the graphs built, the embedding computed with the first seed and the baselines fitted once;
the seeds change the model's training only, so the real variant's forecasts are the job's), and one
task per randomised graph and seed (its graph depends on the seed; its embedding is seeded by the
first seed too); the multi-seed tasks are handed to the pool first (longest first), the one-seed tasks fill in
after them. Until 2026-12-07 every variant x seed was its own run with its own embedding seed.
The baselines whose fits read neither the graph nor the embedding nor the seed (``shareable``:
``ets``, ``auto_ets``) are fitted once per fold and read back by every other task
(:class:`step.forecasters.registry.SharedFits`, a staging folder of the ablation). ``ablation.csv``'s
``seconds`` is each row's share of its task's wall time.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from step.config import RunConfig, load_config
from step.errors import InputError
from step.graph.randomise import randomise_pairs  # noqa: F401  (also the ablation's public name)

if TYPE_CHECKING:
    from step.data.course import GeneTimeCourse

log = logging.getLogger(__name__)

FIXED_VARIANTS = ("no_graph", "no_embedding", "hic_only", "expression_only")


def variant_config(cfg: RunConfig, variant: str) -> RunConfig:
    """The run configuration of one variant (pairs are changed in :func:`variant_course`)."""
    g = cfg.graph
    if variant == "no_embedding":
        return dataclasses.replace(cfg, embedding=dataclasses.replace(cfg.embedding, enabled=False))
    if variant == "hic_only":
        return dataclasses.replace(cfg, graph=dataclasses.replace(g, w_expression=0.0))
    if variant == "expression_only":
        return dataclasses.replace(cfg, graph=dataclasses.replace(
            g, w_hic=0.0, w_compartment=0.0, w_tad=0.0, w_insulation=0.0, w_expression=1.0))
    return cfg


def variant_course(course, variant: str, seed: int):
    """The data of one variant: the real pairs, randomised pairs or none."""
    if variant.startswith("randomised_"):
        k = int(variant.split("_")[1])
        new = randomise_pairs(course.pairs, course.n_genes, seed=1000 * k + seed)
        rng = np.random.default_rng(1000 * k + seed)
        return dataclasses.replace(course, pairs=new, hic=rng.permutation(course.hic)[:len(new)])
    if variant == "no_graph":
        return dataclasses.replace(course, pairs=np.zeros((0, 2), dtype=np.int64), hic=np.zeros(0))
    return course


def _run_seeds(cfg: RunConfig, variant: str, seeds: list[int], base_seed: int,
               shared_dir: str | None = None) -> list[dict]:
    """One variant, every seed in ``seeds``: forecasts of the main model and the best baseline on the
    reported split, one dict per seed.

    As in a train/test job with several seeds, the data are loaded, the graphs built, the embedding
    computed (seeded by ``base_seed``, the ablation's first seed) and the baselines fitted once; the
    seeds change the model's training only. A randomised variant's graph depends on the seed, so it
    is run one seed at a time. ``shared_dir``: the ablation's folder of shared baseline fits
    (:class:`step.forecasters.registry.SharedFits`)."""
    import torch

    from step.forecasters.registry import SharedFits
    from step.jobs.pipeline import evaluate_stage, features_stage, forecast_stage, load_stage, plan_stage

    if variant.startswith("randomised_") and len(seeds) != 1:
        raise ValueError(f"{variant}: its graph depends on the seed; run one seed at a time")
    torch.set_num_threads(1)
    cfg = variant_config(cfg, variant)
    # one thread, one process: the ablation's pool (--jobs) is its parallelism
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=base_seed, seeds=len(seeds),
                                                             torch_threads=1, seed_workers=1),
                              embedding=dataclasses.replace(cfg.embedding, processes=1))
    course = load_stage(cfg)
    course = variant_course(course, variant, seeds[0])
    ws, folds = plan_stage(cfg, course)
    feats = features_stage(cfg, course)
    timings: dict[str, float] = {}
    shared = SharedFits(shared_dir) if shared_dir else None
    fc = forecast_stage(cfg, feats, folds, list(seeds), timings, shared=shared)
    metrics = evaluate_stage(cfg, ws, course, fc)
    return variant_rows(cfg, variant, seeds, ws, course, feats, fc, metrics)


def variant_rows(cfg: RunConfig, variant: str, seeds: list[int], ws, course: GeneTimeCourse, feats, fc,
                 metrics: dict) -> list[dict]:
    """The ablation's rows of one variant from a finished forecast (one dict per seed): the main model's
    and the best baseline's forecasts on the reported split ``[W, N]``, in the working scale (log1p for
    counts; ``model`` also in the data's scale). Also used on a train/test job's own forecasts
    (``run_job(..., on_forecasts=)``), whose rows are the ``real`` variant's (:func:`run_ablation`'s
    ``given``)."""
    from step.data.course import original_scale

    i = ws.idx(ws.report)
    best = metrics["best_baseline"]
    return [{"variant": variant, "seed": sd, "report": ws.report, "target_time": course.times[ws.targets[i]],
             "genes": list(course.genes), "y_true": course.X[ws.targets[i]],
             "y_work": feats.Xw[ws.targets[i]], "model_work": fc.model[sd][i],
             "model": original_scale(fc.model[sd][i], cfg.data.transform),
             "best_baseline": best, "best_work": fc.base[best][i], "transform": cfg.data.transform,
             "protocol": ws.protocol, "n_pairs": int(len(course.pairs))} for sd in seeds]


def _one_thread_each() -> None:
    """Pool worker start: one thread for the OpenMP and BLAS libraries loaded from now on (LightGBM,
    scikit-learn); the pool is the parallelism. :func:`_work` limits those already loaded."""
    from step.procs import library_threads

    library_threads(1)


def _work(args: tuple) -> list[dict]:
    """One task of the pool: a variant with its seeds (:func:`_run_seeds`); each row's ``seconds`` is
    its share of the task's wall time. In a pool every library runs one thread (two workers each
    running LightGBM with 2 OpenMP threads on 2 cores made tasks up to 25x slower, 2026-12-07;
    :func:`step.forecasters.global_learners.lightgbm_threads` reads the ``OMP_NUM_THREADS`` set here)."""
    import contextlib

    from threadpoolctl import threadpool_limits

    cfg, variant, seeds, base_seed, shared_dir, pooled = args
    t0 = time.perf_counter()
    with threadpool_limits(limits=1) if pooled else contextlib.nullcontext():
        out = _run_seeds(cfg, variant, seeds, base_seed, shared_dir)
    for r in out:
        r["seconds"] = (time.perf_counter() - t0) / len(out)
    return out


def variants_of(cfg: RunConfig) -> list[str]:
    names = ["real"] + [f"randomised_{k + 1}" for k in range(cfg.ablation.randomisations)]
    return names + [v for v in FIXED_VARIANTS if v in cfg.ablation.variants]


def run_ablation(cfg: RunConfig, out_root: Path, seeds: list[int], jobs: int = 0,
                 exact_dir: Path | None = None, real: tuple[list[dict], str] | None = None) -> Path:
    """Run every variant x seed and write the ablation folder (under ``out_root``, or
    exactly at ``exact_dir``); returns its path.

    ``real``: ``(rows, run folder)`` of a train/test job of this configuration with exactly these
    seeds, trained on one torch thread as the pool's tasks are (:func:`variant_rows` of its
    forecasts, with ``torch_threads``; ``step.jobs.study`` passes them): the ``real`` variant is that
    job, so it is not trained again (``verdict.json`` ``_about.real_from_job``; its rows' ``seconds``
    are the job's time per seed, embedding and imports included, and ``wall_s`` leaves it out).
    Rows that do not fit (other seeds, genes, pairs or torch threads) are said and not used."""
    from step.io import write_json, write_text, write_with
    from step.outputs.runs import publish_run

    from step.jobs.pipeline import load_stage

    from step.auto import resolve_auto

    course = load_stage(cfg)  # validate the data once, before any work
    cfg, auto = resolve_auto(cfg, course.n_genes)  # every variant runs the resolved settings
    hic = _hic_test(cfg, course)
    variants = variants_of(cfg)
    given = _usable_real(real, seeds, course)
    results, wall, processes = _run_variants(cfg, variants, seeds, jobs, Path(out_root), given)
    by = {(r["variant"], r["seed"]): r for r in results}
    table, pred_frames = _result_tables(results)
    y = by[("real", seeds[0])]["y_work"]
    verdict, skill_ci = _compare_variants(cfg, variants, seeds, by, y)
    meta = {"protocol": results[0]["protocol"], "split": results[0]["report"], "seeds": seeds,
            "scale": "log1p" if cfg.data.transform == "log1p" else "data", "n_target_times": int(y.shape[0]),
            "n_genes": int(y.shape[1]), "wall_s": round(wall, 1), "processes": processes,
            "skill_vs_best_baseline": skill_ci, "real_from_job": real[1] if given else None}
    verdict["_about"] = meta

    def write(d: Path) -> None:
        write_with(d / "ablation.csv", lambda p: table.to_csv(p, index=False))
        write_json(d / "verdict.json", verdict)
        write_with(d / "predictions.csv", lambda p: pd.concat(pred_frames).to_csv(p, index=False))
        _plot(d / "ablation.png", variants, skill_ci, table, cfg, meta)
        if hic is not None:
            write_json(d / "hic_test.json", hic)
        write_text(d / "summary.txt", summary_text(cfg, verdict, table, hic))

    final, _ = publish_run(cfg, Path(out_root), "ablation-", write, seeds, {str(cfg.data.path): course.checksum},
                           {"variants": variants, "ablation_wall_s": round(wall, 1), "auto": auto},
                           exact_dir=Path(exact_dir) if exact_dir else None)
    return final


def _usable_real(real: tuple[list[dict], str] | None, seeds: list[int], course: GeneTimeCourse) -> list[dict]:
    """The job's ``real`` rows if they are this ablation's ``real`` variant (the same seeds in the same
    order, genes and pairs), else ``[]`` (said in the log: the variant is then trained here)."""
    if real is None:
        return []
    rows, source = real
    why = None
    if [r.get("variant") for r in rows] != ["real"] * len(rows) or [r.get("seed") for r in rows] != list(seeds):
        why = f"its seeds {[r.get('seed') for r in rows]} are not the ablation's {list(seeds)}"
    elif any(r["genes"] != list(course.genes) or r["n_pairs"] != len(course.pairs) for r in rows):
        why = "its genes or pairs are not the ablation's data"
    elif any(r.get("torch_threads") != 1 for r in rows):  # a pool task trains on one thread (_run_seeds)
        why = (f"it trained on {rows[0].get('torch_threads')} torch threads, the ablation's tasks on 1 "
               "(the last bits may differ, and the identical-forecasts check is bit for bit)")
    if why:
        log.warning("ablation: the job %s is not used as the real variant (%s); the real variant is trained",
                    source, why)
        return []
    log.info("ablation: the real variant is the job %s (seeds %s), not trained again", source, list(seeds))
    return rows


def _hic_test(cfg: RunConfig, course: GeneTimeCourse) -> dict | None:
    """The model-independent Hi-C information test (step/evaluation/hic_test.py) if ``ablation.hic_test``, else None."""
    hic = None
    if cfg.ablation.hic_test:
        from step.evaluation.hic_test import run_hic_test

        try:
            hic = run_hic_test(cfg, course)[0]
        except InputError as exc:  # a course too short for it: said, the ablation goes on
            log.warning("Hi-C information test not run: %s", exc)
    return hic


def _run_variants(cfg: RunConfig, variants: list[str], seeds: list[int], jobs: int, out_root: Path,
                  given: list[dict] | None = None) -> tuple[list[dict], float, int]:
    """Every variant x seed, in a process pool unless ``jobs`` is 1: ``(results, wall seconds, processes)``;
    ``given``: rows already computed (the job's ``real`` rows), whose variants are not run."""
    import shutil

    from step.outputs.runs import partial_suffix

    # the baselines that read neither graph nor embedding nor seed are fitted once per fold and shared
    # by every variant x seed (step.forecasters.registry.SharedFits) through a staging folder of the
    # ablation: removed at the end, and by the next run under out_root if this process dies first
    shared_dir = out_root / f".ablation-fits{partial_suffix()}"
    try:
        return _run_tasks(cfg, variants, seeds, jobs, str(shared_dir), given)
    finally:
        shutil.rmtree(shared_dir, ignore_errors=True)


def _run_tasks(cfg: RunConfig, variants: list[str], seeds: list[int], jobs: int, shared_dir: str,
               given: list[dict] | None = None) -> tuple[list[dict], float, int]:
    """The tasks of :func:`_run_variants` (``shared_dir``: their shared baseline fits; ``given``: rows
    of variants not to run)."""
    given = list(given or [])
    skip = {r["variant"] for r in given}
    # one task per variant with every seed (one load, graph, embedding and set of baselines, as a job
    # with several seeds), one per seed for a randomised graph (its graph depends on the seed)
    runs = [(v, [s]) for v in variants if v.startswith("randomised_") for s in seeds]
    runs += [(v, list(seeds)) for v in variants if not v.startswith("randomised_") and v not in skip]
    # longest first (a task's time grows with its number of seeds): the pool hands tasks out in this
    # order, so the one-seed tasks fill in at the end instead of a multi-seed task running alone
    # while the other worker idles (results are put back in variant x seed order below)
    runs.sort(key=lambda r: -len(r[1]))
    jobs = jobs or os.cpu_count() or 1
    pooled = jobs > 1 and len(runs) > 1
    tasks = [(cfg, v, sds, seeds[0], shared_dir, pooled) for v, sds in runs]
    log.info("ablation: %d variants x %d seeds in %d tasks on %d processes", len(variants), len(seeds),
             len(tasks), min(jobs, len(tasks)))
    t0 = time.perf_counter()
    if not pooled:
        done = [_work(t) for t in tasks] + [given]
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=mp.get_context("spawn"),
                                 initializer=_one_thread_each) as pool:
            done = list(pool.map(_work, tasks)) + [given]
    order = {(v, s): k for k, (v, s) in enumerate((v, s) for v in variants for s in seeds)}
    results = sorted((r for rows in done for r in rows), key=lambda r: order[(r["variant"], r["seed"])])
    wall = time.perf_counter() - t0
    return results, wall, min(jobs, len(tasks))


def _result_tables(results: list[dict]) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """``ablation.csv`` (one row per run: rmse, mae, skill in the working scale) and each run's predictions."""
    rows, pred_frames = [], []
    for r in results:
        yt, pm, pb = r["y_work"], r["model_work"], r["best_work"]
        mse_m, mse_b = np.nanmean((pm - yt) ** 2), np.nanmean((pb - yt) ** 2)
        rows.append({"variant": r["variant"], "seed": r["seed"], "rmse": float(np.sqrt(mse_m)),
                     "mae": float(np.nanmean(np.abs(pm - yt))), "skill_vs_best_baseline": float(1 - mse_m / mse_b),
                     "best_baseline": r["best_baseline"], "n_pairs": r["n_pairs"],
                     "seconds": round(r.get("seconds", float("nan")), 2)})
        W, N = r["y_true"].shape
        pred_frames.append(pd.DataFrame({
            "variant": r["variant"], "seed": r["seed"], "split": r["report"],
            "target_time": np.repeat(r["target_time"], N), "gene": np.tile(np.array(r["genes"], dtype=object), W),
            "y_true": r["y_true"].reshape(-1), "y_pred": r["model"].reshape(-1)}))
    return pd.DataFrame(rows), pred_frames


def _stack(by: dict, variant: str, seeds: list[int]) -> np.ndarray:
    """One variant's working-scale model forecasts over the seeds, ``[S, W, N]``."""
    return np.stack([by[(variant, s)]["model_work"] for s in seeds])


def _share_real_lower(real: np.ndarray, other: np.ndarray, y: np.ndarray) -> float:
    """Share of the paired (seed[, graph]) runs in which the real graph's RMSE is lower
    (``real [S, W, N]``, ``other [K*S, W, N]``, ``y [W, N]``)."""
    a = np.sqrt(np.nanmean((np.concatenate([real] * (len(other) // len(real))) - y) ** 2, axis=(1, 2)))
    b = np.sqrt(np.nanmean((other - y) ** 2, axis=(1, 2)))
    return float(np.mean(a < b))


def _compare_variants(cfg: RunConfig, variants: list[str], seeds: list[int], by: dict,
                      y: np.ndarray) -> tuple[dict, dict]:
    """The paired comparisons of the real graph with the others (``verdict.json``) and each variant's
    skill vs its best baseline with its interval; ``y [W, N]`` the working-scale targets."""
    from step.evaluation.uncertainty import compare_forecasts

    real = _stack(by, "real", seeds)
    verdict: dict = {}
    rand = [v for v in variants if v.startswith("randomised_")]
    ev = cfg.evaluation
    n_boot, bseed = ev.n_boot, cfg.train.seed
    cmp = lambda a, b: compare_forecasts(y, a, b, n_boot=n_boot, seed=bseed, level=ev.level,  # noqa: E731
                                         min_times=ev.min_target_times)
    if rand:
        rr = np.concatenate([_stack(by, v, seeds) for v in rand])      # [K*S, W, N], randomisation k with seed s
        rr_real = np.concatenate([real] * len(rand))
        same = _identical(rr_real, rr)
        verdict["real_vs_randomised"] = _verdict_entry(cmp(rr_real, rr), len(rand), same)
        verdict["real_vs_randomised"]["share_of_runs_real_lower"] = None if same else _share_real_lower(real, rr, y)
    for v in FIXED_VARIANTS:
        if v in variants:
            other = _stack(by, v, seeds)
            same = _identical(real, other)
            verdict[f"real_vs_{v}"] = _verdict_entry(cmp(real, other), identical=same)
            verdict[f"real_vs_{v}"]["share_of_runs_real_lower"] = None if same else _share_real_lower(real, other, y)
    skill_ci = {}
    for v in variants:
        best_pred = np.stack([by[(v, s)]["best_work"] for s in seeds])  # each seed's own best baseline
        res = cmp(_stack(by, v, seeds), best_pred)
        skill_ci[v] = {"skill": res["skill"], "ci95": res["skill_ci95"],
                       "best_baseline": sorted({by[(v, s)]["best_baseline"] for s in seeds})}
    return verdict, skill_ci


# the verdict of a variant whose forecasts are the real graph's, bit for bit, in every run
IDENTICAL = "identical forecasts: the variant's change never reached the model's forecasts (no evidence either way)"


def _identical(a: np.ndarray, b: np.ndarray) -> bool:
    """True when the paired forecasts ``a``, ``b`` ``[S, W, N]`` are equal bit for bit (NaN where NaN)."""
    return bool(np.array_equal(a, b, equal_nan=True))


def _verdict_entry(res: dict, randomisations: int | None = None, identical: bool = False) -> dict:
    """One comparison of ``verdict.json``. ``identical`` (the forecasts coincide everywhere): the verdict
    says so instead of the test's, whose "no detectable difference" / "too few target times" would
    read as a finding about the graph; ``identical_forecasts`` records it."""
    out = {"rmse_diff": res["rmse_diff"], "ci95": res["rmse_diff_ci95"],
           "verdict": IDENTICAL if identical else res["verdict"], "identical_forecasts": identical,
           "rmse_real": res["rmse_a"], "rmse_other": res["rmse_b"], "skill": res["skill"],
           "skill_ci95": res["skill_ci95"], "dm_stat": res["dm_stat"], "dm_pvalue": res["dm_pvalue"],
           "n_times": res["n_times"]}
    if randomisations is not None:
        out["randomisations"] = randomisations
    return out


def summary_text(cfg: RunConfig, verdict: dict, table: pd.DataFrame, hic: dict | None = None) -> str:
    about = verdict["_about"]
    lines = [f"Ablation of {cfg.model_name} on {cfg.data.path} ({about['protocol']} protocol, "
             f"{about['split']} split, {about['n_target_times']} target times, seeds {about['seeds']}, "
             f"{about['scale']} scale)", "",
             table.groupby("variant", sort=False)[["rmse", "skill_vs_best_baseline"]].agg(["mean", "std"])
             .to_string(float_format=lambda v: f"{v:.4f}"), ""]
    for k, v in verdict.items():
        if k.startswith("_"):
            continue
        lines.append(f"{k}: {v['verdict']} (RMSE difference real - other {v['rmse_diff']:+.4f}, "
                     f"95 % CI [{v['ci95'][0]:+.4f}, {v['ci95'][1]:+.4f}], Diebold-Mariano p = {v['dm_pvalue']:.3g})")
    if hic is not None:
        from step.evaluation.hic_test import report_lines

        lines += ["", "The variants above are the job's model, which may not read its neighbours at all (then "
                  "they coincide); the test below refits a fixed family that does (hic_test.json):"]
        lines += report_lines({cfg.dataset: hic}, None)
    return "\n".join(lines) + "\n"


def _plot(path: Path, variants: list[str], skill_ci: dict, table: pd.DataFrame, cfg: RunConfig, meta: dict) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from step.io import write_with

    fig = Figure(figsize=(1.1 * len(variants) + 3, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    x = np.arange(len(variants))
    s = np.array([skill_ci[v]["skill"] for v in variants])
    lo = np.array([skill_ci[v]["ci95"][0] for v in variants])
    hi = np.array([skill_ci[v]["ci95"][1] for v in variants])
    colors = ["tab:blue" if v == "real" else "tab:gray" if v.startswith("randomised") else "tab:orange" for v in variants]
    ax.bar(x, s, color=colors, alpha=0.6)
    ax.errorbar(x, s, yerr=[s - lo, hi - s], fmt="none", ecolor="black", capsize=4)
    for i, v in enumerate(variants):
        per_seed = table.loc[table.variant == v, "skill_vs_best_baseline"]
        ax.scatter(np.full(len(per_seed), i) + 0.15, per_seed, s=10, color="black", zorder=3)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, variants, rotation=30, ha="right")
    ax.set_ylabel("skill vs best baseline (1 - MSE / MSE_best)")
    ax.set_title(f"{cfg.model_name} ablation, {meta['protocol']} protocol: bars = seeds pooled, "
                 f"whiskers = 95 % paired bootstrap; dots = single seeds", fontsize=9)
    fig.tight_layout()
    write_with(path, lambda p: fig.savefig(p, dpi=110, format="png"))


def main(argv: list[str] | None = None) -> int:
    from step.logs import setup_logging

    ap = argparse.ArgumentParser(prog="python -m step.ablate", description="Does the Hi-C graph help? "
                                 "Variants x seeds with paired intervals.")
    ap.add_argument("--config", required=True, help="run config (YAML)")
    ap.add_argument("--data", help="interaction CSV or dataset folder (overrides data.path)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per variant (default ablation.seeds)")
    ap.add_argument("--seed", type=int, default=None, help="first seed (default train.seed)")
    ap.add_argument("--protocol", choices=["chronological", "paper", "rolling"], help="evaluation protocol")
    ap.add_argument("--epochs", type=int, help="maximum training epochs")
    ap.add_argument("--out", default=None, help="folder for the ablation folder (default results/<dataset>/)")
    ap.add_argument("--jobs", type=int, default=0, help="parallel runs (default: all cores)")
    ap.add_argument("--run-dir", default=None, help="write the ablation folder exactly here (workflows)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    setup_logging(args.verbose)
    try:
        cfg = load_config(args.config, {"data.path": args.data, "split.protocol": args.protocol,
                                        "train.seed": args.seed, "train.epochs": args.epochs,
                                        "ablation.seeds": args.seeds})
        seeds = [cfg.train.seed + i for i in range(cfg.ablation.seeds)]
        out = Path(args.out) if args.out else Path(cfg.output.results_dir) / cfg.dataset
        d = run_ablation(cfg, out, seeds, args.jobs, Path(args.run_dir) if args.run_dir else None)
    except InputError as exc:
        log.error("%s", exc)
        return 1
    sys.stdout.write((d / "summary.txt").read_text() + f"\nAblation: {d}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
