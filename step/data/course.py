"""The time course: one data model for every reader, and the helpers every reader shares.

:class:`GeneTimeCourse` is what :func:`step.data.load.load_course` returns for an interaction CSV
(:mod:`step.data.interaction_csv`) or a dataset folder (:mod:`step.data.dataset_dir`); here also the time-label and
numeric-column parsers, the time-point checks, the working-scale transform and its check, and
gene display names. Imports no reader (no import circle).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from step.errors import InputError

log = logging.getLogger(__name__)

MISSING_VALUES = ("", "NA", "NaN", "nan", "N/A", "na")


@dataclass
class GeneTimeCourse:
    """A gene panel's time course plus its Hi-C pairs and per-gene features.

    Attributes
    ----------
    genes : names exactly as in the input file, unique, in order of first appearance.
    display : cleaned names for plots/tables (``GUCY1A2  sGC(...)`` -> ``GUCY1A2``), unique.
    times : float array ``[T]``, strictly increasing.
    X : float array ``[T, N]``, expression in the file's scale (NaN only where masked).
    pairs : int array ``[P, 2]`` of gene indices, ``i < j``, unique, no self-pairs.
    hic : float array ``[P]``, Hi-C contact value of each pair.
    chromosome : ``[N]`` str; bin, insulation, tad_distance : ``[N]`` float (NaN if absent);
    compartment : ``[N]`` str, ``"A"``, ``"B"`` or ``""`` (unknown).
    source : path of the file; checksum : its sha256.
    """

    genes: list[str]
    display: list[str]
    times: np.ndarray
    X: np.ndarray
    pairs: np.ndarray
    hic: np.ndarray
    chromosome: list[str]
    bin: np.ndarray
    compartment: np.ndarray
    insulation: np.ndarray
    tad_distance: np.ndarray
    source: str = ""
    checksum: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def n_genes(self) -> int:
        return len(self.genes)

    @property
    def n_times(self) -> int:
        return len(self.times)

    def degree(self) -> np.ndarray:
        """Number of Hi-C partners of each gene, ``[N]``."""
        deg = np.zeros(self.n_genes, dtype=np.int64)
        np.add.at(deg, self.pairs[:, 0], 1)
        np.add.at(deg, self.pairs[:, 1], 1)
        return deg

    def with_X(self, X: np.ndarray) -> "GeneTimeCourse":
        """A copy with another expression matrix of the same shape ``[T, N]``."""
        if X.shape != self.X.shape:
            raise ValueError(f"X shape {X.shape} != {self.X.shape}")
        return dataclasses.replace(self, X=np.asarray(X, dtype=float))


def clean_gene_name(name: str) -> str:
    """Display name: drop annotations after a double space or a `` (`` (PMIDs, long names).

    ``"GUCY1A2  sGC(soluble ...) (PMID 1)"`` -> ``"GUCY1A2"``;
    ``"EGFR (Epidermal growth factor receptor)"`` -> ``"EGFR"``;
    ``"N-Cadherin(CDH2)"`` and ``"Claudin 1"`` are kept as they are.
    """
    s = str(name).strip()
    s = s.split("  ")[0]
    s = s.split(" (")[0]
    return s.strip() or str(name).strip()


def unique_display_names(genes: list[str]) -> list[str]:
    """Cleaned names, made unique: a clash keeps the full original name for the later gene."""
    out: list[str] = []
    seen: set[str] = set()
    for g in genes:
        d = clean_gene_name(g)
        if d in seen:
            d = str(g).strip()
            k = 2
            while d in seen:
                d = f"{g.strip()} #{k}"
                k += 1
        seen.add(d)
        out.append(d)
    return out


def working_scale(X: np.ndarray, transform: str) -> np.ndarray:
    """Expression in the space the models work in: ``none`` or ``log1p``."""
    if transform == "none":
        return np.asarray(X, dtype=float)
    if transform == "log1p":
        return np.log1p(np.asarray(X, dtype=float))
    raise ValueError(f"unknown transform {transform!r}")


def original_scale(Z: np.ndarray, transform: str) -> np.ndarray:
    """Inverse of :func:`working_scale`."""
    if transform == "none":
        return np.asarray(Z, dtype=float)
    if transform == "log1p":
        return np.expm1(np.asarray(Z, dtype=float))
    raise ValueError(f"unknown transform {transform!r}")


def parse_time_label(label: str, path: Path | str, where: str, rule: str) -> float:
    """A numeric time label (days), e.g. ``-4.5``; an error names the file, ``where`` (the column or
    line) and the ``rule`` the label breaks."""
    try:
        t = float(label)
    except ValueError:
        raise InputError(f"{path}: {where}: time label '{label}' is not a number of days ({rule}).") from None
    if not np.isfinite(t):
        raise InputError(f"{path}: {where}: time label '{label}' is not a finite number.")
    return t


def _all_finite_numbers(col: pd.Series) -> np.ndarray | None:
    """``col`` as floats when every value is a finite number (surrounding spaces allowed), else None
    (then :func:`numeric_column` finds and names what is blank or wrong). The same parser as there,
    without stripping every cell first: a 20,000-gene interaction CSV's 91 columns in 2.5 s instead
    of 7.8 s."""
    try:
        v = pd.to_numeric(col, errors="raise").to_numpy(dtype=float)
    except (ValueError, TypeError):
        return None
    return v if np.isfinite(v).all() else None


def numeric_column(df: pd.DataFrame, col: str, path: Path, allow_blank: bool, where: str = "row") -> np.ndarray:
    """A column of strings as finite floats (blank -> NaN when ``allow_blank``); an error names the
    file, the ``where`` (``row`` of a CSV, ``line`` of a table) and the column."""
    fast = _all_finite_numbers(df[col])
    if fast is not None:  # the common case: nothing blank or wrong to report
        return fast
    raw = df[col].astype(str).str.strip()
    blank = raw.isin(MISSING_VALUES)
    vals = pd.to_numeric(raw.where(~blank, None), errors="coerce").astype(float)
    bad = vals.isna() & ~blank
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        lead = f"row {i + 2} (line {i + 2} counting the header)" if where == "row" else f"line {i + 2}"
        raise InputError(f"{path}: {lead}, column '{col}': value '{df[col].iloc[i]}' is not a number; "
                         f"column '{col}' must be numeric (a finite number).")
    if not allow_blank and blank.any():
        i = int(np.flatnonzero(blank.to_numpy())[0])
        raise InputError(f"{path}: {where} {i + 2}, column '{col}': value is empty; column '{col}' must be numeric.")
    v = vals.to_numpy()
    inf = ~np.isfinite(v) & ~np.isnan(v)
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        raise InputError(f"{path}: {where} {i + 2}, column '{col}': value '{df[col].iloc[i]}' is infinite; "
                         "expected a finite number.")
    return v


def check_times(X: np.ndarray, times: np.ndarray, labels: list[str], genes: list[str], cfg, path: Path,
                notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Drop all-empty time points (``drop_empty_times``) and check partly missing ones (``allow_missing``).

    ``X [T, N]``, ``times [T]``, ``labels [T]`` (column names for messages). Returns the kept ``(X, times)``.
    """
    empty = np.isnan(X).all(axis=1)
    if empty.any():
        dropped = [labels[k] for k in np.flatnonzero(empty)]
        if not cfg.drop_empty_times:
            raise InputError(f"{path}: time column(s) {', '.join(dropped)} are empty for every gene (data.drop_empty_times is false).")
        log.warning("%s: dropping %d time point(s) that are empty for every gene: %s", path, int(empty.sum()), ", ".join(dropped))
        notes.append(f"dropped empty time columns: {', '.join(dropped)}")
        X = X[~empty]
        times = times[~empty]
        labels = [l for l, e in zip(labels, empty) if not e]
    if len(times) == 0:
        raise InputError(f"{path}: every time column is empty; nothing to model.")
    partly = np.isnan(X)
    if partly.any():
        ti, gi = np.nonzero(partly)
        where = ", ".join(f"{genes[g]} at {labels[t]}" for t, g in list(zip(ti, gi))[:8])
        if not cfg.allow_missing:
            raise InputError(
                f"{path}: {int(partly.sum())} missing expression value(s) ({where}{' ...' if len(ti) > 8 else ''}); "
                f"every gene needs a value at every time. Set data.allow_missing: true to mask them."
            )
        log.warning("%s: %d missing expression values will be masked: %s", path, int(partly.sum()), where)
        notes.append(f"masked missing values: {int(partly.sum())}")
    return X, times


def check_range(course: "GeneTimeCourse", max_abs: float, path) -> None:
    """Refuse values whose magnitude exceeds ``max_abs`` (``data.max_abs_value``): an error naming
    the file, the gene, the time and the value (every such value counted)."""
    with np.errstate(invalid="ignore"):
        big = np.abs(np.asarray(course.X, dtype=float)) > float(max_abs)
    if big.any():
        ti, gi = np.nonzero(big)
        where = "; ".join(f"gene '{course.genes[g]}' at time {course.times[t]:g}: {course.X[t, g]:g}"
                          for t, g in list(zip(ti, gi))[:5])
        raise InputError(f"{path}: {int(big.sum())} expression value(s) beyond the plausible range |x| <= "
                         f"{float(max_abs):g} (data.max_abs_value): {where}{' ...' if len(ti) > 5 else ''}. "
                         "Check the file for a unit or parsing error.")


def check_transform(X: np.ndarray, transform: str, path) -> None:
    """``log1p`` is for counts: any negative value (log ratios, already-logged data) is refused
    with an error naming the file and the fix (``data.transform: none``)."""
    if transform != "log1p":
        return
    with np.errstate(invalid="ignore"):
        neg = np.asarray(X, dtype=float) < 0
    if neg.any():
        n = int(neg.sum())
        raise InputError(
            f"{path}: data.transform is log1p but {n} value(s) are negative (min {np.nanmin(X):g}); "
            "log1p is for counts (values >= 0). Negative values mean the data are already on a log or "
            "log-ratio scale: set data.transform: none in the config.")
