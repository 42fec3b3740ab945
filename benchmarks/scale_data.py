"""Genome-scale synthetic raw inputs, in the form a user brings them: a Hi-C cooler, a gene
BED, an expression matrix and a sample sheet, with a known generating process.

    python benchmarks/scale_data.py --genes 20000 --times 40 --replicates 2 \\
        --bin-size 100000 --seed 0 --out DIR [--mode graph|null] [--chromosomes 1,2,X]

or ``make_scale_inputs(out, n_genes, n_times, ...)`` from Python. The same seed gives
byte-identical files; ``graph`` and ``null`` runs with the same seed share the cooler, the
BED, the gene levels and the innovations (only the dynamics differ).

Files written into ``DIR``
--------------------------
``contacts.cool``
    A cooler (mm9 chromosomes ``chr1``..``chr19``, ``chrX`` by default, real lengths from
    ``dataset/annotation/mm9.chrom.sizes``; fixed bins of ``--bin-size``, the last bin of a
    chromosome ends at its length). Pixels are cis only, upper triangle including the
    diagonal, up to ``MAX_DIST_BINS`` (100) bins apart, only counts > 0, column ``count``
    (int32). ``count ~ Poisson(lambda)`` with

        ``lambda = CONTACT_SCALE / (d + 1) * compartment * tad``

    ``d`` the bin distance; ``compartment`` 2.0 for A-A pairs, 1.5 for B-B, 1.0 for A-B
    (A/B compartments alternate in blocks of 5-40 bins, random per chromosome); ``tad`` 2.0
    for pairs inside the same TAD (random blocks of 5-20 bins), else 1.0. ICE weights are
    stored in the bin column ``weight`` (``cooler.balance_cooler``); if balancing raises,
    the cooler is left unbalanced (logged, ``truth.json: balanced = false``).
``genes.bed``
    BED6, tab-separated, no header: ``chrom  tss  tss+1  name  0  strand`` (``tss``
    0-based, strand ``+``/``-``), sorted by chromosome (sizes-file order) then position.
    Genes per chromosome are proportional to its length; within a chromosome a bin is drawn
    with probability proportional to its length times ``A_GENE_WEIGHT`` (3) for A bins, 1
    for B bins, and the TSS uniformly inside the bin. Names are unique: real mouse symbols
    (union of ``dataset/genesets/mh.all...gmt`` and ``m2.cp.wikipathways...gmt``, sorted,
    shuffled with the seed) and then ``Synth1``, ``Synth2``, ... when more are needed,
    assigned to positions in random order.
``expression.tsv``
    Tab-separated, header ``gene`` then one column per sample named ``T{t:02d}_r{r}`` (time
    index ``t`` from 0, replicate ``r`` from 1), columns in shuffled order; one row per BED
    gene, rows in shuffled order (join by name). Values are non-negative TPM-like
    normalised expression ``2 ** y`` written with 6 significant digits.
``samples.tsv``
    Tab-separated, header ``sample  time  replicate``; ``time`` in days (float,
    ``t * TIME_STEP + TIME_START`` = ``t * 0.5 - 4.0``), ``replicate`` an int; rows sorted
    by time then replicate, one per expression column.
``truth.json``
    The generating facts: mode, a, b, noise, k, seed, sizes, the contact model, the names
    of the driven genes, and per chromosome its length, bins, genes and pixels.

Expression model (log2 scale)
-----------------------------
``graph``: gene ``i`` follows a stationary VAR(1) around its level ``mu_i ~ N(5, 2)``:

    ``z_i(t) - mu_i = a_i (z_i(t-1) - mu_i) + b_i mean_{j in N(i)} (z_j(t-1) - mu_j) + e_i(t)``

with ``e ~ N(0, 0.3)``. ``N(i)`` are gene ``i``'s ``k = 10`` strongest cis partners by
*expected* contact (``lambda`` above between the genes' bins, without the distance cut-off;
genes in the same bin are at distance 0; ties broken by genomic distance, then gene index;
a gene with fewer than ``k`` other genes on its chromosome uses all of them). A random 50% of
genes are *driven* (``a = 0.3, b = 0.6``); the others have ``a = 0.7, b = 0`` (independent
AR(1), the same persistence ``a + b``). ``null``: every gene is an independent AR(1) with
``a = 0.7``. The chain starts at ``mu`` and runs ``BURN_IN`` (50) steps before the first
recorded time. Replicate ``r`` of time ``t`` is ``y = z(t) + N(0, 0.1)``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
CHROM_SIZES = ROOT / "dataset/annotation/mm9.chrom.sizes"
GMT_FILES = (ROOT / "dataset/genesets/mh.all.2023.1.Mm.symbols.gmt",
             ROOT / "dataset/genesets/m2.cp.wikipathways.2023.1.Mm.symbols.gmt")
DEFAULT_CHROMS = [f"chr{i}" for i in range(1, 20)] + ["chrX"]

# Contact model.
CONTACT_SCALE = 50.0
MAX_DIST_BINS = 100
COMP_AA, COMP_BB, COMP_AB = 2.0, 1.5, 1.0
TAD_FACTOR = 2.0
COMP_BLOCK = (5, 40)  # inclusive block lengths in bins
TAD_BLOCK = (5, 20)
A_GENE_WEIGHT = 3.0

# Expression model.
K_NEIGHBOURS = 10
A_DRIVEN, B_DRIVEN = 0.3, 0.6
A_FREE = 0.7
NOISE_SD = 0.3
REPLICATE_SD = 0.1
BURN_IN = 50
MU_MEAN, MU_SD = 5.0, 2.0
DRIVEN_FRACTION = 0.5
TIME_START, TIME_STEP = -4.0, 0.5

# Independent random streams, so graph and null runs share everything but the dynamics.
_LAYOUT, _CONTACTS, _GENES, _NAMES, _EXPR, _SHUFFLE = range(6)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _chrom_sizes(chromosomes: list[str] | None) -> pd.Series:
    """The selected mm9 chromosome lengths (sizes-file order); names with or without ``chr``."""
    sizes = pd.read_csv(CHROM_SIZES, sep="\t", header=None, names=["chrom", "length"])
    sizes = sizes.set_index("chrom")["length"]
    if chromosomes is None:
        wanted = DEFAULT_CHROMS
    else:
        wanted = [c if c.startswith("chr") else f"chr{c}" for c in chromosomes]
        unknown = sorted(set(wanted) - set(sizes.index))
        if unknown:
            raise ValueError(f"unknown chromosomes {unknown}; known: {list(sizes.index)}")
    return sizes[[c for c in sizes.index if c in set(wanted)]].astype(np.int64)


def _blocks(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    """Block id of each of ``n`` bins, blocks of random length in ``[lo, hi]``."""
    lengths = rng.integers(lo, hi + 1, size=n // lo + 2)
    return np.searchsorted(np.cumsum(lengths), np.arange(n), side="right")


def _expected(d: np.ndarray, ca: np.ndarray, cb: np.ndarray, ta: np.ndarray,
              tb: np.ndarray) -> np.ndarray:
    """Expected contact ``lambda`` at bin distance ``d`` (``ca/cb``: is-A; ``ta/tb``: TAD id)."""
    comp = np.where(ca == cb, np.where(ca, COMP_AA, COMP_BB), COMP_AB)
    tad = np.where(ta == tb, TAD_FACTOR, 1.0)
    return CONTACT_SCALE / (d + 1.0) * comp * tad


def _gene_names(n: int, seed: int) -> np.ndarray:
    """``n`` unique names: shuffled real symbols from the GMT files, then ``Synth<k>``."""
    symbols: set[str] = set()
    for path in GMT_FILES:
        for line in path.read_text().splitlines():
            symbols.update(s for s in line.split("\t")[2:] if s.strip())
    pool = np.array(sorted(symbols), dtype=object)
    _rng(seed, _NAMES).shuffle(pool)
    names = list(pool[:n]) + [f"Synth{k}" for k in range(1, max(0, n - len(pool)) + 1)]
    return np.array(names, dtype=object)


def _split_counts(n: int, weights: np.ndarray) -> np.ndarray:
    """Integers summing to ``n`` proportional to ``weights`` (largest remainder)."""
    share = n * weights / weights.sum()
    counts = np.floor(share).astype(np.int64)
    rest = n - counts.sum()
    counts[np.argsort(-(share - counts), kind="stable")[:rest]] += 1
    return counts


def _neighbours(bins: np.ndarray, pos: np.ndarray, is_a: np.ndarray, tad: np.ndarray,
                k: int) -> np.ndarray:
    """Per gene of one chromosome, the local indices of its ``k`` strongest expected partners.

    ``bins``/``pos``: the genes' bin and TSS; ``is_a``/``tad``: per bin. Returns ``[n, k']``
    with ``k' = min(k, n - 1)``.
    """
    n = len(bins)
    lam = _expected(np.abs(bins[:, None] - bins[None, :]).astype(float), is_a[bins][:, None],
                    is_a[bins][None, :], tad[bins][:, None], tad[bins][None, :])
    np.fill_diagonal(lam, -np.inf)
    dist = np.abs(pos[:, None] - pos[None, :])
    idx = np.broadcast_to(np.arange(n), (n, n))
    order = np.lexsort((idx, dist, -lam), axis=-1)  # last key is the primary one
    return order[:, :min(k, n - 1)]


def _ice_start(pixels: pd.DataFrame, good: np.ndarray, ignore_diags: int = 2,
               tol: float = 1e-12, max_iters: int = 2000) -> np.ndarray:
    """Near-converged ICE weights by damped (square-root) iterations on the sparse matrix.

    ``cooler.balance_cooler``'s full-step update oscillates on a cis-only band matrix (the
    chromosome blocks are disconnected and it has no long-range contacts), so it is started
    here, from weights whose balanced marginals are already 1; ``good``: the bins cooler's
    filters keep.
    """
    from scipy import sparse

    b1, b2 = pixels["bin1_id"].to_numpy(), pixels["bin2_id"].to_numpy()
    keep = (b2 - b1 >= ignore_diags) & good[b1] & good[b2]
    n = len(good)
    mat = sparse.csr_matrix((pixels["count"].to_numpy()[keep].astype(float),
                             (b1[keep], b2[keep])), shape=(n, n))
    mat = (mat + mat.T).tocsr()
    bias = good.astype(float)
    for it in range(max_iters):
        marg = bias * (mat @ bias)
        nz = marg > 0
        rel = marg[nz] / marg[nz].mean()
        if rel.var() < tol:
            break
        bias[nz] /= np.sqrt(rel)
    else:
        log.warning("damped ICE start: no convergence after %d iterations", max_iters)
    marg = bias * (mat @ bias)
    bias /= np.sqrt(marg[marg > 0].mean())
    log.info("damped ICE start: %d iterations", it + 1)
    return bias


def _write_cooler(path: Path, sizes: pd.Series, bin_size: int, pixels: pd.DataFrame,
                  seed: int) -> tuple[bool, bool | None]:
    """Create the cooler and ICE-balance it. Returns (balanced, converged)."""
    import warnings

    import cooler
    import h5py

    bins = cooler.util.binnify(sizes, bin_size)
    tmp = path.with_name(path.name + ".tmp")
    cooler.create_cooler(str(tmp), bins, pixels, ordered=True, symmetric_upper=True,
                         dtypes={"count": "int32"}, assembly="mm9",
                         metadata={"generator": "benchmarks/scale_data.py", "seed": seed})
    # Copy into a fresh file with a fixed creation date, so the same seed gives the same bytes
    # (overwriting the attribute in place leaves the old date in the file's free space).
    path.unlink(missing_ok=True)
    with h5py.File(tmp, "r") as src, h5py.File(path, "w") as dst:
        dst.attrs.update({**src.attrs, "creation-date": "2000-01-01T00:00:00"})
        for name in src:
            src.copy(src[name], dst, name=name)
    tmp.unlink()
    clr = cooler.Cooler(str(path))
    try:
        with warnings.catch_warnings():  # one iteration, only for the filtered-bin mask
            warnings.simplefilter("ignore", UserWarning)
            probe, _ = cooler.balance_cooler(clr, max_iters=1)
        x0 = _ice_start(pixels, np.isfinite(probe))
        _, stats = cooler.balance_cooler(clr, x0=x0, store=True)
    except Exception as exc:  # noqa: BLE001 - any failure leaves a usable raw cooler
        log.warning("balancing failed (%s); the cooler is left unbalanced", exc)
        return False, None
    if not stats["converged"]:
        log.warning("ICE did not converge (var %.3g); weights stored anyway", stats["var"])
    return True, bool(stats["converged"])


def make_scale_inputs(out: Path, n_genes: int, n_times: int, replicates: int = 2,
                      bin_size: int = 100_000, seed: int = 0, mode: str = "graph",
                      chromosomes: list[str] | None = None) -> dict:
    """Write ``contacts.cool``, ``genes.bed``, ``expression.tsv``, ``samples.tsv`` and
    ``truth.json`` into ``out`` (see the module docstring for formats and model).

    Returns ``{"paths": {kind: Path}, "n_genes", "n_times", "n_samples", "n_bins",
    "n_pixels", "n_driven", "balanced", "seconds"}``.
    """
    if mode not in ("graph", "null"):
        raise ValueError(f"mode must be 'graph' or 'null', not {mode!r}")
    if n_genes < 1 or n_times < 1 or replicates < 1 or bin_size < 1:
        raise ValueError("n_genes, n_times, replicates and bin_size must be positive")
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = _chrom_sizes(chromosomes)
    n_bins = -(-sizes.to_numpy() // bin_size)
    offsets = np.concatenate([[0], np.cumsum(n_bins)])
    layout, r_contacts, r_genes = _rng(seed, _LAYOUT), _rng(seed, _CONTACTS), _rng(seed, _GENES)
    gene_counts = _split_counts(n_genes, sizes.to_numpy().astype(float))

    pix_parts, bed_parts, nbr_parts = [], [], []
    per_chrom: dict[str, dict] = {}
    gene_offset = 0
    for c, (chrom, length) in enumerate(sizes.items()):
        nb = int(n_bins[c])
        is_a = (_blocks(layout, nb, *COMP_BLOCK) + layout.integers(2)) % 2 == 0
        tad = _blocks(layout, nb, *TAD_BLOCK)
        # Pixels: upper triangle up to MAX_DIST_BINS, row-major, so sorted by (bin1, bin2).
        i = np.broadcast_to(np.arange(nb)[:, None], (nb, MAX_DIST_BINS + 1))
        j = i + np.arange(MAX_DIST_BINS + 1)[None, :]
        keep = j < nb
        i, j = i[keep], j[keep]
        counts = r_contacts.poisson(_expected((j - i).astype(float), is_a[i], is_a[j],
                                              tad[i], tad[j]))
        nz = counts > 0
        pix_parts.append(np.stack([i[nz] + offsets[c], j[nz] + offsets[c], counts[nz]], axis=1))
        # Genes: bins weighted by length and compartment, TSS uniform inside the bin.
        ng = int(gene_counts[c])
        starts = np.arange(nb, dtype=np.int64) * bin_size
        blen = np.minimum(starts + bin_size, length) - starts
        p = blen * np.where(is_a, A_GENE_WEIGHT, 1.0)
        gbin = r_genes.choice(nb, size=ng, p=p / p.sum())
        pos = starts[gbin] + np.floor(r_genes.random(ng) * blen[gbin]).astype(np.int64)
        strand = np.where(r_genes.random(ng) < 0.5, "+", "-")
        order = np.lexsort((gbin, pos))
        gbin, pos, strand = gbin[order], pos[order], strand[order]
        bed_parts.append(pd.DataFrame({"chrom": chrom, "start": pos, "end": pos + 1,
                                       "strand": strand}))
        nbr = np.full((ng, K_NEIGHBOURS), -1, dtype=np.int64)
        if ng > 1:
            local = _neighbours(gbin, pos, is_a, tad, K_NEIGHBOURS)
            nbr[:, :local.shape[1]] = local + gene_offset
        nbr_parts.append(nbr)
        per_chrom[chrom] = {"length": int(length), "bins": nb, "genes": ng,
                            "pixels": int(nz.sum()), "a_bins": int(is_a.sum())}
        gene_offset += ng

    pixels = pd.DataFrame(np.concatenate(pix_parts), columns=["bin1_id", "bin2_id", "count"])
    del pix_parts
    cool_path = out / "contacts.cool"
    balanced, converged = _write_cooler(cool_path, sizes, bin_size, pixels, seed)
    n_pixels = len(pixels)
    del pixels

    bed = pd.concat(bed_parts, ignore_index=True)
    names = _gene_names(n_genes, seed)
    shuf = _rng(seed, _SHUFFLE)
    bed["name"] = names[shuf.permutation(n_genes)]
    bed["score"] = 0
    bed_path = out / "genes.bed"
    bed[["chrom", "start", "end", "name", "score", "strand"]].to_csv(
        bed_path, sep="\t", header=False, index=False)

    # Expression: VAR(1) on deviations from mu, vectorised over genes, looped over time.
    nbr = np.concatenate(nbr_parts)
    has = nbr >= 0
    n_nbr = np.maximum(has.sum(axis=1), 1)
    safe = np.where(has, nbr, 0)
    r_expr = _rng(seed, _EXPR)
    mu = r_expr.normal(MU_MEAN, MU_SD, n_genes)
    driven = r_expr.random(n_genes) < DRIVEN_FRACTION
    if mode == "graph":
        a = np.where(driven, A_DRIVEN, A_FREE)
        b = np.where(driven, B_DRIVEN, 0.0)
    else:
        a, b = np.full(n_genes, A_FREE), np.zeros(n_genes)
    dev = np.zeros(n_genes)
    z = np.empty((n_times, n_genes))
    for step in range(BURN_IN + n_times):
        drive = (dev[safe] * has).sum(axis=1) / n_nbr
        dev = a * dev + b * drive + NOISE_SD * r_expr.standard_normal(n_genes)
        if step >= BURN_IN:
            z[step - BURN_IN] = mu + dev
    y = z[:, None, :] + REPLICATE_SD * r_expr.standard_normal((n_times, replicates, n_genes))
    samples = pd.DataFrame({
        "sample": [f"T{t:02d}_r{r + 1}" for t in range(n_times) for r in range(replicates)],
        "time": [t * TIME_STEP + TIME_START for t in range(n_times) for _ in range(replicates)],
        "replicate": [r + 1 for _ in range(n_times) for r in range(replicates)]})
    values = np.exp2(y.reshape(n_times * replicates, n_genes)).T  # [genes, samples]
    rows, cols = shuf.permutation(n_genes), shuf.permutation(len(samples))
    expr = pd.DataFrame(values[rows][:, cols], columns=samples["sample"].to_numpy()[cols])
    expr.insert(0, "gene", bed["name"].to_numpy()[rows])
    expr_path, samples_path = out / "expression.tsv", out / "samples.tsv"
    expr.to_csv(expr_path, sep="\t", index=False, float_format="%.6g")
    samples.to_csv(samples_path, sep="\t", index=False)

    truth = {
        "mode": mode, "a": A_DRIVEN if mode == "graph" else A_FREE,
        "b": B_DRIVEN if mode == "graph" else 0.0, "a_undriven": A_FREE,
        "noise": NOISE_SD, "replicate_noise": REPLICATE_SD, "k": K_NEIGHBOURS,
        "burn_in": BURN_IN, "mu_mean": MU_MEAN, "mu_sd": MU_SD,
        "driven_fraction": DRIVEN_FRACTION if mode == "graph" else 0.0,
        "seed": seed, "n_genes": n_genes, "n_times": n_times, "replicates": replicates,
        "bin_size": bin_size, "time_days": f"t * {TIME_STEP} + {TIME_START}",
        "contacts": {"scale": CONTACT_SCALE, "max_dist_bins": MAX_DIST_BINS,
                     "compartment": {"AA": COMP_AA, "BB": COMP_BB, "AB": COMP_AB},
                     "compartment_block_bins": list(COMP_BLOCK), "tad_factor": TAD_FACTOR,
                     "tad_block_bins": list(TAD_BLOCK), "a_gene_weight": A_GENE_WEIGHT,
                     "balanced": balanced, "balance_converged": converged},
        "n_pixels": n_pixels, "chromosomes": per_chrom,
        "driven": sorted(bed["name"][driven]) if mode == "graph" else [],
    }
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(truth, indent=1) + "\n")
    seconds = time.perf_counter() - t0
    log.info("wrote %d genes x %d samples, %d bins, %d pixels to %s in %.1f s", n_genes,
             len(samples), int(offsets[-1]), n_pixels, out, seconds)
    return {"paths": {"cool": cool_path, "genes": bed_path, "expression": expr_path,
                      "samples": samples_path, "truth": truth_path},
            "n_genes": n_genes, "n_times": n_times, "n_samples": len(samples),
            "n_bins": int(offsets[-1]), "n_pixels": n_pixels,
            "n_driven": int(driven.sum()) if mode == "graph" else 0,
            "balanced": balanced, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--genes", type=int, default=20000)
    ap.add_argument("--times", type=int, default=40)
    ap.add_argument("--replicates", type=int, default=2)
    ap.add_argument("--bin-size", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mode", choices=["graph", "null"], default="graph")
    ap.add_argument("--chromosomes", default=None,
                    help="comma-separated, e.g. 1,2,X (default chr1..chr19, chrX)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    chroms = [c.strip() for c in args.chromosomes.split(",") if c.strip()] \
        if args.chromosomes else None
    make_scale_inputs(args.out, args.genes, args.times, args.replicates, args.bin_size,
                      args.seed, args.mode, chroms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
