"""A STEP dataset folder -> validated :class:`~step.data.course.GeneTimeCourse`.

The folder is what ``python -m raw_data_conversion.genome`` writes (its docstring has the
format): ``genes.tsv.gz``, ``expression.tsv.gz``, ``pairs.tsv.gz`` and ``dataset.json``.
Unlike the interaction CSV, each gene's series is stored once and genes without a Hi-C
partner are representable, so it scales to whole genomes. Uncompressed ``.tsv`` files are
accepted too.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from step.config import DataConfig
from step.data.course import GeneTimeCourse, check_times, numeric_column, parse_time_label, unique_display_names
from step.errors import InputError
from step.io import hash_parts

log = logging.getLogger(__name__)

GENE_COLUMNS = ["gene", "chromosome"]
PAIR_COLUMNS = ["gene1", "gene2", "hic"]
MISSING = {"", "NA", "NaN", "nan", "na"}


def _file(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.tsv.gz", f"{stem}.tsv"):
        if (folder / name).exists():
            return folder / name
    raise InputError(f"{folder}: no {stem}.tsv.gz (a STEP dataset folder has genes, expression and pairs tables; "
                     f"write one with python -m raw_data_conversion.genome).")


def _table(path: Path, required: list[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable tab-separated table ({exc}).") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} (found {', '.join(map(str, df.columns[:8]))}).")
    return df


def load_dataset_dir(folder: str | Path, cfg=None):
    """Read and check a dataset folder.

    Parameters
    ----------
    folder : the folder.
    cfg : :class:`step.config.DataConfig` (``allow_missing``, ``drop_empty_times``); None = defaults.

    Returns
    -------
    GeneTimeCourse with ``X [T, N]`` (genes in ``genes.tsv.gz`` order), ``pairs [P, 2]``.
    """
    cfg = cfg or DataConfig()
    folder = Path(folder)
    _check_meta(folder / "dataset.json")
    gpath, epath, ppath = _file(folder, "genes"), _file(folder, "expression"), _file(folder, "pairs")
    genes_df = _table(gpath, GENE_COLUMNS)
    names = _gene_names(genes_df, gpath)
    index = {g: i for i, g in enumerate(names)}
    notes: list[str] = []
    X, times_a = _expression(epath, gpath, names, cfg, notes)
    pairs, hic = _pairs(ppath, gpath, index, notes)
    comp = _compartments(genes_df, gpath, len(names))
    files = [p for p in (gpath, epath, ppath)]
    checksum = hash_parts(*[p.read_bytes() for p in files])
    course = GeneTimeCourse(
        genes=names, display=unique_display_names(names), times=times_a, X=X, pairs=pairs, hic=hic,
        chromosome=[str(c).removeprefix("chr") for c in genes_df["chromosome"]],
        bin=_gene_column(genes_df, "bin", gpath), compartment=comp.to_numpy(dtype=object),
        insulation=_gene_column(genes_df, "insulation", gpath),
        tad_distance=_gene_column(genes_df, "tad_distance", gpath), source=str(folder), checksum=checksum, notes=notes)
    isolated = int((course.degree() == 0).sum())
    if isolated:
        log.info("%s: %d gene(s) have no Hi-C partner (kept, isolated in the graphs)", folder, isolated)
    log.info("%s: %d genes, %d time points (%g .. %g), %d pairs", folder, len(names), len(times_a),
             times_a[0], times_a[-1], len(pairs))
    return course


def _check_meta(meta_path: Path) -> None:
    """Check ``dataset.json``, if there is one: a JSON object of a format and version this reads."""
    if not meta_path.exists():
        return
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{meta_path}: not valid JSON ({exc}).") from None
    if not isinstance(meta, dict):
        raise InputError(f"{meta_path}: expected a JSON object (keys format, version, ...), "
                         f"got a {type(meta).__name__}.")
    version = meta.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise InputError(f"{meta_path}: 'version' is {version!r}; expected a whole number (1).")
    if meta.get("format") not in (None, "step-dataset") or version > 1:
        raise InputError(f"{meta_path}: format {meta.get('format')!r} version {meta.get('version')} is not "
                         f"a STEP dataset this version reads (step-dataset, version 1).")


def _gene_names(genes_df: pd.DataFrame, gpath: Path) -> list[str]:
    """The genes table's names ``[N]``, stripped; blank or repeated names are errors."""
    names = genes_df["gene"].str.strip().tolist()
    blank = [i for i, g in enumerate(names) if not g]
    if blank:
        raise InputError(f"{gpath}: line {blank[0] + 2}, column 'gene': empty gene name.")
    dup = pd.Series(names).duplicated()  # after stripping: "A" and "A " are the same gene
    if dup.any():
        lines = [i + 2 for i in np.flatnonzero(dup.to_numpy())][:10]
        raise InputError(f"{gpath}: gene(s) listed twice (names compared without surrounding spaces): "
                         f"{', '.join(pd.Series(names)[dup].head(10))} (lines {lines}).")
    return names


