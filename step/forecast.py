"""The forecasts of a job: every fit of the protocol, baselines and models, and the choices made
on evidence (the linear path's start, the correction, the best baseline).

:func:`forecast_stage` runs the fits; each fit standardises its data (:func:`standardise`),
runs the baselines (:func:`baselines_stage`) and trains the model once per seed
(:func:`fit_stage`). Forecasts stay in the working scale (the ``data.transform`` space) from fit
to evaluation; :class:`Forecasts` holds them, converted once when written.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from step.config import RunConfig
from step.course import GeneTimeCourse, original_scale
from step.windows import Fold, Scaler, WindowSplit, make_windows

log = logging.getLogger(__name__)


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
    ctx: object = None  # step.forecasters.JobContext, built on first use (forecast.job_context)

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
    # conformal intervals (step/intervals.py), working scale: name or seed -> level -> (lo, hi) [W, N]
    base_intervals: dict[str, dict[float, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    model_intervals: dict[int, dict[float, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    # split.horizon > 1: h-step forecasts (h >= 2), working scale, indexed by the target window
    horizon_base: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    horizon_model: dict[int, dict[int, np.ndarray]] = field(default_factory=dict)

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

    def intervals_original(self) -> tuple[dict, dict]:
        """The conformal intervals in the original scale (the transform is monotone)."""
        conv = lambda d: {lv: (original_scale(lo, self.transform), original_scale(hi, self.transform))  # noqa: E731
                          for lv, (lo, hi) in d.items()}
        return ({k: conv(v) for k, v in self.base_intervals.items()},
                {k: conv(v) for k, v in self.model_intervals.items()})

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
    from step.sparse_ops import neighbour_means  # torch: imported once the embedding is under way

    scaler = Scaler.fit(feats.Xw, fold.split.train_time_indices(), cfg.data.scale_floor, cfg.data.z_clip)
    Z = scaler.transform(feats.Xw)  # NaN only where data.allow_missing masks a value
    inputs, targets, _ = make_windows(Z, cfg.split.history)  # [W, L, N], [W, N]
    inputs = np.nan_to_num(inputs, nan=0.0)  # a masked input is imputed by the training mean
    return FoldData(fold, scaler, Z, inputs, targets, neighbour_means(feats.nbr, inputs))

def job_context(cfg: RunConfig, feats: Features):
    """The forecasters' shared context of a job (:class:`step.forecasters.JobContext`), built once
    (its global-learner cache is shared by every fit, the model's start choice and the peers)."""
    from step.forecasters import GlobalCache, JobContext

    if feats.ctx is None:
        L = cfg.split.history
        cache = GlobalCache(feats.Xw, L, cfg.baselines.global_lags, cfg.train.seed)
        feats.ctx = JobContext(list(cfg.baselines.ridge_alphas), tuple(cfg.baselines.ets_models),
                               cfg.baselines.global_lags, cfg.train.seed, feats.Xw, L, cache, feats.course.pairs)
    return feats.ctx


def fit_data(fd: FoldData, want_val_oos: bool = True):
    """One fold as :class:`step.forecasters.FitData`: fitted on every window at or before the
    origin (training and validation), except under the paper protocol (its validation windows
    are the reported ones): the training windows."""
    from step.forecasters import FitData

    ws = fd.fold.split
    tr, va = fd.idx("train"), fd.idx("val")
    fit = tr if ws.report == "val" else np.sort(np.concatenate([tr, va]))
    return FitData(fd.inputs, fd.targets, fd.nb, fd.Z, fd.scaler, ws.targets, tr, va, fit, want_val_oos)


def baselines_stage(cfg: RunConfig, feats: Features, fd: FoldData, predictors: dict | None = None,
                    want_val_oos: bool = True) -> tuple[dict[str, np.ndarray], dict]:
    """Stage 3: every registered forecaster of the job (:mod:`step.forecasters`: the baselines and
    the library peers), fitted on the same windows; predictions ``[W, N]`` (standardised scale,
    within the clip range). ``predictors`` (a dict) receives each as ``f(z, nb, origins)`` for
    new windows; ``info["_val_oos"]`` holds each one's out-of-sample validation forecasts."""
    from step.forecasters import enabled_names, fit_all

    ctx = job_context(cfg, feats)
    d = fit_data(fd, want_val_oos)
    if fd.fold.split.report == "val":
        log.info("paper protocol: ridge strengths chosen by leave-one-out on training windows")
    names = enabled_names(list(cfg.baselines.peers), feats.course.n_genes, cfg.baselines.per_gene_peer_max_genes)
    fitted = fit_all(names, ctx, d)
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
    from step.sparse_ops import neighbour_means_at

    z = fd.inputs[origins].copy()
    out: dict[int, np.ndarray] = {}
    for h in range(1, horizon + 1):
        nb = neighbour_means_at(feats.nbr, z, origins)
        out[h] = fd.scaler.bound(fn(z, nb, origins))
        z = np.concatenate([z[:, 1:], out[h][:, None]], axis=1)
    return out


def _model_forecaster(cfg: RunConfig, feats: Features, model_args: dict, state: dict, base_fn=None):
    """The fitted model (with its reported correction or none) as a forecaster of new windows: the
    embedding and graph operator of each origin window; ``base_fn(z, nb, origins)`` the global
    learner its start is (its forecast is added), or None."""
    import torch

    from step.models import build_model

    model = build_model(cfg.model_name, **model_args).to(cfg.train.device)
    model.load_state_dict(state)
    model.eval()

    @torch.no_grad()
    def fn(z: np.ndarray, nb: np.ndarray, origins: np.ndarray) -> np.ndarray:
        chans = [z[:, None]] + ([nb[:, None]] if cfg.model.linear_graph else [])
        x = torch.as_tensor(np.concatenate(chans, axis=1), dtype=torch.float32)
        if feats.emb is not None:
            x = torch.cat([x, torch.as_tensor(feats.emb[origins], dtype=torch.float32).permute(0, 3, 1, 2)], dim=1)
        x = x.to(cfg.train.device)
        lap = feats.lap.to(cfg.train.device)  # a WindowOperators or a dense tensor
        out = []
        for s0 in range(0, len(origins), 64):
            b = torch.as_tensor(origins[s0:s0 + 64], dtype=torch.long)
            lb = lap.batch(b.to(cfg.train.device)) if hasattr(lap, "batch") else (lap[b] if lap.dim() == 3 else lap)
            out.append(model(x[s0:s0 + 64], lb)[:, 0, 0, :].cpu())
        pred = torch.cat(out).numpy().astype(float)
        return pred if base_fn is None else pred + base_fn(z, nb, origins)

    return fn

def evidence_kind(cfg: RunConfig, ws: WindowSplit) -> str:
    """"prequential" or "validation" (the paper protocol's random windows: always validation)."""
    return "validation" if ws.protocol == "paper" else cfg.train.evidence

def linear_start_stage(cfg: RunConfig, fd: FoldData, feats: Features | None = None):
    """The model's start for one fit (:func:`step.linear_fit.choose_linear_start`): the moving
    average, a point of the linear family, or (``train.global_bases``, prequential evidence only) a
    global learner of :mod:`step.forecasters`, each judged on the same out-of-sample evidence in the
    working scale (``train.evidence_scale``). None when ``train.linear_init`` is off."""
    from step.linear_fit import choose_linear_start

    if not cfg.train.linear_init:
        return None
    t = cfg.train
    kind = evidence_kind(cfg, fd.fold.split)
    external = global_evidence(cfg, feats, fd) if feats is not None and kind == "prequential" else None
    return choose_linear_start(fd.inputs, fd.nb if cfg.model.linear_graph else None, fd.targets,
                               fd.idx("train"), fd.idx("val"), list(t.linear_alphas), list(t.linear_poolings),
                               kind, t.prequential_min_train, t.selection,
                               t.selection_z, t.evidence_halflife, t.selection_relative, external,
                               fd.scaler.std if t.evidence_scale == "working" else None, t.selection_consistent_p,
                               t.start_rule, t.blend_min_windows)


def global_evidence(cfg: RunConfig, feats: Features, fd: FoldData) -> dict[str, np.ndarray]:
    """``{name: [W, N]}`` standardised forecasts of the fit's past windows by each global base, each
    window from the learner fitted on the windows before it (NaN elsewhere)."""
    names = list(cfg.train.global_bases)
    if not names:
        return {}
    cache = job_context(cfg, feats).cache
    past = np.sort(np.concatenate([fd.idx("train"), fd.idx("val")])).astype(int)
    W, N = fd.targets.shape
    out = {}
    for name in names:
        F = np.full((W, N), np.nan)
        F[past] = fd.scaler.bound((cache.prequential(name, past) - fd.scaler.mean) / fd.scaler.std)
        out[name] = F
    return out


class BlendedBase:
    """A weighted sum of fitted global learners (a blended start's fixed offset): ``predict`` like
    theirs, ``sum_k w_k f_k.predict(z, nb, windows)`` (each bounded by the fold's scaler)."""

    def __init__(self, parts: list[tuple[float, object]], scaler):
        self.parts, self.scaler = parts, scaler

    def predict(self, z: np.ndarray, nb: np.ndarray, windows: np.ndarray) -> np.ndarray:
        return sum(w * self.scaler.bound(f.predict(z, nb, windows)) for w, f in self.parts)


def blended_offset(cfg: RunConfig, feats: Features, fd: FoldData, weights: dict[str, float]):
    """:func:`base_offset` of every global learner of a start, summed with its weight ``[W, N]``.
    Returns (a :class:`BlendedBase` of the fitted learners, offset)."""
    parts, total = [], None
    for name, w in weights.items():
        f, off = base_offset(cfg, feats, fd, name)
        parts.append((float(w), f))
        total = w * off if total is None else total + w * off
    return BlendedBase(parts, fd.scaler), total


def base_offset(cfg: RunConfig, feats: Features, fd: FoldData, name: str):
    """The fixed base ``[W, N]`` (standardised) of a model whose start is the global learner
    ``name``: on the fit's past windows their out-of-sample (prequential) forecasts, so the
    correction learns from the base's true errors; on every later window the forecast of the
    learner fitted on every window at or before the origin. Returns (that fitted learner, offset)."""
    from step.forecasters import REGISTRY

    f = REGISTRY[name](job_context(cfg, feats)).fit(fit_data(fd, want_val_oos=False))
    W = fd.targets.shape[0]
    off = fd.scaler.bound(f.predict(fd.inputs, fd.nb, np.arange(W)))
    pre = global_evidence(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, global_bases=[name])),
                          feats, fd)[name]
    ok = np.isfinite(pre).all(axis=1)
    off[ok] = pre[ok]
    return f, off


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
    base_fn: object = None  # the fitted global learner when the start is one (its .predict)

