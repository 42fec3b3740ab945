"""Settings of the genome-scale conversion (:mod:`raw_data_conversion.genome`)."""
from __future__ import annotations

import dataclasses
import math
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from step.errors import InputError
from step.io import read_yaml_mapping


log = logging.getLogger("raw_data_conversion.genome")


FORMAT = "step-dataset"

VERSION = 1

#: compartments are called at the working resolution up to this many bins on the longest chromosome
DENSE_COMPARTMENT_BINS = 5_000

@dataclass
class GenomeConfig:
    """Settings of one genome-scale conversion (CLI flags or a YAML with the same keys)."""

    matrix: str = ""  # TSV/CSV genes x samples, or an AnnData .h5ad (samples x genes)
    genes: str = ""
    contacts: str = ""  # .cool, .mcool[::resolutions/N] or .hic (legacy keys: cool, hic)
    samples: str | None = None
    gene_column: str | None = None  # default: the matrix's first column
    gene_key: str | None = None  # .h5ad: the var column with gene names (default: var's index)
    time_key: str | None = None  # .h5ad: the obs column with each sample's time (required for .h5ad)
    layer: str | None = None  # .h5ad: a layer instead of X
    match_case: str = "exact"  # "exact" | "insensitive": how matrix genes meet annotation genes
    bin_size: int | None = None  # expected bin size (error if it differs); picks the .mcool / .hic level
    normalization: str = "auto"  # auto | none | ICE (cooler 'weight') | KR | VC | SCALE | a cooler weight column
    chromosomes: list[str] | None = None  # default: every contact-file chromosome that has genes
    k: int = 10  # partners chosen per gene
    min_oe: float = 0.0  # a pair needs O/E >= min_oe
    max_distance_bp: int | None = None  # farthest pair; None: max(2 Mb, 200 bins); 0: whole chromosomes
    compartment_bin_size: int | None = None  # compartments at this resolution; None: auto (compartment_resolution)
    chunk_pixels: int = 20_000_000  # pixel cells read per block (memory bound of the partner search)
    insulation_window_bins: int = 10  # diamond side for the insulation score, in bins
    ignore_diags: int = 2
    boundary_threshold: str | float = "Li"
    birth_embryonic_day: float = 21.0  # stage E<d> -> d - birth day (days relative to birth)

    def compartment_resolution(self, bin_size: int, longest_bp: int) -> int:
        """The resolution of the compartment call: ``compartment_bin_size`` when set, else the working
        one while the longest chromosome has at most ``DENSE_COMPARTMENT_BINS`` bins (its dense
        matrix, which ``cooltools.eigs_cis`` builds, stays under 200 MB), else 100 kb."""
        if self.compartment_bin_size:
            return int(self.compartment_bin_size)
        if -(-int(longest_bp) // int(bin_size)) <= DENSE_COMPARTMENT_BINS:
            return int(bin_size)
        return max(int(bin_size), 100_000)

    def max_bins(self, bin_size: int, chrom_bins: int) -> int:
        """The farthest pair distance in bins at ``bin_size`` (``chrom_bins`` = the longest chromosome)."""
        if self.max_distance_bp == 0:
            return int(chrom_bins)
        bp = self.max_distance_bp if self.max_distance_bp is not None else max(2_000_000, 200 * int(bin_size))
        return int(max(1, min(chrom_bins, bp // int(bin_size))))


#: legacy keys and their current names
_RENAMED = {"cool": "contacts", "hic": "contacts", "balance": "normalization"}


def _normalization(value: Any) -> str:
    if value is True or str(value).lower() == "true":
        return "weight"
    if value is False or str(value).lower() == "false":
        return "none"
    return str(value)


def load_genome_config(path: str | Path | None, overrides: dict[str, Any]) -> GenomeConfig:
    """A YAML (optional) plus CLI overrides (``None`` values ignored) -> :class:`GenomeConfig`."""
    data: dict[str, Any] = {}
    if path:
        data = read_yaml_mapping(path)
    data.update({k: v for k, v in overrides.items() if v is not None})
    for old, new in _RENAMED.items():
        if old in data:
            value = data.pop(old)
            if new in data and data[new] != value and not (new == "normalization" and value == "auto"):
                raise InputError(f"{path or 'options'}: both '{old}' and '{new}' are given; '{old}' is the old name of "
                                 f"'{new}', give one.")
            data.setdefault(new, value)
    names = {f.name for f in dataclasses.fields(GenomeConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"{path or 'options'}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}.")
    cfg = GenomeConfig(**data)
    for key, flag in (("matrix", "--matrix"), ("genes", "--genes"), ("contacts", "--contacts (or --cool / --hic)")):
        if not getattr(cfg, key):
            raise InputError(f"{path or 'options'}: '{key}' is required ({flag}).")
    cfg.normalization = _normalization(cfg.normalization)
    if cfg.match_case not in ("exact", "insensitive"):
        raise InputError(f"{path or 'options'}: match_case must be 'exact' or 'insensitive' (got {cfg.match_case!r}).")
    if int(cfg.k) < 1:
        raise InputError(f"{path or 'options'}: k must be >= 1 (got {cfg.k}).")
    if cfg.insulation_window_bins < 1:
        raise InputError(f"{path or 'options'}: insulation_window_bins must be >= 1.")
    if cfg.max_distance_bp is not None and int(cfg.max_distance_bp) < 0:
        raise InputError(f"{path or 'options'}: max_distance_bp must be >= 0 (0 = whole chromosomes).")
    if not math.isfinite(float(cfg.min_oe)) or float(cfg.min_oe) < 0:
        raise InputError(f"{path or 'options'}: min_oe must be a finite number >= 0 (got {cfg.min_oe}).")
    if int(cfg.chunk_pixels) < 1:
        raise InputError(f"{path or 'options'}: chunk_pixels must be >= 1.")
    if cfg.chromosomes is not None:
        cfg.chromosomes = [str(c).strip() for c in cfg.chromosomes]
    return cfg
