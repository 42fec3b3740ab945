"""``python -m raw_data_conversion --config configs/preprocess/<name>.yaml --out DIR``.

Parses, calls :func:`raw_data_conversion.pipeline.run`, writes ``DIR/interaction_<dataset>.csv``
and ``DIR/report.json`` atomically. Bad input: one paragraph on stderr, exit status 1.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import pandas as pd

from raw_data_conversion.assemble import write_csv
from raw_data_conversion.compare import compare_tables
from raw_data_conversion.config import load_config
from raw_data_conversion.pipeline import run
from step.logs import setup_logging
from step.errors import InputError
from step.io import check_output_dir, file_sha256, write_json, write_with

log = logging.getLogger("raw_data_conversion")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m raw_data_conversion", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="preprocessing YAML (configs/preprocess/*.yaml)")
    p.add_argument("--out", required=True, help="output folder for interaction_<dataset>.csv and report.json")
    p.add_argument("--cache-dir", default=None, help="feature cache folder (default: the config's cache_dir)")
    p.add_argument("--no-cache", action="store_true", help="recompute everything, write no cache")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    try:
        cfg = load_config(args.config)
        check_output_dir(args.out, "--out")
        cache_dir = None if args.no_cache else (args.cache_dir or cfg.cache_dir)
        result = run(cfg, cache_dir)
        out = Path(args.out)
        csv_path = out / f"interaction_{cfg.dataset}.csv"
        report = result.report
        if cfg.compare_with:
            published = pd.read_csv(cfg.compare_with)
            if cfg.compare_rows:
                published = published.iloc[: cfg.compare_rows]
            report["comparison"] = {"published": cfg.compare_with, "published_rows_compared": len(published),
                                    **compare_tables(result.table, published)}
        write_with(csv_path, lambda tmp: write_csv(result.table, tmp))
        report["output"] = {"path": str(csv_path), "sha256": file_sha256(csv_path),
                            "rows": len(result.table), "columns": len(result.table.columns)}
        write_json(out / "report.json", report)
        for p in (csv_path, out / "report.json"):
            _readable(p)
    except InputError as exc:
        log.error("%s", exc)
        return 1
    c = report["counts"]
    log.info("wrote %s: %d genes (of %d considered, %d dropped), %d pairs, %d time points; report %s",
             csv_path, c["genes_in_output"], c["genes_considered"], c["genes_dropped"], c["pairs"], c["time_points"],
             out / "report.json")
    if "comparison" in report:
        cmp = report["comparison"]
        log.info("vs %s: %d/%d rows regenerated, identical=%s, compartments up to sign=%s, max |diff| %.2g",
                 cfg.compare_with, cmp["rows_published"] - len(cmp["missing"]), cmp["rows_published"],
                 cmp["identical"], cmp["compartments_up_to_sign"], cmp["max_abs_diff"])
    return 0


def _readable(path: Path) -> None:
    """Give a written file the permissions of a normally created one (the temporary file was 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
