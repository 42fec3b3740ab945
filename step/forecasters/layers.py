"""Building blocks of the STEP models: gated temporal convolution, Chebyshev
graph convolution, the spatio-temporal (ST) block and the output block with
connectivity attention.

Tensors follow the STGCN layout ``[B, C, T, N]`` (batch, channels, time, genes).
The graph operator is the scaled Laplacian ``L~`` from :func:`scaled_laplacian`,
either one ``[N, N]`` matrix for the whole batch or one per sample ``[B, N, N]``
(each window's own graph). Nothing here depends on torch-scatter / torch-sparse.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "scaled_laplacian",
    "chebyshev_basis",
    "TemporalGLU",
    "ChebGraphConv",
    "STBlock",
    "OutputBlock",
    "connectivity_weight",
]


def scaled_laplacian(A: Tensor) -> Tensor:
    """Scaled normalised Laplacian ``L~ = 2 L / lambda_max - I`` with ``lambda_max = 2``.

    With ``L = I - D^-1/2 A D^-1/2`` this is ``L~ = -D^-1/2 A D^-1/2``; its
    spectrum lies in ``[-1, 1]`` as the Chebyshev recursion needs. Isolated
    nodes (zero degree) get all-zero rows and columns.

    Parameters
    ----------
    A : symmetric non-negative weight matrix; self loops, if present, are kept.

    Returns
    -------
    Tensor of the same shape, dtype and device as ``A``.

    Shapes:
        A: ``[N, N]`` or batched ``[..., N, N]`` (e.g. ``[B, N, N]``)
        output: same as ``A``
    """
    if A.dim() < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"scaled_laplacian: expected [..., N, N], got {tuple(A.shape)}")
    deg = A.sum(dim=-1)
    safe = torch.where(deg > 0, deg, torch.ones_like(deg))
    dinv = torch.where(deg > 0, safe.rsqrt(), torch.zeros_like(deg))
    return -(dinv.unsqueeze(-1) * A * dinv.unsqueeze(-2))


class TemporalGLU(nn.Module):
    """Causal gated temporal convolution (STGCN's GLU temporal layer).

    A ``(kernel_size, 1)`` convolution produces ``P`` and ``Q``; the output is
    ``(P + align(x)) * sigmoid(Q)`` where ``align`` is the identity when the
    channel counts match and a bias-free 1x1 convolution otherwise. The input is
    padded with ``kernel_size - 1`` zeros on the left of the time axis, so the
    output at time ``t`` depends only on inputs at times ``<= t`` and ``T`` is
    preserved.

    Shapes:
        x: ``[B, C_in, T, N]``
        output: ``[B, C_out, T, N]``
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        if kernel_size < 1:
            raise ValueError(f"TemporalGLU: kernel_size must be >= 1, got {kernel_size}")
        self.kernel_size = kernel_size
        self.conv = nn.Conv2d(in_channels, 2 * out_channels, kernel_size=(kernel_size, 1))
        self.align = (nn.Identity() if in_channels == out_channels
                      else nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv(F.pad(x, (0, 0, self.kernel_size - 1, 0)))
        p, q = h.chunk(2, dim=1)
        return (p + self.align(x)) * torch.sigmoid(q)


def chebyshev_basis(x: Tensor, lap: Tensor, K: int) -> Tensor:
    """Chebyshev terms ``T_0(L~) x, ..., T_{K-1}(L~) x`` over the node axis.

    ``T_0 x = x``, ``T_1 x = L~ x``, ``T_k x = 2 L~ T_{k-1} x - T_{k-2} x``; one
    einsum per term covers every batch element and time step.

    ``lap`` may also be a :class:`step.graph.sparse_ops.SparseBatch` (a batch of
    sparse window operators; no ``N x N`` array), multiplied with
    ``torch.sparse.mm``.

    Shapes:
        x: ``[B, C, T, N]``
        lap: ``[N, N]`` or ``[B, N, N]`` (dense) or a SparseBatch of B windows
        output: ``[K, B, C, T, N]``
    """
    if hasattr(lap, "matmul_nodes"):  # sparse batch of window operators
        terms = [x]
        if K > 1:
            terms.append(lap.matmul_nodes(x))
        for _ in range(2, K):
            terms.append(2 * lap.matmul_nodes(terms[-1]) - terms[-2])
        return torch.stack(terms, dim=0)
    if lap.dim() == 2:
        eq = "nm,bctm->bctn"
    elif lap.dim() == 3:
        if lap.shape[0] != x.shape[0]:
            raise ValueError(f"per-sample operator has batch {lap.shape[0]}, input has {x.shape[0]}")
        eq = "bnm,bctm->bctn"
    else:
        raise ValueError(f"graph operator must be [N, N] or [B, N, N], got {tuple(lap.shape)}")
    if lap.shape[-1] != x.shape[-1]:
        raise ValueError(f"graph operator has {lap.shape[-1]} nodes, input has {x.shape[-1]}")
    lap = lap.to(dtype=x.dtype)
    terms = [x]
    if K > 1:
        terms.append(torch.einsum(eq, lap, x))
    for _ in range(2, K):
        terms.append(2 * torch.einsum(eq, lap, terms[-1]) - terms[-2])
    return torch.stack(terms, dim=0)


class ChebGraphConv(nn.Module):
    """Chebyshev spectral graph convolution with ``K`` terms (orders 0..K-1).

    ``out = sum_k T_k(L~) x W_k + b``, batched over batch and time with einsum
    (no Python loop over samples or time steps). ``K`` counts the terms as in
    PyG's ``ChebConv``: ``K = 1`` is a per-node linear map, ``K = 2`` mixes
    first neighbours.

    Shapes:
        x: ``[B, C_in, T, N]``
        lap: ``[N, N]`` (shared) or ``[B, N, N]`` (per sample)
        output: ``[B, C_out, T, N]``
    """

    def __init__(self, in_channels: int, out_channels: int, K: int, bias: bool = True) -> None:
        super().__init__()
        if K < 1:
            raise ValueError(f"ChebGraphConv: K must be >= 1, got {K}")
        self.K = K
        self.weight = nn.Parameter(torch.empty(K, in_channels, out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        for k in range(K):
            nn.init.xavier_uniform_(self.weight[k])

    def forward(self, x: Tensor, lap: Tensor) -> Tensor:
        tx = chebyshev_basis(x, lap, self.K)
        out = torch.einsum("kbctn,kco->botn", tx, self.weight)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        return out


class STBlock(nn.Module):
    """Spatio-temporal block: TemporalGLU -> ChebGraphConv (+ residual, ReLU)
    -> TemporalGLU -> LayerNorm over (N, C) -> dropout.

    The graph convolution keeps ``hidden`` channels and adds its input back
    before the ReLU (as in STGCN). The whole block adds its input to the output
    (before the norm) when ``in_channels == out_channels``. The LayerNorm
    normalises each (sample, time) slice over genes and channels jointly, so the
    block is tied to ``n_nodes``.

    Shapes:
        x: ``[B, C_in, T, N]``
        lap: ``[N, N]`` or ``[B, N, N]``
        output: ``[B, C_out, T, N]``
    """

    def __init__(self, in_channels: int, hidden: int, out_channels: int, n_nodes: int,
                 cheb_k: int, kernel_size: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.temporal1 = TemporalGLU(in_channels, hidden, kernel_size)
        self.graph = ChebGraphConv(hidden, hidden, cheb_k)
        self.temporal2 = TemporalGLU(hidden, out_channels, kernel_size)
        self.norm = nn.LayerNorm([n_nodes, out_channels])
        self.dropout = nn.Dropout(dropout)
        self.residual = in_channels == out_channels

    def forward(self, x: Tensor, lap: Tensor) -> Tensor:
        h = self.temporal1(x)
        h = torch.relu(self.graph(h, lap) + h)
        h = self.temporal2(h)
        if self.residual:
            h = h + x
        h = self.norm(h.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.dropout(h)


def connectivity_weight(degree: Tensor) -> Tensor:
    """Per-gene connectivity weight ``c = log1p(d) / max(log1p(d))`` in ``[0, 1]``.

    Log-scaled and normalised by the largest degree, so a hub is not thousands
    of times heavier than a typical gene; all zeros when no gene has a partner.

    Shapes:
        degree: ``[N]`` (non-negative connection counts)
        output: ``[N]``
    """
    d = torch.log1p(torch.clamp(torch.as_tensor(degree, dtype=torch.float32), min=0))
    top = d.max() if d.numel() else torch.tensor(0.0)
    return d / top if float(top) > 0 else torch.zeros_like(d)


class OutputBlock(nn.Module):
    """Collapse time with connectivity attention.

    Per (time, gene) features ``f = ReLU(W2 ReLU(W1 LN(x)))`` (1x1 convolutions
    over channels, LayerNorm over channels) and one attention logit per (time,
    gene), ``s[t, n] = w . f[:, t, n] + b[t]`` with a learned per-time-step bias
    ``b`` (length ``history``). Then ``a = softmax_t(s)`` and

        ``alpha[t, n] = a[t, n] * (1 + gamma * c[n])``,  ``c = connectivity_weight(degree)``,

    with ``gamma`` a learned scalar (initialised at 0) and ``c`` a buffer:
    :func:`connectivity_weight` of the degree, ``c = log1p(degree) /
    max(log1p(degree))`` in ``[0, 1]``. (A softmax over raw degrees, the
    earlier choice, puts almost all weight on the hubs: median ``c`` about
    ``1e-9`` on the miRNA panel, so ``gamma`` could only ever reach a handful
    of genes.) The output is ``sum_t alpha[t, n] f[:, t, n]``: a time-pooled
    feature per gene whose scale grows with the gene's connectivity when
    ``gamma > 0``. ``degree=None`` means uniform ``c = 1``.

    Shapes:
        x: ``[B, C_in, T, N]`` with ``T == history``
        output: ``[B, C_out, 1, N]``
        ``last_attention`` (after a forward): ``alpha`` as ``[B, T, N]``
    """

    def __init__(self, in_channels: int, out_channels: int, n_nodes: int, history: int,
                 degree: Tensor | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_channels)
        self.fc1 = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.fc2 = nn.Conv2d(out_channels, out_channels, kernel_size=1)
        self.score = nn.Conv2d(out_channels, 1, kernel_size=1)
        self.time_bias = nn.Parameter(torch.zeros(history, 1))
        self.gamma = nn.Parameter(torch.zeros(()))
        self.dropout = nn.Dropout(dropout)
        if degree is None:
            deg = torch.ones(n_nodes)
        else:
            deg = torch.as_tensor(degree, dtype=torch.float32).reshape(-1)
            if deg.numel() != n_nodes:
                raise ValueError(f"OutputBlock: degree has {deg.numel()} entries, expected {n_nodes}")
        self.register_buffer("connectivity", connectivity_weight(deg))
        self.last_attention: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[2] != self.time_bias.shape[0]:
            raise ValueError(f"OutputBlock: expected T = {self.time_bias.shape[0]}, got {x.shape[2]}")
        h = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        f = torch.relu(self.fc2(self.dropout(torch.relu(self.fc1(h)))))
        s = self.score(f) + self.time_bias.view(1, 1, -1, 1)  # [B, 1, T, N]
        a = torch.softmax(s, dim=2)
        alpha = a * (1 + self.gamma * self.connectivity.view(1, 1, 1, -1))
        self.last_attention = alpha.detach().squeeze(1)
        return (alpha * f).sum(dim=2, keepdim=True)
