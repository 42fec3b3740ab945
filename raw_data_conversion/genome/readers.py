"""Readers of the genome-scale conversion: expression matrix, sample sheet, gene annotation (BED/GTF)."""
from __future__ import annotations

import gzip
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from raw_data_conversion.expression import stage_days
from raw_data_conversion.genome.common import REPLICATE_SUFFIX, existing, table_sep
from raw_data_conversion.genome.config import GenomeConfig
from step.config import DataConfig
from step.errors import InputError


log = logging.getLogger("raw_data_conversion.genome")


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
    path = existing(path, "expression matrix")
    sep = table_sep(path)
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
    for candidate in (label, (REPLICATE_SUFFIX.match(label) or [None, None])[1]):
        if candidate is None:
            continue
        t = stage_days(candidate, birth)
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
    sp = existing(sheet, "sample sheet")
    df = _read_table(sp, table_sep(sp), header=True, role="sample sheet")
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

def read_h5ad(cfg: GenomeConfig) -> tuple[list[str], list[str], np.ndarray, np.ndarray, list[str]]:
    """An AnnData ``.h5ad`` (samples x genes) -> ``(genes, samples, V [N, S], times [S], unused samples)``.

    Genes are ``var[gene_key]`` (default ``var_names``), samples ``obs_names``, each sample's time
    ``obs[time_key]`` (days or a stage) or a sample sheet; values from ``X`` or ``layers[layer]``.
    """
    import anndata

    path = existing(cfg.matrix, "expression matrix")
    try:
        ad = anndata.read_h5ad(path, backed=None)
    except Exception as exc:  # anndata/h5py raise several types for a bad file
        raise InputError(f"{path}: not a readable AnnData .h5ad ({type(exc).__name__}: {exc}).") from None
    if cfg.gene_key is None:
        genes = [str(g).strip() for g in ad.var_names]
    elif cfg.gene_key not in ad.var.columns:
        raise InputError(f"{path}: var has no column '{cfg.gene_key}' (--gene-key); var columns: "
                         f"{', '.join(map(str, ad.var.columns)) or 'none'} (default: the var index).")
    else:
        genes = [str(g).strip() for g in ad.var[cfg.gene_key]]
    dup = pd.Series(genes)[pd.Series(genes).duplicated()].unique().tolist()
    if dup:
        raise InputError(f"{path}: {len(dup)} duplicate gene name(s) in var{'[' + cfg.gene_key + ']' if cfg.gene_key else ' index'} "
                         f"(e.g. {', '.join(dup[:5])}); each gene must appear once (--gene-key picks another column).")
    if cfg.layer is None:
        M = ad.X
        if M is None or getattr(M, "ndim", 2) != 2 or tuple(M.shape) != (ad.n_obs, ad.n_vars):
            layers = ", ".join(ad.layers.keys()) or "none"
            raise InputError(f"{path}: X holds no {ad.n_obs} x {ad.n_vars} matrix (samples x genes); the values may be "
                             f"in a layer: name it with --layer (layers: {layers}).")
    elif cfg.layer not in ad.layers:
        raise InputError(f"{path}: no layer '{cfg.layer}' (--layer); layers: {', '.join(ad.layers.keys()) or 'none'} "
                         f"(default: X).")
    else:
        M = ad.layers[cfg.layer]
    M = M.toarray() if hasattr(M, "toarray") else np.asarray(M)
    V = np.asarray(M, dtype=float).T
    samples = [str(s) for s in ad.obs_names]
    dup_s = pd.Series(samples)[pd.Series(samples).duplicated()].unique().tolist()
    if dup_s:  # a sample sheet keyed by these names would give one row's time to all of them
        raise InputError(f"{path}: {len(dup_s)} duplicate sample name(s) in obs_names (e.g. "
                         f"{', '.join(dup_s[:5])}); each sample must have its own name (anndata's "
                         "obs_names_make_unique() renames them).")
    if np.isinf(V).any():
        g, s = (int(x[0]) for x in np.nonzero(np.isinf(V)))
        raise InputError(f"{path}: {cfg.layer or 'X'}[{samples[s]!r}, {genes[g]!r}] is infinite.")
    if cfg.samples is not None:
        times, unused = sample_times(samples, cfg.samples, path, cfg.birth_embryonic_day)
        return genes, samples, V, times, unused
    if cfg.time_key is None or cfg.time_key not in ad.obs.columns:
        what = "no --time-key given" if cfg.time_key is None else f"obs has no column '{cfg.time_key}'"
        raise InputError(f"{path}: {what}; name the obs column with each sample's time in days or stage "
                         f"(obs columns: {', '.join(map(str, ad.obs.columns)) or 'none'}), or give --samples.")
    raw = ad.obs[cfg.time_key].astype(str).tolist()
    times = np.array([stage_days(v, cfg.birth_embryonic_day) for v in raw])
    bad = ~np.isfinite(times)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}: obs['{cfg.time_key}'] of sample '{samples[i]}' is '{raw[i]}', not a number of days "
                         f"or a stage like E16.5 / P3.")
    return genes, samples, V, times, []


