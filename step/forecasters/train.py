"""Training loop with early stopping, and batched prediction.

``train_model`` fits one model on the training windows, keeps the weights with
the lowest validation MSE (standardised scale), and logs one line per epoch.
"""
from __future__ import annotations

import copy
import logging
import os
import random
import sys
from dataclasses import dataclass

import numpy as np
import torch

from step.forecasters.losses import step_loss

log = logging.getLogger(__name__)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """One seed for python, numpy and torch; deterministic kernels when asked."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        _deterministic_kernels()
        if hasattr(torch.backends, "cudnn"):
            torch.backends.cudnn.benchmark = False


def _deterministic_kernels() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without its import of
    ``torch._inductor`` (torch.compile's configuration, which pulls in torch._dynamo: ~1 s here;
    nothing here compiles): the same switch, and inductor's flag too when inductor is loaded."""
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:  # another torch: the public call
        torch.use_deterministic_algorithms(True, warn_only=True)
        return
    inductor = sys.modules.get("torch._inductor.config")
    if inductor is not None:
        inductor.deterministic = True
    setter(True, warn_only=True)
    _no_fill_of_new_memory()


def _no_fill_of_new_memory() -> None:
    """Deterministic mode also fills every newly allocated tensor with NaN
    (``torch.utils.deterministic.fill_uninitialized_memory``, a guard against kernels that read
    memory they did not write): a CPU LSTM backward allocates a ~78 MB buffer per layer and
    direction: an epoch of the default STEPmi job took 1.06-1.20x as long with the fills (STEPmr's
    0.93-1.38x: within the noise; three runs of ``benchmarks/bench_train_epoch.py``, 2026-12-07). On CPU the weights, histories and predictions
    are bit-identical without the fill (that benchmark; ``tests/forecasters/test_train.py``); GPU
    kernels were not checked."""
    setter = getattr(torch._C, "_set_deterministic_fill_uninitialized_memory", None)
    if setter is not None:
        setter(False)


class Adam:
    """``torch.optim.Adam(params, lr, weight_decay=...)`` (betas 0.9 / 0.999, eps 1e-8, no amsgrad)
    without constructing a ``torch.optim.Optimizer``: in torch 2.13 that imports ``torch._dynamo``
    (torch.compile's machinery, ~1 s of a small job here; nothing here is compiled). The update is
    torch's own functional ``torch.optim.adam.adam``, the function ``torch.optim.Adam.step`` calls,
    on the same state (step count, first and second moments, created at a parameter's first step);
    ``tests/forecasters/test_optim.py`` checks the parameters are bit-identical to torch.optim.Adam's."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params = list(params)
        self.lr, self.weight_decay, self.betas, self.eps = float(lr), float(weight_decay), betas, float(eps)
        self.state: dict[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        from torch.optim.adam import adam

        live = [p for p in self.params if p.grad is not None]
        for p in live:
            if p not in self.state:  # as torch.optim.Adam: step a scalar tensor, moments zeros_like
                scalar = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
                zeros = lambda: torch.zeros_like(p, memory_format=torch.preserve_format)  # noqa: E731
                self.state[p] = (torch.tensor(0.0, dtype=scalar), zeros(), zeros())
        steps, m, v = ([self.state[p][k] for p in live] for k in range(3))
        adam(live, [p.grad for p in live], m, v, [], steps, has_complex=any(torch.is_complex(p) for p in live),
             amsgrad=False, beta1=self.betas[0], beta2=self.betas[1], lr=self.lr, weight_decay=self.weight_decay,
             eps=self.eps, maximize=False)


@dataclass
class WindowTensors:
    """Everything the model sees, for all W windows.

    x : ``[W, C, L, N]`` (channel 0 = standardised expression, then the embedding);
    lap : ``[W, N, N]`` per-window scaled Laplacian, ``[N, N]`` shared, or a
    :class:`step.graph.sparse_ops.WindowOperators` (sparse, per window or shared);
    y : ``[W, N]`` standardised target; last : ``[W, N]``; hist : ``[W, L, N]``;
    mask : ``[W, N]`` bool, False where the target is missing (excluded from losses);
    offset : ``[W, N]`` or None, a fixed base forecast added to the model's linear path (the
    model's start when it is a global learner, :mod:`step.forecasters.registry`).
    """

    x: torch.Tensor
    lap: torch.Tensor
    y: torch.Tensor
    last: torch.Tensor
    hist: torch.Tensor
    mask: torch.Tensor
    offset: torch.Tensor | None = None

    def to(self, device: str) -> "WindowTensors":
        moved = [t.to(device) for t in (self.x, self.lap, self.y, self.last, self.hist, self.mask)]
        return WindowTensors(*moved, None if self.offset is None else self.offset.to(device))

    def parts(self, model: torch.nn.Module, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The base (linear path plus any offset) and the correction of windows ``b``, ``[B, N]`` each."""
        base, delta = model.forward_parts(self.x[b], self.lap_of(b))
        return (base if self.offset is None else base + self.offset[b]), delta

    def lap_of(self, idx: torch.Tensor):
        """The graph operator of windows ``idx``: dense ``[B, N, N]`` / ``[N, N]``, or a
        :class:`step.graph.sparse_ops.SparseBatch` when ``lap`` is a WindowOperators."""
        if hasattr(self.lap, "batch"):
            return self.lap.batch(idx)
        return self.lap[idx] if self.lap.dim() == 3 else self.lap


