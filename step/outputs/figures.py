"""What every figure of a run shares: a Figure on the Agg canvas (no pyplot state, no
``plt.show()``), saved atomically as PNG (:func:`step.io.write_with`), fixed margins and the small
panels' style, the split and group colours."""
from __future__ import annotations

import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from step.io import write_with

SPLIT_COLOURS = {"train": "#dbe9f6", "val": "#fde9c9", "test": "#f6d5d5"}
GROUP_COLOURS = {"top": "#1a9850", "bottom": "#d73027", "": "#7f7f7f"}
DPI = 110


def new_figure(width: float, height: float) -> Figure:
    """A Figure attached to the Agg canvas (no global pyplot state)."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: str | Path, tight: bool = True) -> Path:
    """Save a figure as PNG atomically (``tight``: crop to the drawn extent, slower).

    zlib level 1: about 10 % of a page's time saved for files about 5 % larger. The figure is not
    cleared afterwards (``Figure.clear`` clears every Axes first): it is freed with its caller's
    reference."""
    path = Path(path)
    kw = {"bbox_inches": "tight"} if tight else {}
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI, pil_kwargs={"compress_level": 1}, **kw))
    return path


def _panel(ax, title: str, fontsize: float = 8, ticks: int = 4) -> None:
    """A small panel's title (at a fixed height: matplotlib's automatic title placement measures
    every tick label) and at most ``ticks`` labelled ticks per axis."""
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title, fontsize=fontsize, y=1.0)
    ax.xaxis.set_major_locator(MaxNLocator(ticks))
    ax.yaxis.set_major_locator(MaxNLocator(ticks))
    ax.tick_params(labelsize=6)


def _grid(n: int, ncols: int) -> tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


def _fixed_layout(fig: Figure, top_in: float = 0.55, bottom_in: float = 0.45) -> None:
    """Margins in inches for panel grids (tight_layout costs ~1 s per page of 12 panels)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=0.6 / w, right=1 - 0.2 / w, top=1 - top_in / h, bottom=bottom_in / h,
                        hspace=0.55, wspace=0.28)


def _margins(fig: Figure, left: float = 0.8, right: float = 0.2, top: float = 0.45, bottom: float = 0.6) -> None:
    """Fixed margins in inches for a figure of few axes (saving with ``bbox_inches="tight"``
    draws the figure twice)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h)
