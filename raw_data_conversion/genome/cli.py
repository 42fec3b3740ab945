"""Genome-scale conversion: expression matrix (or AnnData) + sample sheet + gene annotation + Hi-C
contacts (.cool / .mcool / .hic) -> a STEP dataset folder (``step/data/dataset_dir.py`` reads it; both
jobs take ``--data DIR``).

Layout (the package ``raw_data_conversion/genome/``): this module is the command line and
:func:`run`; the settings are in ``config.py``, the readers (matrix, AnnData, sample sheet,
annotation) in ``readers.py``, the contact files in ``contacts.py``, the sparse Hi-C features and
partner search in ``hic.py``, the conversion in ``convert.py``, the writers (folder, interaction
CSV) in ``write.py`` and the helpers they share in ``common.py``.

    python -m raw_data_conversion.genome --matrix expression.tsv --samples samples.tsv \
        --genes genes.bed --contacts contacts.mcool --bin-size 10000 --out dataset/mine

Inputs
------
* ``--matrix``: genes x samples, tab- (``.tsv``/``.txt``) or comma-separated (``.csv``), may be
  gzipped; the first column (or ``--gene-column``) holds the gene names, every other column is a
  sample. Duplicate gene or sample names are an error. Or an AnnData ``.h5ad`` (samples x genes):
  genes from ``var[--gene-key]`` (default the var index), times from ``obs[--time-key]`` (or a
  sample sheet keyed by ``obs_names``), values from ``X`` or ``--layer``.
* ``--samples``: sample sheet with columns ``sample`` and ``time`` (days; any other column is
  ignored). Replicates (samples sharing a time) are averaged. Samples of the sheet missing from the
  matrix are an error; matrix columns not in the sheet are dropped and logged. Without a sheet each
  column header is its time: ``<time>`` or ``<time>_<replicate>`` with ``<time>`` a number of days or
  a stage (``E16.5``, ``P3``).
* ``--genes``: BED (chrom, start, end, name[, score, strand]; the TSS is ``start`` on ``+`` and
  ``end - 1`` on ``-``) or GTF (``.gtf``/``.gtf.gz``: ``gene`` records, ``gene_name`` else
  ``gene_id``). Matrix genes absent from it are dropped and logged; ``--match-case insensitive``
  also matches names that differ only in letter case.
* ``--contacts`` (or ``--cool`` / ``--hic``): ``.cool``, ``.mcool[::resolutions/N]`` (``--bin-size``
  picks the level) or ``.hic``; ``--normalization`` picks the balancing (``auto``: a cooler's
  ``weight``, a ``.hic``'s KR/SCALE/VC_SQRT/VC, else none). Chromosome names are harmonised
  (``chr1`` = ``1``, ``chrM`` = ``MT``) and renamings logged.

Pairs: cis (same-chromosome) only, at most ``--max-distance`` bp apart (default max(2 Mb, 200
bins)). For each gene, its ``k`` partners with the highest observed/expected contact between their
bins (expected = ``cooltools.expected_cis``), ties broken by genomic distance then name order; a
pair is kept when either gene chose it and its O/E is positive and at least ``--min-oe``. Same-bin
pairs are candidates like any other. Genes in bins without contacts keep their expression and
features but get no pairs (logged). Features: ``cooltools.insulation`` (score and boundaries) and
``cooltools.eigs_cis`` (compartments, at ``--compartment-bin-size``); see ``hic.py``.

Output folder (written to a temporary folder and renamed into place)
-------------------------------------------------------------------
``genes.tsv.gz`` (gene, chromosome, tss, bin, compartment, insulation, tad_distance),
``expression.tsv.gz`` (gene, then one column per time, named by the time in days, replicates
averaged), ``pairs.tsv.gz`` (gene1, gene2, hic = O/E, observed, distance_bp) and ``dataset.json``
(format, times, counts of everything kept and dropped and why, the contact file and how it was
read, input checksums, settings).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any


# the conversion's parts, one module each; re-exported here as the public API of the converter
from raw_data_conversion.genome.config import FORMAT, VERSION, GenomeConfig, load_genome_config  # noqa: F401
from raw_data_conversion.genome.convert import Dataset, convert  # noqa: F401
from raw_data_conversion.genome.contacts import canonical_chrom, open_contacts  # noqa: F401
from raw_data_conversion.genome.hic import top_partners_sparse  # noqa: F401
from raw_data_conversion.genome.readers import (read_expression, read_gene_positions,  # noqa: F401
                                                read_h5ad, read_matrix, sample_times)
from raw_data_conversion.genome.write import write_dataset, write_interaction_csv
from step.logs import setup_logging
from step.errors import InputError
from step.io import check_output_dir, check_output_file, file_sha256


log = logging.getLogger("raw_data_conversion.genome")


def run(cfg: GenomeConfig, out: str | Path) -> Path:
    """Convert and write; returns the folder."""
    ds = convert(cfg)
    inputs = {}
    for role, p in (("matrix", cfg.matrix), ("samples", cfg.samples), ("genes", cfg.genes), ("contacts", cfg.contacts)):
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
    p.add_argument("--contacts", help="Hi-C contacts: .cool, .mcool[::resolutions/N] or .hic")
    p.add_argument("--cool", help="same as --contacts (a .cool or .mcool)")
    p.add_argument("--hic", help="same as --contacts (a Juicer .hic)")
    p.add_argument("--out", required=True, help="output dataset folder")
    p.add_argument("--gene-column", help="name of the matrix's gene column (default: the first)")
    p.add_argument("--gene-key", help=".h5ad: var column with the gene names (default: the var index)")
    p.add_argument("--time-key", help=".h5ad: obs column with each sample's time (days or stage like E16.5)")
    p.add_argument("--layer", help=".h5ad: the layer to read (default: X)")
    p.add_argument("--match-case", choices=["exact", "insensitive"],
                   help="match matrix genes to annotation genes exactly (default) or ignoring letter case")
    p.add_argument("--bin-size", type=int, help="resolution in bp (picks the .mcool / .hic level; checked on a .cool)")
    p.add_argument("--normalization", "--normalisation",
                   help="auto (default: cooler 'weight', .hic KR/SCALE/VC_SQRT/VC, else none), none, ICE, KR, VC, "
                        "SCALE or a cooler weight column")
    p.add_argument("--balance", help=argparse.SUPPRESS)  # old name of --normalization (true/false/auto/column)
    p.add_argument("--max-distance", type=int, dest="max_distance_bp",
                   help="farthest pair in bp (default max(2 Mb, 200 bins); 0 = whole chromosomes)")
    p.add_argument("--compartment-bin-size", type=int,
                   help="resolution of the A/B compartment call (default: the working one up to 5,000 bins on the longest chromosome, else 100 kb: the file's level, else coarsened)")
    p.add_argument("--chromosomes", help="comma-separated chromosomes to use (default: all with genes)")
    p.add_argument("--k", type=int, help="Hi-C partners chosen per gene (default 10)")
    p.add_argument("--min-oe", type=float, help="minimum observed/expected contact of a pair (default 0)")
    p.add_argument("--csv", help="also write the dataset in the published interaction-CSV schema to this file")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    given = [f for f, v in (("--contacts", args.contacts), ("--cool", args.cool), ("--hic", args.hic)) if v]
    if len(given) > 1:
        log.error("give the contacts once: %s are the same option", " and ".join(given))
        return 1
    if args.balance is not None and args.normalization is not None:
        log.error("give --normalization only (--balance is its old name)")
        return 1
    overrides = {"matrix": args.matrix, "samples": args.samples, "genes": args.genes,
                 "contacts": args.contacts or args.cool or args.hic, "gene_column": args.gene_column,
                 "gene_key": args.gene_key, "time_key": args.time_key, "layer": args.layer,
                 "match_case": args.match_case, "bin_size": args.bin_size,
                 "normalization": args.normalization if args.normalization is not None else args.balance,
                 "max_distance_bp": args.max_distance_bp, "compartment_bin_size": args.compartment_bin_size,
                 "chromosomes": args.chromosomes.split(",") if args.chromosomes else None,
                 "k": args.k, "min_oe": args.min_oe}
    try:
        cfg = load_genome_config(args.config, overrides)
        check_output_dir(args.out, "--out")
        if args.csv:
            check_output_file(args.csv, "--csv")
        run(cfg, args.out)
        if args.csv:
            write_interaction_csv(args.out, args.csv)
            log.info("wrote %s (interaction-CSV schema)", args.csv)
    except InputError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
