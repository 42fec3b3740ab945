"""Small helpers shared by the genome-scale converter's modules (and the panel path's chromosome
order): input paths, table separators, chromosome and time names, the annotation by gene name."""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pandas as pd

from step.errors import InputError

log = logging.getLogger("raw_data_conversion.genome")

#: a sample column header ``<time>_<replicate>`` (also ``.``/``-`` and ``r``/``rep`` before the number)
REPLICATE_SUFFIX = re.compile(r"^(.*?)(?:[_.\-](?:r|rep|R|Rep)?\d+)$")


def table_sep(path: Path) -> str:
    """The separator of a delimited table by its name: ``,`` for ``.csv[.gz]``, else a tab."""
    name = path.name.lower().removesuffix(".gz")
    return "," if name.endswith(".csv") else "\t"


def existing(path: str | Path, role: str) -> Path:
    """``path`` as a Path; an error naming its ``role`` when it does not exist."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: {role} file not found.")
    return p


def time_name(t: float) -> str:
    """A time's column name in the dataset folder (``repr`` of the float)."""
    return repr(float(t))


def chrom_order(c: str) -> tuple[int, Any]:
    """Sort key of chromosome names: numbered ones by number, then the others by name."""
    return (0, int(c)) if c.isdigit() else (1, c)


def by_name(ann: pd.DataFrame, key: str, path: str) -> pd.DataFrame:
    """The annotation indexed by ``key``; repeated names keep their first record (logged)."""
    dup = ann[key].duplicated()
    if dup.any():
        log.warning("%s: %d repeated gene name(s) in column %s (e.g. %s): the first record of each is used", path,
                    int(dup.sum()), key, ", ".join(ann.loc[dup, key].head(5)))
    return ann[~dup].set_index(key)
