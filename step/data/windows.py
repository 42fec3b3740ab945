"""Sliding windows over a time course and the split protocols.

A window with history ``L`` and target index ``k`` (``L <= k < T``) has inputs
``X[k-L:k]`` (time indices ``k-L .. k-1``; its *end* is ``e = k-1``) and target
``X[k]``. Windows are numbered in order of their target time.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from step.errors import InputError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class WindowSplit:
    """Which windows belong to which split.

    Attributes
    ----------
    protocol : "chronological", "paper" or "rolling".
    history : L.
    targets : int ``[W]`` target time index of each window (``k``).
    split : str ``[W]``, one of "train", "val", "test" (and "none" for windows a
        rolling-origin fit neither trains on nor forecasts).
    report : the split whose numbers are reported ("test"; "val" for the paper protocol).
    optimistic : True for the paper protocol (overlapping windows randomly split, no test set).
    """

    protocol: str
    history: int
    targets: np.ndarray
    split: np.ndarray
    report: str
    optimistic: bool

    def idx(self, name: str) -> np.ndarray:
        """Window numbers of one split, in target-time order."""
        return np.flatnonzero(self.split == name)

    @property
    def ends(self) -> np.ndarray:
        return self.targets - 1

    def train_time_indices(self) -> np.ndarray:
        """Time indices seen by training windows (inputs and targets): what scalers may be fitted on."""
        tr = self.targets[self.idx("train")]
        used = set()
        for k in tr:
            used.update(range(k - self.history, k + 1))
        return np.array(sorted(used), dtype=np.int64)

    def times_of(self, times: np.ndarray) -> dict[str, list[float]]:
        return {s: [float(times[k]) for k in self.targets[self.idx(s)]] for s in SPLITS if len(self.idx(s))}


def make_windows(X: np.ndarray, history: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All windows of ``X``.

    Parameters
    ----------
    X : ``[T, N]``.
    history : L.

    Returns
    -------
    inputs ``[W, L, N]``, targets ``[W, N]``, target indices ``[W]`` with ``W = T - L``.
    """
    T = X.shape[0]
    if T <= history:
        raise InputError(f"the time course has {T} time points; history {history} needs at least {history + 1}.")
    k = np.arange(history, T)
    inputs = np.stack([X[i - history:i] for i in k])
    return inputs, X[k], k


def split_windows(n_times: int, history: int, protocol: str, train_frac: float = 0.7,
                  val_frac: float = 0.1, paper_seed: int = 42, paper_train_frac: float = 0.8) -> WindowSplit:
    """Assign every window to train / val / test.

    ``chronological``: first ``train_frac`` of windows by target time train, next
    ``val_frac`` validate, the rest (at least one window) test.
    ``paper``: ``torch.manual_seed(paper_seed); torch.randperm(W)``; first
    ``paper_train_frac`` train, the rest validation (reported; optimistic).
    """
    targets = np.arange(history, n_times)
    W = len(targets)
    split = np.empty(W, dtype=object)
    if protocol == "chronological":
        n_test = max(1, int(round((1.0 - train_frac - val_frac) * W)))
        n_val = int(round(val_frac * W))
        if val_frac > 0:
            n_val = max(1, n_val)
        n_train = W - n_val - n_test
        if n_train < 2:
            raise InputError(
                f"{W} windows (T={n_times}, history={history}) are too few for a chronological split "
                f"with train_frac={train_frac}, val_frac={val_frac}: {n_train} training windows."
            )
        split[:n_train] = "train"
        split[n_train:n_train + n_val] = "val"
        split[n_train + n_val:] = "test"
        report, optimistic = "test", False
    elif protocol == "paper":
        import torch  # the paper protocol's permutation (torch's RNG, as published)

        g = torch.Generator().manual_seed(paper_seed)
        perm = torch.randperm(W, generator=g).numpy()
        n_train = int(paper_train_frac * W)
        if n_train < 2 or n_train >= W:
            raise InputError(f"{W} windows are too few for the paper protocol's {paper_train_frac:.0%} split.")
        split[perm[:n_train]] = "train"
        split[perm[n_train:]] = "val"
        report, optimistic = "val", True
    else:
        raise InputError(f"unknown protocol {protocol!r}; expected chronological or paper.")
    ws = WindowSplit(protocol, history, targets, split.astype(str), report, optimistic)
    log.info("%s split of %d windows: %s", protocol, W,
             ", ".join(f"{s} {len(ws.idx(s))}" for s in SPLITS if len(ws.idx(s))))
    return ws


@dataclass(frozen=True)
class Fold:
    """One fit of the models: what it trains and validates on, and what it forecasts.

    Attributes
    ----------
    origin : time index of the last observation the fit may use (the forecast origin).
    split : the fit's own labels: "train" / "val" for windows whose target is at
        or before ``origin``, "test" for the windows it forecasts out of sample,
        "none" for later windows.
    forecast : window numbers whose reported forecasts come from this fit.
    """

    origin: int
    split: WindowSplit
    forecast: np.ndarray


