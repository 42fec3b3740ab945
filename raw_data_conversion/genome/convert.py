"""The genome-scale conversion itself: expression + annotation + cooler -> a :class:`Dataset` in memory."""
from __future__ import annotations

import dataclasses
import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from raw_data_conversion.genome.contacts import ContactMaps, canonical_chrom, harmonise_chromosomes, open_contacts
from raw_data_conversion.genome.common import by_name, chrom_order, time_name
from raw_data_conversion.genome.config import FORMAT, VERSION, GenomeConfig
from raw_data_conversion.genome.readers import Expression, read_expression, read_gene_positions
from raw_data_conversion.genome.hic import (compartment_track, convert_chromosome, expected_by_distance,
                                            insulation_table)
from step.errors import InputError


log = logging.getLogger("raw_data_conversion.genome")


@dataclass
class Dataset:
    """What :func:`convert` produced, ready to write."""

    genes: pd.DataFrame
    expression: pd.DataFrame
    pairs: pd.DataFrame
    meta: dict[str, Any]

def _match_genes(genes: list[str], pos_of: pd.DataFrame, cfg: GenomeConfig) -> pd.DataFrame:
    """The annotation rows of the matrix genes (index = the matrix's names), exact or case-insensitive."""
    exact = set(pos_of.index.intersection(pd.Index(genes)))
    folded: dict[str, list[str]] = {}
    for name in pos_of.index:
        folded.setdefault(str(name).casefold(), []).append(name)
    by_case = {g: folded[g.casefold()] for g in genes if g not in exact and g.casefold() in folded}
    if cfg.match_case == "exact":
        if len(exact) == 0 and by_case:
            g = next(iter(by_case))
            raise InputError(f"{cfg.genes}: none of the {len(genes)} genes of {cfg.matrix} is in the annotation with the "
                             f"same spelling, but {len(by_case)} differ only in letter case (e.g. {g} vs {by_case[g][0]}); "
                             f"use --match-case insensitive (match_case: insensitive).")
        if by_case:
            g = next(iter(by_case))
            log.warning("%s: %d matrix gene(s) match an annotation gene only up to letter case (e.g. %s vs %s) and are "
                        "not matched; --match-case insensitive would match them", cfg.matrix, len(by_case), g,
                        by_case[g][0])
        return pos_of.loc[[g for g in genes if g in exact]]
    ambiguous = {g: c for g, c in by_case.items() if len(c) > 1}
    if ambiguous:
        g = next(iter(ambiguous))
        log.warning("%s: %d matrix gene(s) match several annotation genes up to case (e.g. %s: %s) and are not matched",
                    cfg.matrix, len(ambiguous), g, ", ".join(ambiguous[g]))
    rows, names = [], []
    for g in genes:
        if g in exact:
            rows.append(g), names.append(g)
        elif g in by_case and len(by_case[g]) == 1:
            rows.append(by_case[g][0]), names.append(g)
    n_case = sum(1 for g in names if g not in exact)
    if n_case:
        log.info("%s: %d gene(s) matched to the annotation up to letter case (--match-case insensitive)", cfg.matrix, n_case)
    out = pos_of.loc[rows].copy()
    out.index = pd.Index(names, name=pos_of.index.name)
    return out


def convert(cfg: GenomeConfig) -> Dataset:
    """Read, check and join the inputs; features and pairs per chromosome (sparse, see :mod:`raw_data_conversion.genome.hic`)."""
    with tempfile.TemporaryDirectory(prefix="step-contacts-") as work:
        return _convert(cfg, Path(work))


