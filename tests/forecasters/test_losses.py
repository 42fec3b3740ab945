"""step_loss components on inputs whose values are known by hand."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from step.config import LossConfig
from step.forecasters.losses import COMPONENTS, step_loss

ONLY = {name: LossConfig(**{f"w_{c}": float(c == name) for c in COMPONENTS}) for name in COMPONENTS}


def _window(b=3, length=4, n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    history = torch.randn(b, length, n, generator=g)
    last = history[:, -1]
    target = last + torch.randn(b, n, generator=g)
    return history, last, target


def test_perfect_prediction_is_zero():
    history, last, target = _window()
    for base in ("mse", "l1"):
        total, parts = step_loss(target.clone(), target, last, history, LossConfig(base=base))
        assert parts["base"] == 0.0
        assert parts["direction"] == pytest.approx(0.0, abs=1e-6)
        assert parts["trend"] == pytest.approx(0.0, abs=1e-6)
        assert parts["smooth"] == 0.0
        assert parts["consistency"] > 0  # the truth moved away from the last input
        assert set(parts) == set(COMPONENTS) | {"total"}
        assert all(isinstance(v, float) for v in parts.values())


def test_base_by_hand():
    pred = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    target = torch.tensor([[0.0, 4.0], [0.0, 2.0]])
    last = torch.zeros(2, 2)
    history = torch.zeros(2, 3, 2)
    _, mse = step_loss(pred, target, last, history, LossConfig(base="mse"))
    _, l1 = step_loss(pred, target, last, history, LossConfig(base="l1"))
    assert mse["base"] == pytest.approx((1 + 4 + 0 + 9) / 4)
    assert l1["base"] == pytest.approx((1 + 2 + 0 + 3) / 4)
    assert mse["consistency"] == pytest.approx((1 + 4 + 0 + 1) / 4)


def test_direction_opposite_and_orthogonal():
    history, last, target = _window()
    change = 10 * (target - last)
    _, opposite = step_loss(last - change, last + change, last, history, LossConfig())
    assert opposite["direction"] == pytest.approx(2.0, abs=1e-4)
    # orthogonal changes: cosine 0 -> 1
    last = torch.zeros(1, 2)
    _, ortho = step_loss(torch.tensor([[10.0, 0.0]]), torch.tensor([[0.0, 10.0]]), last,
                         torch.zeros(1, 3, 2), LossConfig())
    assert ortho["direction"] == pytest.approx(1.0, abs=1e-4)
    # same direction, different size: still 0 (scale-free)
    _, same = step_loss(last + torch.tensor([[3.0, 4.0]]), last + torch.tensor([[6.0, 8.0]]), last,
                        torch.zeros(1, 3, 2), LossConfig())
    assert same["direction"] == pytest.approx(0.0, abs=1e-4)


def test_zero_change_is_finite_with_bounded_gradient():
    """The untrained model predicts exactly the last value: no NaN, no exploding gradient."""
    history, last, target = _window()
    pred = last.clone().requires_grad_(True)
    total, parts = step_loss(pred, target, last, history, LossConfig(w_consistency=1.0))
    total.backward()
    assert all(torch.isfinite(torch.tensor(v)) for v in parts.values())
    assert parts["direction"] == pytest.approx(1.0, abs=0.05)  # 1 - sqrt(eps) / |change|
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().max() < 100


def test_constant_series_trend():
    history = torch.ones(2, 3, 4)
    last = history[:, -1]
    _, same = step_loss(last.clone(), last.clone(), last, history, LossConfig())
    assert same["trend"] == pytest.approx(0.0, abs=1e-7) and same["direction"] == pytest.approx(0.0)
    pred = (last + 1).requires_grad_(True)
    total, _ = step_loss(pred, last.clone(), last, history, ONLY["trend"])
    total.backward()
    assert torch.isfinite(pred.grad).all()


def test_trend_by_hand():
    # one gene, history [0, 1, 2]; pred 3 (linear), target 1 (turns down)
    history = torch.tensor([[[0.0], [1.0], [2.0]]])
    last = history[:, -1]
    _, parts = step_loss(torch.tensor([[3.0]]), torch.tensor([[1.0]]), last, history, LossConfig())
    p = torch.tensor([0.0, 1.0, 2.0, 3.0])
    t = torch.tensor([0.0, 1.0, 2.0, 1.0])
    r = torch.corrcoef(torch.stack([p, t]))[0, 1].item()
    assert parts["trend"] == pytest.approx(1 - r, abs=1e-3)
    # second differences: pred series [0, 0], target series [0, -2] -> R_p 0, R_t 2
    assert parts["smooth"] == pytest.approx(2.0)


def test_weights_combine_as_configured():
    history, last, target = _window(seed=3)
    pred = target + 0.3 * torch.randn(target.shape, generator=torch.Generator().manual_seed(9))
    _, parts = step_loss(pred, target, last, history, ONLY["base"])
    for name in COMPONENTS:
        total, single = step_loss(pred, target, last, history, ONLY[name])
        assert total.item() == pytest.approx(single[name])
        assert single[name] == pytest.approx(parts[name])
    cfg = LossConfig(base="l1", w_base=2.0, w_direction=0.5, w_trend=0.25, w_smooth=3.0, w_consistency=0.1)
    total, parts = step_loss(pred, target, last, history, cfg)
    expected = sum(getattr(cfg, f"w_{c}") * parts[c] for c in COMPONENTS)
    assert total.item() == pytest.approx(expected, rel=1e-5)
    assert parts["total"] == pytest.approx(total.item())
    zero = dataclasses.replace(cfg, w_base=0.0, w_direction=0.0, w_trend=0.0, w_smooth=0.0, w_consistency=0.0)
    assert step_loss(pred, target, last, history, zero)[0].item() == 0.0


def test_gradients_and_no_print(capsys):
    history, last, target = _window()
    pred = (last + 0.1).requires_grad_(True)
    total, _ = step_loss(pred, target, last, history, LossConfig(w_consistency=0.5))
    total.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_bad_shapes_rejected():
    history, last, target = _window()
    with pytest.raises(ValueError, match="history"):
        step_loss(target, target, last, history[:, :, :2], LossConfig())
    with pytest.raises(ValueError, match="base"):
        step_loss(target, target, last, history, LossConfig(base="huber"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_loss_on_cuda_matches_cpu():
    history, last, target = _window()
    pred = target + 0.1
    cfg = LossConfig(w_consistency=0.3)
    cpu_total, cpu_parts = step_loss(pred, target, last, history, cfg)
    gpu_total, gpu_parts = step_loss(pred.cuda(), target.cuda(), last.cuda(), history.cuda(), cfg)
    assert gpu_total.device.type == "cuda"
    for k in cpu_parts:
        assert gpu_parts[k] == pytest.approx(cpu_parts[k], rel=1e-4, abs=1e-6)
