"""Figures drawn only when what they show has changed: a content-addressed store of a run's PNGs.

A figure's key is the SHA-256 of what it is drawn from (the run's tables that it reads, its genes
and title: :attr:`step.outputs.plots.PlotTask.inputs`), of the figure code (the source files of
:data:`FIGURE_MODULES`), of the matplotlib, numpy and pandas versions and of matplotlib's settings
(``rcParams``: a matplotlibrc's style). When a run's figure has a
key already in the store, its PNG is copied instead of drawn: a job run again with the same
forecasts (the same config, an analysis setting changed, a model setting whose correction is not
kept) draws only the figures whose inputs changed.

``output.figure_cache``: ``auto`` (the default) keeps the store with the embedding cache
(:func:`store_root`: ``.cache/step/figures`` by default; ``make clean-cache`` empties both), a path
keeps it there, ``""`` turns it off. An entry is a folder of PNGs plus ``files.json``,
written under a temporary name and renamed (two jobs at once never see half an entry); an entry that
cannot be read is drawn again. The store keeps its most recently used :data:`MAX_BYTES`; older
entries are removed after a run's figures (:meth:`FigureStore.prune`).
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from step.io import write_with

log = logging.getLogger(__name__)

# the modules whose source draws a figure: a change in any of them redraws every figure
FIGURE_MODULES = ("figures", "plots", "gene_plots", "analyze", "rundata", "figure_cache")
MAX_BYTES = 256 * 2**20
MANIFEST = "files.json"


def store_root(figure_cache: str, embedding_cache_dir: str) -> Path | None:
    """The store's folder for ``output.figure_cache``, or None when it is off (``""``). ``auto``:
    beside the embedding cache when its folder is named ``embeddings`` (the default
    ``.cache/step/embeddings`` gives ``.cache/step/figures``), else inside it (``<cache_dir>/figures``:
    never a new folder next to one the user named)."""
    value = str(figure_cache or "").strip()
    if not value:
        return None
    if value == "auto":
        emb = Path(embedding_cache_dir)
        return emb.parent / "figures" if emb.name == "embeddings" else emb / "figures"
    return Path(value)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 of the figure code and the plotting libraries' versions and settings. Computed once
    per process, when :mod:`step.outputs.plots` is imported (the job imports it early), so that it
    describes the code the job runs even if the files change on disk during a long job."""
    import matplotlib

    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in FIGURE_MODULES:
        h.update(name.encode())
        h.update((here / f"{name}.py").read_bytes())
    h.update(json.dumps([matplotlib.__version__, np.__version__, pd.__version__]).encode())
    # a matplotlibrc's style (read without resolving the backend, which would import pyplot)
    style = {k: v for k, v in dict.items(matplotlib.rcParams) if k != "backend"}
    h.update(json.dumps(style, sort_keys=True, default=str).encode())
    return h.hexdigest()


