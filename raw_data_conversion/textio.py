"""Reading delimited text whatever its line endings (LF, CRLF or old-Mac CR).

Every reader in this package goes through :func:`read_rows`, so a ragged row, a
non-numeric value or an undecodable file is reported the same way: file, line
(1-based, counting the header), column, and the rule that was broken.
"""
from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from step.errors import InputError

MISSING = {"", "NA", "NaN", "nan", "N/A"}


@dataclass
class Rows:
    """A delimited text file split into fields.

    Attributes
    ----------
    path : the file read.
    header : field names of the first line (empty when ``header=False``).
    rows : one list of strings per data line, all as long as the header.
    lines : 1-based line number of each data row in the file.
    """

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]


def read_text(path: str | Path) -> str:
    """The file's text with every line ending turned into ``\\n`` (``.gz`` files are unpacked)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found.")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a text file.")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except OSError as exc:
            raise InputError(f"{path}: not a readable gzip file ({exc}).") from None
    if b"\x00" in raw[:4096]:
        raise InputError(f"{path}: this is a binary file, expected delimited text.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded).") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_rows(path: str | Path, sep: str, header: bool = True, comment: str | None = None) -> Rows:
    """Split a text file into rows of fields; every row must have as many fields as the first.

    Parameters
    ----------
    sep : ``"\\t"``, ``","`` (CSV quoting honoured) or ``"whitespace"`` (runs of blanks).
    header : whether the first non-empty line names the columns.
    comment : lines starting with this string are skipped.
    """
    path = Path(path)
    text = read_text(path)
    lines = text.split("\n")
    out: list[list[str]] = []
    numbers: list[int] = []
    if sep == ",":
        split = lambda s: next(csv.reader(io.StringIO(s)))  # noqa: E731
    elif sep == "whitespace":
        split = str.split
    else:
        split = lambda s: s.split(sep)  # noqa: E731
    for k, line in enumerate(lines, start=1):
        if line.strip() == "" or (comment and line.startswith(comment)):
            continue
        out.append([f.strip() for f in split(line)])
        numbers.append(k)
    if not out:
        raise InputError(f"{path}: the file is empty.")
    head: list[str] = []
    if header:
        head = out.pop(0)
        numbers.pop(0)
    width = len(head) if header else len(out[0])
    for fields, k in zip(out, numbers):
        if len(fields) != width:
            raise InputError(
                f"{path}: line {k} has {len(fields)} fields but the "
                f"{'header' if header else 'first line'} has {width}; every row must have "
                f"the same number of {'tab-separated' if sep == chr(9) else 'separated'} fields (ragged row)."
            )
    return Rows(path=path, header=head, rows=out, lines=numbers)


def parse_float(value: str, path: Path, line: int, column: str, allow_missing: bool = False) -> float:
    """``value`` as a float, or an :class:`InputError` naming file, line and column."""
    v = value.strip()
    if v in MISSING:
        if allow_missing:
            return float("nan")
        raise InputError(f"{path}: line {line}, column '{column}': value is empty; this column must be numeric.")
    try:
        x = float(v)
    except ValueError:
        raise InputError(
            f"{path}: line {line}, column '{column}': value '{value}' is not a number; this column must be numeric."
        ) from None
    if not np.isfinite(x):
        raise InputError(f"{path}: line {line}, column '{column}': value '{value}' is not a finite number.")
    return x


def numeric_block(rows: Rows, columns: list[int], allow_missing: bool = False) -> np.ndarray:
    """The fields at ``columns`` of every row as a float array ``[R, len(columns)]``.

    Fast path through numpy; on failure, the first bad field is located and reported.
    """
    cells = [[r[c] for c in columns] for r in rows.rows]
    try:
        arr = np.array(cells, dtype=float) if cells else np.zeros((0, len(columns)))
        if np.isfinite(arr).all():
            return arr
    except ValueError:
        pass
    out = np.empty((len(cells), len(columns)))
    for i, (r, line) in enumerate(zip(cells, rows.lines)):
        for j, c in enumerate(columns):
            name = rows.header[c] if rows.header else f"{c + 1}"
            out[i, j] = parse_float(r[j], rows.path, line, name or f"{c + 1}", allow_missing)
    return out
