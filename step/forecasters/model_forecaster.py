"""STEPmr and STEPmi behind the forecaster interface of :mod:`step.forecasters.registry`.

``REGISTRY[cfg.model_name](ctx).fit(d)`` trains the configured model once per seed on one fit
(``ctx.model`` a :class:`ModelContext`: the job's config, graph operators, embeddings, seeds and
warm weights); ``predict(z, nb, windows) -> [V, N]`` forecasts new windows (the mean over seeds),
each seed's with its correction or its linear path alone (:meth:`SpatioTemporalModel.keep_correction`;
the orchestrator, :mod:`step.jobs.forecast`, decides that on the evidence of earlier origins).

The pieces: :func:`linear_start_stage` (the linear path's start, on evidence), :func:`fit_stage`
(the training per seed), :func:`model_predictor` (a fitted seed as a forecaster of new windows).
The model's arguments come from its class (:func:`step.forecasters.models.model_args_from_config`).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from step.config import RunConfig
from step.forecasters.fold_data import Features, FoldData, evidence_kind, fit_data, job_context
from step.forecasters.registry import REGISTRY, FitData, Forecaster, register

log = logging.getLogger(__name__)


@dataclass
class ModelContext:
    """What a model's fit reads beyond :class:`step.forecasters.registry.FitData`: the resolved config, the
    job's features (graph operators, embeddings, degrees), the seeds, the previous fit's weights
    per seed (``split.warm_start``) and an epoch callback (a tuning trial's pruning)."""

    cfg: RunConfig
    feats: Features
    seeds: list[int]
    warm: dict[int, dict] | None = None
    on_epoch: Callable | None = None
    pool: Any = None  # a SeedPool (step.forecasters.seed_pool): the seeds of each fit trained at once


class SpatioTemporalModel(Forecaster):
    """The configured ST-GCN model (subclasses name it) as a forecaster; ``res`` the fit's
    :class:`FitResult` (per seed: the forecasts with and without the correction, the weights)."""

    kind = "model"

    def __init__(self, ctx):
        super().__init__(ctx)
        if getattr(ctx, "model", None) is None:
            raise ValueError(f"{self.name} needs the job's model context (JobContext.model)")
        self.mc: ModelContext = ctx.model
        self.res: FitResult | None = None
        self.use: dict[int, bool] = {}
        self._fns: dict[int, Callable] = {}

    def fit(self, d: FitData) -> "SpatioTemporalModel":
        if d.fold is None:
            raise ValueError(f"{self.name} is fitted on a job's fold (FitData.fold)")
        super().fit(d)
        self.fitted_windows = np.sort(np.concatenate([d.train, d.val]))  # validation: early stopping
        mc = self.mc
        cfg = mc.cfg if mc.cfg.model_name == self.name else dataclasses.replace(mc.cfg, model_name=self.name)
        self.cfg = cfg
        self.res = fit_stage(cfg, mc.feats, d.fold, mc.seeds, mc.warm, mc.on_epoch, mc.pool)
        self.use = {sd: True for sd in mc.seeds}
        self.info = start_info(self.res.start)
        return self

    def keep_correction(self, seed: int, use: bool) -> None:
        """Report seed ``seed`` with its correction (``use``) or its linear path alone; the latter
        zeroes the saved correction head, so the saved weights forecast what is reported."""
        import torch

        self.use[seed] = bool(use)
        self._fns.pop(seed, None)
        if not use:
            st = self.res.states[seed]
            for key in ("head.out.weight", "head.out.bias"):
                if key in st:
                    st[key] = torch.zeros_like(st[key])

    def reported(self, seed: int) -> np.ndarray:
        """``[W, N]`` the fit's reported forecasts of seed ``seed`` (standardised)."""
        return self.res.full[seed] if self.use[seed] else self.res.linear[seed]

    def predictor(self, seed: int) -> Callable:
        """Seed ``seed`` as ``f(z [V, L, N], nb [V, L, N], windows [V]) -> [V, N]``."""
        if seed not in self._fns:
            self._fns[seed] = model_predictor(self.cfg, self.mc.feats, self.res.model_args, self.res.states[seed],
                                              self.res.base_fn)
        return self._fns[seed]

    def predict(self, z: np.ndarray, nb: np.ndarray, windows: np.ndarray) -> np.ndarray:
        return np.mean([self.predictor(sd)(z, nb, windows) for sd in self.mc.seeds], axis=0)


@register
class STEPmrForecaster(SpatioTemporalModel):
    name = "STEPmr"


@register
class STEPmiForecaster(SpatioTemporalModel):
    name = "STEPmi"


def model_predictor(cfg: RunConfig, feats: Features, model_args: dict, state: dict, base_fn=None):
    """The fitted model (with its reported correction or none) as a forecaster of new windows: the
    embedding and graph operator of each origin window; ``base_fn(z, nb, origins)`` the global
    learner its start is (its forecast is added), or None."""
    import torch

    from step.forecasters.models import build_model
    from step.forecasters.train import predict_batch

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
        out, B = [], predict_batch(feats.course.n_genes)
        for s0 in range(0, len(origins), B):
            b = torch.as_tensor(origins[s0:s0 + B], dtype=torch.long)
            lb = lap.batch(b.to(cfg.train.device)) if hasattr(lap, "batch") else (lap[b] if lap.dim() == 3 else lap)
            out.append(model(x[s0:s0 + B], lb)[:, 0, 0, :].cpu())
        pred = torch.cat(out).numpy().astype(float)
        return pred if base_fn is None else pred + base_fn(z, nb, origins)

    return fn


def linear_start_stage(cfg: RunConfig, fd: FoldData, feats: Features | None = None, with_evidence: bool = False):
    """The model's start for one fit (:func:`step.forecasters.linear_fit.choose_linear_start`): the moving
    average, a point of the linear family, or (``selection.global_bases``, prequential evidence only) a
    global learner of :mod:`step.forecasters.registry`, each judged on the same out-of-sample evidence in the
    working scale (``selection.evidence_scale``). None when ``selection.linear_init`` is off.
    ``with_evidence``: return (start, the global learners' evidence of :func:`global_evidence`)."""
    from step.forecasters.linear_fit import choose_linear_start

    if not cfg.selection.linear_init:
        return (None, None) if with_evidence else None
    t = cfg.selection
    kind = evidence_kind(cfg, fd.fold.split)
    external = global_evidence(cfg, feats, fd) if feats is not None and kind == "prequential" else None
    start = choose_linear_start(fd.inputs, fd.nb if cfg.model.linear_graph else None, fd.targets,
                                fd.idx("train"), fd.idx("val"), list(t.linear_alphas), list(t.linear_poolings),
                                kind, t.prequential_min_train, t.rule,
                                t.z, t.evidence_halflife, t.relative, external,
                                fd.scaler.std if t.evidence_scale == "working" else None, t.consistent_p,
                                t.start_rule, t.blend_min_windows, tuple(t.blend_equal_shares))
    return (start, external) if with_evidence else start


def global_evidence(cfg: RunConfig, feats: Features, fd: FoldData) -> dict[str, np.ndarray]:
    """``{name: [W, N]}`` standardised forecasts of the fit's past windows by each global base, each
    window from the learner fitted on the windows before it (NaN elsewhere)."""
    names = list(cfg.selection.global_bases)
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


def blended_offset(cfg: RunConfig, feats: Features, fd: FoldData, weights: dict[str, float],
                   evidence: dict[str, np.ndarray] | None = None):
    """:func:`base_offset` of every global learner of a start, summed with its weight ``[W, N]``
    (``evidence``: :func:`global_evidence` when already computed). Returns (a
    :class:`BlendedBase` of the fitted learners, offset)."""
    parts, total = [], None
    for name, w in weights.items():
        f, off = base_offset(cfg, feats, fd, name, (evidence or {}).get(name))
        parts.append((float(w), f))
        total = w * off if total is None else total + w * off
    return BlendedBase(parts, fd.scaler), total


def base_offset(cfg: RunConfig, feats: Features, fd: FoldData, name: str, pre: np.ndarray | None = None):
    """The fixed base ``[W, N]`` (standardised) of a model whose start is the global learner
    ``name``: on the fit's past windows their out-of-sample (prequential) forecasts, so the
    correction learns from the base's true errors; on every later window the forecast of the
    learner fitted on every window at or before the origin (``pre``: its :func:`global_evidence`
    when already computed). Returns (that fitted learner, offset)."""
    f = REGISTRY[name](job_context(cfg, feats)).fit(fit_data(fd, want_val_oos=False))
    W = fd.targets.shape[0]
    off = fd.scaler.bound(f.predict(fd.inputs, fd.nb, np.arange(W)))
    if pre is None:
        pre = global_evidence(dataclasses.replace(cfg, selection=dataclasses.replace(cfg.selection, global_bases=[name])),
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
    # [W, N] out-of-sample forecasts of the linear path on the fit's evidence windows (NaN
    # elsewhere), or None where it has none (its weights trained further: train.train_linear)
    linear_oos: np.ndarray | None = None

def fit_stage(cfg: RunConfig, feats: Features, fd: FoldData, seeds: list[int],
              warm: dict[int, dict] | None = None, on_epoch=None, pool=None) -> FitResult:
    """Stage 4: train the model once per seed on one fit's windows.

    The linear path starts at :func:`linear_start_stage`'s choice (the same for every seed) and
    stays there unless ``train.train_linear``; training fits the correction, early-stopped on the
    validation windows. ``warm`` (rolling, ``split.warm_start``) holds the previous fit's weights
    per seed. ``pool`` (a :class:`step.forecasters.seed_pool.SeedPool`): the seeds train in its
    workers at once (:func:`train_seed` there, the same numbers).
    """
    import torch

    from step.forecasters.models import model_args_from_config
    from step.forecasters.train import WindowTensors

    L, m = cfg.split.history, cfg.model
    # the start first: it does not read the embeddings, which may still be streaming beside the job
    start, evidence = linear_start_stage(cfg, fd, feats, with_evidence=True)
    if start is not None and start.offsets:  # global learners in the start: a fixed offset
        base_f, off = blended_offset(cfg, feats, fd, start.offsets, evidence)
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
    model_args = model_args_from_config(cfg.model_name, m, in_channels=int(x.shape[1]), n_nodes=feats.course.n_genes,
                                        history=L, degree=[float(d) for d in feats.degree])
    if start is not None and start.offsets:
        data.offset = torch.as_tensor(off, dtype=torch.float32).to(cfg.train.device)
    # the trained epoch competes with the start on validation; whether the correction is kept is
    # decided by forecast_stage on the evidence of every earlier origin (selection.rule there)
    train_cfg = dataclasses.replace(cfg.train, epochs=cfg.train.finetune_epochs) if warm else cfg.train
    res = FitResult({}, {}, {}, [], model_args, start)
    res.base_fn = base_f.predict if start is not None and start.offsets else None
    tr, va = fd.idx("train"), fd.idx("val")
    weights = None if start is None else (start.own, start.neighbour, start.bias)
    train_linear = cfg.train.train_linear and (start is None or not start.offsets)
    tasks = [(cfg, model_args, data, weights, train_linear, warm[seed] if warm else None, tr, va, train_cfg, seed,
              f"{cfg.model_name} seed {seed} origin {fd.fold.origin}") for seed in seeds]
    # the training's activations come on top of what the process holds: give back the heap's free
    # pages first (a 20,000-gene job after its forecasts: 2.34 -> 1.89 GB resident)
    from step.procs import release_free_memory

    release_free_memory()
    done = pool.map(tasks) if pool is not None and len(seeds) > 1 else None
    if done is None:
        done = [train_seed(*t, on_epoch=on_epoch) for t in tasks]
    for seed, (lin, delta, state, hist) in zip(seeds, done):
        res.linear[seed] = fd.scaler.bound(lin)
        res.full[seed] = fd.scaler.bound(lin + delta)
        res.states[seed] = state
        res.rows += [{"seed": seed, "origin_time_index": fd.fold.origin, **r} for r in hist]
    res.linear_oos = _linear_oos(cfg, start, res.linear[seeds[0]], fd) if seeds else None
    return res


def train_seed(cfg: RunConfig, model_args: dict, data, weights: tuple | None, train_linear: bool,
               warm_state: dict | None, tr: np.ndarray, va: np.ndarray, train_cfg, seed: int, desc: str,
               on_epoch=None) -> tuple[np.ndarray, np.ndarray, dict, list[dict]]:
    """Train seed ``seed`` of one fit: the model built from ``model_args``, started from
    ``warm_state`` (``split.warm_start``) and the linear path's start ``weights`` (own ``[N, L]``,
    neighbour ``[N, L]``, bias ``[N]``; None: the moving average when warm-started), trained on the
    windows ``tr`` and early-stopped on ``va`` of ``data`` (:class:`step.forecasters.train.WindowTensors`).
    The same in the job's process and in a :class:`step.forecasters.seed_pool.SeedPool` worker.

    Returns the linear path's and the correction's forecasts of every window (``[W, N]`` each,
    standardised, not bounded), the trained weights (CPU tensors) and the history rows."""
    from step.forecasters.models import build_model
    from step.forecasters.train import predict_parts, seed_everything, train_model

    seed_everything(seed, cfg.train.deterministic)
    model = build_model(cfg.model_name, **model_args).to(cfg.train.device)
    if warm_state is not None:
        model.load_state_dict(warm_state)
    n, L = int(model_args["n_nodes"]), int(model_args["history"])
    if weights is not None:
        model.linear.set_weights(*weights)
    elif warm_state is not None:
        model.linear.set_weights(np.full((n, L), 1.0 / L), np.zeros((n, L)), np.zeros(n))
    model.linear.requires_grad_(train_linear)
    model, hist = train_model(model, data, tr, va, cfg.loss, train_cfg, seed, desc=desc, on_epoch=on_epoch)
    lin, delta = predict_parts(model, data)
    return lin, delta, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, hist


def _linear_oos(cfg: RunConfig, start, linear: np.ndarray, fd: FoldData) -> np.ndarray | None:
    """The linear path's out-of-sample forecasts ``[W, N]`` of the fit's past windows (standardised):
    a moving-average start's own forecasts (it fits nothing), else the start's evidence forecasts
    (:attr:`step.forecasters.linear_candidates.LinearStart.oos`). None when the path was trained further
    (``train.train_linear``) or there is no start (``selection.linear_init`` off)."""
    if start is None or (cfg.train.train_linear and not start.offsets):
        return None
    if start.oos is None:
        return linear if start.candidate.is_moving_average and not start.offsets else None
    return fd.scaler.bound(start.oos)


def start_info(start) -> dict:
    """What :func:`linear_start_stage` chose, for metrics.json (``linear_start``)."""
    if start is None:
        return {"start": "moving_average (selection.linear_init off)"}
    return {"start": start.label(), "weights": start.weights or {start.candidate.label(): 1.0}, "rule": start.rule, "evidence": start.evidence,
            "n_evidence": start.n_evidence,
            **({"equal_share": start.equal_share} if start.equal_share is not None else {}),
            "evidence_mse": {k: round(v, 6) for k, v in start.scores.items()}}