#: the largest magnitude accepted, the train/test job's ``data.max_abs_value`` default (a larger
#: value is an error or a unit mistake, and overflows float32)
MAX_ABS_VALUE = DataConfig.max_abs_value


def _check_values(V: np.ndarray, genes: list, samples: list, mpath: Path) -> None:
    """Refuse infinite values and magnitudes above :data:`MAX_ABS_VALUE`, naming gene and sample."""
    with np.errstate(invalid="ignore"):
        bad = np.isinf(V) | (np.abs(V) > MAX_ABS_VALUE)
    if bad.any():
        gi, si = np.nonzero(bad)
        where = ", ".join(f"gene '{genes[g]}' sample '{samples[k]}' = {V[g, k]:g}" for g, k in zip(gi[:5], si[:5]))
        raise InputError(f"{mpath}: {int(bad.sum())} value(s) infinite or above {MAX_ABS_VALUE:g} in magnitude: "
                         f"{where}{' ...' if bad.sum() > 5 else ''}. Expression values are expected finite "
                         "(a count, a TPM, a log ratio); leave a missing value empty.")


def read_expression(cfg: GenomeConfig) -> Expression:
    """Matrix + sample sheet (or an ``.h5ad``) -> replicate means ``X [N, T]`` (NaN where every replicate is missing)."""
    mpath = Path(cfg.matrix)
    if mpath.name.lower().endswith(".h5ad"):
        genes, samples, V, times, unused = read_h5ad(cfg)
    else:
        for key in ("gene_key", "time_key", "layer"):
            if getattr(cfg, key) is not None:
                raise InputError(f"{mpath}: --{key.replace('_', '-')} is for .h5ad matrices; a table takes "
                                 f"--gene-column and --samples.")
        genes, samples, V = read_matrix(mpath, cfg.gene_column)
        times, unused = sample_times(samples, cfg.samples, mpath, cfg.birth_embryonic_day)
    if unused:
        log.warning("%s: %d sample column(s) not in the sample sheet, not used: %s", mpath, len(unused), unused[:10])
    if len(genes) == 0:
        raise InputError(f"{mpath}: the matrix has no gene rows (expected one row per gene after the header).")
    _check_values(V, genes, samples, mpath)
    used = np.isfinite(times)
    uniq = np.unique(times[used])
    if len(uniq) < 3:
        if cfg.samples is not None:
            src = f"{cfg.samples} (the sample sheet, for the samples of {mpath.name})"
        elif mpath.name.lower().endswith(".h5ad"):
            src = f"{mpath}: obs['{cfg.time_key}']"
        else:
            src = str(mpath)
        raise InputError(f"{src}: only {len(uniq)} distinct time point(s) "
                         f"({', '.join(f'{t:g}' for t in uniq[:5])}) over {int(used.sum())} sample(s); "
                         "forecasting needs at least 3.")
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

def read_gene_positions(path: str | Path) -> pd.DataFrame:
    """BED or GTF -> DataFrame ``gene, chromosome (as written), tss[, gene_id]`` (first record of a name kept).

    A GTF gives both names of a gene: ``gene`` (``gene_name``, else ``gene_id``) and ``gene_id``
    without its version suffix; :func:`convert` joins the matrix on whichever matches more genes.
    """
    p = existing(path, "gene annotation")
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
    backwards = (end < start).to_numpy()
    if backwards.any():
        i = int(np.flatnonzero(backwards)[0])
        raise InputError(f"{p}: record {i + 1} ({name.iloc[i]}): end {int(end.iloc[i])} is before start "
                         f"{int(start.iloc[i])} ({int(backwards.sum())} such record(s)); expected start <= end.")
    odd = ~strand.astype(str).str.strip().isin(["+", "-"])
    if odd.any():
        log.warning("%s: %d record(s) with strand other than '+'/'-' (e.g. %r for %s): their TSS is taken at the "
                    "start, as for '+'", p, int(odd.sum()), str(strand[odd].iloc[0]), name[odd].iloc[0])
    out = pd.DataFrame({"gene": name.str.strip().to_numpy(), "chromosome": [str(c).strip() for c in chrom],
                        "tss": np.asarray(tss, dtype=np.int64)})
    if ids is not None:
        out["gene_id"] = ids.to_numpy()
    if (out["tss"] < 0).any():
        i = int(np.flatnonzero(out["tss"].to_numpy() < 0)[0])
        raise InputError(f"{p}: record {i + 1} ({out['gene'].iloc[i]}): negative position.")
    return out
