"""Expression tables -> a per-gene time course.

Two raw formats are read (see ``raw_data_conversion/README.md``):

* ``table``: an id column, then one column per sample headed by its time label
  (``mRNAnorm.txt``: ``id  -4.5  -4.5 ... 28.0``); replicates repeat the label.
* ``nanostring``: ``Gene Name``, ``Accession #``, ``Probe Name``, ``Class Name``,
  then one column per sample headed by its developmental stage (``mirnanorm.txt``:
  ``p0.5 P0.5 ... P28 <empty> E16.5 ...``). With a target table, each target gene's
  value is the mean of the counts of its miRNAs.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from raw_data_conversion.textio import Rows, numeric_block, read_rows
from step.data.course import parse_time_label as course_time_label
from step.errors import InputError

log = logging.getLogger(__name__)

STAGE_RE = re.compile(r"^\s*([EePp])\s*(\d+(?:\.\d+)?)\s*$")


@dataclass
class SampleTable:
    """Raw samples of an expression table.

    Attributes
    ----------
    path : the file.
    ids : row names (genes or miRNAs), unique, in file order.
    labels : header of each sample column (time label or stage), ``[S]``.
    values : float array ``[N, S]`` (NaN only in all-empty columns).
    lines : 1-based line of each row in the file.
    """

    path: Path
    ids: list[str]
    labels: list[str]
    values: np.ndarray
    lines: list[int]


@dataclass
class TimeCourse:
    """A gene x time expression matrix.

    Attributes
    ----------
    genes : names, in input order.
    times : float array ``[T]`` (days relative to birth, or sample numbers in published miRNA mode).
    X : float array ``[N, T]``.
    dropped_columns : sample columns left out, with the reason.
    """

    genes: list[str]
    times: np.ndarray
    X: np.ndarray
    dropped_columns: list[dict] = field(default_factory=list)


def read_sample_table(path: str | Path, id_column: str, annotation_columns: list[str]) -> SampleTable:
    """Read a tab-separated expression table: an id column, annotation columns, sample columns.

    Every sample cell must be numeric, except in a column whose header and cells are
    all empty (kept as NaN; the time axis decides what to do with it).
    """
    rows: Rows = read_rows(path, "\t")
    head = rows.header
    if id_column not in head:
        hint = ""
        if len(head) == 1 and any(c in head[0] for c in ",;"):
            hint = f" The header is one field: the file must be tab-separated (it looks {'comma' if ',' in head[0] else 'semicolon'}-separated)."
        raise InputError(f"{rows.path}: line 1: no column named '{id_column}' (the gene/miRNA id column); "
                         f"header starts {head[:5]}.{hint}")
    for c in annotation_columns:
        if c not in head:
            raise InputError(f"{rows.path}: line 1: expected an annotation column named '{c}'.")
    skip = {head.index(id_column)} | {head.index(c) for c in annotation_columns}
    sample_cols = [j for j in range(len(head)) if j not in skip]
    if not sample_cols:
        raise InputError(f"{rows.path}: line 1: no sample columns after the id/annotation columns.")
    if not rows.rows:
        raise InputError(f"{rows.path}: no data rows after the header (expected one row per gene or miRNA).")
    empty_cols = [j for j in sample_cols if head[j] == "" and all(r[j] == "" for r in rows.rows)]
    full_cols = [j for j in sample_cols if j not in empty_cols]
    for j in full_cols:
        if head[j] == "":
            raise InputError(f"{rows.path}: line 1, column {j + 1}: a sample column with values has no label (time/stage).")
    values = np.full((len(rows.rows), len(sample_cols)), np.nan)
    block = numeric_block(rows, full_cols)
    pos = {j: k for k, j in enumerate(sample_cols)}
    values[:, [pos[j] for j in full_cols]] = block
    ids = [r[head.index(id_column)] for r in rows.rows]
    seen: dict[str, int] = {}
    for name, line in zip(ids, rows.lines):
        if name == "":
            raise InputError(f"{rows.path}: line {line}: empty '{id_column}'; every row needs an id.")
        if name in seen:
            raise InputError(f"{rows.path}: line {line}: '{name}' already appears on line {seen[name]}; ids must be unique.")
        seen[name] = line
    return SampleTable(path=rows.path, ids=ids, labels=[head[j] for j in sample_cols], values=values, lines=rows.lines)


def parse_time_label(label: str, path: Path, column: int) -> float:
    """A numeric time label (days), e.g. ``-4.5``, ``1.0``; pandas' ``.1`` duplicate suffixes are not accepted."""
    return course_time_label(label, path, f"line 1, column {column}",
                             "rule: sample columns of a 'table' expression file are headed by their time, e.g. -4.5 or 1.0")


def stage_days(label: object, birth_embryonic_day: float) -> float:
    """The one parser of stage labels: ``E16.5`` -> 16.5 - birth day, ``P1``/``p1`` -> 1.0, a plain
    number -> itself (days); NaN when it is none of these (callers decide how to say so)."""
    text = str(label).strip()
    m = STAGE_RE.match(text)
    if m:
        day = float(m.group(2))
        return day - birth_embryonic_day if m.group(1) in "Ee" else day
    try:
        return float(text)
    except ValueError:
        return float("nan")


