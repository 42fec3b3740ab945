"""Draw the figures the project shows of itself (README, docs).

Run from the repository root::

    python images/make_figures.py            # writes images/*.png
    python images/make_figures.py --out DIR  # somewhere else

Figures
-------
- ``pipeline.png``          the data flow, raw files -> plots + enrichment
- ``stepmr.png``            STEPmr: linear path + correction, layer by layer (step/forecasters/models.py, step/forecasters/layers.py)
- ``stepmi.png``            STEPmi: linear path + correction, layer by layer
- ``causal_embedding.png``  which time points one window's Node2Vec embedding is fitted on

The architecture figures are not free drawings: the script builds both models
from ``configs/mrna.yaml`` / ``configs/mirna.yaml`` with :func:`step.forecasters.models.build_model`
the way :func:`step.forecasters.model_forecaster.fit_stage` does (input channels: expression, the Hi-C
neighbours' mean when ``model.linear_graph``, then the embedding), reads the layer
counts, kernel sizes and heads off the modules, runs one forward pass with forward
hooks and checks every tensor shape the figure prints. It also checks that the
untrained model is the moving average of channel 0 over the window (linear path at
``w = 1/L``, correction exactly 0) and that the linear path's neighbour term reads
channel 1. If the code changes, the script fails instead of drawing a stale diagram.

Matplotlib only (Agg canvas, no pyplot state); every PNG is written atomically
with :func:`step.io.write_with`. CPU, a few seconds.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python images/make_figures.py` without an installed package
    sys.path.insert(0, str(REPO))

from step.config import load_config  # noqa: E402
from step.io import write_with  # noqa: E402

DPI = 150

# colours by kind of box
C_FILE = "#e8e8e8"     # files on disk
C_CODE = "#d6e6f5"     # a step/ or raw_data_conversion stage
C_MODEL = "#fbe3c8"    # trainable model parts
C_OUT = "#d9eed6"      # run outputs
C_NOTE = "#fff8d0"     # notes
C_LINEAR = "#f8e1dd"   # the linear path (step.forecasters.models.LinearPath)
C_PATH = "#b03a2e"     # its lines, and the sum
EDGE = "#4a4a4a"
ARROW = "#333333"


# --------------------------------------------------------------------------- drawing helpers

def _canvas(width: float, height: float) -> tuple[Figure, Any]:
    """A figure whose single axes uses inches as data units (0..width, 0..height)."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    return fig, ax


def _save(fig: Figure, path: Path) -> Path:
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI, facecolor="white"))
    fig.clear()
    return path


