"""Regenerated vs published interaction CSV: the published-mode regression check."""
from __future__ import annotations

import numpy as np
import pandas as pd


def compare_tables(new: pd.DataFrame, published: pd.DataFrame, rtol: float = 1e-9, atol: float = 1e-9) -> dict:
    """Compare two interaction tables row by row (keyed by ``Gene1, Gene2``) and column by column.

    Compartments are compared up to one sign per chromosome: a chromosome whose labels are all
    swapped counts as ``flipped``, one with some labels swapped as ``mixed``.

    Returns a JSON-able dict: row counts, ``missing``/``extra`` pairs, ``same_order``,
    ``columns_equal``, per-column numeric mismatches, and per-chromosome compartment agreement.
    """
    key_new = list(zip(new.Gene1, new.Gene2))
    key_pub = list(zip(published.Gene1, published.Gene2))
    out: dict = {
        "rows_published": len(published),
        "rows_regenerated": len(new),
        "columns_equal": list(new.columns) == list(published.columns),
        "missing": [list(k) for k in key_pub if k not in set(key_new)],
        "extra": [list(k) for k in key_new if k not in set(key_pub)],
        "same_order": key_new == key_pub,
    }
    common = [k for k in key_pub if k in set(key_new)]
    a = new.set_index(["Gene1", "Gene2"]).loc[common]
    b = published.set_index(["Gene1", "Gene2"]).loc[common]
    mism: dict[str, int] = {}
    max_diff = 0.0
    for col in b.columns:
        if col not in a.columns or col.endswith("_Compartment"):
            continue
        if col.endswith("_Chromosome"):
            bad = int((a[col].astype(str) != b[col].astype(str)).sum())
        else:
            x = a[col].to_numpy(dtype=float)
            y = b[col].to_numpy(dtype=float)
            close = np.isclose(x, y, rtol=rtol, atol=atol) | (np.isnan(x) & np.isnan(y))
            bad = int((~close).sum())
            finite = np.isfinite(x) & np.isfinite(y)
            if finite.any():
                max_diff = max(max_diff, float(np.max(np.abs(x[finite] - y[finite]))))
        if bad:
            mism[col] = bad
    out["numeric_mismatches"] = mism
    out["max_abs_diff"] = max_diff
    chroms: dict[str, dict[str, int]] = {}
    for k in ("1", "2"):
        for c, x, y in zip(b[f"Gene{k}_Chromosome"].astype(str), a[f"Gene{k}_Compartment"], b[f"Gene{k}_Compartment"]):
            d = chroms.setdefault(c, {"same": 0, "swapped": 0})
            d["same" if x == y else "swapped"] += 1
    out["compartments"] = {
        c: ("same" if d["swapped"] == 0 else "flipped" if d["same"] == 0 else "mixed") for c, d in sorted(chroms.items())
    }
    out["compartments_up_to_sign"] = all(v != "mixed" for v in out["compartments"].values())
    out["identical"] = (not out["missing"] and not out["extra"] and out["same_order"] and out["columns_equal"]
                        and not mism and all(v == "same" for v in out["compartments"].values()))
    return out
