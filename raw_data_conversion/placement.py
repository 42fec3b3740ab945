"""Putting genes on Hi-C bins.

* published: ``floor(start / step) * step`` snapped to the nearest label present in any map
  (the published code; genes past a map's end land in its last bin).
* corrected: a gene's mm9 position (its TSS from the mm9 TSS table, or its annotation start when
  the annotation is on the Hi-C assembly) divided by the bin size; genes that cannot be placed are
  returned with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from raw_data_conversion.annotation import TssTable, cleaned_name


@dataclass
class Placement:
    """Where one gene sits (``chrom`` None: not placed, ``reason`` says why)."""

    gene: str
    chrom: str | None = None
    start: float = float("nan")
    end: float = float("nan")
    source: str = ""  # "annotation" | "tss:<symbol> (<how>)"
    reason: str = ""


def published_bin(start: float, union_labels: np.ndarray, step: float) -> float:
    """``floor(start / step) * step``, snapped to the nearest of ``union_labels`` (ties: the lower)."""
    b = np.floor(start / step) * step
    return float(union_labels[int(np.argmin(np.abs(union_labels - b)))])


def resolve_symbol(name: str, symbol_map: dict[str, tuple[str, str]], tss: TssTable) -> tuple[str | None, str]:
    """TSS-table symbol for a panel name: the symbol table first, then the name, then the cleaned name
    (text before a double space or parenthesis), each case-insensitively.

    Returns ``(symbol, how)``, or ``(None, reason)``.
    """
    if name in symbol_map:
        sym, note = symbol_map[name]
        if not sym:
            return None, f"not placed on purpose (symbol table: {note})"
        if sym.lower() not in tss.sites:
            return None, f"symbol table maps it to '{sym}', which is not in the TSS table"
        return tss.symbols[sym.lower()], f"symbol table ({note})" if note else "symbol table"
    if name.lower() in tss.sites:
        return tss.symbols[name.lower()], "name"
    c = cleaned_name(name)
    if c and c.lower() in tss.sites:
        return tss.symbols[c.lower()], f"cleaned name '{c}'"
    return None, "no symbol of the TSS table matches the name (add it to the symbol table)"


def place_by_tss(name: str, symbol_map: dict[str, tuple[str, str]], tss: TssTable, chroms: set[str]) -> Placement:
    """Place a gene at its 5'-most TSS on the one Hi-C chromosome its symbol is on."""
    sym, how = resolve_symbol(name, symbol_map, tss)
    if sym is None:
        return Placement(gene=name, reason=how)
    sites = [s for s in tss.sites[sym.lower()] if s[0] in chroms]
    if not sites:
        where = sorted({s[0] for s in tss.sites[sym.lower()]})
        return Placement(gene=name, reason=f"{sym} has TSSs only on {', '.join(where)}, which have no Hi-C map")
    on = sorted({s[0] for s in sites})
    if len(on) > 1:
        return Placement(gene=name, reason=f"{sym} has TSSs on several chromosomes ({', '.join(on)})")
    plus = [p for _, p, st in sites if st == "+"]
    minus = [p for _, p, st in sites if st == "-"]
    pos = min(plus) if len(plus) >= len(minus) else max(minus)
    return Placement(gene=name, chrom=on[0], start=float(pos), end=float(pos), source=f"tss:{sym} ({how})")
