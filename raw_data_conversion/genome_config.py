"""Settings of the genome-scale conversion (:mod:`raw_data_conversion.genome`) and small path helpers."""
from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from step.errors import InputError
from step.io import read_yaml_mapping


log = logging.getLogger("raw_data_conversion.genome")


FORMAT = "step-dataset"

VERSION = 1

_REPLICATE_SUFFIX = re.compile(r"^(.*?)(?:[_.\-](?:r|rep|R|Rep)?\d+)$")

@dataclass
class GenomeConfig:
    """Settings of one genome-scale conversion (CLI flags or a YAML with the same keys)."""

    matrix: str = ""
    genes: str = ""
    cool: str = ""
    samples: str | None = None
    gene_column: str | None = None  # default: the matrix's first column
    bin_size: int | None = None  # expected cooler bin size (error if it differs); picks the .mcool level
    balance: str | bool = "auto"  # "auto": the "weight" column when present | true | false | a column name
    chromosomes: list[str] | None = None  # default: every cooler chromosome that has genes
    k: int = 10  # partners chosen per gene
    min_oe: float = 0.0  # a pair needs O/E >= min_oe
    insulation_window_bins: int = 10  # diamond side for the insulation score, in bins
    ignore_diags: int = 2
    boundary_threshold: str | float = "Li"
    birth_embryonic_day: float = 21.0  # stage E<d> -> d - birth day (days relative to birth)

def load_genome_config(path: str | Path | None, overrides: dict[str, Any]) -> GenomeConfig:
    """A YAML (optional) plus CLI overrides (``None`` values ignored) -> :class:`GenomeConfig`."""
    data: dict[str, Any] = {}
    if path:
        data = read_yaml_mapping(path)
    data.update({k: v for k, v in overrides.items() if v is not None})
    names = {f.name for f in dataclasses.fields(GenomeConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"{path or 'options'}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}.")
    cfg = GenomeConfig(**data)
    for key in ("matrix", "genes", "cool"):
        if not getattr(cfg, key):
            raise InputError(f"{path or 'options'}: '{key}' is required (--{key}).")
    if int(cfg.k) < 1:
        raise InputError(f"{path or 'options'}: k must be >= 1 (got {cfg.k}).")
    if cfg.insulation_window_bins < 1:
        raise InputError(f"{path or 'options'}: insulation_window_bins must be >= 1.")
    if cfg.chromosomes is not None:
        cfg.chromosomes = [_chrom(c) for c in cfg.chromosomes]
    return cfg

def _chrom(name: Any) -> str:
    s = str(name).strip()
    return s[3:] if s.lower().startswith("chr") else s

def _sep(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    return "," if name.endswith(".csv") else "\t"

def _exists(path: str | Path, role: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: {role} file not found.")
    return p


def _time_name(t: float) -> str:
    return repr(float(t))


def _chrom_order(c: str) -> tuple[int, Any]:
    return (0, int(c)) if c.isdigit() else (1, c)
