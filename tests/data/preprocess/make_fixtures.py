"""Writes the tiny preprocessing fixtures of this folder (run from the repository root:
``python tests/data/preprocess/make_fixtures.py``). Deterministic; the files are committed.

Two chromosomes on 2 Mb bins, maps labelled ``index * 1e6`` like the published maps:
chr1 is 20 Mb (10 bins, bin 0 empty), chr2 is 13 Mb (7 bins, the last one partial).
Compartments follow a known pattern (contacts 3x stronger within a compartment, decaying
with distance); gene density (TSS table) is high in the A bins.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
BIN = 2_000_000
PATTERN = {"1": "AAABBABBAA", "2": "ABBBAAB"}
SIZES = {"1": 20_000_000, "2": 13_000_000}


def contact_map(chrom: str) -> list[tuple[int, int, float]]:
    pat = PATTERN[chrom]
    first = 1 if chrom == "1" else 0  # chr1 has no data in bin 0, like the real maps
    out = []
    for i in range(first, len(pat)):
        for j in range(first, len(pat)):
            v = (3.0 if pat[i] == pat[j] else 1.0) * 100.0 / (1 + abs(i - j))
            out.append((i * 1_000_000, j * 1_000_000, round(v, 4)))
    return out


def main() -> None:
    (HERE / "tiny.chrom.sizes").write_text("".join(f"chr{c}\t{s}\n" for c, s in SIZES.items()))
    for c in SIZES:
        lines = [f"{a}\t{b}\t{v}" for a, b, v in contact_map(c)]
        (HERE / f"tiny_chr{c}_contact_map.txt").write_text("\n".join(lines) + "\n")
    genes = [  # symbol, chrom, tss, strand
        ("Alpha", "chr1", 4_500_000, "+"), ("Beta-2", "chr1", 10_500_000, "-"),
        ("Gamma", "chr1", 17_000_000, "+"), ("Delta", "chr2", 2_500_000, "+"),
        ("Eps", "chr2", 8_200_000, "-"), ("Zeta", "chr3", 1_000_000, "+"),
        ("Lonely", "chr1", 1_000_000, "+"),
    ]
    rows = []
    for sym, c, tss, strand in genes:
        start = tss - 450 if strand == "+" else tss - 650
        rows.append(f"{c}\t{start}\t{start + 1100}\t{sym}\t-450\t{strand}")
    k = 0
    for c, pat in PATTERN.items():
        for b, comp in enumerate(pat):
            for _ in range(4 if comp == "A" else 1):
                pos = b * BIN + 100_000 + 1000 * k
                rows.append(f"chr{c}\t{pos}\t{pos + 1100}\tDummy{k}\t-450\t+")
                k += 1
    (HERE / "tiny_tss.bed").write_text("\n".join(rows) + "\n")
    (HERE / "tiny_symbols.csv").write_text("name,symbol,note\nGam,Gamma,alias for the test\nNope,,not placed on purpose\n")
    names = ["Alpha", "BETA-2 (PMID 1)", "Gam", "Delta", "Eps", "Zeta", "Orphan", "Lonely", "Nope"]
    rng = np.random.default_rng(0)
    head = ["id", "-4.5", "-4.5", "0.5", "0.5", "1.0", "1.5"]
    lines = ["\t".join(head)]
    for n in names:
        lines.append("\t".join([n] + [f"{x:.3f}" for x in rng.uniform(5, 10, len(head) - 1)]))
    (HERE / "tiny_mrna.txt").write_text("\n".join(lines) + "\n")
    # NanoString-style: 4 annotation columns, stages, one empty column, E16.5 last; CRLF like the real file
    stages = ["p0.5", "P0.5", "P1", "p1.5", "", "E16.5", "E16.5"]
    head = ["Gene Name", "Accession #", "Probe Name", "Class Name"] + stages
    lines = ["\t".join(head)]
    for m in ["mmu-miR-1", "mmu-miR-2", "mmu-miR-3", "mmu-miR-4", "actb"]:
        vals = [str(int(x)) for x in rng.integers(10, 1000, len(stages))]
        vals[4] = ""
        cls = "Housekeeping" if m == "actb" else "Endogenous1"
        lines.append("\t".join([m, "MIMAT0", f"{m}:1", cls] + vals))
    (HERE / "tiny_mirna.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    (HERE / "tiny_targets.csv").write_text(
        "target_gene,mirna\nAlpha,mmu-miR-1\nAlpha,mmu-miR-2\nGamma,mmu-miR-3\nDelta,mmu-miR-4\nEps,actb\n")
    (HERE / "tiny_annotation.csv").write_text(
        "gene,chromosome,start,end\nAlpha,1,4500000,4600000\nBETA-2 (PMID 1),1,10500000,10600000\n"
        "Gam,1,17000000,17100000\nDelta,2,2500000,2600000\nEps,2,8200000,8300000\n")


if __name__ == "__main__":
    main()
