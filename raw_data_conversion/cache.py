"""Content-addressed cache of per-chromosome intermediate results.

An entry is an ``.npz`` named by the sha256 of everything it depends on (input file
checksums, the relevant config, a code version), so a changed input or setting simply
misses and recomputes; nothing is ever invalidated by hand.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np

from step.io import hash_parts, save_npz

log = logging.getLogger(__name__)

# bump when a feature function changes its output
CODE_VERSION = "preprocess-features-2"


class FeatureCache:
    """``get_or_compute(kind, key_parts, compute)`` -> dict of arrays; ``stats`` counts hits and misses."""

    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root else None
        self.stats = {"hits": 0, "misses": 0}

    def get_or_compute(self, kind: str, key_parts: list[Any], compute: Callable[[], dict[str, np.ndarray]]
                       ) -> tuple[dict[str, np.ndarray], bool]:
        """Return ``(arrays, hit)``; on a miss, ``compute()`` and store its arrays."""
        key = hash_parts(CODE_VERSION, kind, *key_parts)
        path = self.root / kind / f"{key[:32]}.npz" if self.root else None
        if path is not None and path.exists():
            try:
                with np.load(path, allow_pickle=False) as z:
                    arrays = {k: z[k] for k in z.files}
                self.stats["hits"] += 1
                return arrays, True
            except (OSError, ValueError) as exc:  # a damaged entry is recomputed
                log.warning("cache entry %s unreadable (%s); recomputing", path, exc)
        arrays = compute()
        self.stats["misses"] += 1
        if path is not None:
            save_npz(path, **arrays)
        return arrays, False
