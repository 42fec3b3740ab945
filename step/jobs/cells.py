"""Resumable study cells: a finished piece of ``make results`` is not redone.

A *cell* is one piece of the study for one dataset (its train/test job, its ablation). When a cell finishes, :class:`Cells` records under ``<out>/<dataset>/cells.json``
the cell's *key* and where its result is. The next study skips a cell whose key is unchanged and
whose result is still there, and says so in the log.

The key is a sha256 of everything that can change the cell's numbers:

- the resolved run configuration, less what cannot change what the cell writes (the results
  folder, the embedding cache folder and process count, torch threads) and what the cell does not
  read (a job does not read the ``ablation`` settings);
- the cell's own arguments (seeds, ablation seeds);
- the sha256 of the data file (:attr:`step.data.course.GeneTimeCourse.checksum`);
- the code: a sha256 of every ``.py`` file of the packages that compute the study (``step``,
  ``mrna``, ``mirna``, ``raw_data_conversion``, ``step_losses.py``), so any edit of the code
  redoes every cell (the table must come from one version of the code);
- the versions of the libraries whose numbers enter a result (:data:`NUMERIC_PACKAGES`).

``python -m step.study --force`` ignores the records and redoes every cell.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from step.outputs.runs import versions

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
CODE = ("step", "mrna", "mirna", "raw_data_conversion", "step_losses.py")
NUMERIC_PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "torch", "gensim", "statsforecast", "lightgbm",
                    "arch", "networkx")
# config settings that cannot change what the cell writes (section, field); None = the whole section
_NOT_RESULTS = (("output", "results_dir"), ("output", "figure_cache"), ("embedding", "cache_dir"),
                ("embedding", "processes"),
                ("train", "torch_threads"), ("train", "seed_workers"), ("baselines", "processes"))


@lru_cache(maxsize=1)
def code_fingerprint(root: Path = ROOT) -> str:
    """sha256 over the relative paths and bytes of the study's Python files under ``root``."""
    h = hashlib.sha256()
    for name in CODE:
        p = root / name
        files = [p] if p.is_file() else sorted(p.rglob("*.py")) if p.is_dir() else []
        for f in files:
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def result_settings(cfg_dict: dict[str, Any], ignore: tuple[str, ...] = ()) -> dict[str, Any]:
    """The resolved config less the settings that cannot change a number (:data:`_NOT_RESULTS`) and
    the sections ``ignore`` (those the cell does not read)."""
    d = json.loads(json.dumps(cfg_dict, default=str))
    for section, name in _NOT_RESULTS + tuple((s, None) for s in ignore):
        if name is None:
            d.pop(section, None)
        elif isinstance(d.get(section), dict):
            d[section].pop(name, None)
    return d


# config sections a cell does not read, by cell kind
_UNREAD = {"job": ("ablation",)}


def cell_key(kind: str, cfg, data_checksum: str, **args: Any) -> str:
    """The key of one cell: ``kind`` (``job``, ``ablation``), the run config ``cfg`` (a
    :class:`step.config.RunConfig`), the data file's sha256 and the cell's own ``args``."""
    blob = {"kind": kind, "config": result_settings(cfg.to_dict(), _UNREAD.get(kind, ())), "data": data_checksum,
            "args": args,
            "code": code_fingerprint(), "packages": versions(NUMERIC_PACKAGES)}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


class Cells:
    """The finished cells of one dataset's study folder ``folder`` (``folder/cells.json``)."""

    def __init__(self, folder: Path, force: bool = False) -> None:
        self.path = Path(folder) / "cells.json"
        self.force = force

    def _read(self) -> dict[str, dict]:
        if not self.path.is_file():
            return {}
        try:
            d = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable (%s); every cell of this dataset is redone", self.path, exc)
            return {}
        return d if isinstance(d, dict) else {}

    def finished(self, kind: str, key: str) -> Path | None:
        """The result of cell ``kind`` if it was finished with this ``key`` and is still there, else None."""
        if self.force:
            return None
        rec = self._read().get(kind)
        if not isinstance(rec, dict) or rec.get("key") != key:
            return None
        p = Path(rec.get("path", ""))
        return p if p.exists() else None

    def record(self, kind: str, key: str, path: Path, seconds: float) -> None:
        """Record cell ``kind`` as finished with ``key``, its result at ``path`` (atomic write)."""
        from step.io import write_json

        d = self._read()
        d[kind] = {"key": key, "path": str(path), "seconds": round(seconds, 1),
                   "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        write_json(self.path, d)