def _expression(epath: Path, gpath: Path, names: list[str], cfg, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The expression table as ``X [T, N]`` and ``times [T]``, sorted by time and checked (:func:`check_times`)."""
    expr = _table(epath, ["gene"])
    time_cols = [c for c in expr.columns if c != "gene"]
    times_a = np.array([parse_time_label(c, epath, f"line 1, column {k + 2}",
                                         "columns after 'gene' are the time points in days")
                        for k, c in enumerate(time_cols)])
    if len(np.unique(times_a)) != len(times_a) or not np.isfinite(times_a).all():
        raise InputError(f"{epath}: line 1: time columns must be distinct finite numbers (got {', '.join(time_cols[:10])}).")
    egenes = expr["gene"].str.strip().tolist()
    if egenes != names:
        extra = sorted(set(egenes) - set(names))[:5]
        absent = sorted(set(names) - set(egenes))[:5]
        raise InputError(f"{epath}: its gene column must list the genes of {gpath.name} in the same order "
                         f"(not in genes: {extra}; missing: {absent}).")
    X = np.column_stack([numeric_column(expr, c, epath, True, 'line') for c in time_cols]) if time_cols else np.zeros((len(names), 0))
    order = np.argsort(times_a, kind="stable")
    times_a, X = times_a[order], X[:, order].T  # [T, N]
    labels = [time_cols[k] for k in order]
    return check_times(X, times_a, labels, names, cfg, epath, notes)


def _pairs(ppath: Path, gpath: Path, index: dict[str, int], notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The pairs table as ``pairs [P, 2]`` (``i < j``) and ``hic [P]``: known genes, no self-pairs, first of repeats."""
    pairs_df = _table(ppath, PAIR_COLUMNS)
    g1, g2 = pairs_df["gene1"].str.strip(), pairs_df["gene2"].str.strip()
    for col, s in (("gene1", g1), ("gene2", g2)):
        unknown = ~s.isin(index)
        if unknown.any():
            i = int(np.flatnonzero(unknown.to_numpy())[0])
            raise InputError(f"{ppath}: line {i + 2}, column '{col}': gene '{s.iloc[i]}' is not in {gpath.name} "
                             f"({int(unknown.sum())} such row(s)).")
    hic = numeric_column(pairs_df, "hic", ppath, False, "line")
    if (hic < 0).any():
        i = int(np.flatnonzero(hic < 0)[0])
        raise InputError(f"{ppath}: line {i + 2}, column 'hic': {hic[i]} is negative; contact values must be >= 0.")
    i = g1.map(index).to_numpy(np.int64)
    j = g2.map(index).to_numpy(np.int64)
    selfp = i == j
    if selfp.any():
        log.warning("%s: dropping %d self-pair row(s) (gene1 == gene2)", ppath, int(selfp.sum()))
        notes.append(f"dropped self-pairs: {int(selfp.sum())}")
    a, b = np.minimum(i, j)[~selfp], np.maximum(i, j)[~selfp]
    hic = hic[~selfp]
    key = a * len(index) + b
    uniq, first = np.unique(key, return_index=True)
    if len(uniq) < len(key):
        log.warning("%s: %d row(s) repeat a gene pair; keeping the first of each", ppath, len(key) - len(uniq))
        notes.append(f"duplicate pairs: {len(key) - len(uniq)} rows; first kept")
    pairs = np.column_stack([a[first], b[first]]).astype(np.int64).reshape(-1, 2)
    return pairs, hic[first]


def _compartments(genes_df: pd.DataFrame, gpath: Path, n: int) -> pd.Series:
    """The genes' compartments ``[N]`` (``A``, ``B`` or empty; all empty without the column)."""
    comp = (genes_df["compartment"].str.strip() if "compartment" in genes_df.columns
            else pd.Series([""] * n))
    bad = ~comp.isin(["A", "B", ""])
    if bad.any():
        k = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{gpath}: line {k + 2}, column 'compartment': '{comp.iloc[k]}' is not A or B (or empty).")
    return comp


def _gene_column(genes_df: pd.DataFrame, name: str, gpath: Path) -> np.ndarray:
    """A numeric per-gene column ``[N]`` of the genes table (all NaN without it)."""
    return numeric_column(genes_df, name, gpath, True, 'line') if name in genes_df.columns else np.full(len(genes_df), np.nan)