def fit_stage(cfg: RunConfig, feats: Features, fd: FoldData, seeds: list[int],
              warm: dict[int, dict] | None = None, on_epoch=None) -> FitResult:
    """Stage 4: train the model once per seed on one fit's windows.

    The linear path starts at :func:`linear_start_stage`'s choice (the same for every seed) and
    stays there unless ``train.train_linear``; training fits the correction, early-stopped on the
    validation windows. ``warm`` (rolling, ``split.warm_start``) holds the previous fit's weights
    per seed.
    """
    import torch

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
    start = linear_start_stage(cfg, fd, feats)
    if start is not None and start.offsets:  # global learners in the start: a fixed offset
        base_f, off = blended_offset(cfg, feats, fd, start.offsets)
        data.offset = torch.as_tensor(off, dtype=torch.float32).to(cfg.train.device)
    # the trained epoch competes with the start on validation; whether the correction is kept is
    # decided by forecast_stage on the evidence of every earlier origin (train.selection there)
    train_cfg = dataclasses.replace(cfg.train, epochs=cfg.train.finetune_epochs) if warm else cfg.train
    res = FitResult({}, {}, {}, [], model_args, start)
    res.base_fn = base_f.predict if start is not None and start.offsets else None
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
        model.linear.requires_grad_(cfg.train.train_linear and (start is None or not start.offsets))
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


