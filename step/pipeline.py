"""One train/test job: data -> graphs + embeddings -> windows -> model and baselines
-> predictions -> metrics -> files. Shared by the STEPmr and STEPmi entry points.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from step import report
from step.baselines import BASELINES, run_baselines
from step.config import RunConfig
from step.data import GeneTimeCourse, load_interactions, original_scale, working_scale
from step.errors import InputError
from step.io import save_npz, write_json, write_text, write_with
from step.metrics import compute_metrics, mse
from step.runs import RunFolder, dump_yaml, new_run_id, provenance
from step.windows import Fold, Scaler, WindowSplit, make_windows, rolling_folds, single_fold, split_windows

log = logging.getLogger(__name__)


@dataclass
class JobResult:
    run_dir: Path
    metrics: dict
    summary: str
    timings: dict[str, float] = field(default_factory=dict)


def prepare_course(cfg: RunConfig) -> GeneTimeCourse:
    """Load and validate the data named by the config (nothing is written)."""
    course = load_interactions(cfg.data.path, cfg.data)  # also refuses negative values under log1p
    if course.n_times <= cfg.split.history + 3:
        raise InputError(f"{cfg.data.path}: {course.n_times} time points are too few for history "
                         f"{cfg.split.history} (need at least {cfg.split.history + 4}).")
    return course


def _window_operators(graphs, ws_targets: np.ndarray, history: int, operator: str, course: GeneTimeCourse,
                      graph_cfg, sparse: bool = True):
    """Each window's graph as the scaled Laplacian (for the graph convolutions) and as
    the row-normalised adjacency (weighted neighbour mean, for the linear path).

    ``sparse`` (default): one :class:`step.sparse_ops.WindowOperators` serving as
    both, ``O(W * E)`` memory. Otherwise the dense reference: a ``[W, N, N]``
    (``operator: window``) or ``[N, N]`` (``structural``) Laplacian tensor and
    the matching row-normalised numpy array.
    """
    from step.graphs import structural_adjacency, structural_weights
    from step.layers import scaled_laplacian
    from step.sparse_ops import window_operators

    N = course.n_genes
    if sparse:
        if operator == "structural":
            edges, w = structural_weights(course, graph_cfg)
            ops = window_operators(edges, w[None, :], N)
        else:
            ops = window_operators(graphs.edges, graphs.window_mean_weights(ws_targets, history), N)
        return ops, ops
    if operator == "structural":
        A = np.asarray(structural_adjacency(course, graph_cfg), dtype=float)
    else:
        A = np.stack([graphs.dense_mean(list(range(k - history, k))) for k in ws_targets])
    deg = A.sum(-1, keepdims=True)
    P = np.divide(A, deg, out=np.zeros_like(A), where=deg > 0)
    return scaled_laplacian(torch.as_tensor(A, dtype=torch.float32)), P


def neighbour_means(P, inputs: np.ndarray) -> np.ndarray:
    """Weighted mean of each gene's Hi-C partners at every input time (0 without partners).

    ``P``: a :class:`step.sparse_ops.WindowOperators`, or the dense row-normalised
    adjacency ``[W, N, N]`` / ``[N, N]``; ``inputs [W, L, N]`` -> ``[W, L, N]``.
    """
    if hasattr(P, "neighbour_means"):
        return P.neighbour_means(inputs)
    return np.einsum("wnm,wlm->wln" if P.ndim == 3 else "nm,wlm->wln", P, inputs)


@dataclass
class Features:
    """What every fit of a job shares, built once (all causal per window).

    Xw : ``[T, N]`` working-scale expression; emb : ``[W, L, N, D]`` window
    embeddings or None; lap : the graph operators (sparse WindowOperators, or
    dense ``[W, N, N]`` / ``[N, N]``); nbr : the neighbour-mean operators (the
    same WindowOperators, or a dense row-normalised adjacency);
    degree : ``[N]`` Hi-C partner counts.
    """

    course: GeneTimeCourse
    Xw: np.ndarray
    emb: np.ndarray | None
    lap: object
    nbr: object
    degree: np.ndarray


@dataclass
class Forecasts:
    """Every forecast of a job in the original scale, ``[W, N]`` per model (NaN = not forecast).

    ``best_per_origin``: the best baseline chosen at each fit (on the evidence of
    :func:`_evidence_errors`); ``best``: the one chosen most often (the first fit's choice on a tie).
    ``correction_used``: per seed, one bool per fit (did the spatio-temporal correction earn its
    place on the evidence, or does the fit forecast with its linear path only).
    """

    base: dict[str, np.ndarray]
    model: dict[int, np.ndarray]
    base_info: list[dict] = field(default_factory=list)
    best: str = "mean_last"
    best_per_origin: list[str] = field(default_factory=list)
    sel_split: str = "val"
    hist_rows: list[dict] = field(default_factory=list)
    states: dict[int, dict] = field(default_factory=dict)
    model_args: dict = field(default_factory=dict)
    scaler: Scaler | None = None
    linear_starts: list[dict] = field(default_factory=list)
    correction_used: dict[int, list[bool]] = field(default_factory=dict)


def load_stage(cfg: RunConfig) -> GeneTimeCourse:
    """Stage 1: read and validate the data (nothing is written)."""
    return prepare_course(cfg)


def features_stage(cfg: RunConfig, course: GeneTimeCourse) -> Features:
    """Stage 2: per-time graphs, causal window embeddings and the window graph operators."""
    from step.embeddings import window_embeddings
    from step.graphs import build_graphs

    L = cfg.split.history
    Xw = working_scale(course.X, cfg.data.transform)  # [T, N]
    graphs = build_graphs(course, cfg.graph, Xw)
    emb = window_embeddings(graphs, L, cfg.embedding, seed=cfg.train.seed) if cfg.embedding.enabled else None
    sparse = cfg.graph.sparse == "sparse" or (cfg.graph.sparse == "auto" and course.n_genes > 1000)
    lap, nbr = _window_operators(graphs, np.arange(L, course.n_times), L, cfg.graph.operator, course, cfg.graph,
                                 sparse)
    return Features(course, Xw, emb, lap, nbr, course.degree())


def plan_stage(cfg: RunConfig, course: GeneTimeCourse) -> tuple[WindowSplit, list[Fold]]:
    """The reported split and the fits that produce its forecasts."""
    s = cfg.split
    if s.protocol == "rolling":
        return rolling_folds(course.n_times, s.history, s.rolling_test_frac, s.val_frac, s.refit_every,
                             s.rolling_min_val)
    ws = split_windows(course.n_times, s.history, s.protocol, s.train_frac, s.val_frac, s.paper_seed,
                       s.paper_train_frac)
    return ws, [single_fold(ws)]


@dataclass
class FoldData:
    """One fit's standardised arrays: ``Z [T, N]``, ``inputs [W, L, N]``, ``targets [W, N]``,
    ``nb [W, L, N]`` (the Hi-C neighbours' weighted mean of the inputs), all within the scaler's
    clip range."""

    fold: Fold
    scaler: Scaler
    Z: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray
    nb: np.ndarray

    def idx(self, name: str) -> np.ndarray:
        return self.fold.split.idx(name)


def standardise(cfg: RunConfig, feats: Features, fold: Fold) -> FoldData:
    """Scaler fitted on the fit's own training time points (floored, clipped), then the window arrays."""
    scaler = Scaler.fit(feats.Xw, fold.split.train_time_indices(), cfg.data.scale_floor, cfg.data.z_clip)
    Z = scaler.transform(feats.Xw)  # NaN only where data.allow_missing masks a value
    inputs, targets, _ = make_windows(Z, cfg.split.history)  # [W, L, N], [W, N]
    inputs = np.nan_to_num(inputs, nan=0.0)  # a masked input is imputed by the training mean
    return FoldData(fold, scaler, Z, inputs, targets, neighbour_means(feats.nbr, inputs))


def baselines_stage(cfg: RunConfig, feats: Features, fd: FoldData) -> tuple[dict[str, np.ndarray], dict]:
    """Stage 3: every baseline's predictions ``[W, N]`` (standardised scale, within the clip range)
    for one fit."""
    ws = fd.fold.split
    has_val = len(fd.idx("val")) and ws.report != "val"
    if ws.report == "val":
        log.info("paper protocol: ridge strengths chosen by leave-one-out on training windows")
    # ETS parameters from the training windows' time points only, like the ridge fits: its
    # validation forecasts (which choose the best baseline) are then out of sample too
    fit_end = int(ws.targets[fd.idx("train")].max()) + 1
    out, info = run_baselines(fd.inputs, fd.targets, fd.idx("train"), fd.idx("val") if has_val else None,
                              feats.course.pairs, cfg.baselines.ridge_alphas, series=fd.Z, targets_idx=ws.targets,
                              fit_end=fit_end, ets_models=tuple(cfg.baselines.ets_models), neighbours=fd.nb)
    return {k: fd.scaler.bound(v) for k, v in out.items()}, info


def evidence_kind(cfg: RunConfig, ws: WindowSplit) -> str:
    """"prequential" or "validation" (the paper protocol's random windows: always validation)."""
    return "validation" if ws.protocol == "paper" else cfg.train.evidence


def linear_start_stage(cfg: RunConfig, fd: FoldData):
    """The linear path's start for one fit (:func:`step.linear_fit.choose_linear_start`), or
    None when ``train.linear_init`` is off (the moving average)."""
    from step.linear_fit import choose_linear_start

    if not cfg.train.linear_init:
        return None
    t = cfg.train
    return choose_linear_start(fd.inputs, fd.nb if cfg.model.linear_graph else None, fd.targets,
                               fd.idx("train"), fd.idx("val"), list(t.linear_alphas), list(t.linear_poolings),
                               evidence_kind(cfg, fd.fold.split), t.prequential_min_train, t.selection,
                               t.selection_z, t.evidence_halflife, t.selection_relative)


@dataclass
class FitResult:
    """One fit's model forecasts per seed (standardised scale, ``[W, N]``): with the correction
    (``full``) and the linear path alone (``linear``); weights, history rows, model arguments."""

    full: dict[int, np.ndarray]
    linear: dict[int, np.ndarray]
    states: dict[int, dict]
    rows: list[dict]
    model_args: dict
    start: object = None


def fit_stage(cfg: RunConfig, feats: Features, fd: FoldData, seeds: list[int],
              warm: dict[int, dict] | None = None, on_epoch=None) -> FitResult:
    """Stage 4: train the model once per seed on one fit's windows.

    The linear path starts at :func:`linear_start_stage`'s choice (the same for every seed) and
    stays there unless ``train.train_linear``; training fits the correction, early-stopped on the
    validation windows. ``warm`` (rolling, ``split.warm_start``) holds the previous fit's weights
    per seed.
    """
    from step.models import build_model
    from step.train import WindowTensors, predict_parts, seed_everything, train_model

    L, m = cfg.split.history, cfg.model
    chans = [fd.inputs[:, None]]                                   # [W, 1, L, N] expression
    if m.linear_graph:
        chans.append(fd.nb[:, None])                               # [W, 1, L, N] neighbour means
    x = torch.as_tensor(np.concatenate(chans, axis=1), dtype=torch.float32)
    if feats.emb is not None:
        x = torch.cat([x, torch.as_tensor(feats.emb, dtype=torch.float32).permute(0, 3, 1, 2)], dim=1)
    mask = np.isfinite(fd.targets)  # masked targets are left out of every loss, fit and metric
    data = WindowTensors(x, feats.lap, torch.as_tensor(np.nan_to_num(fd.targets, nan=0.0), dtype=torch.float32),
                         torch.as_tensor(fd.inputs[:, -1], dtype=torch.float32),
                         torch.as_tensor(fd.inputs, dtype=torch.float32),
                         torch.as_tensor(mask)).to(cfg.train.device)
    model_args = dict(in_channels=int(x.shape[1]), n_nodes=feats.course.n_genes, history=L, hidden=m.hidden,
                      cheb_k=m.cheb_k, kernel_size=m.kernel_size, n_blocks=m.n_blocks, dropout=m.dropout,
                      degree=[float(d) for d in feats.degree], linear_graph=m.linear_graph)
    if cfg.model_name == "STEPmi":
        model_args.update(lstm_layers=m.lstm_layers, attn_layers=m.attn_layers, heads=m.heads)
    start = linear_start_stage(cfg, fd)
    # the trained epoch competes with the start on validation; whether the correction is kept is
    # decided by forecast_stage on the evidence of every earlier origin (train.selection there)
    train_cfg = dataclasses.replace(cfg.train, selection="best")
    if warm:
        train_cfg = dataclasses.replace(train_cfg, epochs=cfg.train.finetune_epochs)
    res = FitResult({}, {}, {}, [], model_args, start)
    tr, va = fd.idx("train"), fd.idx("val")
    for seed in seeds:
        seed_everything(seed, cfg.train.deterministic)
        model = build_model(cfg.model_name, **model_args).to(cfg.train.device)
        if warm:
            model.load_state_dict(warm[seed])
        if start is not None:
            model.linear.set_weights(start.own, start.neighbour, start.bias)
        elif warm:
            model.linear.set_weights(np.full((feats.course.n_genes, L), 1.0 / L),
                                     np.zeros((feats.course.n_genes, L)), np.zeros(feats.course.n_genes))
        model.linear.requires_grad_(cfg.train.train_linear)
        model, hist = train_model(model, data, tr, va, cfg.loss, train_cfg, seed,
                                  desc=f"{cfg.model_name} seed {seed} origin {fd.fold.origin}", on_epoch=on_epoch)
        lin, delta = predict_parts(model, data)
        res.linear[seed] = fd.scaler.bound(lin)
        res.full[seed] = fd.scaler.bound(lin + delta)
        res.states[seed] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        res.rows += [{"seed": seed, "origin_time_index": fd.fold.origin, **r} for r in hist]
    return res


def _window_mse(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean squared error per window over its observed targets: ``[V, N] -> [V]`` (NaN: none)."""
    se = (pred - y) ** 2
    ok = np.isfinite(se)
    with np.errstate(invalid="ignore"):
        return np.where(ok.any(1), np.where(ok, se, 0.0).sum(1) / np.maximum(ok.sum(1), 1), np.nan)


def _evidence_errors(kind: str, fd: FoldData, y_work: np.ndarray, oos: dict[str, np.ndarray],
                     now: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-window errors (working scale) of competing forecasters for one fit's decision.

    For every target before the fit's forecasts: the out-of-sample forecast of the earlier fit
    that forecast it (``oos[name] [W, N]``, NaN where none), else, for the fit's validation
    windows, this fit's own forecast (``now[name] [W, N]``). ``kind == "validation"``: the
    validation windows only, this fit's forecasts. Causal: only windows at or before the origin.
    Returns the window numbers and ``{name: errors [V]}``.
    """
    val = fd.idx("val")
    if kind == "validation":
        return val, {k: _window_mse(v[val], y_work[val]) for k, v in now.items()}
    past = np.sort(np.concatenate([fd.idx("train"), val]))
    any_name = next(iter(oos))
    have = np.isfinite(oos[any_name][past]).any(axis=1)
    use_val = np.isin(past, val) & ~have
    keep = have | use_val
    win = past[keep]
    out = {}
    for k in now:
        P = np.where(have[keep, None], oos[k][win], now[k][win])
        out[k] = _window_mse(P, y_work[win])
    return win, out


def forecast_stage(cfg: RunConfig, feats: Features, folds: list[Fold], seeds: list[int],
                   timings: dict[str, float], on_epoch=None, baselines: bool = True) -> Forecasts:
    """Stages 3 and 4 over every fit: baselines and models, kept where each fit forecasts.

    At every fit the decisions "correction or linear path only" (per seed) and "which baseline
    is best" are made on evidence (:func:`_evidence_errors`): under ``train.evidence:
    prequential`` the out-of-sample errors of every earlier fit on targets before this fit's
    origin, this fit's validation windows where no earlier forecast exists. ``on_epoch`` is
    passed to :func:`step.train.train_model`; ``baselines=False`` skips the baselines (a tuning
    trial needs only the model's validation error).
    """
    from tqdm.auto import tqdm

    from step.linear_fit import clearly_better, recency_weights, wmean

    W, N = feats.course.n_times - cfg.split.history, feats.course.n_genes
    nan = lambda: np.full((W, N), np.nan)  # noqa: E731
    fc = Forecasts({b: nan() for b in BASELINES}, {sd: nan() for sd in seeds})
    fc.correction_used = {sd: [] for sd in seeds}
    timings.setdefault("baselines", 0.0)
    timings.setdefault("training", 0.0)
    y_work = feats.Xw[np.arange(cfg.split.history, feats.course.n_times)]  # [W, N] working scale
    halflife = cfg.train.evidence_halflife if cfg.train.evidence == "prequential" else 0.0
    oos_base = {b: nan() for b in BASELINES}            # out-of-sample forecasts (working scale)
    oos_model = {sd: {"full": nan(), "linear": nan()} for sd in seeds}
    best_votes: list[str] = []
    warm = None
    for i, fold in enumerate(tqdm(folds, desc="fits", leave=False, disable=None if len(folds) > 1 else True)):
        fd = standardise(cfg, feats, fold)
        to_work = fd.scaler.inverse
        to_orig = lambda P: original_scale(to_work(P), cfg.data.transform)  # noqa: E731
        kind = evidence_kind(cfg, fold.split)
        f, oos_w = fold.forecast, fold.split.idx("test")
        t0 = time.perf_counter()
        if baselines:
            base, info = baselines_stage(cfg, feats, fd)
            for b in BASELINES:
                fc.base[b][f] = to_orig(base[b][f])
            fc.base_info.append({"origin_time_index": fold.origin, **info})
            if fold.split.report == "val":  # paper: the reported split is the validation one
                sel = fd.idx("train")
                errs = {b: _window_mse(to_work(base[b][sel]), y_work[sel]) for b in BASELINES}
                fc.sel_split = "train"
            else:
                win, errs = _evidence_errors(kind, fd, y_work, oos_base, {b: to_work(base[b]) for b in BASELINES})
                wts = recency_weights(win, halflife)
                fc.sel_split = ("val" if kind == "validation" or fold.split.protocol != "rolling"
                                else "prequential (earlier origins' forecasts, else the fit's validation)")
            score = {b: wmean(e, wts) if fold.split.report != "val" else wmean(e) for b, e in errs.items()}
            score = {b: v if np.isfinite(v) else np.inf for b, v in score.items()}
            best_votes.append(min(BASELINES, key=lambda b: score[b]))
            for b in BASELINES:
                oos_base[b][oos_w] = to_work(base[b][oos_w])
        timings["baselines"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        res = fit_stage(cfg, feats, fd, seeds, warm, on_epoch)
        timings["training"] += time.perf_counter() - t0
        fc.model_args = res.model_args
        fc.linear_starts.append({"origin_time_index": fold.origin, **_start_info(res.start)})
        for sd in seeds:
            now = {"full": to_work(res.full[sd]), "linear": to_work(res.linear[sd])}
            win, e = _evidence_errors(kind, fd, y_work, oos_model[sd], now)
            wts = recency_weights(win, halflife)
            differs = not np.array_equal(res.full[sd], res.linear[sd])
            if cfg.train.selection == "se":
                use = differs and clearly_better(e["full"], e["linear"], cfg.train.selection_z, wts,
                                                cfg.train.selection_relative)
            else:
                use = differs and wmean(e["full"], wts) < wmean(e["linear"], wts)
            fc.correction_used[sd].append(bool(use))
            P = res.full[sd] if use else res.linear[sd]
            fc.model[sd][f] = to_orig(P[f])
            for k in ("full", "linear"):
                oos_model[sd][k][oos_w] = now[k][oos_w]
            if not use:  # the saved weights forecast what was reported: the correction head is zeroed
                for key in ("head.out.weight", "head.out.bias"):
                    if key in res.states[sd]:
                        res.states[sd][key] = torch.zeros_like(res.states[sd][key])
        fc.states, fc.scaler = res.states, fd.scaler
        fc.hist_rows += res.rows
        warm = res.states if cfg.split.warm_start else None
    if best_votes:
        fc.best_per_origin = best_votes
        counts = {b: best_votes.count(b) for b in dict.fromkeys(best_votes)}
        fc.best = max(counts, key=lambda b: counts[b])  # dict order: the earliest choice wins a tie
    for sd, used in fc.correction_used.items():
        log.info("seed %d: the correction was kept at %d of %d fit(s) (evidence: %s)", sd, sum(used), len(used),
                 cfg.train.evidence)
    # persistence is exactly the previous observed value (no floating round trip through the scaler);
    # where that value is masked (data.allow_missing), the imputed input every forecaster sees
    raw = feats.course.X[np.arange(cfg.split.history, feats.course.n_times) - 1].astype(float)
    fc.base["persistence"] = np.where(np.isfinite(raw), raw, fc.base["persistence"])
    return fc


def _start_info(start) -> dict:
    if start is None:
        return {"start": "moving_average (train.linear_init off)"}
    return {"start": start.candidate.label(), "evidence": start.evidence, "n_evidence": start.n_evidence,
            "evidence_mse": {k: round(v, 6) for k, v in start.scores.items()}}


def evaluate_stage(cfg: RunConfig, ws: WindowSplit, course: GeneTimeCourse, fc: Forecasts) -> dict:
    """Stage 5: metrics of every model on every split, and the paired comparisons."""
    y_true_o = course.X[ws.targets]  # [W, N]
    best = fc.best
    metrics = build_metrics(cfg, ws, course, y_true_o, fc.base, fc.model, best, fc.sel_split)
    if cfg.data.transform == "log1p":
        lt = {k: np.log1p(v) for k, v in fc.base.items()}
        lm = {k: np.log1p(v) for k, v in fc.model.items()}
        metrics["log1p"] = {"models": build_metrics(cfg, ws, course, np.log1p(y_true_o), lt, lm, best,
                                                    fc.sel_split)["models"]}
    metrics["comparisons"] = comparisons(cfg, ws, y_true_o, fc.base, fc.model, best)
    rep = metrics["comparisons"]["vs_baselines"][best]
    metrics["beats_best_baseline"] = rep["verdict"] == "better"
    metrics["verdict_vs_best_baseline"] = rep["verdict"]
    metrics["baseline_settings"] = fc.base_info[0] if len(fc.base_info) == 1 else {
        "first_fit": fc.base_info[0], "per_fit": fc.base_info}
    metrics["data_notes"] = course.notes
    metrics["best_baseline_per_origin"] = fc.best_per_origin
    metrics["linear_start"] = fc.linear_starts
    metrics["correction_used"] = {str(sd): u for sd, u in fc.correction_used.items()}
    metrics["scaler"] = {"scale_floor": cfg.data.scale_floor, "z_clip": cfg.data.z_clip,
                         "genes_at_floor_last_fit": int(fc.scaler.n_floored) if fc.scaler else 0}
    if ws.protocol == "rolling":
        metrics["rolling"] = {"refit_every": cfg.split.refit_every, "n_fits": len(fc.base_info),
                              "warm_start": cfg.split.warm_start,
                              "origins": [float(course.times[b["origin_time_index"]]) for b in fc.base_info]}
    return metrics


def comparisons(cfg: RunConfig, ws: WindowSplit, y_true: np.ndarray, base: dict[str, np.ndarray],
                model: dict[int, np.ndarray], best: str) -> dict:
    """Main model vs every baseline on the reported split, in the working scale:
    paired bootstrap over target times (all genes and seeds together) and Diebold-Mariano."""
    from step.uncertainty import compare_forecasts

    f = (lambda a: working_scale(a, cfg.data.transform))
    i = ws.idx(ws.report)
    yt = f(y_true[i])
    pm = np.stack([f(P[i]) for P in model.values()])  # [S, W, N]
    out = {"scale": "log1p" if cfg.data.transform == "log1p" else "data", "split": ws.report,
           "method": "paired bootstrap over target times (2000 resamples) + Diebold-Mariano (HLN)",
           "best_baseline": best, "vs_baselines": {}}
    for b in BASELINES:
        out["vs_baselines"][b] = compare_forecasts(yt, pm, f(base[b][i]), n_boot=2000, seed=cfg.train.seed)
    return out


def run_job(cfg: RunConfig, out_root: Path | None = None, run_dir: Path | None = None) -> JobResult:
    """Run one configured job end to end and publish its run folder.

    Stages: load -> features -> (baselines, fit) per fit of the protocol ->
    evaluate -> write. Input validation happens before anything is written; the
    run folder is staged and renamed into place only when complete: under
    ``out_root`` as ``<run-id>/``, or exactly at ``run_dir`` (replacing an
    earlier run there; for workflows).
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if cfg.train.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but torch sees no CUDA device; use --device cpu.")
    if cfg.train.torch_threads > 0:
        torch.set_num_threads(cfg.train.torch_threads)
    course = load_stage(cfg)
    ws, folds = plan_stage(cfg, course)
    seeds = [cfg.train.seed + i for i in range(cfg.train.seeds)]
    t0 = time.perf_counter()
    feats = features_stage(cfg, course)
    timings["embedding"] = time.perf_counter() - t0
    fc = forecast_stage(cfg, feats, folds, seeds, timings)
    metrics = evaluate_stage(cfg, ws, course, fc)
    timings["total_before_outputs"] = time.perf_counter() - t_start
    metrics["runtime_s"] = {k: round(v, 3) for k, v in timings.items()}
    final, summary = write_stage(cfg, out_root, course, ws, seeds, fc, metrics, feats, t_start, run_dir)
    log.info("results written to %s", final)
    return JobResult(final, metrics, summary, timings)


def write_stage(cfg: RunConfig, out_root: Path | None, course: GeneTimeCourse, ws: WindowSplit,
                seeds: list[int], fc: Forecasts, metrics: dict, feats: Features,
                t_start: float, run_dir: Path | None = None) -> tuple[Path, str]:
    """Stage 6: the run folder, staged and published atomically (plots and analysis after)."""
    y_true_o = course.X[ws.targets]
    pred_df = predictions_table(cfg.model_name, ws, course, y_true_o, fc.base, fc.model, cfg.train.seed)
    root = Path(out_root) if out_root else Path(cfg.output.results_dir) / cfg.dataset
    run = RunFolder.at(Path(run_dir)) if run_dir else RunFolder(root, new_run_id(cfg.short_hash()))
    try:
        d = run.path
        handler = logging.FileHandler(d / "run.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
        try:
            write_outputs(d, cfg, course, ws, fc.scaler, seeds, pred_df, metrics, fc.hist_rows, feats.emb,
                          fc.states, fc.model_args, feats.Xw)
            summary = report.write_results_txt(d, metrics, pred_df, cfg)
            _post_steps(d, cfg)
            metrics["runtime_s"]["total"] = round(time.perf_counter() - t_start, 3)
            write_json(d / "metrics.json", metrics)
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()
        final = run.publish()
    except BaseException:
        run.discard()
        raise
    return final, summary


def _run_plots(d: Path, cfg: RunConfig) -> None:
    """The run plots; a failure is logged and noted in results.txt, never raised."""
    try:
        from step.plots import make_run_plots

        # the per-gene skill plots come from the analysis (with its groups) when it runs
        make_run_plots(d, cfg.output, gene_plots=not cfg.analysis.enabled)
    except Exception as exc:  # a plot must not lose the run's numbers
        log.exception("plots failed: %s", exc)
        report.append_note(d, f"plots failed: {exc}")


def _plots_child(d: Path, cfg: RunConfig, part: str) -> None:
    """Body of a plotting process: a failure is logged and becomes exit status 1 (the parent
    notes it in results.txt, which only the parent writes)."""
    import sys

    try:
        from step.plots import make_run_plots

        make_run_plots(d, cfg.output, gene_plots=False, part=part)
    except Exception as exc:  # noqa: BLE001
        log.exception("plots failed: %s", exc)
        sys.exit(1)


def _plots_in_background(d: Path, cfg: RunConfig) -> list:
    """Start the run plots in two forked processes (time-course pages / the rest; they only read
    the run folder and write PNGs the analysis does not write), so that they overlap the analysis
    on a multi-core machine. Returns the processes; [] where forking is not available (the caller
    then draws in-process)."""
    import multiprocessing as mp
    import os
    import sys

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cpus < 2 or not sys.platform.startswith("linux") or mp.current_process().daemon:
        return []
    procs = [mp.get_context("fork").Process(target=_plots_child, args=(d, cfg, part), name=f"step-plots-{part}")
             for part in ("pages", "other")]
    for p in procs:
        p.start()
    return procs


def _post_steps(d: Path, cfg: RunConfig) -> None:
    """Plots and biological analysis, read back from the saved files."""
    procs: list = []
    if cfg.output.plots:
        procs = _plots_in_background(d, cfg) if cfg.analysis.enabled else []
        if not procs:
            _run_plots(d, cfg)
    try:
        if not _analysis(d, cfg) and cfg.output.plots and cfg.analysis.enabled:
            _gene_plots(d)  # the analysis failed before its per-gene skill plots: draw them here
    finally:
        for proc in procs:
            proc.join()
            if proc.exitcode != 0:
                log.error("the plotting process %s ended with exit code %s", proc.name, proc.exitcode)
                report.append_note(d, f"plots failed: {proc.name} exit code {proc.exitcode}")


def _analysis(d: Path, cfg: RunConfig) -> bool:
    """The biological analysis; False if it failed (logged and noted in results.txt)."""
    if cfg.analysis.enabled:
        try:
            from step.analyze import analyze_run

            analyze_run(d, cfg.analysis, cfg.output)
        except Exception as exc:
            log.exception("biological analysis failed: %s", exc)
            report.append_note(d, f"biological analysis failed: {exc}")
            return False
    return True


def _gene_plots(d: Path) -> None:
    try:
        from step.plots import draw_gene_plots

        draw_gene_plots(d)
    except Exception as exc:  # noqa: BLE001
        log.exception("per-gene skill plots failed: %s", exc)


def predictions_table(model_name: str, ws: WindowSplit, course: GeneTimeCourse, y_true: np.ndarray,
                      base: dict[str, np.ndarray], model: dict[int, np.ndarray], base_seed: int) -> pd.DataFrame:
    """Long table ``model, seed, split, target_time, gene, y_true, y_pred`` (original scale)."""
    W, N = y_true.shape
    t = course.times[ws.targets]
    frames = []

    def block(name: str, seed: int, P: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({
            "model": name, "seed": seed,
            "split": np.repeat(ws.split, N),
            "target_time": np.repeat(t, N),
            "gene": np.tile(np.array(course.genes, dtype=object), W),
            "y_true": y_true.reshape(-1), "y_pred": P.reshape(-1),
        })

    for sd, P in model.items():
        frames.append(block(model_name, sd, P))
    for name in BASELINES:
        frames.append(block(name, base_seed, base[name]))
    return pd.concat(frames, ignore_index=True)


def build_metrics(cfg: RunConfig, ws: WindowSplit, course: GeneTimeCourse, y_true: np.ndarray,
                  base: dict[str, np.ndarray], model: dict[int, np.ndarray], best: str, sel_split: str) -> dict:
    """metrics.json content (values in the scale of the arrays given)."""
    persistence = base["persistence"]
    models: dict[str, dict] = {}
    splits = [s for s in ("train", "val", "test") if len(ws.idx(s))]
    for name in BASELINES:
        models[name] = {}
        for sp in splits:
            i = ws.idx(sp)
            models[name][sp] = compute_metrics(y_true[i], base[name][i], persistence[i],
                                               mse(y_true[i], persistence[i]), mse(y_true[i], base[best][i]))
    main: dict = {"seeds": sorted(model)}
    for sp in splits:
        i = ws.idx(sp)
        per_seed = [compute_metrics(y_true[i], P[i], persistence[i], mse(y_true[i], persistence[i]),
                                    mse(y_true[i], base[best][i])) for P in model.values()]
        main[sp] = {k: float(np.mean([r[k] for r in per_seed])) for k in per_seed[0]}
        main[sp + "_std"] = {k: float(np.std([r[k] for r in per_seed])) for k in per_seed[0]}
        main[sp + "_per_seed"] = per_seed
    models = {cfg.model_name: main, **models}
    rep = ws.report
    return {
        "dataset": cfg.dataset,
        "main_model": cfg.model_name,
        "protocol": ws.protocol,
        "optimistic": ws.optimistic,
        "report_split": rep,
        "history": ws.history,
        "transform": cfg.data.transform,
        "scale": "original",
        "n_genes": course.n_genes,
        "n_times": course.n_times,
        "n_pairs": int(len(course.pairs)),
        "splits": ws.times_of(course.times),
        "models": models,
        "best_baseline": best,
        "best_baseline_chosen_on": sel_split,
    }


def write_outputs(d: Path, cfg: RunConfig, course: GeneTimeCourse, ws: WindowSplit, scaler: Scaler,
                  seeds: list[int], pred_df: pd.DataFrame, metrics: dict, hist_rows: list[dict],
                  emb: np.ndarray | None, states: dict, model_args: dict, Xw: np.ndarray) -> None:
    prov = provenance(cfg.to_dict(), seeds, {str(cfg.data.path): course.checksum},
                      {"data_notes": course.notes, "n_genes": course.n_genes, "n_times": course.n_times})
    write_text(d / "config.yaml", dump_yaml(prov))
    write_json(d / "metrics.json", metrics)
    keep = list(cfg.output.prediction_splits)
    if set(keep) != {"train", "val", "test"}:
        log.info("predictions.csv holds the %s windows only (output.prediction_splits; metrics.json has every split)",
                 " and ".join(keep))
        pred_df = pred_df[pred_df["split"].isin(keep)]
    write_with(d / "predictions.csv", lambda p: pred_df.to_csv(p, index=False))
    tr = ws.train_time_indices()
    feats = pd.DataFrame({
        "gene": course.genes, "display": course.display, "chromosome": course.chromosome,
        "bin": course.bin, "compartment": course.compartment, "insulation": course.insulation,
        "tad_distance": course.tad_distance, "degree": course.degree(),
        "variability": np.nanstd(Xw[tr], axis=0), "mean_expression": np.nanmean(Xw[tr], axis=0),
    })
    write_with(d / "gene_features.csv", lambda p: feats.to_csv(p, index=False))
    series = pd.DataFrame({"time": np.repeat(course.times, course.n_genes),
                           "gene": np.tile(np.array(course.genes, dtype=object), course.n_times),
                           "value": course.X.reshape(-1)})
    write_with(d / "series.csv", lambda p: series.to_csv(p, index=False, float_format="%.10g"))
    write_json(d / "splits.json", {**ws.times_of(course.times), "history": ws.history,
                                   "protocol": ws.protocol, "report": ws.report})
    write_with(d / "history.csv", lambda p: pd.DataFrame(hist_rows).to_csv(p, index=False))
    if emb is not None:
        save_npz(d / "embeddings.npz", times=course.times[ws.ends], genes=np.array(course.genes),
                 emb=emb[:, -1].astype(np.float32))

    def _save_model(p: Path) -> None:
        torch.save({"model_name": cfg.model_name, "model_args": model_args, "state_dicts": states,
                    "scaler": {"mean": scaler.mean, "std": scaler.std}, "genes": course.genes,
                    "transform": cfg.data.transform, "history": ws.history}, p)

    write_with(d / "model.pt", _save_model)
