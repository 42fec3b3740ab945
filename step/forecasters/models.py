"""STEPmr (mRNA) and STEPmi (miRNA) forecasting models.

Both read node features ``x [B, C, L, N]`` -- channel 0 the normalised
expression, channel 1 (when ``linear_graph``) the Hi-C neighbours' weighted
mean of it, the remaining channels the temporal Node2Vec embedding -- and a scaled
Laplacian (``[N, N]`` or per window ``[B, N, N]``, see
:func:`step.forecasters.layers.scaled_laplacian`), and predict the next normalised
expression ``[B, 1, 1, N]`` as a linear path plus a learned correction:

    ``y = LinearPath(x[:, 0], lap) + delta``

- :class:`LinearPath` is a learned linear filter over the input window
  (persistence, the moving average and exponential smoothing over the window
  are special cases of it), optionally plus a linear term on the Hi-C
  neighbours' lags. It starts at the moving average of the ``L`` inputs.
- ``delta`` comes from the spatio-temporal part (ST blocks, connectivity
  attention; STEPmi adds the BiLSTM and the attention over genes) through a
  zero-initialised head, so an untrained model is exactly the moving average
  and training has to earn any improvement over it. The training loss
  penalises ``mean(delta^2)`` (``loss.w_correction``), so with little signal
  the model stays near its linear path.

Every model keeps ``self.model_args`` (plain Python values) so that a
checkpoint ``{"model_name", "model_args", "state_dict"}`` rebuilds it with
:func:`build_model`.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from step.forecasters.layers import OutputBlock, STBlock

__all__ = ["LinearPath", "STEPmr", "STEPmi", "build_model", "model_class", "model_args_from_config", "MODELS"]


def _degree_list(degree: Sequence[float] | Tensor | None) -> list[float] | None:
    if degree is None:
        return None
    return [float(v) for v in torch.as_tensor(degree).reshape(-1).tolist()]


def _st_blocks(in_channels: int, hidden: int, n_nodes: int, cheb_k: int, kernel_size: int,
               n_blocks: int, dropout: float) -> nn.ModuleList:
    if n_blocks < 1:
        raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
    return nn.ModuleList(
        STBlock(in_channels if i == 0 else hidden, hidden, hidden, n_nodes, cheb_k, kernel_size, dropout)
        for i in range(n_blocks)
    )


class LinearPath(nn.Module):
    """Linear forecast from the window with per-gene weights: own lags plus (optionally)
    neighbour lags.

    ``y[b, n] = sum_l w[n, l] z[b, l, n] + sum_l v[n, l] nb[b, l, n] + c[n]``

    with ``nb`` the Hi-C neighbours' weighted mean at each input time (input
    channel 1 of the models, see :func:`step.graph.sparse_ops.neighbour_means`; zero for
    genes without partners). ``w`` starts at ``1/L`` for every gene (the moving
    average), ``v`` and ``c`` at 0. Persistence (``w[n] = e_L``), exponential
    smoothing over the window, the per-gene ridge AR (``ridge_ar_gene``), the pooled
    ones (``ridge_ar_pooled``, ``ridge_ar_graph``: every row of ``w``, ``v`` equal) and
    the partially pooled ridges between them (:mod:`step.forecasters.linear_fit`) are points of
    this family. ``graph=False`` drops the neighbour term.

    Shapes:
        z: ``[B, L, N]`` (normalised expression of the window)
        nb: ``[B, L, N]`` or None
        own, neighbour: ``[N, L]``; bias: ``[N]``
        output: ``[B, N]``
    """

    def __init__(self, history: int, n_nodes: int, graph: bool = True) -> None:
        super().__init__()
        self.own = nn.Parameter(torch.full((n_nodes, history), 1.0 / history))
        self.neighbour = nn.Parameter(torch.zeros(n_nodes, history)) if graph else None
        self.bias = nn.Parameter(torch.zeros(n_nodes))

    def forward(self, z: Tensor, nb: Tensor | None = None) -> Tensor:
        y = torch.einsum("bln,nl->bn", z, self.own) + self.bias
        if self.neighbour is not None:
            if nb is None:
                raise ValueError("LinearPath(graph=True) needs the neighbour means nb")
            y = y + torch.einsum("bln,nl->bn", nb, self.neighbour)
        return y

    @torch.no_grad()
    def set_weights(self, own, neighbour, bias) -> None:
        """Copy per-gene weights ``own [N, L]``, ``neighbour [N, L]``, ``bias [N]`` (numpy or tensor)."""
        self.own.copy_(torch.as_tensor(own, dtype=self.own.dtype))
        if self.neighbour is not None:
            self.neighbour.copy_(torch.as_tensor(neighbour, dtype=self.own.dtype))
        self.bias.copy_(torch.as_tensor(bias, dtype=self.own.dtype))


class _Head(nn.Module):
    """Expression projection head ``Linear -> ReLU -> Linear(->1)``; the last
    layer is zero-initialised so the head outputs ``delta = 0`` until trained.

    Shapes:
        h: ``[..., H]``
        output: ``[..., 1]``
    """

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.fc = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h: Tensor) -> Tensor:
        return self.out(torch.relu(self.fc(h)))

    def is_zero(self) -> bool:
        """True while the last layer is all zeros (untrained, or trained back to the start): the
        head then outputs exactly ``+0.0`` for any finite input."""
        return not (bool(self.out.weight.any()) or bool(self.out.bias.any()))


def _skip_correction(head: _Head, x: Tensor) -> Tensor | None:
    """``delta = 0`` ``[B, N]`` without running the correction network when nothing needs its
    activations (no gradients) and the head is zero: the forecast is then the linear path exactly
    (the same bits: the network would return +0.0 for every gene whose features are finite; where a
    window's features held NaN the network would return NaN, the skip 0; ``OutputBlock.last_attention``
    is not updated by a skipped call). None otherwise. A prediction
    of a model whose training kept the start (best epoch 0, the common case on short courses and at
    scale) costs only the linear path: ~11 s of a 20,000-gene job."""
    if torch.is_grad_enabled() or not head.is_zero():
        return None
    return x.new_zeros(x.shape[0], x.shape[-1])


class STEPmr(nn.Module):
    """STEPmr: LinearPath + (ST blocks -> output block with connectivity attention -> head).

    ``n_blocks`` ST blocks (:class:`step.forecasters.layers.STBlock`, ``hidden`` channels,
    time preserved) feed :class:`step.forecasters.layers.OutputBlock`, which collapses time
    with ``alpha[t, n] = a[t, n] * (1 + gamma * c[n])`` (``a`` softmax over time
    of learned scores, ``c = log1p(degree) / max log1p(degree)``, ``gamma``
    learned). The
    projection head maps each gene's pooled feature to ``delta``.

    Parameters
    ----------
    in_channels : 1 (expression) + 1 (neighbour mean, with ``linear_graph``) + embedding dimension.
    n_nodes : number of genes N.
    history : input window length L.
    hidden : channels of every hidden layer.
    cheb_k : Chebyshev terms of the graph convolution.
    kernel_size : temporal kernel of the gated convolutions.
    n_blocks : ST blocks.
    dropout : dropout probability.
    degree : per-gene connection counts (length N) for the connectivity
        attention; None = uniform.
    linear_graph : include the neighbour-lag term in :class:`LinearPath` (read
        from input channel 1).

    Shapes:
        x: ``[B, C, L, N]`` with ``C == in_channels``, ``L == history``, ``N == n_nodes``
        lap: ``[N, N]`` or ``[B, N, N]``
        output: ``[B, 1, 1, N]``
    """

    # the ModelConfig fields this model is built from (model_args_from_config)
    config_fields: tuple[str, ...] = ("hidden", "cheb_k", "kernel_size", "n_blocks", "dropout", "linear_graph")

    def __init__(self, in_channels: int, n_nodes: int, history: int, hidden: int = 32,
                 cheb_k: int = 2, kernel_size: int = 2, n_blocks: int = 2, dropout: float = 0.1,
                 degree: Sequence[float] | Tensor | None = None, linear_graph: bool = True) -> None:
        super().__init__()
        self.model_args: dict[str, Any] = dict(
            in_channels=in_channels, n_nodes=n_nodes, history=history, hidden=hidden,
            cheb_k=cheb_k, kernel_size=kernel_size, n_blocks=n_blocks, dropout=dropout,
            degree=_degree_list(degree), linear_graph=linear_graph)
        self.linear = LinearPath(history, n_nodes, graph=linear_graph)
        self.blocks = _st_blocks(in_channels, hidden, n_nodes, cheb_k, kernel_size, n_blocks, dropout)
        self.output = OutputBlock(hidden, hidden, n_nodes, history, degree, dropout)
        self.head = _Head(hidden)

    def forward_parts(self, x: Tensor, lap: Tensor) -> tuple[Tensor, Tensor]:
        """Linear path and correction, each ``[B, N]``; the forecast is their sum."""
        base = self.linear(x[:, 0], x[:, 1] if self.linear.neighbour is not None else None)
        zero = _skip_correction(self.head, x)
        if zero is not None:
            return base, zero
        h = x
        for block in self.blocks:
            h = block(h, lap)
        h = self.output(h)                                 # [B, H, 1, N]
        delta = self.head(h.permute(0, 2, 3, 1))[:, 0, :, 0]  # [B, N]
        return base, delta

    def forward(self, x: Tensor, lap: Tensor) -> Tensor:
        base, delta = self.forward_parts(x, lap)
        return (base + delta)[:, None, None, :]


class STEPmi(nn.Module):
    """STEPmi: ST blocks -> bidirectional LSTM per gene -> output block ->
    self-attention over genes -> head.

    - ``n_blocks`` ST blocks (``hidden`` channels, time preserved).
    - ``lstm_layers`` residual layers, each a one-layer bidirectional LSTM over
      the time axis of every gene separately (``ceil(hidden/2)`` units per
      direction, projected back to ``hidden``), then ``LayerNorm(h + dropout(.))``.
      The backward direction only reads the window's own inputs, so it sees no
      future beyond the forecast origin.
    - :class:`step.forecasters.layers.OutputBlock` collapses time (connectivity attention;
      uniform ``c`` when ``degree`` is None).
    - ``attn_layers`` post-norm layers ``LayerNorm(h + dropout(MHA(h, h, h)))``
      of ``nn.MultiheadAttention(hidden, heads, batch_first=True)`` **over
      genes**: after time is collapsed every gene is one token, so each gene's
      forecast can draw on the states of all others (gene identity comes from
      the Node2Vec channels; no positional encoding).
    - the zero-initialised projection head, whose output ``delta`` is added
      to :class:`LinearPath`.

    ``hidden`` must be divisible by ``heads``.

    Shapes:
        x: ``[B, C, L, N]`` with ``C == in_channels``, ``L == history``, ``N == n_nodes``
        lap: ``[N, N]`` or ``[B, N, N]``
        output: ``[B, 1, 1, N]``
    """

    config_fields: tuple[str, ...] = STEPmr.config_fields + ("lstm_layers", "attn_layers", "heads")

    def __init__(self, in_channels: int, n_nodes: int, history: int, hidden: int = 32,
                 cheb_k: int = 2, kernel_size: int = 2, n_blocks: int = 3, lstm_layers: int = 4,
                 attn_layers: int = 4, heads: int = 4, dropout: float = 0.1,
                 degree: Sequence[float] | Tensor | None = None, linear_graph: bool = True) -> None:
        super().__init__()
        if hidden % heads != 0:
            raise ValueError(f"STEPmi: hidden ({hidden}) must be divisible by heads ({heads})")
        self.model_args: dict[str, Any] = dict(
            in_channels=in_channels, n_nodes=n_nodes, history=history, hidden=hidden,
            cheb_k=cheb_k, kernel_size=kernel_size, n_blocks=n_blocks, lstm_layers=lstm_layers,
            attn_layers=attn_layers, heads=heads, dropout=dropout, degree=_degree_list(degree),
            linear_graph=linear_graph)
        self.linear = LinearPath(history, n_nodes, graph=linear_graph)
        self.blocks = _st_blocks(in_channels, hidden, n_nodes, cheb_k, kernel_size, n_blocks, dropout)
        units = (hidden + 1) // 2
        self.lstms = nn.ModuleList(
            nn.LSTM(hidden, units, num_layers=1, batch_first=True, bidirectional=True)
            for _ in range(lstm_layers))
        self.lstm_proj = nn.ModuleList(nn.Linear(2 * units, hidden) for _ in range(lstm_layers))
        self.lstm_norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(lstm_layers))
        self.output = OutputBlock(hidden, hidden, n_nodes, history, degree, dropout)
        self.attns = nn.ModuleList(
            nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
            for _ in range(attn_layers))
        self.attn_norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(attn_layers))
        self.dropout = nn.Dropout(dropout)
        self.head = _Head(hidden)

    def forward_parts(self, x: Tensor, lap: Tensor) -> tuple[Tensor, Tensor]:
        """Linear path and correction, each ``[B, N]``; the forecast is their sum."""
        base = self.linear(x[:, 0], x[:, 1] if self.linear.neighbour is not None else None)
        zero = _skip_correction(self.head, x)
        if zero is not None:
            return base, zero
        h = x
        for block in self.blocks:
            h = block(h, lap)                                  # [B, H, L, N]
        B, H, L, N = h.shape
        s = h.permute(0, 3, 2, 1).reshape(B * N, L, H)         # one sequence per gene
        for lstm, proj, norm in zip(self.lstms, self.lstm_proj, self.lstm_norms):
            s = norm(s + self.dropout(proj(lstm(s)[0])))
        h = s.reshape(B, N, L, H).permute(0, 3, 2, 1)          # [B, H, L, N]
        g = self.output(h).squeeze(2).transpose(1, 2)          # [B, N, H] tokens = genes
        for attn, norm in zip(self.attns, self.attn_norms):
            g = norm(g + self.dropout(attn(g, g, g, need_weights=False)[0]))
        delta = self.head(g)[..., 0]                           # [B, N]
        return base, delta

    def forward(self, x: Tensor, lap: Tensor) -> Tensor:
        base, delta = self.forward_parts(x, lap)
        return (base + delta)[:, None, None, :]


MODELS: dict[str, type[nn.Module]] = {"STEPmr": STEPmr, "STEPmi": STEPmi}


def build_model(name: str, **model_args: Any) -> nn.Module:
    """Build a model by name (``"STEPmr"`` | ``"STEPmi"``) from its arguments.

    ``build_model(ckpt["model_name"], **ckpt["model_args"])`` followed by
    ``load_state_dict(ckpt["state_dict"])`` restores a saved model.
    """
    return model_class(name)(**model_args)


def model_class(name: str) -> type[nn.Module]:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model '{name}'; expected one of {', '.join(MODELS)}") from None


def model_args_from_config(name: str, model_cfg: Any, **data_args: Any) -> dict[str, Any]:
    """The arguments of model ``name``: ``data_args`` (in_channels, n_nodes, history, degree) and
    the fields of ``model_cfg`` (a :class:`step.config.ModelConfig`) the model declares in its
    ``config_fields``."""
    return {**data_args, **{f: getattr(model_cfg, f) for f in model_class(name).config_fields}}