def digest(*parts: Any) -> str:
    """SHA-256 of ``parts``: DataFrames by their values, index, columns and dtypes; arrays by their
    bytes, shape and dtype; anything else by its sorted JSON (``str`` for the rest)."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, pd.DataFrame):
            h.update(b"frame")
            h.update(json.dumps([list(map(str, p.columns)), list(map(str, p.dtypes))]).encode())
            h.update(memoryview(np.ascontiguousarray(pd.util.hash_pandas_object(p, index=True).to_numpy())))
        elif isinstance(p, np.ndarray):
            h.update(b"array")
            h.update(json.dumps([p.shape, str(p.dtype)]).encode())
            h.update(np.ascontiguousarray(p).reshape(-1).view(np.uint8))
        else:
            h.update(b"json")
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()


def run_digest(run) -> str:
    """What a run's forecast figures read (:class:`step.outputs.rundata.RunData`): the predictions,
    the observed series, the gene features, the splits, the main model and best baseline, the scale
    and whether the protocol is optimistic. Not ``metrics.json`` as a whole (it holds run times)."""
    return digest(run.predictions, run.series, run.features, run.splits,
                  [run.main_model, run.best_baseline, run.transform, run.optimistic])


class FigureStore:
    """The content-addressed PNGs under ``root`` (see the module docstring)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def fetch(self, key: str, dest: Path) -> list[Path] | None:
        """Copy entry ``key``'s files into folder ``dest`` (each written atomically); their paths,
        or None when there is no readable entry."""
        entry = self.root / key
        try:
            sources = self._files(entry)
        except (OSError, ValueError) as exc:
            if os.path.lexists(entry):
                log.warning("figure cache entry %s is unreadable (%s); the figure is drawn again", entry, exc)
            return None
        try:
            dest.mkdir(parents=True, exist_ok=True)
            out = [write_with(dest / src.name, lambda tmp, src=src: shutil.copyfile(src, tmp)) for src in sources]
            os.utime(entry)  # most recently used: kept longest
        except OSError as exc:
            log.warning("cannot copy figure cache entry %s into %s (%s); the figure is drawn", entry, dest, exc)
            return None
        return [Path(p) for p in out]

    def put(self, key: str, paths: Sequence[Path]) -> None:
        """Store ``paths`` (files of one folder) as entry ``key``; never raises (logged)."""
        entry = self.root / key
        if os.path.lexists(entry):
            if self._readable(entry):
                return
            self._remove(entry)  # a damaged entry (its files lost): replaced by this drawing
        tmp = self.root / f".{key}.{os.getpid()}.tmp"
        try:
            if len({Path(p).parent for p in paths}) > 1:
                raise ValueError("a figure's files must lie in one folder")
            tmp.mkdir(parents=True, exist_ok=False)
            for p in paths:
                shutil.copyfile(p, tmp / Path(p).name)
            (tmp / MANIFEST).write_text(json.dumps([Path(p).name for p in paths]))
            os.rename(tmp, entry)
        except OSError as exc:
            if not os.path.lexists(entry):
                log.warning("cannot store figure %s in the figure cache %s: %s", key, self.root, exc)
        except ValueError as exc:
            log.warning("figure %s not stored in the figure cache: %s", key, exc)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @staticmethod
    def _files(entry: Path) -> list[Path]:
        """The files of ``entry`` named by its manifest (OSError / ValueError: not a whole entry)."""
        names = json.loads((entry / MANIFEST).read_text())
        if not isinstance(names, list) or not all(isinstance(n, str) and Path(n).name == n for n in names):
            raise ValueError(f"{entry / MANIFEST}: expected a list of file names")
        files = [entry / n for n in names]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(", ".join(missing))
        return files

    @classmethod
    def _readable(cls, entry: Path) -> bool:
        try:
            cls._files(entry)
            return True
        except (OSError, ValueError):
            return False

    def _remove(self, entry: Path) -> None:
        """Remove an entry: renamed first (atomic), so a reader never sees it half removed."""
        gone = self.root / f".{entry.name}.{os.getpid()}.gone"
        try:
            os.rename(entry, gone)
        except OSError:
            return
        shutil.rmtree(gone, ignore_errors=True)

    def prune(self, max_bytes: int = MAX_BYTES, stale_s: float = 3600.0) -> None:
        """Remove the least recently used entries beyond ``max_bytes`` in all, and the temporary
        folders of writers that stopped more than ``stale_s`` ago. Never raises."""
        import time

        try:
            names = os.listdir(self.root)
        except OSError:
            return
        sized, now = [], time.time()
        for name in names:
            e = self.root / name
            try:
                st = e.stat()
                if name.startswith("."):
                    if now - st.st_mtime > stale_s:
                        shutil.rmtree(e, ignore_errors=True)
                    continue
                sized.append((st.st_mtime, sum(f.stat().st_size for f in e.iterdir()), e))
            except OSError:  # removed by another job meanwhile, or not a folder
                continue
        total = sum(size for _, size, _ in sized)
        for _, size, e in sorted(sized, key=lambda x: x[0]):
            if total <= max_bytes:
                break
            self._remove(e)
            total -= size


def cached_draw(store: FigureStore, name: str, inputs: Callable[[], tuple], dest: Path,
                draw: Callable[[], list[Path]], hits: Callable[[], None] | None = None) -> Callable[[], list[Path]]:
    """``draw`` behind the store: the figure's key from ``inputs()`` (called when the task runs);
    a stored entry is copied into ``dest`` (``hits()`` is called), else ``draw()`` runs and its files
    are stored."""
    def run() -> list[Path]:
        try:
            key = digest(code_fingerprint(), name, *inputs())
            got = store.fetch(key, dest)
        except Exception as exc:  # noqa: BLE001  (no key or no store: drawn, as without a cache)
            log.warning("figure %s: figure cache not used (%s: %s); drawn", name, type(exc).__name__, exc)
            return draw()
        if got is not None:
            if hits is not None:
                hits()
            return got
        out = draw()
        try:
            store.put(key, out)
        except Exception as exc:  # noqa: BLE001  (the figure is drawn; only its reuse is lost)
            log.warning("cannot store figure %s in the figure cache %s: %s", name, store.root, exc)
        return out
    return run
