"""Typed preprocessing configuration (``configs/preprocess/*.yaml``).

Every section is a dataclass with documented fields; unknown keys and bad values
are an :class:`~step.errors.InputError` naming the config file and the key.
Paths are relative to the working directory (the repository root).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from step.errors import InputError
from step.io import read_yaml_mapping


@dataclass
class ExpressionConfig:
    """The expression table and how its sample columns become time points."""

    path: str = "dataset/raw/expression/mRNAnorm.txt"
    kind: str = "table"  # "table": id column + samples | "nanostring": 4 annotation columns + samples
    id_column: str = "id"  # "Gene Name" for NanoString tables
    annotation_columns: list[str] = field(default_factory=list)  # non-sample columns besides the id
    # "label_mean": mean of the replicate columns sharing a numeric time label (mRNA)
    # "sample_order": every sample column its own time point 1, 2, ... in file order (published miRNA)
    # "stage_mean": labels parsed as developmental stages (E16.5, P0.5, p1, ...), replicates averaged,
    #               stages sorted by time; an all-empty column is dropped
    time_axis: str = "label_mean"
    birth_embryonic_day: float = 21.0  # stage E<d> -> d - birth_embryonic_day days (E16.5 -> -4.5)
    targets: str | None = None  # target_gene,mirna table: a target's value is the mean of its miRNAs


@dataclass
class GenesConfig:
    """Gene coordinates and how genes are put on Hi-C bins."""

    annotation: str = "dataset/annotation/gene_annotation.csv"
    annotation_assembly: str = "unknown"  # the assembly of gene_annotation.csv ("unknown": not mm9)
    tss: str = "dataset/annotation/mm9_tss_info.bed.gz"
    tss_assembly: str = "mm9"
    symbols: str | None = "dataset/annotation/gene_symbols_mm9.csv"  # panel name -> TSS-table symbol
    # "published": floor(start / label_step) * label_step snapped to the nearest label of any map
    # "auto": annotation coordinates when the annotation is on the Hi-C assembly, else the TSS table
    # "annotation" | "tss": force one source
    placement: str = "auto"


@dataclass
class HicConfig:
    """Hi-C contact maps, one per chromosome, and how their bin labels map to the genome."""

    format: str = "triplets"  # "triplets" (bin1 bin2 value text) | "cool" (.cool / .mcool::resolutions/N)
    path: str = "dataset/raw/hic_mESC_1mb/HindIII_mESC.nor.chr{chrom}_1mb_contact_map.txt"
    chromosomes: list[str] = field(default_factory=lambda: [str(i) for i in range(1, 20)] + ["X"])
    assembly: str = "mm9"
    chrom_sizes: str = "dataset/annotation/mm9.chrom.sizes"
    bin_size: int = 2_000_000
    # what a label x in the triplets stands for:
    # "start": bin [x, x + bin_size); "end": bin [x - bin_size, x);
    # "index": bin number x / label_step, i.e. [x / label_step * bin_size, + bin_size)
    labels: str = "index"
    label_step: float = 1_000_000
    layout: str = "full"  # "full": both triangles, must be symmetric | "upper": i <= j only
    min_extent: float = 0.95  # the last bin's end must reach this fraction of the chromosome (0: no check)
    balance: str | bool = False  # cool only: False (raw counts), True ("weight") or a weight column name


@dataclass
class FeaturesConfig:
    """Per-gene Hi-C features: insulation, TAD boundary distance, A/B compartment."""

    method: str = "standard"  # "standard" (cooltools) | "published" (the published code)
    # published
    window_bins: int = 5  # 2w x 2w diagonal window, 0 within w bins of either end, z-scored
    peak_distance: int = 5  # scipy.signal.find_peaks on minus insulation
    peak_prominence: float = 0.1
    sign_flip: list[str] = field(default_factory=list)  # chromosomes whose eigenvector sign is flipped
    # standard
    insulation_window_bp: int = 10_000_000  # diamond side (cooltools.insulation window_bp)
    ignore_diags: int = 2
    min_frac_valid_pixels: float = 0.66
    boundary_threshold: str | float = "Li"  # cooltools.insulation threshold: "Li", "Otsu" or a number
    n_eigs: int = 3
    clip_percentile: float = 99.9
    sort_metric: str | None = None  # cooltools eigs_cis sort_metric (None: E1 by eigenvalue)
    correlation: bool = False  # eigenvectors of the Pearson correlation of O/E (Lieberman-Aiden) instead


@dataclass
class PreprocessConfig:
    """One preprocessing run: raw inputs -> ``interaction_<dataset>.csv`` + ``report.json``."""

    dataset: str = "mrna"
    mode: str = "corrected"  # "published" | "corrected" (recorded in the report)
    expression: ExpressionConfig = field(default_factory=ExpressionConfig)
    genes: GenesConfig = field(default_factory=GenesConfig)
    hic: HicConfig = field(default_factory=HicConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    compare_with: str | None = None  # a published CSV to compare the output with (report only)
    compare_rows: int | None = None  # compare only its first N data rows (the genuine ones)
    cache_dir: str = ".cache/step/preprocess"
    source: str = ""  # the YAML file it came from

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("source")
        return d


_CHOICES = {
    ("expression", "kind"): {"table", "nanostring"},
    ("expression", "time_axis"): {"label_mean", "sample_order", "stage_mean"},
    ("genes", "placement"): {"published", "auto", "annotation", "tss"},
    ("hic", "format"): {"triplets", "cool"},
    ("hic", "labels"): {"start", "end", "index"},
    ("hic", "layout"): {"full", "upper"},
    ("features", "method"): {"standard", "published"},
    (None, "mode"): {"published", "corrected"},
}


def _check_type(f: dataclasses.Field, value: Any, key: str, source: str) -> None:
    """A value of the key's declared kind, for keys declared as one plain kind (``int``, ``float``,
    ``bool``, ``str``); keys that take several kinds are checked where they are used."""
    kinds = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,)}
    want = kinds.get(str(f.type).strip())
    if want is None:
        return
    if not isinstance(value, want) or (isinstance(value, bool) and str(f.type).strip() != "bool"):
        raise InputError(f"{source}: '{key}' is {value!r}; expected {'a number' if f.type in ('int', 'float') else f.type}"
                         f"{' (a whole number of base pairs, e.g. 2000000)' if key.endswith('bin_size') else ''}.")


def _build(cls, data: Any, where: str, source: str):
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise InputError(f"{source}: section '{where}' must be a mapping of keys to values.")
    names = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names or key == "source":
            raise InputError(
                f"{source}: unknown key '{where + '.' if where else ''}{key}'; "
                f"known keys: {', '.join(sorted(k for k in names if k != 'source'))}."
            )
        sub = {"expression": ExpressionConfig, "genes": GenesConfig, "hic": HicConfig, "features": FeaturesConfig}
        if cls is PreprocessConfig and key in sub:
            kwargs[key] = _build(sub[key], value, key, source)
        else:
            _check_type(names[key], value, f"{where + '.' if where else ''}{key}", source)
            kwargs[key] = value
    obj = cls(**kwargs)
    for (section, key), allowed in _CHOICES.items():
        if (section or "") == where and getattr(obj, key) not in allowed:
            raise InputError(
                f"{source}: '{(section + '.') if section else ''}{key}' is {getattr(obj, key)!r}; "
                f"expected one of {', '.join(sorted(allowed))}."
            )
    return obj


def load_config(path: str | Path) -> PreprocessConfig:
    """Read a preprocessing YAML into a :class:`PreprocessConfig`."""
    path = Path(path)
    data = read_yaml_mapping(path, "a mapping of sections")
    cfg = _build(PreprocessConfig, data, "", str(path))
    cfg.source = str(path)
    cfg.hic.chromosomes = [str(c) for c in cfg.hic.chromosomes]
    cfg.features.sign_flip = [str(c) for c in cfg.features.sign_flip]
    if cfg.hic.bin_size <= 0 or cfg.hic.label_step <= 0:
        raise InputError(f"{path}: hic.bin_size and hic.label_step must be positive.")
    if cfg.features.insulation_window_bp % cfg.hic.bin_size:
        raise InputError(
            f"{path}: features.insulation_window_bp ({cfg.features.insulation_window_bp}) must be a multiple "
            f"of hic.bin_size ({cfg.hic.bin_size})."
        )
    if cfg.expression.kind == "nanostring" and not cfg.expression.targets:
        raise InputError(f"{path}: expression.kind 'nanostring' needs expression.targets (the target table).")
    return cfg
