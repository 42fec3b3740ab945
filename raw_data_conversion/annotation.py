"""Gene coordinates, mm9 TSS table, gene-name -> symbol table, chromosome sizes."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from raw_data_conversion.textio import parse_float, read_rows
from step.errors import InputError


def chrom_name(name: str) -> str:
    """Chromosome name without the ``chr`` prefix (``chr17`` -> ``17``), as in the interaction CSVs."""
    s = str(name).strip()
    return s[3:] if s.lower().startswith("chr") else s


def read_chrom_sizes(path: str | Path) -> dict[str, int]:
    """UCSC ``<assembly>.chrom.sizes``: ``chrom<TAB>length`` per line -> {``"1"``: length, ...}."""
    rows = read_rows(path, "whitespace", header=False, comment="#")
    out: dict[str, int] = {}
    for r, line in zip(rows.rows, rows.lines):
        if len(r) != 2:
            raise InputError(f"{rows.path}: line {line}: expected 'chrom length', got {len(r)} fields.")
        size = parse_float(r[1], rows.path, line, "length")
        if size <= 0 or size != int(size):
            raise InputError(f"{rows.path}: line {line}: length '{r[1]}' must be a positive integer.")
        out[chrom_name(r[0])] = int(size)
    return out


@dataclass
class GeneCoords:
    """Coordinates of named genes: ``{name: (chrom, start, end)}`` plus the source line of each."""

    path: Path
    coords: dict[str, tuple[str, float, float]]
    lines: dict[str, int]


def read_gene_annotation(path: str | Path, known_chroms: set[str]) -> GeneCoords:
    """``gene,chromosome,start,end`` (CSV). Unknown chromosomes, bad numbers, end < start, and
    conflicting duplicates are errors naming the line."""
    rows = read_rows(path, ",")
    need = ["gene", "chromosome", "start", "end"]
    for c in need:
        if c not in rows.header:
            raise InputError(f"{rows.path}: line 1: missing column '{c}' (expected header {','.join(need)}).")
    ig, ic, is_, ie = (rows.header.index(c) for c in need)
    coords: dict[str, tuple[str, float, float]] = {}
    lines: dict[str, int] = {}
    for r, line in zip(rows.rows, rows.lines):
        gene, chrom = r[ig], chrom_name(r[ic])
        if chrom not in known_chroms:
            raise InputError(
                f"{rows.path}: line {line}, column 'chromosome': unknown chromosome '{r[ic]}' for gene '{gene}' "
                f"(known: those of the chromosome sizes file)."
            )
        start = parse_float(r[is_], rows.path, line, "start")
        end = parse_float(r[ie], rows.path, line, "end")
        if end < start or start < 0:
            raise InputError(f"{rows.path}: line {line}: gene '{gene}' has start {start} and end {end}; need 0 <= start <= end.")
        if gene in coords and coords[gene] != (chrom, start, end):
            raise InputError(f"{rows.path}: line {line}: gene '{gene}' has other coordinates on line {lines[gene]}.")
        coords[gene] = (chrom, start, end)
        lines.setdefault(gene, line)
    return GeneCoords(Path(path), coords, lines)


@dataclass
class TssTable:
    """TSS positions by symbol (case-insensitive): ``{symbol_lower: [(chrom, tss, strand), ...]}``.

    ``symbols`` keeps the spelling of the table; ``chrom`` has no ``chr`` prefix.
    """

    path: Path
    sites: dict[str, list[tuple[str, int, str]]]
    symbols: dict[str, str]

    def first_tss(self, chrom: str) -> np.ndarray:
        """Each symbol's first (lowest) TSS on ``chrom``, int ``[G]``."""
        cache = self.__dict__.setdefault("_first", {})
        if chrom not in cache:
            firsts: dict[str, int] = {}
            for key, sites in self.sites.items():
                for c, p, _ in sites:
                    if c == chrom and (key not in firsts or p < firsts[key]):
                        firsts[key] = p
            cache[chrom] = np.fromiter(firsts.values(), dtype=np.int64, count=len(firsts))
        return cache[chrom]

    def density(self, chrom: str, n_bins: int, bin_size: int) -> np.ndarray:
        """Genes per bin ``[n_bins]``: each symbol counted once, at its first TSS on ``chrom``."""
        k = self.first_tss(chrom) // bin_size
        return np.bincount(k[k < n_bins], minlength=n_bins).astype(float)


def read_tss(path: str | Path) -> TssTable:
    """BED-like ``chrom start end symbol offset strand`` (tab, no header, may be gzipped).

    The TSS is ``start - offset`` on ``+`` and ``end + offset`` on ``-`` (offset -450 for the
    1.1 kb windows), clipped into the window. Rows without a symbol are skipped.
    """
    rows = read_rows(path, "\t", header=False)
    if rows.rows and len(rows.rows[0]) < 6:
        raise InputError(f"{rows.path}: line {rows.lines[0]}: expected 6 tab-separated fields (chrom start end symbol offset strand).")
    sites: dict[str, list[tuple[str, int, str]]] = {}
    symbols: dict[str, str] = {}
    for r, line in zip(rows.rows, rows.lines):
        chrom, sym, strand = chrom_name(r[0]), r[3], r[5]
        if not sym:
            continue
        start = parse_float(r[1], rows.path, line, "start")
        end = parse_float(r[2], rows.path, line, "end")
        off = parse_float(r[4], rows.path, line, "offset")
        if strand not in {"+", "-"}:
            raise InputError(f"{rows.path}: line {line}, column 6: strand '{strand}' must be + or -.")
        tss = start - off if strand == "+" else end + off
        tss = int(min(max(tss, start), end))
        key = sym.lower()
        sites.setdefault(key, []).append((chrom, tss, strand))
        symbols.setdefault(key, sym)
    return TssTable(Path(path), sites, symbols)


def read_symbol_map(path: str | Path | None) -> dict[str, tuple[str, str]]:
    """``name,symbol,note`` -> {name: (symbol, note)}; an empty symbol marks a name that is
    deliberately not placed (the note says why)."""
    if not path:
        return {}
    rows = read_rows(path, ",", comment="#")
    for c in ("name", "symbol", "note"):
        if c not in rows.header:
            raise InputError(f"{rows.path}: line 1: missing column '{c}' (expected header name,symbol,note).")
    i_n, i_s, i_o = (rows.header.index(c) for c in ("name", "symbol", "note"))
    out: dict[str, tuple[str, str]] = {}
    for r, line in zip(rows.rows, rows.lines):
        if r[i_n] in out:
            raise InputError(f"{rows.path}: line {line}: name '{r[i_n]}' is listed twice.")
        out[r[i_n]] = (r[i_s], r[i_o])
    return out


_CLEAN = re.compile(r"\s{2,}|\s*\(")


def cleaned_name(name: str) -> str:
    """The name before a double space or a parenthesis: ``"EGFR (Epidermal ...)"`` -> ``"EGFR"``."""
    return _CLEAN.split(name.strip())[0].strip()
