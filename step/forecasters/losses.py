"""Multi-component training loss of STEPmr / STEPmi.

``total = w_base * base + w_direction * direction + w_trend * trend
          + w_smooth * smooth + w_consistency * consistency + w_correction * correction``

with, on the normalised scale (``pred``, ``target``, ``last``: ``[B, N]``;
``history``: ``[B, L, N]``, the window's input expression):

- ``base``: MSE (``cfg.base == "mse"``, STEPmr) or L1 (``"l1"``, STEPmi).
- ``direction``: mean over samples of ``1 - cos(pred - last, target - last)``,
  the cosine taken across genes; 0 for the right direction of change, (about)
  2 for the opposite one. Zero norms are guarded as in ``trend``:
  ``cos = (u.v + eps) / sqrt((|u|^2 + eps) (|v|^2 + eps))`` (``eps = 1e-3``),
  which is exactly 1 for a perfect prediction (also "no change, none
  predicted"), about 0 (loss about 1) for a zero predicted change, and keeps
  the gradient bounded (about ``1/sqrt(eps)``) at the untrained model, which
  predicts exactly zero change.
- ``trend``: mean over samples and genes of ``1 - r``, where ``r`` is the
  correlation along time of ``[history..., pred]`` vs ``[history..., target]``,
  regularised as ``r = (cov + eps) / sqrt((var_p + eps) (var_t + eps))``
  (``eps = 1e-4``). ``r`` stays in ``[-1, 1]``, equals 1 exactly for a perfect
  prediction (also for a constant series), and its gradient stays bounded
  when a series is (nearly) constant.
- ``smooth``: mean over samples and genes of ``|R_p - R_t|`` with ``R`` the
  mean squared second difference along time of ``[history..., pred]`` resp.
  ``[history..., target]``: the prediction should be as rough as the truth,
  no smoother, no rougher. 0 when ``L < 2`` (no second difference).
- ``consistency``: ``mean((pred - last)^2)``, the distance to the last input.
- ``correction``: ``mean(delta^2)`` of the model's correction on top of its
  linear path (see :mod:`step.forecasters.models`), 0 when no correction is given: with
  little signal in the data it keeps the model near its linear path.

Prints nothing; works on any device.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["step_loss", "COMPONENTS"]

COMPONENTS = ("base", "direction", "trend", "smooth", "consistency", "correction")
_EPS_COS = 1e-3
_EPS_CORR = 1e-4


def _direction(pred: Tensor, target: Tensor, last: Tensor) -> Tensor:
    dp, dt = pred - last, target - last
    dot = (dp * dt).sum(dim=-1)
    norm2_p = dp.pow(2).sum(dim=-1)
    norm2_t = dt.pow(2).sum(dim=-1)
    cos = (dot + _EPS_COS) / torch.sqrt((norm2_p + _EPS_COS) * (norm2_t + _EPS_COS))
    return (1 - cos).mean()


def _trend(sp: Tensor, st: Tensor) -> Tensor:
    cp = sp - sp.mean(dim=1, keepdim=True)
    ct = st - st.mean(dim=1, keepdim=True)
    cov = (cp * ct).mean(dim=1)
    var_p = cp.pow(2).mean(dim=1)
    var_t = ct.pow(2).mean(dim=1)
    r = (cov + _EPS_CORR) / torch.sqrt((var_p + _EPS_CORR) * (var_t + _EPS_CORR))
    return (1 - r).mean()


def _smooth(sp: Tensor, st: Tensor) -> Tensor:
    if sp.shape[1] < 3:
        return sp.new_zeros(())
    rp = (sp[:, 2:] - 2 * sp[:, 1:-1] + sp[:, :-2]).pow(2).mean(dim=1)
    rt = (st[:, 2:] - 2 * st[:, 1:-1] + st[:, :-2]).pow(2).mean(dim=1)
    return (rp - rt).abs().mean()


def step_loss(pred: Tensor, target: Tensor, last: Tensor, history: Tensor,
              cfg: Any, correction: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
    """Weighted multi-component loss.

    Parameters
    ----------
    pred, target, last : ``[B, N]`` prediction, truth and last input value
        (normalised scale).
    history : ``[B, L, N]`` the window's input expression.
    cfg : a ``step.config.LossConfig`` (``base``, ``w_base``, ``w_direction``,
        ``w_trend``, ``w_smooth``, ``w_consistency``, ``w_correction``; a
        missing ``w_correction`` counts as 0).
    correction : ``[B, N]`` the model's correction ``delta`` or None.

    Returns
    -------
    total : scalar tensor (differentiable).
    parts : ``{"base", "direction", "trend", "smooth", "consistency", "correction", "total"}``
        as floats; components are unweighted.
    """
    if pred.shape != target.shape or pred.shape != last.shape or pred.dim() != 2:
        raise ValueError(f"step_loss: pred, target, last must share shape [B, N]; got "
                         f"{tuple(pred.shape)}, {tuple(target.shape)}, {tuple(last.shape)}")
    if history.dim() != 3 or history.shape[0] != pred.shape[0] or history.shape[2] != pred.shape[1]:
        raise ValueError(f"step_loss: history must be [B, L, N] = [{pred.shape[0]}, L, {pred.shape[1]}],"
                         f" got {tuple(history.shape)}")
    if cfg.base == "mse":
        base = F.mse_loss(pred, target)
    elif cfg.base == "l1":
        base = F.l1_loss(pred, target)
    else:
        raise ValueError(f"step_loss: base must be 'mse' or 'l1', got {cfg.base!r}")
    history = history.to(dtype=pred.dtype)
    sp = torch.cat([history, pred.unsqueeze(1)], dim=1)    # [B, L+1, N]
    st = torch.cat([history, target.unsqueeze(1)], dim=1)
    parts = {
        "base": base,
        "direction": _direction(pred, target, last),
        "trend": _trend(sp, st),
        "smooth": _smooth(sp, st),
        "consistency": (pred - last).pow(2).mean(),
        "correction": correction.pow(2).mean() if correction is not None else pred.new_zeros(()),
    }
    weights = {name: float(getattr(cfg, f"w_{name}", 0.0)) for name in COMPONENTS}
    total = sum(weights[k] * parts[k] for k in COMPONENTS)
    values = torch.stack([parts[k].detach() for k in COMPONENTS] + [total.detach()]).tolist()
    return total, dict(zip(list(COMPONENTS) + ["total"], values))