def parse_stage(label: str, birth_embryonic_day: float, path: Path, column: int) -> float:
    """Developmental stage -> days relative to birth (:func:`stage_days`); an error naming the file
    and column when the label does not parse."""
    days = stage_days(label, birth_embryonic_day)
    if np.isnan(days):
        raise InputError(
            f"{path}: line 1, column {column}: stage label '{label}' does not parse "
            f"(rule: E<day> for embryonic, P<day>/p<day> for postnatal, or a number of days)."
        )
    return days


def _column_numbers(table: SampleTable, n_lead: int) -> list[int]:
    return [n_lead + k + 1 for k in range(len(table.labels))]


def label_mean(table: SampleTable, n_lead: int = 1) -> TimeCourse:
    """Mean of the replicate columns sharing a numeric label; times sorted ascending."""
    cols = _column_numbers(table, n_lead)
    times = np.array([parse_time_label(l, table.path, c) for l, c in zip(table.labels, cols)])
    return _group_mean(table, times, cols)


def stage_mean(table: SampleTable, birth_embryonic_day: float, n_lead: int = 4) -> TimeCourse:
    """Replicates averaged per developmental stage, stages sorted by time; all-empty columns dropped."""
    cols = _column_numbers(table, n_lead)
    keep = [k for k in range(len(table.labels)) if not (table.labels[k] == "" and np.isnan(table.values[:, k]).all())]
    dropped = [
        {"column": cols[k], "label": table.labels[k], "reason": "no label and no values"}
        for k in range(len(table.labels)) if k not in keep
    ]
    sub = SampleTable(table.path, table.ids, [table.labels[k] for k in keep], table.values[:, keep], table.lines)
    times = np.array([parse_stage(sub.labels[k], birth_embryonic_day, table.path, cols[keep[k]]) for k in range(len(keep))])
    tc = _group_mean(sub, times, [cols[k] for k in keep])
    tc.dropped_columns = dropped
    return tc


def sample_order(table: SampleTable) -> TimeCourse:
    """Every sample column its own time point ``1, 2, ...`` in file order (the published miRNA axis)."""
    return TimeCourse(genes=list(table.ids), times=np.arange(1, len(table.labels) + 1, dtype=float), X=table.values.copy())


def _group_mean(table: SampleTable, times: np.ndarray, cols: list[int]) -> TimeCourse:
    uniq = np.unique(times)
    X = np.empty((len(table.ids), len(uniq)))
    for k, t in enumerate(uniq):
        sel = np.flatnonzero(times == t)
        block = table.values[:, sel]
        if np.isnan(block).any():
            i, j = np.argwhere(np.isnan(block))[0]
            raise InputError(f"{table.path}: line {table.lines[i]}, column {cols[sel[j]]}: empty value in a sample column.")
        X[:, k] = block.mean(axis=1)
    return TimeCourse(genes=list(table.ids), times=uniq, X=X)


def read_targets(path: str | Path, known: list[str], expression_path: Path) -> dict[str, list[str]]:
    """``target_gene,mirna`` -> {target: [miRNAs]} in file order; every miRNA must be in the expression table."""
    rows = read_rows(path, ",")
    for col in ("target_gene", "mirna"):
        if col not in rows.header:
            raise InputError(f"{rows.path}: line 1: missing column '{col}' (expected header target_gene,mirna).")
    it, im = rows.header.index("target_gene"), rows.header.index("mirna")
    known_set = set(known)
    out: dict[str, list[str]] = {}
    for r, line in zip(rows.rows, rows.lines):
        target, mirna = r[it], r[im]
        if not target or not mirna:
            raise InputError(f"{rows.path}: line {line}: empty target_gene or mirna.")
        if mirna not in known_set:
            raise InputError(
                f"{rows.path}: line {line}: miRNA '{mirna}' (target '{target}') is not a row of {expression_path}; "
                f"every miRNA of the target table must be in the expression table."
            )
        lst = out.setdefault(target, [])
        if mirna in lst:
            raise InputError(f"{rows.path}: line {line}: pair {target},{mirna} is listed twice.")
        lst.append(mirna)
    return out


def target_means(tc: TimeCourse, targets: dict[str, list[str]]) -> TimeCourse:
    """Each target's series = mean of its miRNAs' series (NaN where any of them is NaN)."""
    index = {g: i for i, g in enumerate(tc.genes)}
    X = np.stack([tc.X[[index[m] for m in mirnas]].mean(axis=0) for mirnas in targets.values()])
    return TimeCourse(genes=list(targets), times=tc.times.copy(), X=X, dropped_columns=list(tc.dropped_columns))


def time_label(t: float) -> str:
    """Column suffix of a time in the interaction CSV, as published: ``-4.5``, ``0.5``, ``1.0``."""
    return repr(float(t))
