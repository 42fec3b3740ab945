"""The forecasts of a job: every fit of the protocol, baselines and models, and the choices made
on evidence (the linear path's start, the correction, the best baseline).

:func:`forecast_stage` runs the fits; each fit standardises its data (:func:`standardise`),
runs the baselines (:func:`baselines_stage`) and fits the model, a registered forecaster
(:mod:`step.forecasters.model_forecaster`), once per seed. Forecasts stay in the working scale (the ``data.transform`` space) from fit
to evaluation; :class:`Forecasts` holds them, converted once when written.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from step.config import RunConfig
from step.data.course import GeneTimeCourse, original_scale
from step.forecasters.fold_data import (Features, FoldData, evidence_kind, fit_data, job_context,  # noqa: F401
                                        standardise)
from step.data.windows import Fold, Scaler

log = logging.getLogger(__name__)

@dataclass
class Forecasts:
    """Every forecast of a job in the working scale (``data.transform``), ``[W, N]`` per model
    (NaN = not forecast); :meth:`original` converts them once, for the files and the metrics in
    the data's own scale.

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
    transform: str = "none"
    # conformal intervals (step/evaluation/intervals.py), working scale: name or seed -> level -> (lo, hi) [W, N]
    base_intervals: dict[str, dict[float, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    model_intervals: dict[int, dict[float, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    # split.horizon > 1: h-step forecasts (h >= 2), working scale, indexed by the target window
    horizon_base: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    horizon_model: dict[int, dict[int, np.ndarray]] = field(default_factory=dict)
    # h-step conformal intervals (h >= 2), working scale: h -> name or seed -> level -> (lo, hi) [W, N]
    horizon_base_intervals: dict[int, dict[str, dict]] = field(default_factory=dict)
    horizon_model_intervals: dict[int, dict[int, dict]] = field(default_factory=dict)
    # per forecaster, per fit: how many of the intervals' residuals came from earlier fits' out-of-sample
    # forecasts and how many from this fit's validation windows
    interval_sources: dict[str, list[dict]] = field(default_factory=dict)

    def original(self, course: GeneTimeCourse, history: int) -> tuple[dict[str, np.ndarray], dict[int, np.ndarray]]:
        """Baseline and model forecasts in the original scale. Persistence is exactly the previous
        observed value (no floating round trip through the transform); where that value is
        masked (data.allow_missing), the imputed input every forecaster saw."""
        base = {k: original_scale(v, self.transform) for k, v in self.base.items()}
        raw = course.X[np.arange(history, course.n_times) - 1].astype(float)
        if "persistence" in base:
            base["persistence"] = np.where(np.isfinite(raw), raw, base["persistence"])
        return base, {k: original_scale(v, self.transform) for k, v in self.model.items()}

    def horizons_original(self) -> dict[int, tuple[dict, dict]]:
        """The h-step forecasts (h >= 2) in the original scale: ``{h: (baselines, model seeds)}``."""
        conv = lambda d: {k: original_scale(v, self.transform) for k, v in d.items()}  # noqa: E731
        return {h: (conv(self.horizon_base.get(h, {})), conv(m)) for h, m in self.horizon_model.items()}

    def horizon_intervals_original(self) -> dict[int, tuple[dict, dict]]:
        """The h-step intervals (h >= 2) in the original scale: ``{h: (baselines, model seeds)}``."""
        conv = lambda d: {lv: (original_scale(lo, self.transform), original_scale(hi, self.transform))  # noqa: E731
                          for lv, (lo, hi) in d.items()}
        return {h: ({k: conv(v) for k, v in self.horizon_base_intervals.get(h, {}).items()},
                    {k: conv(v) for k, v in m.items()}) for h, m in self.horizon_model_intervals.items()}

    def intervals_original(self) -> tuple[dict, dict]:
        """The conformal intervals in the original scale (the transform is monotone)."""
        conv = lambda d: {lv: (original_scale(lo, self.transform), original_scale(hi, self.transform))  # noqa: E731
                          for lv, (lo, hi) in d.items()}
        return ({k: conv(v) for k, v in self.base_intervals.items()},
                {k: conv(v) for k, v in self.model_intervals.items()})

def baselines_stage(cfg: RunConfig, feats: Features, fd: FoldData, predictors: dict | None = None,
                    want_val_oos: bool = True, shared=None) -> tuple[dict[str, np.ndarray], dict]:
    """Stage 3: every registered forecaster of the job (:mod:`step.forecasters.registry`: the baselines and
    the library peers), fitted on the same windows; predictions ``[W, N]`` (standardised scale,
    within the clip range). ``predictors`` (a dict) receives each as ``f(z, nb, origins)`` for
    new windows; ``info["_val_oos"]`` holds each one's out-of-sample validation forecasts. ``shared``
    (a :class:`step.forecasters.registry.SharedFits`): fits that other runs of an ablation already made
    on the same data are read back."""
    from step.forecasters.registry import enabled_names, fit_all

    ctx = job_context(cfg, feats)
    d = fit_data(fd, want_val_oos)
    if fd.fold.split.report == "val":
        log.info("paper protocol: ridge strengths chosen by leave-one-out on training windows")
    names = enabled_names(list(cfg.baselines.peers), feats.course.n_genes, cfg.baselines.per_gene_peer_max_genes)
    fitted = fit_all(names, ctx, d, shared)
    allw = np.arange(fd.inputs.shape[0])
    out = {k: fd.scaler.bound(f.predict(fd.inputs, fd.nb, allw)) for k, f in fitted.items()}
    if predictors is not None:
        predictors.update({k: f.predict for k, f in fitted.items()})
    info = {k: f.info for k, f in fitted.items()}
    info["_val_oos"] = {k: f.val_oos for k, f in fitted.items() if f.val_oos is not None}
    return out, info


def recursive_forecasts(fn, fd: FoldData, feats: Features, origins: np.ndarray, horizon: int) -> dict[int, np.ndarray]:
    """Forecasts ``h = 1 .. horizon`` steps ahead from the windows ``origins`` (standardised scale).

    ``fn(z [V, L, N], nb [V, L, N], origins [V]) -> [V, N]`` is one forecaster; step ``s`` feeds it
    the origin window's inputs with the forecasts of steps ``1 .. s-1`` appended (the oldest lags
    dropped), and the neighbour means of those inputs under the origin window's graph: nothing
    after the origin is read. Returns ``{h: [V, N]}``; ``h = 1`` is the one-step forecast.
    """
    from step.graph.sparse_ops import neighbour_means_at

    z = fd.inputs[origins].copy()
    out: dict[int, np.ndarray] = {}
    for h in range(1, horizon + 1):
        nb = neighbour_means_at(feats.nbr, z, origins)
        out[h] = fd.scaler.bound(fn(z, nb, origins))
        z = np.concatenate([z[:, 1:], out[h][:, None]], axis=1)
    return out

def _window_mse(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean squared error per window over its observed targets: ``[V, N] -> [V]`` (NaN: none)."""
    se = (pred - y) ** 2
    ok = np.isfinite(se)
    with np.errstate(invalid="ignore"):
        return np.where(ok.any(1), np.where(ok, se, 0.0).sum(1) / np.maximum(ok.sum(1), 1), np.nan)

def _evidence_windows(kind: str, fd: FoldData, have_oos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The evidence windows of one fit and, per window, whether an earlier fit's out-of-sample
    forecast exists (``have_oos [W]``); without one, the fit's own validation forecast is used.
    ``kind == "validation"``: the validation windows only. Causal: windows at or before the origin."""
    val = fd.idx("val")
    if kind == "validation":
        return val, np.zeros(len(val), dtype=bool)
    past = np.sort(np.concatenate([fd.idx("train"), val]))
    have = have_oos[past]
    keep = have | (np.isin(past, val) & ~have)
    return past[keep], have[keep]


def _evidence_errors(kind: str, fd: FoldData, y_work: np.ndarray, oos: dict[str, np.ndarray],
                     now: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-window errors (working scale) of competing forecasters for one fit's decision.

    For every target before the fit's forecasts: the out-of-sample forecast of the earlier fit
    that forecast it (``oos[name] [W, N]``, NaN where none), else, for the fit's validation
    windows, this fit's own forecast (``now[name] [W, N]``). ``kind == "validation"``: the
    validation windows only, this fit's forecasts. Causal: only windows at or before the origin.
    Returns the window numbers and ``{name: errors [V]}``.
    """
    any_name = next(iter(oos))
    win, have = _evidence_windows(kind, fd, np.isfinite(oos[any_name]).any(axis=1))
    out = {k: _window_mse(np.where(have[:, None], oos[k][win], now[k][win]), y_work[win]) for k in now}
    return win, out


def _intervals(cfg: RunConfig, kind: str, fd: FoldData, y_work: np.ndarray, oos: np.ndarray, now: np.ndarray,
               target: np.ndarray, store: dict[float, tuple[np.ndarray, np.ndarray]],
               sources: list | None = None, pre: np.ndarray | None = None) -> None:
    """Conformal intervals (:mod:`step.evaluation.intervals`) of one forecaster's forecasts ``now`` on the
    windows ``target``, from its residuals on this fit's evidence windows; into ``store``.

    Each evidence window's residual is out of sample where possible: an earlier fit's forecast
    (``oos``), else this fit's own out-of-sample forecast (``pre [W, N]``: a training-only fit's,
    a prequential one's; NaN where none), else this fit's fitted forecast (in sample). ``sources``
    receives how many windows came from each."""
    from step.evaluation.intervals import interval_rows, level_key

    ev = cfg.evaluation
    win, have = _evidence_windows(kind, fd, np.isfinite(oos).any(axis=1))
    own = now[win]
    own_oos = np.zeros(len(win), dtype=bool)
    if pre is not None:
        fill = np.isfinite(pre[win]) & ~have[:, None]
        own = np.where(fill, pre[win], own)
        own_oos = fill.any(axis=1)
    P = np.where(have[:, None], oos[win], own)
    levels = list(ev.interval_levels)
    eff = _adapted_levels(cfg, fd, y_work, store, levels)
    q, scale, k = interval_rows(P - y_work[win], fd.scaler.std, levels, ev.interval_min_times,
                                ev.interval_shrink, ev.interval_halflife, eff)
    if sources is not None and len(target):
        sources.append({"origin_time_index": int(fd.fold.origin), "earlier_fits_out_of_sample": int(have.sum()),
                        "this_fit_out_of_sample": int(own_oos.sum()),
                        "this_fit_in_sample": int((~have & ~own_oos).sum()),
                        "scale_prior_weight": round(k, 4) if np.isfinite(k) else (None if np.isnan(k) else "inf"),
                        "adapted_levels": {level_key(lv): round(v, 4) for lv, v in eff.items()}})
    for lv, qv in q.items():
        lo, hi = store.setdefault(lv, (np.full_like(now, np.nan), np.full_like(now, np.nan)))
        lo[target] = now[target] - qv * scale[None, :]
        hi[target] = now[target] + qv * scale[None, :]


def _adapted_levels(cfg: RunConfig, fd: FoldData, y_work: np.ndarray,
                    store: dict[float, tuple[np.ndarray, np.ndarray]], levels: list[float]) -> dict[float, float]:
    """The quantile level per nominal level for one fit's intervals
    (:func:`step.evaluation.intervals.adaptive_levels`), from the share of genes inside the
    forecaster's own earlier intervals (``store``: level -> ``(lo, hi) [W, N]``, working scale) at
    each target known at this fit's origin (``y_work [W, N]``), in time order. Causal: targets at or
    before the origin only."""
    from step.evaluation.intervals import adaptive_levels

    if not cfg.evaluation.interval_adapt_rate > 0:
        return {lv: lv for lv in levels}
    known = np.flatnonzero(np.asarray(fd.fold.split.targets) <= fd.fold.origin)
    covered = {}
    for lv in levels:
        if lv not in store or not len(known):
            continue
        lo, hi, y = store[lv][0][known], store[lv][1][known], y_work[known]
        ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(y)
        rows = ok.any(axis=1)
        inside = ((y >= lo) & (y <= hi) & ok).sum(axis=1)
        covered[lv] = inside[rows] / ok.sum(axis=1)[rows]
    return adaptive_levels(levels, covered, cfg.evaluation.interval_adapt_rate)


@dataclass
class _Record:
    """What the fits' choices read, kept across the fits of a job (working scale, ``[W, N]``):
    the targets, every forecaster's out-of-sample forecasts of the windows already forecast
    (baselines by name; the model per seed, with and without its correction and as reported),
    and the best baseline chosen at each fit."""

    y_work: np.ndarray
    halflife: float
    oos_base: dict[str, np.ndarray]
    oos_model: dict[int, dict[str, np.ndarray]]
    # per fit: (the best baseline it chose, its forecast windows, its test windows)
    votes: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list)


def forecast_stage(cfg: RunConfig, feats: Features, folds: list[Fold], seeds: list[int],
                   timings: dict[str, float], on_epoch=None, baselines: bool = True, shared=None) -> Forecasts:
    """Stages 3 and 4 over every fit: baselines and models, kept where each fit forecasts.

    At every fit the decisions "correction or linear path only" (per seed) and "which baseline
    is best" are made on evidence (:func:`_evidence_errors`): under ``selection.evidence:
    prequential`` the out-of-sample errors of every earlier fit on targets before this fit's
    origin, this fit's validation windows where no earlier forecast exists. ``on_epoch`` is
    passed to :func:`step.forecasters.train.train_model`; ``baselines=False`` skips the baselines (a tuning
    trial needs only the model's validation error). The model is the registered forecaster
    ``cfg.model_name`` (:mod:`step.forecasters.model_forecaster`); nothing here depends on which one.
    ``shared`` (:class:`step.forecasters.registry.SharedFits`) lends the baselines' fits of other runs on
    the same data (an ablation's variants and seeds).
    """
    from tqdm.auto import tqdm

    W, N = feats.course.n_times - cfg.split.history, feats.course.n_genes
    fc = Forecasts({}, {sd: _nan(W, N) for sd in seeds}, transform=cfg.data.transform)
    fc.correction_used = {sd: [] for sd in seeds}
    timings.setdefault("baselines", 0.0)
    timings.setdefault("training", 0.0)
    rec = _Record(feats.Xw[np.arange(cfg.split.history, feats.course.n_times)],
                  cfg.selection.evidence_halflife if cfg.selection.evidence == "prequential" else 0.0, {},
                  {sd: {k: _nan(W, N) for k in ("full", "linear", "reported")} for sd in seeds})
    warm = None
    if baselines and shared is None:
        shared = _beside(cfg, feats, folds, seeds, on_epoch)
    try:
        with _seed_pool(cfg, feats, seeds, on_epoch) as pool:
            for i, fold in enumerate(tqdm(folds, desc="fits", leave=False,
                                          disable=None if len(folds) > 1 else True)):
                warm = _fit_step(cfg, feats, fc, rec, fold, i, seeds, warm, on_epoch, timings, baselines, shared,
                                 pool)
    finally:
        if hasattr(shared, "close"):
            shared.close()
    # the baselines' residual sources first, as when every fit's baselines precede its model
    src = fc.interval_sources
    fc.interval_sources = {k: src[k] for k in [*(b for b in fc.base if b in src), *(k for k in src if k not in fc.base)]}
    _best_baseline(fc, [v for v, _, _ in rec.votes])
    _persistence_exactly(cfg, feats, fc)
    _best_per_origin(fc, rec.votes, W, N)
    for sd, used in fc.correction_used.items():
        log.info("seed %d: the correction was kept at %d of %d fit(s) (evidence: %s)", sd, sum(used), len(used),
                 cfg.selection.evidence)
    return fc


def _beside(cfg: RunConfig, feats: Features, folds: list[Fold], seeds: list[int], on_epoch):
    """A :class:`step.forecasters.beside.BesideFits` whose forked process fits the job's per-gene
    smoothers of every fold (``baselines.processes``), else None."""
    from step.forecasters.beside import beside_processes, shareable_names, start_beside
    from step.forecasters.seed_pool import seed_workers

    names, n = shareable_names(cfg, feats.course.n_genes), feats.course.n_genes
    if beside_processes(cfg.baselines.processes, n, names, seed_workers(cfg.train, len(seeds), on_epoch, n)) < 2:
        return None
    return start_beside(cfg, feats, folds, names)


def _seed_pool(cfg: RunConfig, feats: Features, seeds: list[int], on_epoch):
    """A :class:`step.forecasters.seed_pool.SeedPool` for the job's fits when ``train.seed_workers``
    gives more than one process, else a context that holds None."""
    import contextlib

    from step.forecasters.seed_pool import SeedPool, seed_workers

    n = seed_workers(cfg.train, len(seeds), on_epoch, feats.course.n_genes)
    if n <= 1:
        return contextlib.nullcontext()
    import torch

    return SeedPool(n, torch.get_num_threads())  # train.torch_threads, or torch's default where it is 0


def _fit_step(cfg: RunConfig, feats: Features, fc: Forecasts, rec: "_Record", fold: Fold, i: int, seeds: list[int],
              warm: dict | None, on_epoch, timings: dict[str, float], baselines: bool, shared, pool) -> dict | None:
    """One fit: its baselines, then its model (every seed); returns the weights a warm-started next
    fit starts from (``split.warm_start``), else None. With the per-gene smoothers fitted beside
    the job (:class:`step.forecasters.beside.BesideFits`) the model goes first, so that they are
    ready when the baselines need them (the two steps share nothing but the global learners'
    cache, whose fits do not depend on their order: the same numbers)."""
    from step.forecasters.beside import BesideFits

    W, N = feats.course.n_times - cfg.split.history, feats.course.n_genes
    fd = standardise(cfg, feats, fold)
    kind = evidence_kind(cfg, fold.split)
    predictors: dict = {}

    def model_step():
        t0 = time.perf_counter()
        m = _model_step(cfg, feats, fd, fc, rec, kind, seeds, warm, on_epoch, pool)
        timings["training"] += time.perf_counter() - t0
        return m

    model = model_step() if isinstance(shared, BesideFits) else None
    t0 = time.perf_counter()
    if baselines:
        _baseline_step(cfg, feats, fd, fc, rec, kind, predictors, first=i == 0, shared=shared)
    timings["baselines"] += time.perf_counter() - t0
    if model is None:
        model = model_step()
    if cfg.split.horizon > 1 and len(fold.split.idx("test")):
        _horizon_stage(cfg, feats, fd, fc, model, predictors, fold.split.idx("test"), W, N)
    fc.states, fc.scaler = model.res.states, fd.scaler
    fc.hist_rows += model.res.rows
    return model.res.states if cfg.split.warm_start else None


def _nan(W: int, N: int) -> np.ndarray:
    return np.full((W, N), np.nan)


def _baseline_step(cfg: RunConfig, feats: Features, fd: FoldData, fc: Forecasts, rec: _Record, kind: str,
                   predictors: dict, first: bool, shared=None) -> None:
    """One fit's baselines and peers (:func:`baselines_stage`): their forecasts of the fit's
    test windows into ``fc``, this fit's best-baseline vote, their intervals, and their
    out-of-sample record."""
    W, N = rec.y_work.shape
    f, oos_w = fd.fold.forecast, fd.idx("test")
    to_work = fd.scaler.inverse
    base, info = baselines_stage(cfg, feats, fd, predictors, want_val_oos=first or kind == "validation",
                                 shared=shared)
    val_oos = info.pop("_val_oos")
    for b in base:
        fc.base.setdefault(b, _nan(W, N))[f] = to_work(base[b][f])
        rec.oos_base.setdefault(b, _nan(W, N))
    fc.base_info.append({"origin_time_index": fd.fold.origin, **info})
    rec.votes.append((_best_vote(fd, rec, kind, base, val_oos, fc), np.asarray(f), np.asarray(oos_w)))
    from step.forecasters.registry import REGISTRY

    for b in base:
        now_b = to_work(base[b])
        if getattr(REGISTRY.get(b), "fits_nothing", False):  # its fitted forecasts are out of sample
            pre = now_b
        else:
            pre = _nan(W, N)
            if b in val_oos:
                pre[fd.idx("val")] = to_work(fd.scaler.bound(val_oos[b]))
        _intervals(cfg, kind, fd, rec.y_work, rec.oos_base[b], now_b, oos_w, fc.base_intervals.setdefault(b, {}),
                   fc.interval_sources.setdefault(b, []), pre)
        rec.oos_base[b][oos_w] = now_b[oos_w]


def _best_vote(fd: FoldData, rec: _Record, kind: str, base: dict[str, np.ndarray], val_oos: dict,
               fc: Forecasts) -> str:
    """The baseline with the lowest evidence error at this fit: the recency-weighted
    out-of-sample errors of earlier fits, else each forecaster's training-only forecasts of the
    validation windows (its fitted ones if it has none); the paper protocol: the training windows."""
    from step.forecasters.linear_fit import recency_weights, wmean

    to_work = fd.scaler.inverse
    names = list(base)
    if fd.fold.split.report == "val":  # paper: the reported split is the validation one
        sel = fd.idx("train")
        errs = {b: _window_mse(to_work(base[b][sel]), rec.y_work[sel]) for b in names}
        fc.sel_split = "train"
        score = {b: wmean(e) for b, e in errs.items()}
    else:
        now_ev = {}
        for b in names:
            now_ev[b] = to_work(base[b])
            if b in val_oos:
                now_ev[b][fd.idx("val")] = to_work(fd.scaler.bound(val_oos[b]))
        win, errs = _evidence_errors(kind, fd, rec.y_work, rec.oos_base, now_ev)
        wts = recency_weights(win, rec.halflife)
        fc.sel_split = ("val" if kind == "validation" or fd.fold.split.protocol != "rolling"
                        else "prequential (earlier origins' forecasts, else the fit's validation)")
        score = {b: wmean(e, wts) for b, e in errs.items()}
    score = {b: v if np.isfinite(v) else np.inf for b, v in score.items()}
    return min(names, key=lambda b: score[b])


def _model_step(cfg: RunConfig, feats: Features, fd: FoldData, fc: Forecasts, rec: _Record, kind: str,
                seeds: list[int], warm: dict | None, on_epoch, pool=None):
    """One fit of the configured model (every seed), each seed's correction kept or not on the
    evidence (:func:`_keep_correction`), its forecasts of the fit's test windows and intervals
    into ``fc``. Returns the fitted :class:`step.forecasters.model_forecaster.SpatioTemporalModel`."""
    from step.forecasters.registry import REGISTRY
    from step.forecasters.model_forecaster import ModelContext

    ctx = dataclasses.replace(job_context(cfg, feats), model=ModelContext(cfg, feats, seeds, warm, on_epoch, pool))
    model = REGISTRY[cfg.model_name](ctx).fit(fit_data(fd))
    res, to_work = model.res, fd.scaler.inverse
    f, oos_w = fd.fold.forecast, fd.idx("test")
    fc.model_args = res.model_args
    fc.linear_starts.append({"origin_time_index": fd.fold.origin, **model.info})
    for sd in seeds:
        now = {"full": to_work(res.full[sd]), "linear": to_work(res.linear[sd])}
        use = _keep_correction(cfg, fd, rec, kind, sd, now, not np.array_equal(res.full[sd], res.linear[sd]))
        fc.correction_used[sd].append(use)
        now["reported"] = now["full"] if use else now["linear"]
        fc.model[sd][f] = now["reported"][f]
        # the correction's own forecasts of the fit's validation windows are in sample (it stopped on them)
        pre = None if use or res.linear_oos is None else to_work(res.linear_oos)
        _intervals(cfg, kind, fd, rec.y_work, rec.oos_model[sd]["reported"], now["reported"], oos_w,
                   fc.model_intervals.setdefault(sd, {}),
                   fc.interval_sources.setdefault(cfg.model_name, []) if sd == seeds[0] else None, pre)
        for k in ("full", "linear", "reported"):
            rec.oos_model[sd][k][oos_w] = now[k][oos_w]
        model.keep_correction(sd, use)
    return model


def _keep_correction(cfg: RunConfig, fd: FoldData, rec: _Record, kind: str, seed: int,
                     now: dict[str, np.ndarray], differs: bool) -> bool:
    """Is seed ``seed``'s correction kept at this fit? Its evidence errors against the linear path
    alone (``selection.rule``: "se" clearly better, else a lower weighted mean)."""
    from step.forecasters.linear_fit import clearly_better, recency_weights, wmean

    win, e = _evidence_errors(kind, fd, rec.y_work, rec.oos_model[seed], now)
    wts = recency_weights(win, rec.halflife)
    if cfg.selection.rule == "se":
        return bool(differs and clearly_better(e["full"], e["linear"], cfg.selection.z, wts,
                                               cfg.selection.relative))
    return bool(differs and wmean(e["full"], wts) < wmean(e["linear"], wts))


def _best_baseline(fc: Forecasts, votes: list[str]) -> None:
    """The majority of the per-fit votes (dict order: the earliest choice wins a tie)."""
    if votes:
        fc.best_per_origin = votes
        counts = {b: votes.count(b) for b in dict.fromkeys(votes)}
        fc.best = max(counts, key=lambda b: counts[b])


COMPOSITE = "best_per_origin"


def _best_per_origin(fc: Forecasts, votes: list[tuple[str, np.ndarray, np.ndarray]], W: int, N: int) -> None:
    """The forecaster a user could have run: at each fit, the forecasts (one-step, intervals,
    horizons) of the baseline that fit chose on the evidence before its origin. Added as
    ``best_per_origin`` when the fits chose more than one baseline (otherwise it is that baseline)."""
    if len({v for v, _, _ in votes}) < 2:
        return
    P = _nan(W, N)
    iv: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    hz = {h: _nan(W, N) for h in fc.horizon_base}
    for name, f, origins in votes:
        P[f] = fc.base[name][f]
        for lv, (lo, hi) in fc.base_intervals.get(name, {}).items():
            a, b = iv.setdefault(lv, (_nan(W, N), _nan(W, N)))
            a[f], b[f] = lo[f], hi[f]
        for h, arr in hz.items():
            tgt = origins + h - 1
            tgt = tgt[tgt < W]
            arr[tgt] = fc.horizon_base[h][name][tgt]
    fc.base[COMPOSITE] = P
    fc.base_intervals[COMPOSITE] = iv
    for h, arr in hz.items():
        fc.horizon_base[h][COMPOSITE] = arr
        hiv: dict = {}
        for name, _, origins in votes:
            tgt = origins + h - 1
            tgt = tgt[tgt < W]
            for lv, (lo, hi) in fc.horizon_base_intervals.get(h, {}).get(name, {}).items():
                a, b = hiv.setdefault(lv, (_nan(W, N), _nan(W, N)))
                a[tgt], b[tgt] = lo[tgt], hi[tgt]
        fc.horizon_base_intervals.setdefault(h, {})[COMPOSITE] = hiv


def _persistence_exactly(cfg: RunConfig, feats: Features, fc: Forecasts) -> None:
    """Persistence is exactly the previous value (no round trip through the scaler); where that
    value is masked (data.allow_missing), the imputed input every forecaster sees. Its intervals
    move with it (centred on what is reported)."""
    if "persistence" not in fc.base:
        return
    prev = feats.Xw[np.arange(cfg.split.history, feats.course.n_times) - 1]
    old = fc.base["persistence"]
    fc.base["persistence"] = np.where(np.isfinite(prev), prev, old)
    shift = np.nan_to_num(fc.base["persistence"] - old)
    for lo, hi in fc.base_intervals.get("persistence", {}).values():
        lo += shift
        hi += shift


def _horizon_stage(cfg: RunConfig, feats: Features, fd: FoldData, fc: Forecasts, model,
                   predictors: dict, origins: np.ndarray, W: int, N: int) -> None:
    """Forecasts 2 .. split.horizon steps ahead from the fit's out-of-sample origins
    (:func:`recursive_forecasts`), every registered forecaster (``predictors``: name ->
    ``predict(z, nb, origins)``, the same calls as their one-step forecasts) and the model (each
    seed with its reported correction), into ``fc.horizon_base`` / ``fc.horizon_model`` (working
    scale) at their target windows, with conformal intervals from each one's earlier h-step
    out-of-sample residuals (:func:`step.evaluation.intervals.interval_rows`; NaN until enough exist)."""
    from step.evaluation.intervals import interval_rows, level_key

    H, ev = cfg.split.horizon, cfg.evaluation
    levels = list(ev.interval_levels)
    y_work = feats.Xw[np.arange(cfg.split.history, feats.course.n_times)]  # [W, N]
    past = fd.fold.split.targets <= fd.fold.origin                       # windows whose target is known
    fns: dict = dict(predictors)
    for sd in model.res.states:
        fns[("model", sd)] = model.predictor(sd)
    for name, fn in fns.items():
        rec = recursive_forecasts(fn, fd, feats, origins, H)
        for h in range(2, H + 1):
            tgt = origins + h - 1
            ok = tgt < W
            tgt = tgt[ok]
            is_model = isinstance(name, tuple)
            key = name[1] if is_model else name
            arr = (fc.horizon_model if is_model else fc.horizon_base).setdefault(h, {}).setdefault(key, _nan(W, N))
            # intervals from this forecaster's earlier h-step out-of-sample residuals (targets known at the origin)
            ivs = (fc.horizon_model_intervals if is_model else fc.horizon_base_intervals).setdefault(h, {})
            eff = _adapted_levels(cfg, fd, y_work, ivs.get(key, {}), levels)
            q, scale, _ = interval_rows(np.where(past[:, None], arr - y_work, np.nan), fd.scaler.std,
                                        levels, ev.interval_min_times, ev.interval_shrink,
                                        ev.interval_halflife, eff)
            arr[tgt] = fd.scaler.inverse(rec[h][ok])
            for lv, qv in q.items():
                lo, hi = ivs.setdefault(key, {}).setdefault(lv, (_nan(W, N), _nan(W, N)))
                lo[tgt] = arr[tgt] - qv * scale[None, :]
                hi[tgt] = arr[tgt] + qv * scale[None, :]