# Windows per batch of a prediction (no gradients): 64, fewer when a batch's activations would be
# large (a 20,000-gene job: 13 windows per batch, ~100 MB per activation tensor instead of ~280 MB).
_PREDICT_BATCH = 64
_PREDICT_NODES = 1 << 18  # windows x genes per batch


def predict_batch(n_genes: int) -> int:
    """Windows per prediction batch for ``n_genes`` genes (64 up to 4,096 genes)."""
    return max(1, min(_PREDICT_BATCH, _PREDICT_NODES // max(int(n_genes), 1)))


@torch.no_grad()
def predict(model: torch.nn.Module, data: WindowTensors, idx: np.ndarray | None = None,
            batch_size: int | None = None) -> np.ndarray:
    """Model predictions (standardised scale) for windows ``idx`` (all if None). Returns ``[len(idx), N]``."""
    model.eval()
    W = data.x.shape[0]
    batch_size = batch_size or predict_batch(data.y.shape[1])
    idx_t = torch.arange(W) if idx is None else torch.as_tensor(np.asarray(idx), dtype=torch.long)
    out = []
    for s in range(0, len(idx_t), batch_size):
        b = idx_t[s:s + batch_size].to(data.x.device)
        base, delta = data.parts(model, b)
        out.append((base + delta).cpu())
    return torch.cat(out).numpy().astype(float) if out else np.empty((0, data.y.shape[1]))


@torch.no_grad()
def predict_parts(model: torch.nn.Module, data: WindowTensors, batch_size: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The linear path and the correction of every window (standardised scale), each ``[W, N]``;
    the forecast is their sum."""
    model.eval()
    W = data.x.shape[0]
    batch_size = batch_size or predict_batch(data.y.shape[1])
    lin, dl = [], []
    for s in range(0, W, batch_size):
        b = torch.arange(s, min(s + batch_size, W), device=data.x.device)
        base, delta = data.parts(model, b)
        lin.append(base.cpu())
        dl.append(delta.cpu())
    if not lin:
        e = np.empty((0, data.y.shape[1]))
        return e, e.copy()
    return torch.cat(lin).numpy().astype(float), torch.cat(dl).numpy().astype(float)


def _window_errors(pred: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean squared error per window over its observed targets. ``[V, N] -> [V]``."""
    se = np.where(mask, (pred - y) ** 2, 0.0)
    return se.sum(1) / np.maximum(mask.sum(1), 1)


@dataclass
class EarlyStopping:
    """The early-stopping rule of :func:`train_model` (and of ``benchmarks/bench_patience.py``'s replay):
    an epoch improves when its score is below the best so far by more than ``min_delta``; training
    stops after ``patience`` epochs in a row without an improvement. A NaN score never improves."""

    patience: int
    best: float = float("inf")
    best_epoch: int = 0
    bad: int = 0
    min_delta: float = 1e-9

    def update(self, epoch: int, score: float) -> bool:
        """Record one epoch's score; True when it is the new best."""
        if score < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad = score, epoch, 0
            return True
        self.bad += 1
        return False

    @property
    def stop(self) -> bool:
        return self.bad >= self.patience


def train_model(model: torch.nn.Module, data: WindowTensors, train_idx: np.ndarray, val_idx: np.ndarray,
                loss_cfg, train_cfg, seed: int, desc: str = "train",
                on_epoch=None) -> tuple[torch.nn.Module, list[dict]]:
    """Fit ``model`` on ``train_idx`` windows; early stopping on ``val_idx`` (train loss if empty).

    The model must have ``forward_parts(x, lap) -> (linear [B, N], correction [B, N])``;
    the correction is penalised by ``loss_cfg.w_correction``. With validation
    windows, the starting weights (epoch 0) compete too: if no epoch lowers the
    validation MSE, the model is returned as it came in. Whether the trained
    correction is kept at all is decided on more evidence by
    :func:`step.jobs.forecast.forecast_stage` (``selection.rule``).

    ``on_epoch(epoch, val_mse)``, if given, is called after every epoch (an
    Optuna pruner raises from it to stop an unpromising trial).

    Returns the model with its best weights loaded and one history row per epoch
    (``epoch, train_loss, val_loss`` and the unweighted loss components).
    """
    from tqdm.auto import tqdm

    device = data.x.device
    params = [p for p in model.parameters() if p.requires_grad]
    opt = Adam(params, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    tr = torch.as_tensor(np.asarray(train_idx), dtype=torch.long)
    va = torch.as_tensor(np.asarray(val_idx), dtype=torch.long)
    history: list[dict] = []

    yv = data.y[va.to(device)].cpu().numpy()
    mv = data.mask[va.to(device)].cpu().numpy()

    # epoch 0 is the starting point (an untrained model is the moving average): training
    # has to beat it on validation to replace it
    best_state = copy.deepcopy(model.state_dict())
    stopper = EarlyStopping(train_cfg.patience, _val_mse(model, data, va, yv, mv) if len(va) else np.inf)
    # no bars from a seed worker (step/forecasters/seed_pool.py): several would overwrite one another
    bar = tqdm(range(1, train_cfg.epochs + 1), desc=desc, leave=False,
               disable=True if os.environ.get("STEP_SEED_WORKER") else None)
    for epoch in bar:
        row = {"epoch": epoch, **_train_epoch(model, data, tr, gen, opt, params, loss_cfg, train_cfg.batch_size)}
        row["val_loss"] = _val_mse(model, data, va, yv, mv) if len(va) else float("nan")
        history.append(row)
        if stopper.update(epoch, row["val_loss"] if len(va) else row["train_loss"]):
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(train=f"{row['train_loss']:.4f}", val=f"{row['val_loss']:.4f}")
        if on_epoch is not None:
            on_epoch(epoch, row["val_loss"])
        log.debug("%s epoch %d train %.5f val %.5f", desc, epoch, row["train_loss"], row["val_loss"])
        if stopper.stop:
            log.info("%s: early stop at epoch %d (best %d, val MSE %.5f)", desc, epoch, stopper.best_epoch,
                     stopper.best)
            break
    model.load_state_dict(best_state)
    log.info("%s: best epoch %d of %d, %s %.5f", desc, stopper.best_epoch, len(history),
             "val MSE" if len(va) else "train loss", stopper.best)
    return model, history


def _val_mse(model: torch.nn.Module, data: WindowTensors, va: torch.Tensor, yv: np.ndarray, mv: np.ndarray) -> float:
    """The model's MSE over the observed targets of the validation windows ``va`` (``yv``, ``mv`` ``[V, N]``)."""
    err = _window_errors(predict(model, data, va.numpy()), yv, mv)  # [V] per validation window
    return float(np.sum(err * mv.sum(1)) / max(mv.sum(), 1))


def _train_epoch(model: torch.nn.Module, data: WindowTensors, tr: torch.Tensor, gen: torch.Generator, opt: Adam,
                 params: list[torch.Tensor], loss_cfg, batch_size: int) -> dict[str, float]:
    """One pass over the training windows ``tr`` in a random order (``gen``): the mean loss
    (``train_loss``) and its unweighted components per window."""
    device = data.x.device
    model.train()
    perm = tr[torch.randperm(len(tr), generator=gen)]
    sums: dict[str, float] = {}
    n_seen = 0
    for s in range(0, len(perm), batch_size):
        b = perm[s:s + batch_size].to(device)
        base, delta = data.parts(model, b)  # [B, N] each
        pred = torch.where(data.mask[b], base + delta, data.y[b])  # a missing target contributes nothing
        loss, parts = step_loss(pred, data.y[b], data.last[b], data.hist[b], loss_cfg, correction=delta)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(b)
        n_seen += len(b)
    row = {"train_loss": sums.get("total", 0.0) / max(n_seen, 1)}
    row.update({k: v / max(n_seen, 1) for k, v in sums.items() if k != "total"})
    return row
