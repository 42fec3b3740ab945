"""Genome-scale conversion: expression matrix + sample sheet + gene annotation + Hi-C cooler
-> a STEP dataset folder (``step/dataset_dir.py`` reads it; both jobs take ``--data DIR``).

(Size: ~760 lines: readers, cooler access, partner selection, writing and the CLI in one
module. Splitting it along those lines is open work of the code-health issue, planned together
with the chunked cooltools conversion of the Hi-C issue, which rewrites the cooler half.)

    python -m raw_data_conversion.genome --matrix expression.tsv --samples samples.tsv \
        --genes genes.bed --cool contacts.mcool::resolutions/100000 --out dataset/mine

Inputs
------
* ``--matrix``: genes x samples, tab- (``.tsv``/``.txt``) or comma-separated (``.csv``), may be
  gzipped; the first column (or ``--gene-column``) holds the gene names, every other column is a
  sample. Duplicate gene or sample names are an error.
* ``--samples``: sample sheet with columns ``sample`` and ``time`` (days; any other column is
  ignored). Replicates (samples sharing a time) are averaged. Samples of the sheet missing from the
  matrix are an error; matrix columns not in the sheet are dropped and logged. Without a sheet each
  column header is its time: ``<time>`` or ``<time>_<replicate>`` with ``<time>`` a number of days or
  a stage (``E16.5``, ``P3``).
* ``--genes``: BED (chrom, start, end, name[, score, strand]; the TSS is ``start`` on ``+`` and
  ``end - 1`` on ``-``) or GTF (``.gtf``/``.gtf.gz``: ``gene`` records, ``gene_name`` else
  ``gene_id``). Matrix genes absent from it are dropped and logged.
* ``--cool``: ``.cool`` or ``.mcool::resolutions/N`` (an ``.mcool`` without ``::`` takes
  ``--bin-size``). Balanced weights are used when present (``--balance``).

Pairs: cis (same-chromosome) only. For each gene, its ``k`` partners with the highest
observed/expected contact between their bins (expected = mean of the contact diagonal at that
distance), ties broken by genomic distance then name order; a pair is kept when either gene chose
it and its O/E is positive and at least ``--min-oe``. Same-bin pairs are candidates like any other.
Genes in bins without contacts keep their expression and features but get no pairs (logged).

Output folder (written to a temporary folder and renamed into place)
-------------------------------------------------------------------
``genes.tsv.gz`` (gene, chromosome, tss, bin, compartment, insulation, tad_distance),
``expression.tsv.gz`` (gene, then one column per time, named by the time in days, replicates
averaged), ``pairs.tsv.gz`` (gene1, gene2, hic = O/E, observed, distance_bp) and ``dataset.json``
(format, times, counts of everything kept and dropped and why, input checksums, settings).
"""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import io
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from raw_data_conversion import features, hic
from raw_data_conversion.expression import STAGE_RE
from step.logs import setup_logging
from step.errors import InputError
from step.io import file_sha256, read_yaml_mapping

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


# --------------------------------------------------------------------------- expression


@dataclass
class Expression:
    """Replicate-averaged expression. ``X [N, T]``, ``times [T]`` sorted."""

    genes: list[str]
    times: np.ndarray
    X: np.ndarray
    counts: dict[str, Any] = field(default_factory=dict)


def _read_table(path: Path, sep: str, header: bool, role: str) -> pd.DataFrame:
    """A delimited text table as strings (quoting honoured); a malformed file is an InputError."""
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_filter=False,
                           header=0 if header else None, index_col=False, comment=None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, EOFError, OSError) as exc:
        raise InputError(f"{path}: not a readable {role} ({type(exc).__name__}: {exc}); expected "
                         f"{'tab' if sep == chr(9) else 'comma'}-separated columns, the same number on every line.") from None


