"""Layers and models: shapes as the docstrings promise, the Chebyshev einsum
against a plain per-(b, t) loop, the scaled Laplacian by hand, persistence at
initialisation, gradients, and rebuilding from ``model_args``."""
from __future__ import annotations

import io
import math

import pytest
import torch

from step.forecasters.layers import (ChebGraphConv, OutputBlock, STBlock, TemporalGLU, chebyshev_basis,
                                     connectivity_weight, scaled_laplacian)
from step.forecasters.models import LinearPath, STEPmi, STEPmr, build_model


def _graph(n: int, batch: int | None = None, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (n, n) if batch is None else (batch, n, n)
    a = torch.rand(shape, generator=g)
    a = (a + a.transpose(-1, -2)) / 2
    a = a * (1 - torch.eye(n))
    return scaled_laplacian(a)


def _input(b: int, c: int, t: int, n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(b, c, t, n, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- Laplacian

def test_scaled_laplacian_by_hand():
    # path 0 - 1 - 2 with weights 1 and 2, plus an isolated node 3
    a = torch.tensor([[0., 1., 0., 0.],
                      [1., 0., 2., 0.],
                      [0., 2., 0., 0.],
                      [0., 0., 0., 0.]])
    # degrees 1, 3, 2, 0: L~ = -D^-1/2 A D^-1/2
    s3, s6 = 3 ** 0.5, 6 ** 0.5
    expected = -torch.tensor([[0., 1 / s3, 0., 0.],
                              [1 / s3, 0., 2 / s6, 0.],
                              [0., 2 / s6, 0., 0.],
                              [0., 0., 0., 0.]])
    got = scaled_laplacian(a)
    torch.testing.assert_close(got, expected)
    # the definition 2 L / lambda_max - I with L = I - D^-1/2 A D^-1/2 on the connected part
    d = torch.diag(torch.tensor([1., 3., 2.]).rsqrt())
    lap = torch.eye(3) - d @ a[:3, :3] @ d
    torch.testing.assert_close(got[:3, :3], 2 * lap / 2 - torch.eye(3))
    assert torch.isfinite(got).all()


def test_scaled_laplacian_batched_matches_unbatched():
    a = torch.rand(3, 5, 5)
    a = a + a.transpose(1, 2)
    batched = scaled_laplacian(a)
    assert batched.shape == (3, 5, 5)
    for i in range(3):
        torch.testing.assert_close(batched[i], scaled_laplacian(a[i]))


# ---------------------------------------------------------------- layers

def test_temporal_glu_shape_and_causality():
    layer = TemporalGLU(3, 5, kernel_size=3)
    x = _input(2, 3, 7, 4)
    y = layer(x)
    assert y.shape == (2, 5, 7, 4)
    x2 = x.clone()
    x2[:, :, 4:] += 10.0  # change the future only
    torch.testing.assert_close(layer(x2)[:, :, :4], y[:, :, :4])


@pytest.mark.parametrize("batched", [False, True])
def test_cheb_conv_shape(batched):
    conv = ChebGraphConv(3, 6, K=3)
    lap = _graph(5, batch=2 if batched else None)
    assert conv(_input(2, 3, 4, 5), lap).shape == (2, 6, 4, 5)


def _cheb_loop(conv: ChebGraphConv, x: torch.Tensor, lap: torch.Tensor) -> torch.Tensor:
    """Plain reference: one dense Chebyshev recursion per (sample, time)."""
    B, C, T, N = x.shape
    out = torch.zeros(B, conv.weight.shape[2], T, N)
    for b in range(B):
        L = lap if lap.dim() == 2 else lap[b]
        for t in range(T):
            xs = x[b, :, t, :].T                       # [N, C]
            terms = [xs, L @ xs]
            for _ in range(2, conv.K):
                terms.append(2 * L @ terms[-1] - terms[-2])
            y = sum(terms[k] @ conv.weight[k] for k in range(conv.K)) + conv.bias
            out[b, :, t, :] = y.T
    return out


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("K", [1, 2, 4])
def test_cheb_conv_einsum_matches_loop(batched, K):
    torch.manual_seed(0)
    conv = ChebGraphConv(3, 4, K=K)
    with torch.no_grad():
        conv.bias.normal_()
    x = _input(2, 3, 3, 6)
    lap = _graph(6, batch=2 if batched else None)
    with torch.no_grad():
        torch.testing.assert_close(conv(x, lap), _cheb_loop(conv, x, lap), rtol=1e-5, atol=1e-5)


def test_chebyshev_basis_is_chebyshev_of_the_operator():
    lap = _graph(4)
    x = torch.eye(4).reshape(1, 4, 1, 4)              # [B=1, C=4, T=1, N=4], x[c, n] = I[c, n]
    basis = chebyshev_basis(x, lap, 3)[:, 0, :, 0, :]  # [K, C, N]: T_k(L~)[n, c]
    torch.testing.assert_close(basis[2].T, 2 * lap @ lap - torch.eye(4))


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("c_in", [3, 8])
def test_st_block_shape(batched, c_in):
    block = STBlock(c_in, 8, 8, n_nodes=5, cheb_k=2, kernel_size=2, dropout=0.1)
    lap = _graph(5, batch=2 if batched else None)
    assert block(_input(2, c_in, 3, 5), lap).shape == (2, 8, 3, 5)


def test_output_block_shape_and_attention():
    block = OutputBlock(6, 4, n_nodes=5, history=3, degree=[1, 2, 3, 4, 5])
    y = block(_input(2, 6, 3, 5))
    assert y.shape == (2, 4, 1, 5)
    assert block.last_attention.shape == (2, 3, 5)
    # gamma = 0 at init: alpha is a softmax over time
    torch.testing.assert_close(block.last_attention.sum(1), torch.ones(2, 5))
    # connectivity c = log1p(degree) / max log1p(degree), by hand
    expected = torch.tensor([math.log(2), math.log(3), math.log(4), math.log(5), math.log(6)]) / math.log(6)
    torch.testing.assert_close(block.connectivity, expected)


def test_connectivity_weight_is_not_dominated_by_hubs():
    """The old softmax over raw degree gave the median gene ~1e-9; the log weight keeps it O(1)."""
    deg = torch.tensor([1.0] * 50 + [2.0] * 30 + [40.0, 60.0])
    c = connectivity_weight(deg)
    assert float(c.max()) == 1.0 and float(c.min()) > 0.15
    assert float(c.median()) > 0.1
    assert torch.equal(connectivity_weight(torch.zeros(4)), torch.zeros(4))


# ---------------------------------------------------------------- models

def _mr(**kw):
    args = dict(in_channels=5, n_nodes=7, history=3, hidden=8, cheb_k=2, kernel_size=2,
                degree=[1., 0., 3., 2., 5., 1., 1.])
    args.update(kw)
    return STEPmr(**args)


def _mi(**kw):
    args = dict(in_channels=4, n_nodes=9, history=5, hidden=6, cheb_k=3, kernel_size=3,
                n_blocks=3, lstm_layers=2, attn_layers=2, heads=2)
    args.update(kw)
    return STEPmi(**args)


@pytest.mark.parametrize("make,c,t,n", [(_mr, 5, 3, 7), (_mi, 4, 5, 9)])
@pytest.mark.parametrize("batched", [False, True])
def test_model_output_shape(make, c, t, n, batched):
    torch.manual_seed(0)
    model = make()
    out = model(_input(3, c, t, n), _graph(n, batch=3 if batched else None))
    assert out.shape == (3, 1, 1, n)


@pytest.mark.parametrize("make,c,t,n", [(_mr, 5, 3, 7), (_mi, 4, 5, 9)])
@pytest.mark.parametrize("batched", [False, True])
def test_untrained_model_is_the_moving_average(make, c, t, n, batched):
    """Untrained, both models forecast exactly the mean of the window (mean_last), not persistence."""
    from step.forecasters.baselines import mean_last

    torch.manual_seed(0)
    model = make()
    model.train()  # dropout active: still exact, the head outputs exactly zero
    x = _input(2, c, t, n)
    out = model(x, _graph(n, batch=2 if batched else None))
    expected = torch.as_tensor(mean_last(x[:, 0].double().numpy()), dtype=torch.float32)
    torch.testing.assert_close(out[:, 0, 0, :], expected, rtol=0, atol=1e-6)
    assert not torch.allclose(out[:, 0, 0, :], x[:, 0, -1, :])  # and not the last value
    base, delta = model.forward_parts(x, _graph(n))
    assert torch.equal(delta, torch.zeros_like(delta))


def test_linear_path_special_cases():
    """Persistence and exponential smoothing over the window are points of the linear path."""
    torch.manual_seed(0)
    z, nb = torch.randn(3, 4, 6), torch.randn(3, 4, 6)
    lin = LinearPath(4, 6, graph=True)
    with torch.no_grad():
        lin.own.copy_(torch.tensor([0.0, 0.0, 0.0, 1.0]))
    torch.testing.assert_close(lin(z, nb), z[:, -1])
    a = 0.4
    w = torch.tensor([(1 - a) ** 3, a * (1 - a) ** 2, a * (1 - a), a])
    with torch.no_grad():
        lin.own.copy_(w)
    level = z[:, 0]
    for k in range(1, 4):
        level = level + a * (z[:, k] - level)
    torch.testing.assert_close(lin(z, nb), level)
    with torch.no_grad():  # the neighbour term reads the neighbour means
        lin.own.zero_()
        lin.neighbour.copy_(torch.tensor([0.0, 0.0, 0.5, 1.0]))
    torch.testing.assert_close(lin(z, nb), 0.5 * nb[:, 2] + nb[:, 3])
    with pytest.raises(ValueError, match="neighbour"):
        lin(z)
    with torch.no_grad():  # per-gene weights: gene 0 persistence, every other gene the moving average
        lin.neighbour.zero_()
        lin.own.copy_(torch.full((6, 4), 0.25))
        lin.own[0] = torch.tensor([0.0, 0.0, 0.0, 1.0])
    out = lin(z, nb)
    torch.testing.assert_close(out[:, 0], z[:, -1, 0])
    torch.testing.assert_close(out[:, 1:], z[:, :, 1:].mean(1))


def test_gradient_reaches_gamma_and_everything():
    torch.manual_seed(0)
    model = _mr()
    model.eval()
    torch.nn.init.normal_(model.head.out.weight)  # a zero head blocks gradients upstream
    x = _input(2, 5, 3, 7)
    model(x, _graph(7, batch=2)).pow(2).sum().backward()
    assert model.output.gamma.grad is not None and model.output.gamma.grad.abs() > 0
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_untrained_head_still_learns():
    """With the zero head, the first step moves the head; then gradients flow upstream."""
    torch.manual_seed(0)
    model = _mr(dropout=0.0)
    x, y = _input(4, 5, 3, 7), torch.randn(4, 1, 1, 7)
    lap = _graph(7)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        (model(x, lap) - y).pow(2).mean().backward()
        opt.step()
    assert model.output.gamma.grad.abs() > 0
    assert model.blocks[0].graph.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("make,c,t,n", [(_mr, 5, 3, 7), (_mi, 4, 5, 9)])
def test_zero_head_prediction_skips_the_network_with_the_same_bits(make, c, t, n, monkeypatch):
    """Without gradients a zero head's correction is returned without running the blocks, bit for bit
    what the network gives; with gradients (training) or a trained head the network runs."""
    torch.manual_seed(0)
    model = make().eval()
    with torch.no_grad():
        model.linear.own.normal_()  # a linear path that is not the moving average
    x, lap = _input(3, c, t, n), _graph(n)
    full = model.blocks[0].forward
    calls = []
    monkeypatch.setattr(model.blocks[0], "forward", lambda *a: calls.append(1) or full(*a))
    base_g, delta_g = model.forward_parts(x, lap)  # gradients on: the network runs (the head must learn)
    assert calls and torch.equal(delta_g, torch.zeros_like(delta_g))
    calls.clear()
    with torch.no_grad():
        base, delta = model.forward_parts(x, lap)
    assert not calls
    assert torch.equal(base, base_g) and torch.equal(delta, delta_g) and delta.shape == (3, n)
    with torch.no_grad():  # a head that is not zero: the correction is computed
        model.head.out.bias.fill_(0.5)
        _, delta = model.forward_parts(x, lap)
    assert calls and torch.allclose(delta, torch.full_like(delta, 0.5))


@pytest.mark.parametrize("hidden,heads,n,t,k", [(5, 1, 11, 7, 3), (9, 3, 13, 1, 2), (4, 4, 1, 2, 1)])
def test_stepmi_odd_sizes(hidden, heads, n, t, k):
    torch.manual_seed(0)
    model = STEPmi(in_channels=3, n_nodes=n, history=t, hidden=hidden, cheb_k=k, kernel_size=k,
                   n_blocks=3, lstm_layers=1, attn_layers=1, heads=heads, degree=list(range(n)))
    torch.nn.init.normal_(model.head.out.weight)
    out = model(_input(3, 3, t, n), _graph(n, batch=3))
    assert out.shape == (3, 1, 1, n)
    out.sum().backward()
    assert model.output.gamma.grad is not None


def test_stepmi_heads_must_divide_hidden():
    with pytest.raises(ValueError, match="divisible"):
        _mi(hidden=6, heads=4)


@pytest.mark.parametrize("name,make,c,t,n", [("STEPmr", _mr, 5, 3, 7), ("STEPmi", _mi, 4, 5, 9)])
def test_rebuild_from_model_args(name, make, c, t, n):
    torch.manual_seed(0)
    model = make()
    with torch.no_grad():  # a non-zero head, so outputs differ from persistence
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(std=0.1)
    model.eval()
    buf = io.BytesIO()
    torch.save({"model_name": name, "model_args": model.model_args,
                "state_dict": model.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    torch.manual_seed(123)
    rebuilt = build_model(ckpt["model_name"], **ckpt["model_args"])
    rebuilt.load_state_dict(ckpt["state_dict"])
    rebuilt.eval()
    x, lap = _input(2, c, t, n), _graph(n, batch=2)
    with torch.no_grad():
        assert torch.equal(model(x, lap), rebuilt(x, lap))
    assert not torch.equal(model(x, lap), x[:, 0:1, -1:, :])


def test_build_model_unknown_name():
    with pytest.raises(ValueError, match="STEPmr"):
        build_model("GRU")


def test_same_seed_same_model():
    torch.manual_seed(7)
    a = _mi()
    torch.manual_seed(7)
    b = _mi()
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("make,c,t,n", [(_mr, 5, 3, 7), (_mi, 4, 5, 9)])
def test_model_on_cuda_matches_cpu(make, c, t, n):
    torch.manual_seed(0)
    model = make().eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(std=0.1)
    x, lap = _input(2, c, t, n), _graph(n, batch=2)
    with torch.no_grad():
        cpu = model(x, lap)
        gpu = model.cuda()(x.cuda(), lap.cuda())
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-3, atol=1e-4)
