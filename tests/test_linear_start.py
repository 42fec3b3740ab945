"""The linear path's ridge start and the standard-error selection rule."""
from __future__ import annotations

import numpy as np
import torch

from step.models import STEPmr
from step.train import WindowTensors, clearly_better, fit_linear_path


def test_clearly_better_by_hand():
    # d = new - ref = [-1, -1, -1, -1]: sd 0, mean -1 -> clearly better
    assert clearly_better(np.zeros(4), np.ones(4))
    # d = [-1, 0, -1, 0]: mean -0.5, sd 0.577, se 0.289; -0.5 + 2 * 0.289 = +0.077 > 0 -> not (z = 2)
    assert not clearly_better(np.array([0, 1, 0, 1.0]), np.ones(4))
    assert clearly_better(np.array([0, 1, 0, 1.0]), np.ones(4), z=1.0)  # -0.5 + 0.289 < 0
    assert not clearly_better(np.zeros(1), np.ones(1))  # one window: no standard error, no switch
    assert not clearly_better(np.ones(5), np.ones(5))


def _data(y_rule, W=60, N=20, L=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(W, L, N, generator=g)
    nb = torch.randn(W, L, N, generator=g)
    y = y_rule(z, nb) + 0.05 * torch.randn(W, N, generator=g)
    x = torch.stack([z, nb], dim=1)  # channel 0 expression, 1 neighbour means
    return WindowTensors(x, torch.zeros(N, N), y, z[:, -1], z, torch.ones(W, N, dtype=torch.bool))


def _model(N=20, L=3):
    return STEPmr(in_channels=2, n_nodes=N, history=L, hidden=4)


def test_ridge_start_recovers_a_linear_process():
    data = _data(lambda z, nb: 0.2 * z[:, 0] + 0.8 * z[:, 2] + 0.5 * nb[:, 2])
    model = _model()
    info = fit_linear_path(model, data, np.arange(45), np.arange(45, 60), [0.1, 1.0, 10.0])
    assert info["alpha"] is not None
    torch.testing.assert_close(model.linear.own.detach(), torch.tensor([0.2, 0.0, 0.8]), atol=0.02, rtol=0)
    torch.testing.assert_close(model.linear.neighbour.detach(), torch.tensor([0.0, 0.0, 0.5]), atol=0.02, rtol=0)


def test_noise_keeps_the_moving_average():
    """When the target is the moving average plus noise, the start stays exactly there."""
    data = _data(lambda z, nb: z.mean(1) + 2.0 * torch.randn(z.shape[0], z.shape[2],
                                                               generator=torch.Generator().manual_seed(5)))
    model = _model()
    info = fit_linear_path(model, data, np.arange(45), np.arange(45, 60), [0.1, 1.0, 10.0])
    assert info["anchor"] is None and info["alpha"] is None
    assert torch.equal(model.linear.own.detach(), torch.full((3,), 1 / 3))
    assert torch.equal(model.linear.neighbour.detach(), torch.zeros(3))