def _convert(cfg: GenomeConfig, work: Path) -> Dataset:
    """:func:`convert` with ``work`` the temporary folder for copies of the contacts."""
    expr = read_expression(cfg)
    ann = read_gene_positions(cfg.genes)
    matched, no_ann = _annotated_genes(expr, ann, cfg)

    # the working map's pair distance is needed before a .hic is read (only that band is copied)
    maps = open_contacts(cfg.contacts, cfg.bin_size, cfg.normalization, cfg.compartment_resolution,
                         _band(cfg), work)
    sub, chroms, file_name = _chromosomes_used(cfg, maps, matched)
    gtab, off = _gene_table(cfg, sub, chroms)
    file_chrom = np.array([file_name.get(c, maps.names.get(c, c)) for c in gtab["chromosome"]], dtype=object)

    bin_size = maps.bin_size
    max_bins = cfg.max_bins(bin_size, max(-(-s // bin_size) for s in maps.clr.chromsizes))
    log.info("%s: %s bp bins, normalisation %s, partners up to %d bins (%s bp) apart", cfg.contacts, f"{bin_size:,}",
             maps.meta["normalization"], max_bins, f"{max_bins * bin_size:,}")
    feats, parts, per_chrom = _per_chromosome(cfg, maps, gtab, chroms, file_name, file_chrom, max_bins)
    pairs, deg, n_directed = _unique_pairs(gtab, *parts)
    names = gtab["gene"].to_numpy()
    isolated = names[deg == 0]
    if isolated.size:
        log.warning("%d gene(s) have no Hi-C partner (bins without contacts, alone on a chromosome, or below min_oe); "
                    "kept as isolated genes: %s%s", isolated.size, ", ".join(isolated[:10]), " ..." if isolated.size > 10 else "")
    genes = pd.DataFrame({"gene": names, "chromosome": gtab["chromosome"], "tss": gtab["tss"].to_numpy(), **feats})
    row_of = {g: i for i, g in enumerate(expr.genes)}
    X = expr.X[[row_of[g] for g in names]]
    expression = pd.DataFrame(X, columns=[time_name(t) for t in expr.times])
    expression.insert(0, "gene", names)
    counts = {**expr.counts,
              "genes_not_in_annotation": len(no_ann), "genes_not_in_annotation_examples": no_ann[:20],
              "genes_on_unused_chromosomes": len(off), "genes_kept": int(len(gtab)),
              "genes_without_pairs": int(isolated.size), "pairs_chosen_directed": n_directed,
              "pairs_kept": int(len(pairs)), "mean_partners_per_gene": round(float(deg.mean()), 3) if len(deg) else 0.0}
    meta = {"format": FORMAT, "version": VERSION, "times": [float(t) for t in expr.times], "counts": counts,
            "bin_size": bin_size, "contacts": maps.meta, "max_distance_bins": max_bins, "chromosomes": per_chrom,
            "settings": dataclasses.asdict(cfg)}
    log.info("kept %d genes (%d not in the annotation, %d on unused chromosomes, %d without a partner), %d pairs "
             "(k=%d, min_oe=%g, mean %.1f partners per gene)", len(gtab), len(no_ann), len(off), isolated.size,
             len(pairs), cfg.k, cfg.min_oe, counts["mean_partners_per_gene"])
    return Dataset(genes=genes, expression=expression, pairs=pairs, meta=meta)


def _annotation_by_name(expr: Expression, ann: pd.DataFrame, cfg: GenomeConfig) -> pd.DataFrame:
    """The annotation indexed by the matrix's gene names (by gene name, or by unversioned gene id when that matches more)."""
    pos_of = by_name(ann, "gene", cfg.genes)
    if "gene_id" in ann:  # GTF: join on gene names or on (unversioned) gene ids, whichever matches more
        by_id = by_name(ann, "gene_id", cfg.genes)
        stripped = {g: re.sub(r"\.\d+$", "", g) for g in expr.genes}
        n_name = sum(g in pos_of.index for g in expr.genes)
        n_id = sum(stripped[g] in by_id.index for g in expr.genes)
        if n_id > n_name:
            log.info("%s: matrix genes matched by gene_id (%d) rather than gene_name (%d)", cfg.genes, n_id, n_name)
            pos_of = by_id.loc[[stripped[g] for g in expr.genes if stripped[g] in by_id.index]]
            pos_of.index = [g for g in expr.genes if stripped[g] in by_id.index]
    pos_of = pos_of.drop(columns=[c for c in ("gene", "gene_id") if c in pos_of.columns])
    pos_of.index.name = "gene"  # genes keep the matrix's names
    return pos_of


def _annotated_genes(expr: Expression, ann: pd.DataFrame, cfg: GenomeConfig) -> tuple[pd.DataFrame, list[str]]:
    """The annotation rows of the matrix genes found in it, and the matrix genes not found (warned about)."""
    matched = _match_genes(expr.genes, _annotation_by_name(expr, ann, cfg), cfg)
    in_ann = list(matched.index)
    matched_set = set(in_ann)
    no_ann = [g for g in expr.genes if g not in matched_set]
    if not in_ann:
        raise InputError(f"{cfg.genes}: none of the {len(expr.genes)} genes of {cfg.matrix} is in the annotation "
                         f"(e.g. {', '.join(expr.genes[:3])} vs {', '.join(map(str, ann['gene'].head(3)))}); "
                         f"the names must match exactly (symbols vs Ensembl ids?).")
    if no_ann:
        log.warning("%s: %d of %d matrix gene(s) are not in the annotation %s and are dropped: %s%s", cfg.matrix,
                    len(no_ann), len(expr.genes), cfg.genes, ", ".join(no_ann[:10]), " ..." if len(no_ann) > 10 else "")
    return matched, no_ann


def _chromosomes_used(cfg: GenomeConfig, maps: ContactMaps,
                      matched: pd.DataFrame) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """The matched genes on canonical chromosome names, the chromosomes used (checked against the
    contact file and the chromosome lengths) and each one's name in the contact file."""
    clr = maps.clr
    ann_chroms = set(matched["chromosome"])
    to_file = harmonise_chromosomes(ann_chroms, maps, str(cfg.genes))
    sizes = {canonical_chrom(n): int(s) for n, s in clr.chromsizes.items()}
    if not to_file:
        raise InputError(f"{cfg.contacts}: none of the annotation's chromosomes ({', '.join(sorted(ann_chroms)[:8])}) is "
                         f"in the contact file ({', '.join(clr.chromnames[:8])}); different assemblies or naming?")
    shared = {canonical_chrom(c) for c in to_file}
    file_name = {canonical_chrom(c): f for c, f in to_file.items()}
    sub = matched.copy()
    sub["chromosome"] = [canonical_chrom(c) for c in sub["chromosome"]]
    if cfg.chromosomes is not None:
        chroms = [canonical_chrom(c) for c in cfg.chromosomes]
        missing = [c for c, k in zip(cfg.chromosomes, chroms) if k not in maps.names]
        if missing:
            raise InputError(f"{cfg.contacts}: chromosome(s) {', '.join(missing)} (chromosomes) are not in the contact "
                             f"file (has {', '.join(clr.chromnames)}).")
    else:
        chroms = sorted(shared, key=chrom_order)
    beyond = sub[sub["chromosome"].isin(chroms) & (sub["tss"] >= sub["chromosome"].map(sizes).fillna(np.inf))]
    if len(beyond):
        g = beyond.index[0]
        raise InputError(
            f"{cfg.genes}: {len(beyond)} gene(s) lie beyond the end of their chromosome in {cfg.contacts} (e.g. {g} at "
            f"{beyond.loc[g, 'chromosome']}:{int(beyond.loc[g, 'tss']):,}, chromosome length "
            f"{sizes[beyond.loc[g, 'chromosome']]:,} bp): the annotation and the contacts are on different assemblies."
        )
    return sub, chroms, file_name


def _gene_table(cfg: GenomeConfig, sub: pd.DataFrame, chroms: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The genes on the used chromosomes in genome order (chromosome, TSS, name), and the genes dropped (warned about)."""
    used = sub["chromosome"].isin(chroms).to_numpy()
    off = list(sub.index[~used])
    if off:
        by = sub.loc[~used, "chromosome"].value_counts()
        log.warning("%d gene(s) on chromosomes not used (not in the contact file or not selected) are dropped: %s",
                    len(off), ", ".join(f"{c}: {n}" for c, n in by.items()))
    keep = list(sub.index[used])
    if not keep:
        raise InputError(f"{cfg.genes}: no gene of {cfg.matrix} lies on the chromosomes used ({', '.join(chroms)}).")
    gtab = sub.loc[keep].reset_index()
    gtab["order"] = [chrom_order(c) for c in gtab["chromosome"]]
    gtab = gtab.sort_values(["order", "tss", "gene"], kind="stable").drop(columns="order").reset_index(drop=True)
    return gtab, off


def _per_chromosome(cfg: GenomeConfig, maps: ContactMaps, gtab: pd.DataFrame, chroms: list[str],
                    file_name: dict[str, str], file_chrom: np.ndarray, max_bins: int) -> tuple[dict[str, np.ndarray], tuple[list, ...], dict]:
    """Features and pairs chromosome by chromosome: ``({bin, compartment, insulation, tad_distance}: [G],
    (gene i, gene j, o/e, observed) parts per chromosome, per-chromosome counts)``."""
    clr = maps.clr
    expected = expected_by_distance(maps)
    ins = insulation_table(maps, cfg.insulation_window_bins, cfg.ignore_diags, cfg.boundary_threshold)
    e1 = compartment_track(maps, file_chrom, gtab["tss"].to_numpy(np.int64))
    comp = np.full(len(gtab), "", dtype=object)
    insul = np.full(len(gtab), np.nan)
    tad = np.full(len(gtab), np.nan)
    bins = np.zeros(len(gtab), np.int64)
    pi, pj, poe, pobs = [], [], [], []
    per_chrom: dict[str, dict] = {}
    for c in tqdm(chroms, desc="chromosomes", unit="chrom", disable=None):
        idx = np.flatnonzero(gtab["chromosome"].to_numpy() == c)
        if idx.size == 0:
            continue
        name = file_name.get(c, maps.names.get(c))
        pos = gtab["tss"].to_numpy()[idx]
        r = convert_chromosome(maps, name, pos, expected.get(name, np.zeros(0)), ins[ins["chrom"] == name],
                               e1.loc[e1["chrom"] == name, "E1"].to_numpy(), cfg.k, cfg.min_oe, max_bins,
                               cfg.chunk_pixels)
        comp[idx], insul[idx], tad[idx], bins[idx] = r.compartment, r.insulation, r.tad_distance, r.bins
        pi.append(idx[r.i]), pj.append(idx[r.j]), poe.append(r.oe), pobs.append(r.observed)
        lo, hi = clr.extent(name)
        per_chrom[c] = {"genes": int(idx.size), "bins": int(hi - lo), "bins_without_contacts": r.bins_without_contacts,
                        "tad_boundaries": r.boundaries, "pairs_chosen": int(r.i.size), "pixels_read": r.pixels_read}
    feats = {"bin": bins, "compartment": comp, "insulation": insul, "tad_distance": tad}
    return feats, (pi, pj, poe, pobs), per_chrom


def _unique_pairs(gtab: pd.DataFrame, pi: list[np.ndarray], pj: list[np.ndarray], poe: list[np.ndarray],
                  pobs: list[np.ndarray]) -> tuple[pd.DataFrame, np.ndarray, int]:
    """The chosen (directed) pairs made unordered and unique, first kept: the pairs table, each gene's
    number of partners ``[G]`` and the number of directed pairs chosen."""
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
    return pairs, deg, int(i.size)



def _band(cfg: GenomeConfig):
    """Resolution -> the pixel band a temporary copy needs, in bins (None = whole chromosomes): the
    farthest pair and at least the insulation diamond."""
    def band(res: int) -> int | None:
        if cfg.max_distance_bp == 0:
            return None
        return max(cfg.max_bins(res, 10**9), 2 * cfg.insulation_window_bins)
    return band
