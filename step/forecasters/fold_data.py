"""One fit's data, shared by every forecaster of a job: the job's :class:`Features` (built once),
a fit's standardised arrays (:class:`FoldData`, :func:`standardise`) and the forecasters' view of
them (:func:`fit_data`, :func:`job_context`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from step.config import RunConfig
from step.data.course import GeneTimeCourse
from step.data.windows import Fold, Scaler, WindowSplit, make_windows


@dataclass
class Features:
    """What every fit of a job shares, built once (all causal per window).

    Xw : ``[T, N]`` working-scale expression; emb : ``[W, L, N, D]`` window
    embeddings or None (:attr:`emb`; ``emb_source`` may hold them still being computed); lap : the graph operators (sparse WindowOperators, or
    dense ``[W, N, N]`` / ``[N, N]``); nbr : the neighbour-mean operators (the
    same WindowOperators, or a dense row-normalised adjacency);
    degree : ``[N]`` Hi-C partner counts.
    """

    course: GeneTimeCourse
    Xw: np.ndarray
    emb_source: object  # the embeddings, None, or a step.graph.embeddings.PendingEmbeddings (read .emb)
    lap: object
    nbr: object
    degree: np.ndarray
    ctx: object = None  # step.forecasters.registry.JobContext, built on first use (forecast.job_context)

    @property
    def emb(self) -> np.ndarray | None:
        """``[W, L, N, D]`` window embeddings or None; a stream still running beside the job is
        waited for here, on first use (the model's fit, after the baselines and its linear start)."""
        if hasattr(self.emb_source, "result"):
            self.emb_source = self.emb_source.result()
        return self.emb_source


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
    nb: np.ndarray | None

    def idx(self, name: str) -> np.ndarray:
        return self.fold.split.idx(name)

def standardise(cfg: RunConfig, feats: Features, fold: Fold, neighbours: bool = True) -> FoldData:
    """Scaler fitted on the fit's own training time points (floored, clipped), then the window arrays
    (``neighbours=False``: ``nb`` is None, for fits that read no graph)."""
    scaler = Scaler.fit(feats.Xw, fold.split.train_time_indices(), cfg.data.scale_floor, cfg.data.z_clip)
    Z = scaler.transform(feats.Xw)  # NaN only where data.allow_missing masks a value
    inputs, targets, _ = make_windows(Z, cfg.split.history)  # [W, L, N], [W, N]
    inputs = np.nan_to_num(inputs, nan=0.0)  # a masked input is imputed by the training mean
    if not neighbours:
        return FoldData(fold, scaler, Z, inputs, targets, None)
    from step.graph.sparse_ops import neighbour_means  # torch: imported once the embedding is under way

    return FoldData(fold, scaler, Z, inputs, targets, neighbour_means(feats.nbr, inputs))

def job_context(cfg: RunConfig, feats: Features):
    """The forecasters' shared context of a job (:class:`step.forecasters.registry.JobContext`), built once
    (its global-learner cache is shared by every fit, the model's start choice and the peers)."""
    from step.forecasters.registry import GlobalCache, JobContext

    if feats.ctx is None:
        L = cfg.split.history
        cache = GlobalCache(feats.Xw, L, cfg.baselines.global_lags, cfg.train.seed)
        feats.ctx = JobContext(list(cfg.baselines.ridge_alphas), tuple(cfg.baselines.ets_models),
                               cfg.baselines.global_lags, cfg.train.seed, feats.Xw, L, cache, feats.course.pairs)
    return feats.ctx


def fit_data(fd: FoldData, want_val_oos: bool = True):
    """One fold as :class:`step.forecasters.registry.FitData`: fitted on every window at or before the
    origin (training and validation), except under the paper protocol (its validation windows
    are the reported ones): the training windows."""
    from step.forecasters.registry import FitData

    ws = fd.fold.split
    tr, va = fd.idx("train"), fd.idx("val")
    fit = tr if ws.report == "val" else np.sort(np.concatenate([tr, va]))
    return FitData(fd.inputs, fd.targets, fd.nb, fd.Z, fd.scaler, ws.targets, tr, va, fit, want_val_oos, fd)


def evidence_kind(cfg: RunConfig, ws: WindowSplit) -> str:
    """"prequential" or "validation" (the paper protocol's random windows: always validation)."""
    return "validation" if ws.protocol == "paper" else cfg.selection.evidence