def read_matrix(path: str | Path, gene_column: str | None) -> tuple[list[str], list[str], np.ndarray]:
    """Genes x samples table -> ``(genes, samples, V [N, S])``; blanks/NA are NaN.

    Raises InputError for duplicate gene or sample names, ragged lines and non-numeric or
    infinite cells (file, line, column).
    """
    path = _exists(path, "expression matrix")
    sep = _sep(path)
    raw = _read_table(path, sep, header=False, role="expression matrix")
    if raw.empty:
        raise InputError(f"{path}: line 1: empty file; expected a gene column and one column per sample.")
    head = [str(c).strip().lstrip("\ufeff") for c in raw.iloc[0]]
    gcol = gene_column or head[0]
    if gcol not in head:
        raise InputError(f"{path}: line 1: no gene column '{gcol}' (columns: {', '.join(head[:8])} ...).")
    samples = [c for c in head if c != gcol]
    if "" in samples:
        raise InputError(f"{path}: line 1, column {head.index('') + 1}: empty sample name; every column needs a header.")
    dup = sorted({c for c in samples if samples.count(c) > 1})
    if dup:
        raise InputError(f"{path}: line 1: duplicate sample column name(s) {', '.join(dup[:10])}; each sample needs its own name.")
    if not samples:
        raise InputError(f"{path}: line 1: no sample columns besides the gene column '{gcol}'.")
    df = raw.iloc[1:].reset_index(drop=True)
    df.columns = head
    genes = df[gcol].str.strip().tolist()
    blank = [i for i, g in enumerate(genes) if not g]
    if blank:
        raise InputError(f"{path}: line {blank[0] + 2}, column '{gcol}': empty gene name.")
    seen: dict[str, int] = {}
    dups: list[str] = []
    for i, g in enumerate(genes):
        if g in seen:
            dups.append(f"{g} (lines {seen[g] + 2} and {i + 2})")
        else:
            seen[g] = i
    if dups:
        raise InputError(f"{path}: {len(dups)} duplicate gene name(s): {'; '.join(dups[:10])}"
                         f"{' ...' if len(dups) > 10 else ''}; each gene must appear once (sum or pick them before converting).")
    V = np.empty((len(genes), len(samples)))
    for k, s in enumerate(samples):
        cells = df[s].str.strip()
        missing = cells.isin(["", "NA", "NaN", "nan", "na"])
        vals = pd.to_numeric(cells.where(~missing, "nan"), errors="coerce")
        bad = vals.isna() & ~missing
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path}: line {i + 2}, column '{s}': value '{cells.iloc[i]}' is not a number.")
        V[:, k] = vals.to_numpy(float)
        inf = np.isinf(V[:, k])
        if inf.any():
            i = int(np.flatnonzero(inf)[0])
            raise InputError(f"{path}: line {i + 2}, column '{s}': value '{cells.iloc[i]}' is infinite.")
    return genes, samples, V


def _header_time(label: str, birth: float, path: Path, column: int) -> float:
    text = label
    for candidate in (label, (_REPLICATE_SUFFIX.match(label) or [None, None])[1]):
        if candidate is None:
            continue
        m = STAGE_RE.match(candidate)
        if m:
            day = float(m.group(2))
            return day - birth if m.group(1) in "Ee" else day
        try:
            t = float(candidate)
        except ValueError:
            continue
        if np.isfinite(t):
            return t
    raise InputError(
        f"{path}: line 1, column {column}: sample '{text}' has no time label (expected <time> or <time>_<replicate> with "
        f"<time> a number of days or a stage like E16.5 / P3); or give a sample sheet (--samples) with columns sample,time."
    )


def sample_times(samples: list[str], sheet: str | None, matrix_path: Path, birth: float
                 ) -> tuple[np.ndarray, list[str]]:
    """Time of every matrix sample column (NaN = not used) and the names of the unused columns."""
    if sheet is None:
        return np.array([_header_time(s, birth, matrix_path, k + 2) for k, s in enumerate(samples)]), []
    sp = _exists(sheet, "sample sheet")
    df = _read_table(sp, _sep(sp), header=True, role="sample sheet")
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    for col in ("sample", "time"):
        if col not in df.columns:
            raise InputError(f"{sp}: line 1: missing column '{col}' (expected columns sample and time; found {', '.join(df.columns)}).")
    names = df["sample"].str.strip().tolist()
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"{sp}: sample(s) {', '.join(dup[:10])} listed more than once.")
    t = pd.to_numeric(df["time"].str.strip(), errors="coerce").to_numpy(float)
    if not np.isfinite(t).all():
        i = int(np.flatnonzero(~np.isfinite(t))[0])
        raise InputError(f"{sp}: line {i + 2}, column 'time': '{df['time'].iloc[i]}' is not a number of days.")
    in_matrix = set(samples)
    absent = [n for n in names if n not in in_matrix]
    if absent:
        raise InputError(f"{sp}: {len(absent)} sample(s) of the sheet are not columns of {matrix_path}: "
                         f"{', '.join(absent[:10])}{' ...' if len(absent) > 10 else ''}.")
    time_of = dict(zip(names, t))
    times = np.array([time_of.get(s, np.nan) for s in samples])
    unused = [s for s in samples if s not in time_of]
    return times, unused