def box(ax, cx: float, cy: float, w: float, h: float, title: str, body: str = "", fc: str = C_CODE,
        title_size: float = 12.0, body_size: float = 10.0, ls: str = "-", mono_title: bool = False) -> dict:
    """Rounded box centred on (cx, cy) with a bold title line and an optional body."""
    ax.add_patch(FancyBboxPatch((cx - w / 2, cy - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.08",
                                fc=fc, ec=EDGE, lw=1.2, ls=ls, zorder=2))
    family = "monospace" if mono_title else None
    if body:
        # title in the upper part, body below it; both centred horizontally
        n_body = body.count("\n") + 1
        body_h = n_body * body_size * 1.25 / 72
        title_h = title.count("\n") * title_size * 1.2 / 72 + title_size / 72
        total = title_h + 0.06 + body_h
        top = cy + total / 2
        ax.text(cx, top, title, ha="center", va="top", fontsize=title_size, fontweight="bold",
                family=family, zorder=3, linespacing=1.15)
        ax.text(cx, top - title_h - 0.06, body, ha="center", va="top", fontsize=body_size, zorder=3,
                linespacing=1.25)
    else:
        ax.text(cx, cy, title, ha="center", va="center", fontsize=title_size, fontweight="bold",
                family=family, zorder=3, linespacing=1.15)
    return {"cx": cx, "cy": cy, "w": w, "h": h,
            "l": (cx - w / 2, cy), "r": (cx + w / 2, cy), "t": (cx, cy + h / 2), "b": (cx, cy - h / 2)}


def arrow(ax, p0: Sequence[float], p1: Sequence[float], text: str = "", text_side: str = "above",
          text_size: float = 9.5, ls: str = "-", color: str = ARROW, rad: float = 0.0, lw: float = 1.5,
          text_offset: float = 0.1) -> None:
    ax.add_patch(FancyArrowPatch(tuple(p0), tuple(p1), arrowstyle="-|>", mutation_scale=16, lw=lw,
                                 color=color, ls=ls, shrinkA=1, shrinkB=1,
                                 connectionstyle=f"arc3,rad={rad}", zorder=4))
    if text:
        mx, my = (p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2
        if text_side == "above":
            ax.text(mx, my + text_offset, text, ha="center", va="bottom", fontsize=text_size, zorder=5)
        elif text_side == "below":
            ax.text(mx, my - text_offset, text, ha="center", va="top", fontsize=text_size, zorder=5)
        elif text_side == "right":
            ax.text(mx + text_offset, my, text, ha="left", va="center", fontsize=text_size, zorder=5)
        else:
            ax.text(mx - text_offset, my, text, ha="right", va="center", fontsize=text_size, zorder=5)


def legend(ax, x: float, y: float, items: Sequence[tuple[str, str]], size: float = 10.0) -> None:
    """Colour swatches from (x, y) downwards."""
    for i, (fc, label) in enumerate(items):
        yy = y - i * 0.32
        ax.add_patch(FancyBboxPatch((x, yy - 0.1), 0.32, 0.2, boxstyle="round,pad=0,rounding_size=0.04",
                                    fc=fc, ec=EDGE, lw=1.0))
        ax.text(x + 0.45, yy, label, ha="left", va="center", fontsize=size)


# --------------------------------------------------------------------------- pipeline

def draw_pipeline(path: Path) -> Path:
    W, H = 11.6, 6.9
    fig, ax = _canvas(W, H)
    ax.text(W / 2, H - 0.25, "STEP: data flow (one way; slow stages cache on a hash of their inputs)",
            ha="center", va="top", fontsize=13.5, fontweight="bold")
    xs = [1.5, 4.35, 7.2, 10.05]
    ys = [5.15, 3.1, 1.05]
    bw, bh = 2.6, 1.6

    # row 1, left to right
    raw = box(ax, xs[0], ys[0], bw, bh, "raw files", "dataset/raw, annotation:\nexpression tables,\nHi-C contact maps, mm9 TSS", C_FILE)
    conv = box(ax, xs[1], ys[0], bw, bh, "raw_data_conversion", "genes -> Hi-C bins;\ncontacts, compartment,\nTAD, insulation -> pairs")
    csv = box(ax, xs[2], ys[0], bw, bh, "interaction CSV", "dataset/mrna, dataset/mirna\nGene1, Gene2, Hi-C value,\nTime_* columns", C_FILE)
    data = box(ax, xs[3], ys[0], bw, bh, "step.data.interaction_csv", "load + validate ->\nGeneTimeCourse:\nX[T, N], pairs, features")
    for a, b in ((raw, conv), (conv, csv), (csv, data)):
        arrow(ax, a["r"], b["l"])

    # row 2, right to left
    graphs = box(ax, xs[3], ys[1], bw, bh, "step.graph.graphs", "one weighted graph per\ntime point t: Hi-C features\n+ expression at t only")
    emb = box(ax, xs[2], ys[1], bw, bh, "step.graph.embeddings", "causal temporal Node2Vec:\nstreamed as time advances\n(or per window, aligned); cached")
    win = box(ax, xs[1], ys[1], bw, bh, "step.data.windows", "inputs e-L+1..e -> e+1;\nrolling origin (results),\nchronological 70/10/20 %,\npaper (optimistic)")
    mod = box(ax, xs[0], ys[1], bw, bh, "STEPmr / STEPmi\n+ baselines, peers", "step.forecasters: blended start\n+ correction; 6 baselines,\nAutoETS, global linear / GBM\non the same windows", C_MODEL)
    arrow(ax, data["b"], graphs["t"])
    for a, b in ((graphs, emb), (emb, win), (win, mod)):
        arrow(ax, a["l"], b["r"])
    # the expression itself also goes straight to the windows
    p0 = (data["cx"] - bw / 2 + 0.15, data["cy"] - bh / 2)
    p1 = (win["cx"] + 0.35, win["cy"] + bh / 2)
    arrow(ax, p0, p1, ls="--", color="#666666", lw=1.2)
    # 1 data unit = 1 inch on both axes, so the slope in data units is the on-page angle
    angle = math.degrees(math.atan2(p1[1] - p0[1], p1[0] - p0[0])) + 180
    ax.text((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2 + 0.05, "X[T, N] (scaler fitted on each fit's training times)",
            ha="center", va="bottom", fontsize=9.5, color="#444444", rotation=angle, rotation_mode="anchor",
            zorder=5)

    # row 3, left to right
    pred = box(ax, xs[0], ys[2], bw, bh, "predictions.csv", "every model + baseline,\nevery split,\noriginal scale", C_OUT)
    met = box(ax, xs[1], ys[2], bw, bh, "metrics", "step.evaluation:\nmetrics.json + table,\nHAC Diebold-Mariano,\nconformal intervals", C_OUT)
    plo = box(ax, xs[2], ys[2], bw, bh, "plots + enrichment", "step.outputs: plots/,\ngenes.csv, enrichment/", C_OUT)
    arrow(ax, mod["b"], pred["t"])
    arrow(ax, pred["r"], met["l"])
    arrow(ax, met["r"], plo["l"])

    legend(ax, xs[3] - bw / 2 + 0.05, ys[2] + 0.5,
           [(C_FILE, "files in dataset/"), (C_CODE, "code stage"), (C_MODEL, "models"),
            (C_OUT, "run folder (results/)")])
    return _save(fig, path)


# --------------------------------------------------------------------------- models: read off the code

@dataclass
class ModelFacts:
    name: str
    cfg_file: str
    history: int
    emb_dim: int
    in_channels: int
    hidden: int
    cheb_k: int
    kernel_size: int
    n_blocks: int
    linear_graph: bool = True
    w_correction: float = 0.0
    linear_init: bool = False
    lstm_layers: int = 0
    lstm_units: int = 0
    attn_layers: int = 0
    heads: int = 0
    residual_blocks: tuple[bool, ...] = ()

    @property
    def channels_text(self) -> str:
        """``C = 1 + 1 + D = 18`` (expression, neighbour mean, embedding) as the code counts it."""
        parts = ["1"] + (["1"] if self.linear_graph else []) + (["D"] if self.emb_dim else [])
        return f"C = {' + '.join(parts)} = {self.in_channels}"


def model_facts(cfg_file: str) -> ModelFacts:
    """Build the model of a config as step.forecasters.model_forecaster.fit_stage does, read its structure and
    check the shapes the figures print and that the untrained model is the moving average."""
    import copy

    import numpy as np
    import torch

    from step.forecasters.layers import scaled_laplacian
    from step.forecasters.models import STEPmi, build_model
    from step.graph.sparse_ops import neighbour_means

    cfg = load_config(REPO / cfg_file)
    m, L = cfg.model, cfg.split.history
    D = cfg.embedding.dim if cfg.embedding.enabled else 0
    B, N = 2, 5  # small and distinct, so that a swapped axis shows up
    gen = torch.Generator().manual_seed(0)

    # the input as step.forecasters.model_forecaster.fit_stage builds it: expression, the Hi-C neighbours'
    # weighted mean of it (model.linear_graph), then the embedding
    z = torch.randn(B, L, N, generator=gen)                       # [B, L, N] window inputs
    A = torch.rand(B, N, N, generator=gen)
    A = (A + A.transpose(1, 2)) / 2 * (1 - torch.eye(N))
    A[:, -1, :] = 0.0
    A[:, :, -1] = 0.0                                             # one gene without partners
    deg = A.sum(-1, keepdim=True)
    P = torch.where(deg > 0, A / deg.clamp_min(1e-12), torch.zeros_like(A))  # row-normalised
    chans = [z[:, None]]
    if m.linear_graph:
        chans.append(torch.as_tensor(neighbour_means(P.numpy(), z.numpy()), dtype=torch.float32)[:, None])
    x = torch.cat(chans, dim=1)
    if D:
        x = torch.cat([x, torch.randn(B, L, N, D, generator=gen).permute(0, 3, 1, 2)], dim=1)
    C = int(x.shape[1])
    assert C == 1 + int(m.linear_graph) + D, f"{cfg_file}: {C} input channels"
    lap = scaled_laplacian(A)

    args = dict(in_channels=C, n_nodes=N, history=L, hidden=m.hidden, cheb_k=m.cheb_k,
                kernel_size=m.kernel_size, n_blocks=m.n_blocks, dropout=m.dropout, degree=[1, 2, 3, 4, 0],
                linear_graph=m.linear_graph)
    if cfg.model_name == "STEPmi":
        args.update(lstm_layers=m.lstm_layers, attn_layers=m.attn_layers, heads=m.heads)
    model = build_model(cfg.model_name, **args).eval()
    Hd = m.hidden
    assert (model.linear.neighbour is not None) == bool(m.linear_graph), "LinearPath graph term vs config"

    seen: dict[str, tuple[int, ...]] = {}

    def hook(name: str):
        def f(_mod, _inp, out):
            t = out[0] if isinstance(out, tuple) else out
            seen.setdefault(name, tuple(t.shape))
        return f

    for i, blk in enumerate(model.blocks):
        blk.register_forward_hook(hook(f"block{i}"))
    model.output.register_forward_hook(hook("output"))
    model.head.register_forward_hook(hook("head"))
    model.linear.register_forward_hook(hook("linear"))
    if isinstance(model, STEPmi):
        model.lstms[0].register_forward_hook(hook("lstm"))
        model.attns[0].register_forward_hook(hook("attn"))
    with torch.no_grad():
        base, delta = model.forward_parts(x, lap)
        y = model(x, lap)
        # untrained: linear path = moving average of the window's expression, correction = 0
        moving_average = x[:, 0].mean(dim=1)                      # [B, N]
        torch.testing.assert_close(base, moving_average, rtol=1e-6, atol=1e-6,
                                   msg=lambda s: f"{cfg.model_name}: untrained linear path is not the moving "
                                                 f"average of channel 0\n{s}")
        assert torch.count_nonzero(delta) == 0, f"{cfg.model_name}: untrained correction is not zero"
        torch.testing.assert_close(y, moving_average[:, None, None, :], rtol=1e-6, atol=1e-6,
                                   msg=lambda s: f"{cfg.model_name}: untrained model is not the moving "
                                                 f"average (mean_last)\n{s}")
        if m.linear_graph:
            # the figure says channel 1 is the neighbour term's input: v = e_L must add x[:, 1, -1]
            probe = copy.deepcopy(model)
            probe.linear.neighbour.zero_()
            probe.linear.neighbour[:, -1] = 1.0                  # [N, L]: every gene, lag 1
            torch.testing.assert_close(probe.linear(x[:, 0], x[:, 1]), moving_average + x[:, 1, -1],
                                       rtol=1e-6, atol=1e-6)

    def check(name: str, shape: tuple[int, ...]) -> None:
        assert seen[name] == shape, f"{cfg.model_name} {name}: code gives {seen[name]}, figure says {shape}"

    for i in range(len(model.blocks)):
        check(f"block{i}", (B, Hd, L, N))
    check("output", (B, Hd, 1, N))
    check("linear", (B, N))
    deg = torch.log1p(torch.tensor(args["degree"], dtype=torch.float32))
    torch.testing.assert_close(model.output.connectivity.reshape(-1), deg / deg.max(),
                               msg=lambda s: f"{cfg.model_name}: c is not log1p(degree) / max log1p(degree)\n{s}")
    assert tuple(base.shape) == tuple(delta.shape) == (B, N)
    assert tuple(y.shape) == (B, 1, 1, N)
    facts = ModelFacts(cfg.model_name, cfg_file, L, D, C, Hd, model.blocks[0].graph.K,
                       model.blocks[0].temporal1.kernel_size, len(model.blocks),
                       linear_graph=bool(m.linear_graph), w_correction=float(cfg.loss.w_correction),
                       linear_init=bool(cfg.selection.linear_init),
                       residual_blocks=tuple(b.residual for b in model.blocks))
    if isinstance(model, STEPmi):
        units = model.lstms[0].hidden_size
        check("lstm", (B * N, L, 2 * units))
        check("attn", (B, N, Hd))
        check("head", (B, N, 1))
        facts.lstm_layers, facts.lstm_units = len(model.lstms), units
        facts.attn_layers, facts.heads = len(model.attns), model.attns[0].num_heads
    else:
        check("head", (B, 1, N, 1))
    return facts


# --------------------------------------------------------------------------- model figures

def _zoom(ax, src: dict, panel: tuple[float, float, float, float]) -> None:
    """Dotted lines from a main-row box down to the panel that details it."""
    x0, y0, w, h = panel
    for sx, px in ((src["cx"] - src["w"] / 2, x0), (src["cx"] + src["w"] / 2, x0 + w)):
        ax.plot([sx, px], [src["cy"] - src["h"] / 2, y0 + h], ls=":", color="#888888", lw=1.1, zorder=1)


def _panel(ax, x0: float, y0: float, w: float, h: float, title: str) -> tuple[float, float, float, float]:
    ax.add_patch(Rectangle((x0, y0), w, h, fc="#fafafa", ec="#888888", ls="--", lw=1.1, zorder=0.5))
    ax.text(x0 + 0.12, y0 + h - 0.1, title, ha="left", va="top", fontsize=11, fontweight="bold",
            color="#333333", zorder=3)
    return (x0, y0, w, h)


def _stack(ax, cx: float, top: float, w: float, items: Sequence[tuple[str, str, str]], h: float = 0.5,
           gap: float = 0.27, size: float = 10.0) -> list[dict]:
    """Vertical chain of boxes (title, side note, colour) from ``top`` downwards."""
    out = []
    for i, (title, _note, fc) in enumerate(items):
        cy = top - h / 2 - i * (h + gap)
        out.append(box(ax, cx, cy, w, h, title, fc=fc, title_size=size))
        if i:
            arrow(ax, out[-2]["b"], out[-1]["t"])
    for b, (_t, note, _fc) in zip(out, items):
        if note:
            ax.text(b["cx"] + w / 2 + 0.12, b["cy"], note, ha="left", va="center", fontsize=9.2,
                    color="#333333", linespacing=1.15)
    return out


def _st_panel(ax, x0: float, y0: float, w: float, h: float, f: ModelFacts) -> tuple[float, float, float, float]:
    with_res = [str(i + 1) for i, r in enumerate(f.residual_blocks) if r]
    res = (f"only where C_in = H: block{'s' if len(with_res) > 1 else ''} {', '.join(with_res)} of {len(f.residual_blocks)}"
           if with_res else "never here (C_in != H)")
    panel = _panel(ax, x0, y0, w, h, "ST block  (step.forecasters.layers.STBlock)")
    cx = x0 + 2.0
    items = [
        ("TemporalGLU", f"causal conv ({f.kernel_size} x 1), left pad\n(P + align(x)) * sigmoid(Q)", C_MODEL),
        ("ChebGraphConv", f"K = {f.cheb_k} terms of L~; + input, ReLU", C_MODEL),
        ("TemporalGLU", "-> H channels, time kept", C_MODEL),
        ("+ block input", res, C_CODE),
        ("LayerNorm (N, C)", "per (sample, time) slice", C_CODE),
        ("Dropout", "", C_CODE),
    ]
    stack = _stack(ax, cx, y0 + h - 0.5, 2.2, items, h=0.44, gap=0.24)
    # the graph operator enters the Chebyshev convolution from the left
    g = stack[1]
    ax.text(x0 + 0.1, g["cy"], "L~\n[B, N, N]", ha="left", va="center", fontsize=9.0, color="#1f4e79",
            linespacing=1.1)
    arrow(ax, (x0 + 0.7, g["cy"]), (g["cx"] - 1.1, g["cy"]), color="#1f4e79", lw=1.2)
    return panel


def _output_panel(ax, x0: float, y0: float, w: float, h: float, f: ModelFacts) -> tuple[float, float, float, float]:
    panel = _panel(ax, x0, y0, w, h, "Output block  (step.forecasters.layers.OutputBlock)")
    cx = x0 + 1.55
    items = [
        ("LayerNorm (C)", "", C_CODE),
        ("1x1 conv, ReLU, 1x1 conv, ReLU", "features f[:, t, n]\n(dropout between the convs)", C_MODEL),
        ("score  s = w . f + b[t]", f"one logit per (t, n);\nb: learned per time step ({f.history})", C_MODEL),
        ("a = softmax over t", "", C_CODE),
        ("alpha = a (1 + gamma c[n])", "c = log1p(deg) / max log1p(deg)\n(buffer, in [0, 1]);\ngamma learned, starts at 0", C_MODEL),
        ("sum over t of alpha * f", "time collapsed: [B, H, 1, N]", C_CODE),
    ]
    _stack(ax, cx, y0 + h - 0.5, 2.75, items, h=0.44, gap=0.24)
    return panel


def _main_row(ax, y: float, specs: Sequence[tuple[str, str, str, float]], x_start: float, gap: float,
              shapes: Sequence[str], bh: float = 1.05) -> list[dict]:
    """Boxes left to right with the tensor shape printed on each connecting arrow."""
    boxes = []
    x = x_start
    for title, body, fc, w in specs:
        boxes.append(box(ax, x + w / 2, y, w, bh, title, body, fc, title_size=11.5, body_size=9.5))
        x += w + gap
    for i, (a, b) in enumerate(zip(boxes, boxes[1:])):
        arrow(ax, a["r"], b["l"])
        s = shapes[i] if i < len(shapes) else ""
        if s:
            ax.text((a["r"][0] + b["l"][0]) / 2, y + 0.08, s, ha="center", va="bottom", fontsize=9.2,
                    color="#1f4e79", linespacing=1.1)
    return boxes


def _linear_path(ax, src: dict, plus: dict, f: ModelFacts, x0: float, x1: float, y: float,
                 h: float = 1.0) -> dict:
    """The linear path (step.forecasters.models.LinearPath): the input's channels 0 (and 1) -> a linear
    filter over the window -> the final sum, where the penalised correction is added."""
    nb = f.linear_graph
    formula = ("sum_l w[l] x[:, 0, l] + sum_l v[l] x[:, 1, l] + c   (own lags + Hi-C neighbours' mean lags)"
               if nb else "sum_l w[l] x[:, 0, l] + c   (the window's own lags)")
    start = "built at w = 1/L" + (", v = 0" if nb else "") + ", c = 0: the moving average of the window (mean_last)"
    init = ("selection.linear_init: set to the blend of ridges, smoothers and global learners that wins on prequential evidence"
            if f.linear_init else "selection.linear_init off: training starts at the moving average")
    corr = (f"next expression = linear + delta;  the loss adds {f.w_correction:g} * mean(delta^2)"
            "  (loss.w_correction)")
    lin = box(ax, (x0 + x1) / 2, y, x1 - x0, h, "linear path  (step.forecasters.models.LinearPath)",
              "\n".join([formula, start, init, corr]), C_LINEAR, title_size=11.0, body_size=9.2)
    # input channels up and into the box
    xa = x0 - min(0.3, (x0 - src["cx"]) / 2)
    ax.plot([src["cx"], src["cx"], xa], [src["cy"] + src["h"] / 2, y, y], color=C_PATH, lw=1.5, zorder=1)
    arrow(ax, (xa, y), (x0, y), color=C_PATH)
    ax.text((src["cx"] + x0) / 2, y + 0.06, "ch 0, ch 1\n[B, L, N]" if nb else "ch 0\n[B, L, N]",
            ha="center", va="bottom", fontsize=9.2, color=C_PATH, linespacing=1.1)
    # out of the box and down into the sum
    ax.plot([x1, plus["cx"]], [y, y], color=C_PATH, lw=1.5, zorder=1)
    arrow(ax, (plus["cx"], y), plus["t"], color=C_PATH)
    ax.text((x1 + plus["cx"]) / 2, y + 0.06, "[B, N]", ha="center", va="bottom", fontsize=9.2, color=C_PATH)
    return lin


def _plus(ax, cx: float, cy: float) -> dict:
    from matplotlib.patches import Circle

    ax.add_patch(Circle((cx, cy), 0.2, fc="white", ec=C_PATH, lw=1.5, zorder=3))
    ax.text(cx, cy, "+", ha="center", va="center", fontsize=15, color=C_PATH, zorder=4)
    return {"cx": cx, "cy": cy, "w": 0.4, "h": 0.4, "l": (cx - 0.2, cy), "r": (cx + 0.2, cy),
            "t": (cx, cy + 0.2), "b": (cx, cy - 0.2)}


def _input_channels(f: ModelFacts, short: bool = False) -> str:
    if short:
        return "[B, C, L, N]\nexpression" + (",\nnbr mean" if f.linear_graph else "") + (",\nNode2Vec" if f.emb_dim else "") + "; L~"
    lines = ["[B, C, L, N]", "ch 0: expression"]
    if f.linear_graph:
        lines.append("ch 1: nbr mean")
    if f.emb_dim:
        first = 2 if f.linear_graph else 1
        lines.append(f"ch {first}..{first + f.emb_dim - 1}: Node2Vec")
    return "\n".join(lines)


def draw_stepmr(f: ModelFacts, path: Path) -> Path:
    W, H = 12.8, 8.75
    fig, ax = _canvas(W, H)
    ax.text(W / 2, H - 0.2, "STEPmr  (step.forecasters.models.STEPmr):  linear path + penalised correction", ha="center",
            va="top", fontsize=14, fontweight="bold")
    ax.text(W / 2, H - 0.52, f"{f.cfg_file}: L = {f.history}, embedding D = {f.emb_dim}, {f.channels_text}, "
            f"H = {f.hidden}, K = {f.cheb_k}, temporal kernel {f.kernel_size}", ha="center", va="top", fontsize=10.5,
            color="#444444")
    y = 5.85
    specs = [
        ("input", _input_channels(f), C_FILE, 1.7),
        (f"ST block x {f.n_blocks}", "gated temporal conv,\nChebyshev graph conv", C_MODEL, 1.95),
        ("output block", "connectivity\nattention over t", C_MODEL, 1.75),
        ("head", "Linear, ReLU,\nLinear (zero-init)", C_MODEL, 1.7),
    ]
    row = _main_row(ax, y, specs, 0.25, 0.75, ["x, L~", "[B, H, L, N]", "[B, H, 1, N]"], bh=1.2)
    plus = _plus(ax, row[-1]["r"][0] + 1.0, y)
    arrow(ax, row[-1]["r"], plus["l"])
    ax.text((row[-1]["r"][0] + plus["l"][0]) / 2, y - 0.1, "delta [B, N]\n(penalised)", ha="center", va="top",
            fontsize=9.2, color="#1f4e79", linespacing=1.1)
    out = box(ax, plus["cx"] + 1.25, y, 1.65, 1.2, "next\nexpression", "[B, 1, 1, N]", C_OUT,
              title_size=11.5, body_size=9.5)
    arrow(ax, plus["r"], out["l"])
    _linear_path(ax, row[0], plus, f, row[1]["cx"] - row[1]["w"] / 2 - 0.1, plus["cx"] - 0.7, y + 1.33)

    p1 = _st_panel(ax, 0.25, 0.25, 6.0, 4.45, f)
    p2 = _output_panel(ax, 6.5, 0.25, 6.05, 4.45, f)
    _zoom(ax, row[1], p1)
    _zoom(ax, row[2], p2)
    return _save(fig, path)


def _lstm_panel(ax, x0: float, y0: float, w: float, h: float, f: ModelFacts) -> tuple[float, float, float, float]:
    panel = _panel(ax, x0, y0, w, h, "BiLSTM layer  (x lstm_layers)")
    items = [
        ("one sequence per gene", "[B*N, L, H]", C_CODE),
        ("bidirectional LSTM", f"{f.lstm_units} units per direction,\nwindow's own inputs only", C_MODEL),
        ("Linear 2 x units -> H", "", C_MODEL),
        ("LayerNorm(h + dropout(.))", "residual", C_CODE),
    ]
    _stack(ax, x0 + 1.45, y0 + h - 0.55, 2.5, items, h=0.46, gap=0.3)
    return panel


def _attn_panel(ax, x0: float, y0: float, w: float, h: float, f: ModelFacts) -> tuple[float, float, float, float]:
    panel = _panel(ax, x0, y0, w, h, "Gene self-attention  (x attn_layers)")
    items = [
        ("genes as tokens", "[B, N, H]; identity from\nthe Node2Vec channels", C_CODE),
        (f"MultiheadAttention", f"{f.heads} heads, over genes\n(every gene sees all)", C_MODEL),
        ("LayerNorm(g + dropout(.))", "residual, post-norm", C_CODE),
    ]
    _stack(ax, x0 + 1.5, y0 + h - 0.55, 2.6, items, h=0.46, gap=0.3)
    return panel


def _output_compact(ax, x0: float, y0: float, w: float, h: float) -> tuple[float, float, float, float]:
    panel = _panel(ax, x0, y0, w, h, "ST block, output block")
    ax.text(x0 + 0.15, y0 + h - 0.55,
            "as in STEPmr (images/stepmr.png):\n\n"
            "ST block: TemporalGLU ->\nChebGraphConv -> TemporalGLU\n-> LayerNorm -> dropout\n\n"
            "output block: time collapsed\nwith alpha[t, n] =\n  a[t, n] (1 + gamma c[n])",
            ha="left", va="top", fontsize=9.8, linespacing=1.2, color="#333333")
    return panel


def draw_stepmi(f: ModelFacts, path: Path) -> Path:
    W, H = 14.5, 8.0
    fig, ax = _canvas(W, H)
    ax.text(W / 2, H - 0.2, "STEPmi  (step.forecasters.models.STEPmi):  linear path + penalised correction", ha="center",
            va="top", fontsize=14, fontweight="bold")
    ax.text(W / 2, H - 0.52, f"{f.cfg_file}: L = {f.history}, embedding D = {f.emb_dim}, {f.channels_text}, "
            f"H = {f.hidden}, K = {f.cheb_k}, temporal kernel {f.kernel_size}, lstm_layers = {f.lstm_layers}, "
            f"attn_layers = {f.attn_layers}, heads = {f.heads}", ha="center", va="top", fontsize=10.5, color="#444444")
    y = 5.1
    # each box states the shape it outputs (the gaps are too narrow for labels on the arrows)
    specs = [
        ("input", _input_channels(f, short=True), C_FILE, 1.45),
        (f"ST block x {f.n_blocks}", "gated temporal +\nChebyshev conv\n-> [B, H, L, N]", C_MODEL, 1.6),
        (f"BiLSTM x {f.lstm_layers}", "over time,\nper gene\n-> [B, H, L, N]", C_MODEL, 1.5),
        ("output block", "connectivity\nattention over t\n-> [B, N, H]", C_MODEL, 1.62),
        (f"attention x {f.attn_layers}", f"over genes,\n{f.heads} heads\n-> [B, N, H]", C_MODEL, 1.5),
        ("head", "Linear, ReLU,\nLinear (0-init)\n-> delta [B, N]", C_MODEL, 1.5),
    ]
    row = _main_row(ax, y, specs, 0.25, 0.45, [], bh=1.4)
    plus = _plus(ax, row[-1]["r"][0] + 0.65, y)
    arrow(ax, row[-1]["r"], plus["l"])
    ax.text(plus["cx"], plus["cy"] - 0.3, "delta\n(penalised)", ha="center", va="top", fontsize=9.2,
            color="#1f4e79", linespacing=1.1)
    out = box(ax, plus["cx"] + 0.2 + 0.4 + 0.65, y, 1.3, 1.4, "next\nexpression", "[B, 1, 1, N]", C_OUT,
              title_size=11.5, body_size=9.5)
    arrow(ax, plus["r"], out["l"])
    _linear_path(ax, row[0], plus, f, row[1]["cx"] - row[1]["w"] / 2 + 0.3, row[-1]["cx"] + 0.2, y + 1.5)

    _output_compact(ax, 0.25, 0.25, 3.35, 3.45)
    p_l = _lstm_panel(ax, 3.85, 0.25, 5.0, 3.45, f)
    p_a = _attn_panel(ax, 9.1, 0.25, 5.05, 3.45, f)
    _zoom(ax, row[2], p_l)
    _zoom(ax, row[4], p_a)
    return _save(fig, path)


# --------------------------------------------------------------------------- causal embedding

def draw_causal_embedding(path: Path, history: int, span: int, cfg_file: str) -> Path:
    W, H = 11.0, 4.35
    fig, ax = _canvas(W, H)
    ax.text(W / 2, H - 0.2, "Causal embedding: what one forecast window's Node2Vec is fitted on",
            ha="center", va="top", fontsize=13.5, fontweight="bold")
    ax.text(W / 2, H - 0.52, f"{cfg_file}: L = {history} inputs, span = {span} time points; "
            "fit on times max(0, e - span + 1)..e  (step/graph/embeddings.py)", ha="center", va="top", fontsize=10.5,
            color="#444444")

    rel = list(range(-span - 2, 4))        # time indices relative to the window's last input e
    x_left, x_right = 2.45, W - 0.45
    dx = (x_right - x_left) / (len(rel) - 1)

    def X(r: float) -> float:
        return x_left + (r - rel[0]) * dx

    def lab(r: int) -> str:
        return "e" if r == 0 else f"e{r:+d}"

    y_axis, y_cur, y_prev = 0.75, 1.75, 2.85
    # the future of this window: shaded, never used
    fx0, fx1 = X(0.5), X(rel[-1]) + dx / 2
    ax.add_patch(Rectangle((fx0, 0.25), fx1 - fx0, 3.05, fc="#f6e3e0", ec="none", zorder=0))
    ax.plot([fx0, fx0], [0.25, 3.3], color="#b03a2e", lw=1.6, ls="--", zorder=1)
    ax.text((fx0 + fx1) / 2, 3.22, "after e: never used\nfor window e's inputs\nor its embedding",
            ha="center", va="top", fontsize=9.8, color="#8c2d23", linespacing=1.15)

    # time axis
    ax.plot([X(rel[0]) - dx / 2, X(rel[-1]) + dx / 2], [y_axis, y_axis], color="#333333", lw=1.2)
    for r in rel:
        ax.plot([X(r)] * 2, [y_axis - 0.06, y_axis + 0.06], color="#333333", lw=1.2)
        ax.text(X(r), y_axis - 0.12, lab(r), ha="center", va="top", fontsize=10)
    ax.text(0.2, y_axis, "time index", ha="left", va="center", fontsize=10.5, fontweight="bold")

    def span_bar(y: float, lo: int, hi: int, fc: str) -> tuple[float, float]:
        x0, x1 = X(lo) - dx * 0.45, X(hi) + dx * 0.45
        ax.add_patch(FancyBboxPatch((x0, y - 0.25), x1 - x0, 0.5, boxstyle="round,pad=0,rounding_size=0.08",
                                    fc=fc, ec=EDGE, lw=1.1, zorder=2))
        return x0, x1

    # previous window: its fit ends at e-1
    px0, px1 = span_bar(y_prev, -span, -1, "#e4e4f4")
    ax.text((px0 + px1) / 2, y_prev, f"window e-1's fit: e-{span}..e-1", ha="center", va="center",
            fontsize=9.8, zorder=3)
    ax.text(0.2, y_prev, "window e-1", ha="left", va="center", fontsize=10.5, fontweight="bold")

    # this window: fit on e-span+1..e; inputs e-L+1..e; target e+1
    cx0, cx1 = span_bar(y_cur, -span + 1, 0, "#d9eed6")
    ax.text(cx0 + 0.12, y_cur, f"Node2Vec fit:\ne-{span - 1}..e", ha="left", va="center", fontsize=9.8,
            color="#2e6b2a", zorder=3, linespacing=1.1)
    ax.text(0.2, y_cur, "window e", ha="left", va="center", fontsize=10.5, fontweight="bold")
    for r in range(-history + 1, 1):
        ax.add_patch(Rectangle((X(r) - 0.22, y_cur - 0.17), 0.44, 0.34, fc="#5b8fc9", ec="#1f4e79", lw=1.0, zorder=4))
    ax.text(X(0) + 0.3, y_cur - 0.32, f"inputs e-{history - 1}..e: their {history} slices [L, N, D] are kept",
            ha="right", va="top", fontsize=9.5, color="#1f4e79", zorder=4)
    ax.plot([X(1)], [y_cur], marker="*", ms=18, color="#e07b00", mec="#8a4b00", zorder=4)
    ax.text(X(1), y_cur + 0.28, "target\ne+1", ha="center", va="bottom", fontsize=9.5, linespacing=1.1, color="#8a4b00", zorder=4)

    # alignment of this fit to the previous one on the times both fits contain
    xa = X(-span + 1.5)
    ax.annotate("", xy=(xa, y_cur + 0.27), xytext=(xa, y_prev - 0.27),
                arrowprops=dict(arrowstyle="-|>", color="#555555", lw=1.3), zorder=4)
    ax.text(xa + 0.12, (y_cur + y_prev) / 2, f"aligned (orthogonal Procrustes, per connected\n"
            f"component) on the shared times e-{span - 1}..e-1",
            ha="left", va="center", fontsize=9.5, color="#444444", zorder=4)
    return _save(fig, path)


# --------------------------------------------------------------------------- main

def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "images"), help="folder for the PNGs (default: images/)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    mr = model_facts("configs/mrna.yaml")
    mi = model_facts("configs/mirna.yaml")
    cfg = load_config(REPO / "configs/mrna.yaml")
    written = [
        draw_pipeline(out / "pipeline.png"),
        draw_stepmr(mr, out / "stepmr.png"),
        draw_stepmi(mi, out / "stepmi.png"),
        draw_causal_embedding(out / "causal_embedding.png", cfg.split.history, cfg.embedding.span,
                              "configs/mrna.yaml"),
    ]
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
