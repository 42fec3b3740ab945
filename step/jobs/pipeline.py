"""One train/test job, stage by stage; shared by the STEPmr and STEPmi entry points.

    load (:func:`load_stage`) -> features (:func:`features_stage`: graphs, causal embeddings,
    window operators) -> plan (:func:`plan_stage`: the protocol's split and fits) ->
    forecasts (:func:`step.jobs.forecast.forecast_stage`: baselines and models per fit, choices on
    evidence) -> evaluation (:func:`step.evaluation.evaluate.evaluate_stage`) -> files
    (:func:`step.outputs.write.write_stage`: run folder, plots, biological analysis).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from step.auto import resolve_auto
from step.config import RunConfig
from step.data.course import GeneTimeCourse, working_scale
from step.data.load import load_course
from step.errors import InputError
from step.evaluation.evaluate import build_metrics, comparisons, evaluate_stage, predictions_table  # noqa: F401
from step.jobs.forecast import Features, FoldData, Forecasts, baselines_stage, forecast_stage, standardise  # noqa: F401
from step.outputs.write import write_outputs, write_stage  # noqa: F401
from step.data.windows import Fold, WindowSplit, rolling_folds, single_fold, split_windows

log = logging.getLogger(__name__)


@dataclass
class JobResult:
    run_dir: Path
    metrics: dict
    summary: str
    timings: dict[str, float] = field(default_factory=dict)

def prepare_course(cfg: RunConfig) -> GeneTimeCourse:
    """Load and validate the data named by the config (nothing is written)."""
    course = load_course(cfg.data.path, cfg.data)  # also refuses negative values under log1p
    if course.n_times <= cfg.split.history + 3:
        raise InputError(f"{cfg.data.path}: {course.n_times} time points are too few for history "
                         f"{cfg.split.history} (need at least {cfg.split.history + 4}).")
    if len(course.pairs) == 0:
        log.warning("%s: no Hi-C pairs: every gene is isolated, so the graph parts of %s (neighbour lags, "
                    "graph convolutions, embeddings) see nothing; the forecasts use each gene's own history",
                    cfg.data.path, cfg.model_name)
    return course

def load_stage(cfg: RunConfig) -> GeneTimeCourse:
    """Stage 1: read and validate the data (nothing is written)."""
    return prepare_course(cfg)

def features_stage(cfg: RunConfig, course: GeneTimeCourse, defer: bool = False) -> Features:
    """Stage 2: per-time graphs, causal window embeddings and the window graph operators (``cfg``
    resolved by :func:`step.auto.resolve_auto`; it is not resolved again here). ``defer``: a
    streamed embedding may still be computing beside the job when this returns
    (:class:`step.graph.embeddings.PendingEmbeddings`, waited for on first use of ``Features.emb``)."""
    from step.graph.embeddings import window_embeddings
    from step.graph.graphs import build_graphs

    if cfg.embedding.method == "auto" or cfg.graph.sparse == "auto":
        raise ValueError("features_stage needs the config resolved by the data's size "
                         "(step.auto.resolve_auto, as run_job does once after loading)")
    L = cfg.split.history
    Xw = working_scale(course.X, cfg.data.transform)  # [T, N]
    graphs = build_graphs(course, cfg.graph, Xw)
    emb = (window_embeddings(graphs, L, cfg.embedding, seed=cfg.train.seed, meanwhile=lambda: warm_imports(cfg),
                             defer=defer) if cfg.embedding.enabled else None)
    torch_threads(cfg)  # torch's first computation follows (its import overlapped the embedding)
    from step.graph.sparse_ops import build_window_operators

    sparse = cfg.graph.sparse == "sparse"
    lap, nbr = build_window_operators(graphs, np.arange(L, course.n_times), L, cfg.graph.operator, course,
                                      cfg.graph, sparse)
    return Features(course, Xw, emb, lap, nbr, course.degree())

def torch_threads(cfg: RunConfig) -> None:
    """``train.torch_threads`` (0 = torch's default), set before torch's first computation. torch
    itself is imported only then (or while the embedding's pool fits, :func:`warm_imports`): the
    loading and the embedding do not need it."""
    import torch

    if cfg.train.torch_threads > 0:
        torch.set_num_threads(cfg.train.torch_threads)

def warm_imports(cfg: RunConfig) -> None:
    """Import the libraries the later stages import on first use (torch, scipy.stats, ETS, the
    ridges, the bootstrap, the plots, the enrichment): about 2.5 s of CPU in a small job, done while
    the embedding is computed in other processes (a ``windows`` pool calls this once its first fit
    is back; a deferred ``stream`` does not: the job itself goes on beside it, importing each
    library where it is first used). A module
    that fails to import here fails again, with its message, where it is used."""
    import importlib
    import os

    os.environ.setdefault("NIXTLA_NUMBA_CACHE", "1")  # statsforecast reads it at import (step/forecasters/registry.py)
    # statsforecast: the ets baseline's fits (step/forecasters/ets.py) and the auto_ets peer
    names = ["torch", "scipy.stats", "statsforecast.models", "sklearn.linear_model", "arch.bootstrap"]
    names += ["lightgbm"] if "global_gbm" in set(cfg.baselines.peers) | set(cfg.selection.global_bases) else []
    names += ["step.outputs.plots"] if cfg.output.plots else []
    names += ["gseapy", "step.outputs.analyze"] if cfg.analysis.enabled else []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001
            log.debug("warm import of %s failed (%s); it is imported where it is used", name, exc)

def plan_stage(cfg: RunConfig, course: GeneTimeCourse) -> tuple[WindowSplit, list[Fold]]:
    """The reported split and the fits that produce its forecasts."""
    s = cfg.split
    if s.protocol == "rolling":
        return rolling_folds(course.n_times, s.history, s.rolling_test_frac, s.val_frac, s.refit_every,
                             s.rolling_min_val)
    ws = split_windows(course.n_times, s.history, s.protocol, s.train_frac, s.val_frac, s.paper_seed,
                       s.paper_train_frac)
    return ws, [single_fold(ws)]

def check_finite_metrics(cfg: RunConfig, metrics: dict) -> None:
    """A run whose main model has a non-finite reported RMSE is not a result: raise (nothing is
    written). A baseline with one is named in a warning (its row says nan)."""
    rep = metrics.get("report_split", "test")
    bad = [name for name, m in metrics.get("models", {}).items()
           if not np.isfinite(float(m.get(rep, {}).get("rmse", np.nan)))]
    if metrics.get("main_model") in bad:
        raise InputError(f"{cfg.data.path}: the {metrics['main_model']} forecasts on the {rep} split are not finite "
                         f"(RMSE nan; also {', '.join(b for b in bad if b != metrics['main_model']) or 'no baseline'}): "
                         "the data hold values the models cannot work with (check data.max_abs_value and "
                         "data.transform); no results were written.")
    if bad:
        log.warning("non-finite %s RMSE for: %s", rep, ", ".join(bad))


def run_job(cfg: RunConfig, out_root: Path | None = None, run_dir: Path | None = None,
            on_forecasts: Callable[..., None] | None = None) -> JobResult:
    """Run one configured job end to end and publish its run folder.

    Stages: load -> features -> (baselines, fit) per fit of the protocol ->
    evaluate -> write. The ``auto`` settings are resolved by the data's size right after
    loading (:func:`step.auto.resolve_auto`); the run folder's config.yaml records the resolved
    config and what each ``auto`` became. Input validation happens before anything is written; the
    run folder is staged and renamed into place only when complete: under
    ``out_root`` as ``<run-id>/``, or exactly at ``run_dir`` (replacing an
    earlier run there; for workflows). ``on_forecasts(cfg, ws, course, feats, fc, metrics)``, if
    given, is called with the resolved config and the evaluated forecasts before anything is
    written (``step.jobs.study`` takes the ablation's ``real`` variant from it).
    """
    from step.logs import RunLogBuffer

    buffer = RunLogBuffer().attach()  # run.log gets the whole job, written with the run folder
    try:
        return _run_job(cfg, out_root, run_dir, buffer, on_forecasts)
    finally:
        buffer.detach()


def _run_job(cfg: RunConfig, out_root: Path | None, run_dir: Path | None, buffer,
             on_forecasts: Callable[..., None] | None = None) -> JobResult:
    """:func:`run_job`'s stages; ``buffer``: the job's log so far (a :class:`step.logs.RunLogBuffer`)."""
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if cfg.train.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise InputError("--device cuda was asked for but torch sees no CUDA device; use --device cpu.")
    course = load_stage(cfg)
    cfg, auto = resolve_auto(cfg, course.n_genes)  # the size-dependent settings, recorded in config.yaml
    ws, folds = plan_stage(cfg, course)
    n_test = len(ws.idx(ws.report))
    if cfg.split.horizon > max(n_test, 1):
        log.warning("split.horizon %d: the course has %d reported window(s), so horizons above %d have no "
                    "target and are not forecast", cfg.split.horizon, n_test, n_test)
    seeds = [cfg.train.seed + i for i in range(cfg.train.seeds)]
    t0 = time.perf_counter()
    feats = features_stage(cfg, course, defer=True)
    timings["embedding"] = time.perf_counter() - t0
    pending = feats.emb_source if hasattr(feats.emb_source, "result") else None
    try:
        from step.forecasters.global_learners import sharing_cores_with

        with sharing_cores_with(pending):  # LightGBM on one thread while the stream runs beside the job
            fc = forecast_stage(cfg, feats, folds, seeds, timings)
    finally:
        if pending is not None:
            pending.cancel()  # a no-op once the model has read them
    if pending is not None and pending.seconds:  # the wait is the embedding's, not the training's
        timings["embedding"] += pending.waited
        timings["training"] -= pending.waited
        timings["embedding_beside_s"] = pending.seconds
    metrics = evaluate_stage(cfg, ws, course, fc)
    check_finite_metrics(cfg, metrics)
    if on_forecasts is not None:
        on_forecasts(cfg, ws, course, feats, fc, metrics)
    timings["total_before_outputs"] = time.perf_counter() - t_start
    metrics["runtime_s"] = {k: round(v, 3) for k, v in timings.items()}
    final, summary = write_stage(cfg, out_root, course, ws, seeds, fc, metrics, feats, t_start, run_dir, auto,
                                 log_so_far=buffer)
    log.info("results written to %s", final)
    return JobResult(final, metrics, summary, timings)