def read_expression(cfg: GenomeConfig) -> Expression:
    """Matrix + sample sheet -> replicate means ``X [N, T]`` (NaN where every replicate is missing)."""
    mpath = Path(cfg.matrix)
    genes, samples, V = read_matrix(mpath, cfg.gene_column)
    times, unused = sample_times(samples, cfg.samples, mpath, cfg.birth_embryonic_day)
    if unused:
        log.warning("%s: %d sample column(s) not in the sample sheet, not used: %s", mpath, len(unused), unused[:10])
    used = np.isfinite(times)
    uniq = np.unique(times[used])
    if len(uniq) < 3:
        raise InputError(f"{mpath}: only {len(uniq)} distinct time point(s); forecasting needs at least 3.")
    X = np.full((len(genes), len(uniq)), np.nan)
    reps = []
    for k, t in enumerate(uniq):
        block = V[:, used & (times == t)]
        reps.append(block.shape[1])
        with np.errstate(all="ignore"):
            ok = np.isfinite(block).sum(axis=1) > 0
            X[ok, k] = np.nanmean(block[ok], axis=1)
    n_missing = int(np.isnan(V[:, used]).sum())
    if n_missing:
        log.warning("%s: %d empty expression cell(s); replicate means use the others (NaN where none)", mpath, n_missing)
    counts = {"genes_in_matrix": len(genes), "samples_in_matrix": len(samples), "samples_used": int(used.sum()),
              "samples_not_in_sheet": unused, "time_points": len(uniq), "replicates_per_time": reps,
              "empty_cells": n_missing}
    log.info("%s: %d genes x %d samples -> %d time points (%g .. %g), %d-%d replicates each", mpath, len(genes),
             len(samples), len(uniq), uniq[0], uniq[-1], min(reps), max(reps))
    return Expression(genes=genes, times=uniq, X=X, counts=counts)


# --------------------------------------------------------------------------- annotation


def read_gene_positions(path: str | Path) -> pd.DataFrame:
    """BED or GTF -> DataFrame ``gene, chromosome (no chr), tss[, gene_id]`` (first record of a name kept).

    A GTF gives both names of a gene: ``gene`` (``gene_name``, else ``gene_id``) and ``gene_id``
    without its version suffix; :func:`convert` joins the matrix on whichever matches more genes.
    """
    p = _exists(path, "gene annotation")
    name_l = p.name.lower().removesuffix(".gz")
    if name_l.endswith((".gff", ".gff3")):
        raise InputError(f"{p}: GFF3 is not read (its attributes differ from GTF's); give a GTF (.gtf) or a BED of TSSs.")
    is_gtf = name_l.endswith(".gtf")
    opener = gzip.open if p.name.endswith(".gz") else open
    keep: list[str] = []
    try:
        with opener(p, "rt") as fh:  # drop comment/track lines (and, in a GTF, every non-gene record)
            for line in fh:
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                if is_gtf and line.split("\t", 3)[2:3] != ["gene"]:
                    continue
                keep.append(line)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not a readable text file ({exc}).") from None
    if not keep:
        raise InputError(f"{p}: no {'gene records (column 3 = gene)' if is_gtf else 'records'} in the annotation.")
    try:
        df = pd.read_csv(io.StringIO("".join(keep)), sep="\t", header=None, dtype=str, keep_default_na=False,
                         na_filter=False, quoting=3)
    except pd.errors.ParserError as exc:
        raise InputError(f"{p}: records with different numbers of tab-separated columns ({exc}).") from None
    ids = None
    if is_gtf:
        if df.shape[1] < 9:
            raise InputError(f"{p}: a GTF needs 9 tab-separated columns; found {df.shape[1]}.")
        attr = df[8]
        gid = attr.str.extract(r'gene_id "([^"]+)"')[0]
        name = attr.str.extract(r'gene_name "([^"]+)"')[0].fillna(gid)
        if name.isna().any():
            i = int(np.flatnonzero(name.isna().to_numpy())[0])
            raise InputError(f"{p}: gene record {i + 1} has neither gene_name nor gene_id in column 9.")
        ids = gid.fillna(name).str.replace(r"\.\d+$", "", regex=True)
        start = pd.to_numeric(df[3], errors="coerce")
        end = pd.to_numeric(df[4], errors="coerce")
        strand = df[6]
        tss = np.where(strand == "-", end - 1, start - 1)  # GTF is 1-based, closed
        chrom, bad_pos = df[0], start.isna() | end.isna()
    else:
        if df.shape[1] < 4:
            raise InputError(f"{p}: a BED gene annotation needs at least 4 columns (chrom start end name[ score strand]); "
                             f"found {df.shape[1]}.")
        start = pd.to_numeric(df[1], errors="coerce")
        end = pd.to_numeric(df[2], errors="coerce")
        strand = df[5] if df.shape[1] >= 6 else pd.Series("+", index=df.index)
        tss = np.where(strand == "-", end - 1, start)
        chrom, name, bad_pos = df[0], df[3], start.isna() | end.isna()
    if bad_pos.any():
        i = int(np.flatnonzero(bad_pos.to_numpy())[0])
        raise InputError(f"{p}: record {i + 1} ({name.iloc[i]}): start/end are not integers.")
    out = pd.DataFrame({"gene": name.str.strip().to_numpy(), "chromosome": [_chrom(c) for c in chrom],
                        "tss": np.asarray(tss, dtype=np.int64)})
    if ids is not None:
        out["gene_id"] = ids.to_numpy()
    if (out["tss"] < 0).any():
        i = int(np.flatnonzero(out["tss"].to_numpy() < 0)[0])
        raise InputError(f"{p}: record {i + 1} ({out['gene'].iloc[i]}): negative position.")
    return out


