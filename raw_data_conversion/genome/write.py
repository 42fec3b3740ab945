"""Writing the genome-scale conversion: the dataset folder (atomically) and the interaction-CSV export."""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from raw_data_conversion.genome.convert import Dataset
from step.errors import InputError
from step.io import file_sha256


log = logging.getLogger("raw_data_conversion.genome")


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

def write_interaction_csv(folder: str | Path, out: str | Path) -> Path:
    """A dataset folder in the published interaction-CSV schema (one row per pair, each gene's
    series repeated on every row it appears in; ``Gene<k>_Start`` = TSS, ``End`` = TSS + 1,
    ``Bin`` = bin index). For tools that read that schema; the folder is the compact form."""
    from raw_data_conversion.assemble import GeneRecord, interaction_table, write_csv
    from step.io import write_with
    from step.data.load import load_course

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
