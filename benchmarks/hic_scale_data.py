"""A synthetic whole-mouse-genome Hi-C ``.mcool`` (5 kb to 1 Mb) with 20,000 genes, for the
converter's resolution benchmark (``benchmarks/bench_hic.py``).

    python benchmarks/hic_scale_data.py --out DIR [--genes 20000] [--times 40] [--scale 140] [--seed 0]

Files written into ``DIR``
--------------------------
``contacts.mcool``
    mm9 chromosomes (``dataset/annotation/mm9.chrom.sizes``, chr1..chr19, chrX), base level
    5 kb, then ``cooler.zoomify_cooler`` to 10, 25, 50, 100, 250, 500 kb and 1 Mb. Cis pixels
    up to 2 Mb (400 bins at 5 kb), upper triangle, counts > 0:
    ``count ~ Poisson(scale / (d + 1) x tad)`` with ``d`` the distance in 5 kb bins and ``tad``
    1.5 inside random 100-500 kb blocks. With the default ``--scale 140`` that is about 570
    million cis contacts within 2 Mb (a moderately deep map; 4DN's deepest mESC maps have a few
    billion) and about 120 million pixels at 5 kb. Every level has a multiplicative ``weight``
    column (square-root vanilla coverage, ``1 / sqrt(marginal / mean marginal)``; coarse
    marginals are sums of 5 kb marginals), so the maps read as balanced.
``genes.bed``, ``expression.tsv``, ``samples.tsv``
    ``--genes`` genes at uniform random positions (chromosomes by length), named
    ``Synth1``..; a genes x times matrix of log-normal values, one sample per time.

The same seed gives the same contacts. Not a test; generation takes minutes.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
CHROM_SIZES = ROOT / "dataset/annotation/mm9.chrom.sizes"
CHROMS = [f"chr{i}" for i in range(1, 20)] + ["chrX"]
BASE = 5_000
LEVELS = [5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000]
MAX_DIST_BP = 2_000_000
ROW_BLOCK = 4_000


def chrom_sizes() -> pd.Series:
    s = pd.read_csv(CHROM_SIZES, sep="\t", header=None, names=["chrom", "size"]).set_index("chrom")["size"]
    return s.loc[CHROMS]


def _pixels(sizes: pd.Series, scale: float, seed: int, marg: np.ndarray) -> Iterator[pd.DataFrame]:
    """Upper-triangle cis pixels of the base level, sorted, in row blocks; fills ``marg`` [bins]."""
    rng = np.random.default_rng(seed)
    D = MAX_DIST_BP // BASE
    off = 0
    for chrom, size in sizes.items():
        n = -(-int(size) // BASE)
        tad = np.repeat(np.arange(n), rng.integers(20, 101, size=n))[:n]
        for a in range(0, n, ROW_BLOCK):
            b = min(n, a + ROW_BLOCK)
            i = np.repeat(np.arange(a, b), D + 1)
            j = i + np.tile(np.arange(D + 1), b - a)
            ok = j < n
            i, j = i[ok], j[ok]
            lam = scale / (j - i + 1.0) * np.where(tad[i] == tad[j], 1.5, 1.0)
            c = rng.poisson(lam).astype(np.int32)
            nz = c > 0
            i, j, c = i[nz] + off, j[nz] + off, c[nz]
            marg += np.bincount(i, c, minlength=marg.size)
            marg += np.bincount(j[j != i], c[j != i], minlength=marg.size)
            yield pd.DataFrame({"bin1_id": i, "bin2_id": j, "count": c})
        off += n
        log.info("%s: %d bins", chrom, n)


def _store_weights(mcool: Path, marg5: np.ndarray, sizes: pd.Series) -> None:
    import cooler
    import h5py

    for res in LEVELS:
        uri = f"{mcool}::resolutions/{res}"
        clr = cooler.Cooler(uri)
        f = res // BASE
        marg = np.zeros(len(clr.bins()))
        off5 = offc = 0
        for chrom, size in sizes.items():
            n5 = -(-int(size) // BASE)
            nc = -(-int(size) // res)
            np.add.at(marg, offc + np.arange(n5) // f, marg5[off5:off5 + n5])
            off5 += n5
            offc += nc
        with np.errstate(divide="ignore"):
            w = 1.0 / np.sqrt(marg / marg[marg > 0].mean())
        w[~np.isfinite(w)] = np.nan
        with h5py.File(mcool, "r+") as h:
            grp = h[f"resolutions/{res}/bins"]
            if "weight" in grp:
                del grp["weight"]
            grp.create_dataset("weight", data=w, compression="gzip", compression_opts=6)


def make_inputs(out: Path, n_genes: int = 20_000, n_times: int = 40, scale: float = 140.0, seed: int = 0) -> dict:
    import cooler

    out.mkdir(parents=True, exist_ok=True)
    sizes = chrom_sizes()
    t0 = time.time()
    bins = cooler.util.binnify(sizes, BASE)
    marg = np.zeros(len(bins))
    base = out / "contacts.5kb.cool"
    cooler.create_cooler(str(base), bins, _pixels(sizes, scale, seed, marg), ordered=True, symmetric_upper=True,
                         dtypes={"count": "int32"}, assembly="mm9", temp_dir=str(out))
    mcool = out / "contacts.mcool"
    cooler.zoomify_cooler(str(base), str(mcool), LEVELS, chunksize=10_000_000)
    base.unlink()
    _store_weights(mcool, marg, sizes)
    nnz = {r: int(cooler.Cooler(f"{mcool}::resolutions/{r}").info["nnz"]) for r in LEVELS}
    rng = np.random.default_rng([seed, 1])
    chrom = rng.choice(sizes.index.to_numpy(), size=n_genes, p=(sizes / sizes.sum()).to_numpy())
    tss = (rng.random(n_genes) * sizes.loc[chrom].to_numpy()).astype(np.int64)
    names = [f"Synth{k + 1}" for k in range(n_genes)]
    bed = pd.DataFrame({"chrom": chrom, "start": tss, "end": tss + 1, "name": names, "score": 0,
                        "strand": np.where(rng.random(n_genes) < 0.5, "+", "-")}).sort_values(["chrom", "start"])
    bed.to_csv(out / "genes.bed", sep="\t", header=False, index=False)
    samples = [f"T{t:02d}" for t in range(n_times)]
    X = np.exp(rng.normal(3.0, 1.0, size=(n_genes, 1)) + rng.normal(0, 0.3, size=(n_genes, n_times)))
    pd.DataFrame(X, columns=samples).assign(gene=names)[["gene"] + samples].to_csv(
        out / "expression.tsv", sep="\t", index=False, float_format="%.6g")
    pd.DataFrame({"sample": samples, "time": np.arange(n_times) * 0.5}).to_csv(out / "samples.tsv", sep="\t", index=False)
    facts = {"levels": LEVELS, "nnz": nnz, "cis_contacts": float(marg.sum() / 2), "scale": scale, "seed": seed,
             "genes": n_genes, "times": n_times, "max_dist_bp": MAX_DIST_BP, "seconds": round(time.time() - t0, 1)}
    (out / "facts.json").write_text(json.dumps(facts, indent=2))
    log.info("wrote %s in %.0f s: %s", out, facts["seconds"], nnz)
    return facts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--genes", type=int, default=20_000)
    p.add_argument("--times", type=int, default=40)
    p.add_argument("--scale", type=float, default=140.0)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    make_inputs(Path(a.out), a.genes, a.times, a.scale, a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