def single_fold(ws: WindowSplit) -> Fold:
    """The chronological and paper protocols: one fit forecasts every window. Its ``origin`` is
    the latest *training* target (validation targets come after it under the chronological
    protocol; the paper protocol's windows are in random order, so it has no true origin)."""
    tr = ws.targets[ws.idx("train")]
    return Fold(int(tr.max()), ws, np.arange(len(ws.targets)))


def _train_val_labels(n: int, val_frac: float, min_val: int = 1) -> np.ndarray:
    n_val = max(min_val, int(round(val_frac * n))) if val_frac > 0 else 0
    lab = np.array(["train"] * n, dtype=object)
    if n_val:
        lab[n - n_val:] = "val"
    return lab


def rolling_folds(n_times: int, history: int, test_frac: float = 0.4, val_frac: float = 0.1,
                  refit_every: int = 1, min_val: int = 4) -> tuple[WindowSplit, list[Fold]]:
    """Rolling-origin (expanding window) backtest.

    The last ``test_frac`` of windows (by target time, at least one) form the
    test period. It is cut into blocks of ``refit_every`` consecutive targets;
    the block whose first target is at time index ``k`` is forecast by a fit
    whose origin is ``k - 1``: it trains on every window whose target is at or
    before the origin (the last ``val_frac`` of them, at least ``min_val``, validate)
    and sees nothing later. The first fit also supplies the train/val rows of
    the reported split.

    Returns the reported split (windows before the test period labelled as in
    the first fit, the test period "test", protocol "rolling") and the folds.
    """
    if refit_every < 1:
        raise InputError(f"split.refit_every must be >= 1, got {refit_every}.")
    targets = np.arange(history, n_times)
    W = len(targets)
    n_test = max(1, int(round(test_frac * W)))
    first = W - n_test
    if first - (min_val if val_frac > 0 else 0) < 2:
        raise InputError(
            f"{W} windows (T={n_times}, history={history}) are too few for a rolling backtest over the "
            f"last {n_test} windows: the first origin would have fewer than 2 training windows.")
    folds: list[Fold] = []
    report = np.empty(W, dtype=object)
    for b in range(first, W, refit_every):
        lab = np.array(["none"] * W, dtype=object)
        lab[:b] = _train_val_labels(b, val_frac, min_val)
        block = np.arange(b, min(b + refit_every, W))
        lab[block] = "test"
        fs = WindowSplit("rolling", history, targets, lab.astype(str), "test", False)
        forecast = np.arange(0, block[-1] + 1) if not folds else block
        if not folds:
            report[:b] = lab[:b]
        folds.append(Fold(int(targets[b] - 1), fs, forecast))
    report[first:] = "test"
    ws = WindowSplit("rolling", history, targets, report.astype(str), "test", False)
    log.info("rolling origin over %d windows: %d before the test period, %d test targets, %d fits "
             "(refit every %d)", W, first, n_test, len(folds), refit_every)
    return ws, folds


@dataclass(frozen=True)
class Scaler:
    """Per-gene standardisation fitted on training time points only. ``mean, std: [N]``;
    standardised values and forecasts are clipped to ``+- clip``; ``n_floored`` genes had their
    std raised to the floor."""

    mean: np.ndarray
    std: np.ndarray
    clip: float = np.inf
    n_floored: int = 0

    @classmethod
    def fit(cls, X: np.ndarray, time_idx: np.ndarray, floor: float = 0.05, clip: float = 10.0) -> "Scaler":
        """Mean and std of every gene over ``time_idx``; a std below ``floor`` x the median std of
        all genes is raised to it (logged), so that no standardised value explodes."""
        Xt = X[time_idx]
        seen = np.isfinite(Xt).any(axis=0)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are handled below
            mean = np.nanmean(Xt, axis=0)
            std = np.nanstd(Xt, axis=0)
        if not seen.all():  # a gene never observed at the training times: left unscaled (logged)
            log.warning("%d gene(s) have no observed value at the training times; their scaler is "
                        "mean 0, std 1", int((~seen).sum()))
            mean = np.where(seen, mean, 0.0)
            std = np.where(seen, std, 1.0)
        typical = float(np.nanmedian(std[seen])) if seen.any() else 1.0
        if not np.isfinite(typical) or typical <= 0:
            typical = 1.0  # (nearly) every gene constant: the floor falls back to the data's units
        lo = max(1e-8, floor * typical)
        low = std < lo
        if low.any():
            log.info("%d gene(s) have a training-period std below the floor %.3g (data.scale_floor %g x "
                     "the median std %.3g) and are scaled by the floor%s", int(low.sum()), lo, floor, typical,
                     f" (constant: {int((std[low] == 0).sum())})" if (std[low] == 0).any() else "")
        std = np.where(low, lo, std)
        return cls(mean, std, float(clip), int(low.sum()))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardised values, kept within ``+- clip`` (NaN stays NaN)."""
        return np.clip((X - self.mean) / self.std, -self.clip, self.clip)

    def bound(self, Z: np.ndarray) -> np.ndarray:
        """A forecast in the standardised scale kept within ``+- clip``."""
        return np.clip(Z, -self.clip, self.clip)

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        return Z * self.std + self.mean