def _by_name(ann: pd.DataFrame, key: str, path: str) -> pd.DataFrame:
    """The annotation indexed by ``key``; repeated names keep their first record (logged)."""
    dup = ann[key].duplicated()
    if dup.any():
        log.warning("%s: %d repeated gene name(s) in column %s (e.g. %s): the first record of each is used", path,
                    int(dup.sum()), key, ", ".join(ann.loc[dup, key].head(5)))
    return ann[~dup].set_index(key)


# --------------------------------------------------------------------------- Hi-C


def open_cooler(uri: str, bin_size: int | None):
    """A ``cooler.Cooler``; ``.mcool`` without ``::`` picks ``bin_size``; the bin size is checked."""
    import cooler

    path = uri.split("::")[0]
    _exists(path, "Hi-C cooler")
    if "::" not in uri and cooler.fileops.is_multires_file(path):
        levels = sorted(int(c.rstrip("/").rsplit("/", 1)[-1]) for c in cooler.fileops.list_coolers(path)
                        if c.rstrip("/").rsplit("/", 1)[-1].isdigit())
        if bin_size is None:
            raise InputError(f"{path}: a multi-resolution cooler; choose one with {path}::resolutions/N or --bin-size "
                             f"(resolutions: {', '.join(map(str, levels))}).")
        if bin_size not in levels:
            raise InputError(f"{path}: no resolution {bin_size} (has {', '.join(map(str, levels))}).")
        uri = f"{path}::resolutions/{bin_size}"
    try:
        clr = cooler.Cooler(uri)
    except Exception as exc:  # cooler raises several types for bad files/URIs
        raise InputError(f"{uri}: not a readable cooler ({exc}); for .mcool give FILE.mcool::resolutions/<bin size>.") from None
    if clr.binsize is None:
        raise InputError(f"{uri}: a cooler with variable-size bins; expected fixed bins.")
    if bin_size is not None and clr.binsize != bin_size:
        raise InputError(f"{uri}: bin size {clr.binsize:,} bp but {bin_size:,} bp was expected (bin_size).")
    return clr


def _weight(clr, balance: str | bool, uri: str) -> str | bool:
    cols = list(clr.bins().columns)
    if balance == "auto":
        return "weight" if "weight" in cols else False
    if balance is True or balance == "true":
        balance = "weight"
    if balance and balance not in cols:
        raise InputError(f"{uri}: no bin weight column '{balance}' (balance); balance the cooler "
                         f"(cooler balance) or set balance: false / auto.")
    return balance or False


def expected_cis(M: np.ndarray) -> np.ndarray:
    """Mean contact at each diagonal offset over valid pixels, ``[B]`` (NaN where none)."""
    n = M.shape[0]
    out = np.full(n, np.nan)
    for d in range(n):
        v = np.diagonal(M, d)
        v = v[np.isfinite(v)]
        if v.size:
            out[d] = v.mean()
    return out