def _evidence_rows(kind: str, fd: FoldData, oos: np.ndarray, now: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts ``[V, N]`` of one forecaster on the evidence windows (:func:`_evidence_windows`)."""
    win, have = _evidence_windows(kind, fd, np.isfinite(oos).any(axis=1))
    return win, np.where(have[:, None], oos[win], now[win])


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
               target: np.ndarray, store: dict[float, tuple[np.ndarray, np.ndarray]]) -> None:
    """Conformal intervals (:mod:`step.intervals`) of one forecaster's forecasts ``now`` on the
    windows ``target``, from its residuals on this fit's evidence windows; into ``store``."""
    from step.intervals import interval_rows

    ev = cfg.evaluation
    win, P = _evidence_rows(kind, fd, oos, now)
    q = interval_rows(P - y_work[win], fd.scaler.std, list(ev.interval_levels), ev.interval_min_times)
    for lv, qv in q.items():
        lo, hi = store.setdefault(lv, (np.full_like(now, np.nan), np.full_like(now, np.nan)))
        lo[target] = now[target] - qv * fd.scaler.std[None, :]
        hi[target] = now[target] + qv * fd.scaler.std[None, :]


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
    import torch
    from tqdm.auto import tqdm

    from step.linear_fit import clearly_better, recency_weights, wmean

    W, N = feats.course.n_times - cfg.split.history, feats.course.n_genes
    nan = lambda: np.full((W, N), np.nan)  # noqa: E731
    fc = Forecasts({}, {sd: nan() for sd in seeds}, transform=cfg.data.transform)
    fc.correction_used = {sd: [] for sd in seeds}
    timings.setdefault("baselines", 0.0)
    timings.setdefault("training", 0.0)
    y_work = feats.Xw[np.arange(cfg.split.history, feats.course.n_times)]  # [W, N] working scale
    halflife = cfg.train.evidence_halflife if cfg.train.evidence == "prequential" else 0.0
    oos_base: dict[str, np.ndarray] = {}                # out-of-sample forecasts (working scale)
    oos_model = {sd: {"full": nan(), "linear": nan(), "reported": nan()} for sd in seeds}
    best_votes: list[str] = []
    warm = None
    for i, fold in enumerate(tqdm(folds, desc="fits", leave=False, disable=None if len(folds) > 1 else True)):
        fd = standardise(cfg, feats, fold)
        to_work = fd.scaler.inverse
        kind = evidence_kind(cfg, fold.split)
        f, oos_w = fold.forecast, fold.split.idx("test")
        t0 = time.perf_counter()
        H = cfg.split.horizon
        preds_fn: dict | None = {} if H > 1 else None
        if baselines:
            base, info = baselines_stage(cfg, feats, fd, preds_fn, want_val_oos=i == 0 or kind == "validation")
            val_oos = info.pop("_val_oos")
            names = list(base)
            for b in names:
                fc.base.setdefault(b, nan())[f] = to_work(base[b][f])
                oos_base.setdefault(b, nan())
            fc.base_info.append({"origin_time_index": fold.origin, **info})
            if fold.split.report == "val":  # paper: the reported split is the validation one
                sel = fd.idx("train")
                errs = {b: _window_mse(to_work(base[b][sel]), y_work[sel]) for b in names}
                fc.sel_split = "train"
            else:
                # evidence: earlier fits' out-of-sample forecasts, else the validation windows'
                # forecasts of each forecaster's training-only fit (its fitted ones if it has none)
                now_ev = {}
                for b in names:
                    now_ev[b] = to_work(base[b])
                    if b in val_oos:
                        now_ev[b][fd.idx("val")] = to_work(fd.scaler.bound(val_oos[b]))
                win, errs = _evidence_errors(kind, fd, y_work, oos_base, now_ev)
                wts = recency_weights(win, halflife)
                fc.sel_split = ("val" if kind == "validation" or fold.split.protocol != "rolling"
                                else "prequential (earlier origins' forecasts, else the fit's validation)")
            score = {b: wmean(e, wts) if fold.split.report != "val" else wmean(e) for b, e in errs.items()}
            score = {b: v if np.isfinite(v) else np.inf for b, v in score.items()}
            best_votes.append(min(names, key=lambda b: score[b]))
            for b in names:
                now_b = to_work(base[b])
                _intervals(cfg, kind, fd, y_work, oos_base[b], now_b, oos_w, fc.base_intervals.setdefault(b, {}))
                oos_base[b][oos_w] = now_b[oos_w]
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
            fc.model[sd][f] = to_work(P[f])
            now["reported"] = to_work(P)
            _intervals(cfg, kind, fd, y_work, oos_model[sd]["reported"], now["reported"], oos_w,
                       fc.model_intervals.setdefault(sd, {}))
            for k in ("full", "linear", "reported"):
                oos_model[sd][k][oos_w] = now[k][oos_w]
            if not use:  # the saved weights forecast what was reported: the correction head is zeroed
                for key in ("head.out.weight", "head.out.bias"):
                    if key in res.states[sd]:
                        res.states[sd][key] = torch.zeros_like(res.states[sd][key])
        if H > 1 and len(oos_w):
            _horizon_stage(cfg, feats, fd, fc, res, preds_fn if baselines else {}, base if baselines else {},
                           oos_w, W, N)
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
    # persistence is exactly the previous value (no round trip through the scaler); where that value
    # is masked (data.allow_missing), the imputed input every forecaster sees
    prev = feats.Xw[np.arange(cfg.split.history, feats.course.n_times) - 1]
    if "persistence" in fc.base:
        old = fc.base["persistence"]
        fc.base["persistence"] = np.where(np.isfinite(prev), prev, old)
        shift = np.nan_to_num(fc.base["persistence"] - old)  # its intervals centred on what is reported
        for lo, hi in fc.base_intervals.get("persistence", {}).values():
            lo += shift
            hi += shift
    return fc

def _horizon_stage(cfg: RunConfig, feats: Features, fd: FoldData, fc: Forecasts, res: "FitResult",
                   predictors: dict, base: dict, origins: np.ndarray, W: int, N: int) -> None:
    """Forecasts 2 .. split.horizon steps ahead from the fit's out-of-sample origins
    (:func:`recursive_forecasts`), every registered forecaster (``predictors``: name ->
    ``predict(z, nb, origins)``, the same calls as their one-step forecasts) and the model (each
    seed with its reported correction), into ``fc.horizon_base`` / ``fc.horizon_model`` (working
    scale) at their target windows."""
    H = cfg.split.horizon
    fns: dict = dict(predictors)
    for sd in res.states:
        fns[("model", sd)] = _model_forecaster(cfg, feats, res.model_args, res.states[sd], res.base_fn)
    for name, fn in fns.items():
        rec = recursive_forecasts(fn, fd, feats, origins, H)
        for h in range(2, H + 1):
            tgt = origins + h - 1
            ok = tgt < W
            store = (fc.horizon_model.setdefault(h, {}) if isinstance(name, tuple)
                     else fc.horizon_base.setdefault(h, {}))
            key = name[1] if isinstance(name, tuple) else name
            arr = store.setdefault(key, np.full((W, N), np.nan))
            arr[tgt[ok]] = fd.scaler.inverse(rec[h][ok])


def _start_info(start) -> dict:
    if start is None:
        return {"start": "moving_average (train.linear_init off)"}
    return {"start": start.label(), "weights": start.weights or {start.candidate.label(): 1.0}, "rule": start.rule, "evidence": start.evidence,
            "n_evidence": start.n_evidence,
            "evidence_mse": {k: round(v, 6) for k, v in start.scores.items()}}
