"""step.forecasters.train.Adam: torch.optim.Adam's update, bit for bit, without importing torch._dynamo."""
from __future__ import annotations

import subprocess
import sys

import torch

from step.forecasters.train import Adam


def _train(make_opt, steps: int = 25) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2))
    model[0].bias.requires_grad_(False)  # a frozen parameter never gets a gradient
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_opt(params)
    x, y = torch.randn(32, 5), torch.randn(32, 2)
    for s in range(steps):
        loss = ((model(x[s % 4::4]) - y[s % 4::4]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 0.5)
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


def test_adam_is_bit_identical_to_torch_optim_adam():
    ours = _train(lambda ps: Adam(ps, lr=3e-3, weight_decay=1e-4))
    ref = _train(lambda ps: torch.optim.Adam(ps, lr=3e-3, weight_decay=1e-4))
    assert all(torch.equal(a, b) for a, b in zip(ours, ref))
    assert not torch.equal(ours[0], _train(lambda ps: Adam(ps, lr=3e-3), steps=0)[0])  # it trained


def test_training_does_not_import_dynamo():
    """Neither the optimiser nor the deterministic switch imports torch._dynamo, and the switch is on."""
    code = ("import sys, torch; from step.forecasters.train import Adam, seed_everything; seed_everything(0); "
            "p = torch.nn.Parameter(torch.ones(3)); o = Adam([p], lr=0.1); p.sum().backward(); o.step(); "
            "o.zero_grad(); print('torch._dynamo' in sys.modules, float(p[0]), "
            "torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "False" and float(out[1]) < 1.0 and out[2:] == ["True", "True"]