def top_partners(oe: np.ndarray, pos: np.ndarray, k: int, min_oe: float, chunk: int = 1024
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Each gene's ``k`` best partners on one chromosome.

    Parameters
    ----------
    oe : ``[G, G]`` O/E between the genes' bins of one chromosome (NaN where unknown).
    pos : ``[G]`` TSS positions (tie-break: nearer first, then lower index).

    Returns
    -------
    ``(i [P], j [P])`` chooser and chosen gene indices (``i != j``, ``oe >= min_oe`` and ``oe > 0``:
    bins that never touched are not partners, so a gene may get fewer than ``k``).
    """
    G = oe.shape[0]
    kk = min(k, G - 1)
    if kk <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ii, jj = [], []
    for lo in range(0, G, chunk):
        rows = np.arange(lo, min(G, lo + chunk))
        S = oe[rows].copy()
        S[np.arange(len(rows)), rows] = np.nan
        S[~((S >= min_oe) & (S > 0))] = np.nan  # no contact is no pair; NaN stays NaN
        dist = np.abs(pos[rows][:, None] - pos[None, :])
        by_dist = np.argsort(dist, axis=1, kind="stable")
        S1 = np.take_along_axis(S, by_dist, axis=1)
        order = np.argsort(-np.nan_to_num(S1, nan=-np.inf), axis=1, kind="stable")[:, :kk]
        chosen = np.take_along_axis(by_dist, order, axis=1)
        ok = np.isfinite(np.take_along_axis(S1, order, axis=1))
        r = np.repeat(rows[:, None], kk, axis=1)
        ii.append(r[ok])
        jj.append(chosen[ok])
    return np.concatenate(ii), np.concatenate(jj)


@dataclass
class ChromResult:
    """Per-chromosome outputs: gene features and chosen pairs (indices into the chromosome's genes)."""

    bins: np.ndarray
    compartment: np.ndarray
    insulation: np.ndarray
    tad_distance: np.ndarray
    i: np.ndarray
    j: np.ndarray
    oe: np.ndarray
    observed: np.ndarray
    bins_without_contacts: int
    boundaries: int


def convert_chromosome(M: np.ndarray, pos: np.ndarray, bin_size: int, density: np.ndarray, cfg: GenomeConfig
                       ) -> ChromResult:
    """Features and top-k O/E pairs of the genes at ``pos [G]`` on a chromosome with contacts ``M [B, B]``."""
    bins = (pos // bin_size).astype(np.int64)
    ins, n_valid = features.diamond_insulation(M, cfg.insulation_window_bins, cfg.ignore_diags)
    bounds, _ = features.insulation_boundaries(ins, n_valid, 0.66, cfg.boundary_threshold)
    _, eigvecs = features.compartments(M, density, 1, cfg.ignore_diags, solver="arpack")
    e1 = eigvecs[0]
    exp = expected_cis(M)
    dist_bins = np.abs(bins[:, None] - bins[None, :])
    with np.errstate(all="ignore"):
        obs = M[np.ix_(bins, bins)]
        oe = obs / exp[dist_bins]
    oe[~np.isfinite(oe)] = np.nan
    i, j = top_partners(oe, pos, cfg.k, cfg.min_oe)
    return ChromResult(
        bins=bins, compartment=features.labels_ab(e1[bins]), insulation=ins[bins],
        tad_distance=features.boundary_distance(bins, bounds), i=i, j=j, oe=oe[i, j], observed=obs[i, j],
        bins_without_contacts=int((~np.isfinite(np.diag(M))).sum()), boundaries=int(len(bounds)))


# --------------------------------------------------------------------------- the conversion


@dataclass
class Dataset:
    """What :func:`convert` produced, ready to write."""

    genes: pd.DataFrame
    expression: pd.DataFrame
    pairs: pd.DataFrame
    meta: dict[str, Any]


def convert(cfg: GenomeConfig) -> Dataset:
    """Read, check and join the inputs; features and pairs per chromosome."""
    expr = read_expression(cfg)
    ann = read_gene_positions(cfg.genes)
    clr = open_cooler(cfg.cool, cfg.bin_size)
    weight = _weight(clr, cfg.balance, cfg.cool)
    bin_size = int(clr.binsize)
    cool_names = {_chrom(n): n for n in clr.chromnames}
    sizes = {_chrom(n): int(s) for n, s in clr.chromsizes.items()}

    pos_of = _by_name(ann, "gene", cfg.genes)
    if "gene_id" in ann:  # GTF: join on gene names or on (unversioned) gene ids, whichever matches more
        by_id = _by_name(ann, "gene_id", cfg.genes)
        stripped = {g: re.sub(r"\.\d+$", "", g) for g in expr.genes}
        n_name = sum(g in pos_of.index for g in expr.genes)
        n_id = sum(stripped[g] in by_id.index for g in expr.genes)
        if n_id > n_name:
            log.info("%s: matrix genes matched by gene_id (%d) rather than gene_name (%d)", cfg.genes, n_id, n_name)
            pos_of = by_id.loc[[stripped[g] for g in expr.genes if stripped[g] in by_id.index]]
            pos_of.index = [g for g in expr.genes if stripped[g] in by_id.index]
    pos_of = pos_of.drop(columns=[c for c in ("gene", "gene_id") if c in pos_of.columns])
    pos_of.index.name = "gene"  # genes keep the matrix's names
    in_ann = [g for g in expr.genes if g in pos_of.index]
    no_ann = [g for g in expr.genes if g not in pos_of.index]
    if not in_ann:
        raise InputError(f"{cfg.genes}: none of the {len(expr.genes)} genes of {cfg.matrix} is in the annotation "
                         f"(e.g. {', '.join(expr.genes[:3])} vs {', '.join(map(str, ann['gene'].head(3)))}); "
                         f"the names must match exactly (symbols vs Ensembl ids?).")
    if no_ann:
        log.warning("%s: %d of %d matrix gene(s) are not in the annotation %s and are dropped: %s%s", cfg.matrix,
                    len(no_ann), len(expr.genes), cfg.genes, ", ".join(no_ann[:10]), " ..." if len(no_ann) > 10 else "")
    ann_chroms = set(pos_of.loc[in_ann, "chromosome"])
    shared = ann_chroms & set(cool_names)
    if not shared:
        raise InputError(f"{cfg.cool}: none of the annotation's chromosomes ({', '.join(sorted(ann_chroms)[:8])}) is in "
                         f"the cooler ({', '.join(clr.chromnames[:8])}); different assemblies or naming?")
    chroms = cfg.chromosomes if cfg.chromosomes is not None else sorted(shared, key=_chrom_order)
    missing = [c for c in chroms if c not in cool_names]
    if missing:
        raise InputError(f"{cfg.cool}: chromosome(s) {', '.join(missing)} (chromosomes) are not in the cooler "
                         f"(has {', '.join(clr.chromnames)}).")
    sub = pos_of.loc[in_ann]
    beyond = sub[sub["chromosome"].isin(chroms) & (sub["tss"] >= sub["chromosome"].map(sizes).fillna(np.inf))]
    if len(beyond):
        g = beyond.index[0]
        raise InputError(
            f"{cfg.genes}: {len(beyond)} gene(s) lie beyond the end of their chromosome in {cfg.cool} (e.g. {g} at "
            f"chr{beyond.loc[g, 'chromosome']}:{int(beyond.loc[g, 'tss']):,}, chromosome length "
            f"{sizes[beyond.loc[g, 'chromosome']]:,} bp): the annotation and the cooler are on different assemblies."
        )
    off = [g for g in in_ann if sub.loc[g, "chromosome"] not in chroms]
    if off:
        by = pd.Series([sub.loc[g, "chromosome"] for g in off]).value_counts()
        log.warning("%d gene(s) on chromosomes not used (not in the cooler or not selected) are dropped: %s", len(off),
                    ", ".join(f"chr{c}: {n}" for c, n in by.items()))
    keep = [g for g in in_ann if sub.loc[g, "chromosome"] in chroms]
    if not keep:
        raise InputError(f"{cfg.genes}: no gene of {cfg.matrix} lies on the chromosomes used ({', '.join(chroms)}).")
    row_of = {g: i for i, g in enumerate(expr.genes)}
    gtab = sub.loc[keep].reset_index()
    gtab["order"] = [_chrom_order(c) for c in gtab["chromosome"]]
    gtab = gtab.sort_values(["order", "tss", "gene"], kind="stable").drop(columns="order").reset_index(drop=True)

    comp = np.full(len(gtab), "", dtype=object)
    ins = np.full(len(gtab), np.nan)
    tad = np.full(len(gtab), np.nan)
    bins = np.zeros(len(gtab), np.int64)
    pi, pj, poe, pobs = [], [], [], []
    per_chrom: dict[str, dict] = {}
    for c in tqdm(chroms, desc="chromosomes", unit="chrom", disable=None):
        idx = np.flatnonzero(gtab["chromosome"].to_numpy() == c)
        if idx.size == 0:
            continue
        pos = gtab["tss"].to_numpy()[idx]
        M = hic.fetch_cis(clr, cool_names[c], weight)
        density = np.bincount(pos // bin_size, minlength=M.shape[0]).astype(float)[: M.shape[0]]
        r = convert_chromosome(M, pos, bin_size, density, cfg)
        comp[idx], ins[idx], tad[idx], bins[idx] = r.compartment, r.insulation, r.tad_distance, r.bins
        pi.append(idx[r.i]), pj.append(idx[r.j]), poe.append(r.oe), pobs.append(r.observed)
        per_chrom[c] = {"genes": int(idx.size), "bins": int(M.shape[0]), "bins_without_contacts": r.bins_without_contacts,
                        "tad_boundaries": r.boundaries, "pairs_chosen": int(r.i.size)}
    i, j = np.concatenate(pi), np.concatenate(pj)
    oe, obs = np.concatenate(poe), np.concatenate(pobs)
    a, b = np.minimum(i, j), np.maximum(i, j)
    key = a * len(gtab) + b
    _, first = np.unique(key, return_index=True)
    a, b, oe, obs = a[first], b[first], oe[first], obs[first]
    names = gtab["gene"].to_numpy()
    tss = gtab["tss"].to_numpy()
    pairs = pd.DataFrame({"gene1": names[a], "gene2": names[b], "hic": oe, "observed": obs,
                          "distance_bp": np.abs(tss[a] - tss[b])})
    deg = np.bincount(np.concatenate([a, b]), minlength=len(gtab))
    isolated = names[deg == 0]
    if isolated.size:
        log.warning("%d gene(s) have no Hi-C partner (bins without contacts, alone on a chromosome, or below min_oe); "
                    "kept as isolated genes: %s%s", isolated.size, ", ".join(isolated[:10]), " ..." if isolated.size > 10 else "")
    genes = pd.DataFrame({"gene": names, "chromosome": gtab["chromosome"], "tss": tss, "bin": bins,
                          "compartment": comp, "insulation": ins, "tad_distance": tad})
    X = expr.X[[row_of[g] for g in names]]
    expression = pd.DataFrame(X, columns=[_time_name(t) for t in expr.times])
    expression.insert(0, "gene", names)
    counts = {**expr.counts,
              "genes_not_in_annotation": len(no_ann), "genes_not_in_annotation_examples": no_ann[:20],
              "genes_on_unused_chromosomes": len(off), "genes_kept": int(len(gtab)),
              "genes_without_pairs": int(isolated.size), "pairs_chosen_directed": int(i.size),
              "pairs_kept": int(len(pairs)), "mean_partners_per_gene": round(float(deg.mean()), 3) if len(deg) else 0.0}
    meta = {"format": FORMAT, "version": VERSION, "times": [float(t) for t in expr.times], "counts": counts,
            "bin_size": bin_size, "balance": weight, "chromosomes": per_chrom,
            "settings": dataclasses.asdict(cfg)}
    log.info("kept %d genes (%d not in the annotation, %d on unused chromosomes, %d without a partner), %d pairs "
             "(k=%d, min_oe=%g, mean %.1f partners per gene)", len(gtab), len(no_ann), len(off), isolated.size,
             len(pairs), cfg.k, cfg.min_oe, counts["mean_partners_per_gene"])
    return Dataset(genes=genes, expression=expression, pairs=pairs, meta=meta)


def _time_name(t: float) -> str:
    return repr(float(t))


def _chrom_order(c: str) -> tuple[int, Any]:
    return (0, int(c)) if c.isdigit() else (1, c)


def write_dataset(ds: Dataset, out: str | Path, inputs: dict[str, str]) -> Path:
    """Write the folder atomically: a temporary sibling folder renamed onto ``out``.

    An existing ``out`` is replaced only if it is a STEP dataset folder (has ``dataset.json``) or empty.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "dataset.json").exists())):
        raise InputError(f"{out}: exists and is not a STEP dataset folder; choose another --out or remove it.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        opts = {"sep": "\t", "index": False, "compression": {"method": "gzip", "mtime": 0}}
        ds.genes.to_csv(tmp / "genes.tsv.gz", float_format="%.6g", **opts)
        ds.expression.to_csv(tmp / "expression.tsv.gz", float_format="%.8g", **opts)
        ds.pairs.to_csv(tmp / "pairs.tsv.gz", float_format="%.8g", **opts)
        meta = dict(ds.meta, inputs=inputs,
                    files={f: file_sha256(tmp / f) for f in ("genes.tsv.gz", "expression.tsv.gz", "pairs.tsv.gz")})
        (tmp / "dataset.json").write_text(json.dumps(meta, indent=2, default=_json) + "\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        for f in tmp.iterdir():
            os.chmod(f, 0o666 & ~umask)
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _json(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def run(cfg: GenomeConfig, out: str | Path) -> Path:
    """Convert and write; returns the folder."""
    ds = convert(cfg)
    inputs = {}
    for role, p in (("matrix", cfg.matrix), ("samples", cfg.samples), ("genes", cfg.genes), ("cool", cfg.cool)):
        if p:
            path = str(p).split("::")[0]
            inputs[role] = {"path": str(p), "sha256": file_sha256(path)}
    path = write_dataset(ds, out, inputs)
    log.info("wrote %s (genes.tsv.gz, expression.tsv.gz, pairs.tsv.gz, dataset.json)", path)
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m raw_data_conversion.genome",
                                description="Expression matrix + gene annotation + Hi-C cooler -> STEP dataset folder.")
    p.add_argument("--config", help="YAML with the same keys as the options (options override it)")
    p.add_argument("--matrix", help="genes x samples expression table (TSV/CSV, may be gzipped)")
    p.add_argument("--samples", help="sample sheet with columns sample,time (default: times from the matrix header)")
    p.add_argument("--genes", help="gene annotation: BED (TSS) or GTF")
    p.add_argument("--cool", help=".cool or .mcool::resolutions/N")
    p.add_argument("--out", required=True, help="output dataset folder")
    p.add_argument("--gene-column", help="name of the matrix's gene column (default: the first)")
    p.add_argument("--bin-size", type=int, help="expected bin size in bp (picks the .mcool resolution)")
    p.add_argument("--balance", help="auto (default), true, false or a weight column name")
    p.add_argument("--chromosomes", help="comma-separated chromosomes to use (default: all with genes)")
    p.add_argument("--k", type=int, help="Hi-C partners chosen per gene (default 10)")
    p.add_argument("--min-oe", type=float, help="minimum observed/expected contact of a pair (default 0)")
    p.add_argument("--csv", help="also write the dataset in the published interaction-CSV schema to this file")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    balance: Any = args.balance
    if balance in ("true", "false"):
        balance = balance == "true"
    overrides = {"matrix": args.matrix, "samples": args.samples, "genes": args.genes, "cool": args.cool,
                 "gene_column": args.gene_column, "bin_size": args.bin_size, "balance": balance,
                 "chromosomes": args.chromosomes.split(",") if args.chromosomes else None,
                 "k": args.k, "min_oe": args.min_oe}
    try:
        cfg = load_genome_config(args.config, overrides)
        run(cfg, args.out)
        if args.csv:
            write_interaction_csv(args.out, args.csv)
            log.info("wrote %s (interaction-CSV schema)", args.csv)
    except InputError as exc:
        log.error("%s", exc)
        return 1
    return 0



def write_interaction_csv(folder: str | Path, out: str | Path) -> Path:
    """A dataset folder in the published interaction-CSV schema (one row per pair, each gene's
    series repeated on every row it appears in; ``Gene<k>_Start`` = TSS, ``End`` = TSS + 1,
    ``Bin`` = bin index). For tools that read that schema; the folder is the compact form."""
    from raw_data_conversion.assemble import GeneRecord, interaction_table, write_csv
    from step.io import write_with
    from step.load import load_course

    course = load_course(folder)
    genes_df = pd.read_csv(Path(folder) / "genes.tsv.gz", sep="\t", dtype={"gene": str, "chromosome": str},
                           keep_default_na=False, na_values={"insulation": [""], "tad_distance": [""]})
    records = [GeneRecord(name=g, chrom=str(c), start=float(s), end=float(s) + 1, bin=float(b), compartment=str(k),
                          insulation=float(i) if i != "" else np.nan, tad_distance=float(t) if t != "" else np.nan)
               for g, c, s, b, k, i, t in zip(genes_df["gene"], genes_df["chromosome"], genes_df["tss"], genes_df["bin"],
                                              genes_df["compartment"], genes_df["insulation"], genes_df["tad_distance"])]
    pairs = [(int(a), int(b), float(h)) for (a, b), h in zip(course.pairs, course.hic)]
    table = interaction_table(records, course.X.T, course.times, pairs)
    return write_with(out, lambda tmp: write_csv(table, tmp))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
