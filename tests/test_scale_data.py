"""benchmarks/scale_data.py: the genome-scale synthetic raw inputs, on a tiny size."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

cooler = pytest.importorskip("cooler")

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("scale_data", ROOT / "benchmarks/scale_data.py")
scale_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scale_data)

KW = dict(n_genes=300, n_times=12, replicates=2, bin_size=200_000, seed=0,
          chromosomes=["18", "chr19"])
FILES = ["contacts.cool", "genes.bed", "expression.tsv", "samples.tsv", "truth.json"]
BED_COLS = ["chrom", "start", "end", "name", "score", "strand"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    base = tmp_path_factory.mktemp("scale")
    return {"graph": scale_data.make_scale_inputs(base / "graph", mode="graph", **KW),
            "again": scale_data.make_scale_inputs(base / "again", mode="graph", **KW),
            "null": scale_data.make_scale_inputs(base / "null", mode="null", **KW)}


def _read(run: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    p = run["paths"]
    bed = pd.read_csv(p["genes"], sep="\t", header=None, names=BED_COLS)
    expr = pd.read_csv(p["expression"], sep="\t")
    samples = pd.read_csv(p["samples"], sep="\t")
    return bed, expr, samples, json.loads(p["truth"].read_text())


def test_text_files(runs):
    run = runs["graph"]
    assert sorted(q.name for q in run["paths"].values()) == sorted(FILES)
    bed, expr, samples, truth = _read(run)
    sizes = pd.read_csv(scale_data.CHROM_SIZES, sep="\t", header=None, index_col=0)[1]
    assert len(bed) == 300 and bed["name"].is_unique
    assert list(bed["chrom"].unique()) == ["chr18", "chr19"]
    assert (bed["end"] == bed["start"] + 1).all() and (bed["start"] >= 0).all()
    assert (bed["end"] <= bed["chrom"].map(sizes)).all()
    assert bed["strand"].isin(["+", "-"]).all() and (bed["score"] == 0).all()
    assert bed.groupby("chrom")["start"].apply(lambda s: s.is_monotonic_increasing).all()
    assert not bed["name"].str.startswith("Synth").any()  # 300 < number of real symbols
    # Expression: same genes, another order; samples T{t:02d}_r{r}, shuffled columns.
    assert expr.columns[0] == "gene" and expr.shape == (300, 1 + 12 * 2)
    assert set(expr["gene"]) == set(bed["name"]) and list(expr["gene"]) != list(bed["name"])
    values = expr.iloc[:, 1:].to_numpy()
    assert np.isfinite(values).all() and (values > 0).all()
    assert list(samples.columns) == ["sample", "time", "replicate"] and len(samples) == 24
    assert set(samples["sample"]) == set(expr.columns[1:])
    assert list(expr.columns[1:]) != sorted(expr.columns[1:])
    t = samples["sample"].str.extract(r"^T(\d{2})_r(\d)$").astype(int)
    assert np.allclose(samples["time"], t[0] * 0.5 - 4.0)
    assert (samples["replicate"] == t[1]).all() and set(t[1]) == {1, 2}
    assert truth["mode"] == "graph" and truth["k"] == 10 and truth["n_genes"] == 300
    assert sum(c["genes"] for c in truth["chromosomes"].values()) == 300
    assert 0.3 < len(truth["driven"]) / 300 < 0.7


def test_cooler(runs):
    run = runs["graph"]
    clr = cooler.Cooler(str(run["paths"]["cool"]))
    sizes = pd.read_csv(scale_data.CHROM_SIZES, sep="\t", header=None, index_col=0)[1]
    assert clr.binsize == 200_000 and clr.chromnames == ["chr18", "chr19"]
    assert list(clr.chromsizes) == [sizes["chr18"], sizes["chr19"]]
    assert clr.info["nnz"] == run["n_pixels"] and clr.pixels()[:]["count"].min() > 0
    pix = clr.pixels()[:]
    assert (pix["bin2_id"] >= pix["bin1_id"]).all()
    assert (pix["bin2_id"] - pix["bin1_id"]).max() <= scale_data.MAX_DIST_BINS
    assert clr.matrix(balance=False).fetch("chr18", "chr19").sum() == 0  # cis only
    m = clr.matrix(balance=False).fetch("chr18").astype(float)
    assert np.array_equal(m, m.T)
    assert np.diagonal(m, 1).mean() > 2 * np.diagonal(m, 20).mean()
    w = clr.bins()[:]["weight"].to_numpy()
    assert np.isfinite(w).mean() > 0.9
    assert clr.open("r")["bins/weight"].attrs["converged"]
    bal = clr.matrix(balance=True).fetch("chr19")  # ICE: equal marginals off diagonals 0-1
    n = len(bal)
    bal[np.abs(np.subtract.outer(np.arange(n), np.arange(n))) < 2] = 0
    marg = np.nansum(bal, axis=0)[np.isfinite(w[-n:])]
    assert marg.std() / marg.mean() < 1e-3


def _lagged_partner_corr(run: dict, genes: list[str]) -> np.ndarray:
    """Per gene: corr(log2 expression at t, mean of its k strongest observed cis partners
    at t-1), partners by raw cooler counts between the genes' bins."""
    bed, expr, samples, truth = _read(run)
    times = samples.set_index("sample")["time"]
    logx = np.log2(expr.set_index("gene")).T
    z = logx.groupby(times[logx.index].to_numpy()).mean()[bed["name"]].to_numpy()
    clr = cooler.Cooler(str(run["paths"]["cool"]))
    r = {}
    for chrom, g in bed.groupby("chrom"):
        b = (g["start"] // clr.binsize).to_numpy()
        c = clr.matrix(balance=False).fetch(chrom).astype(float)[b][:, b]
        np.fill_diagonal(c, -1)
        top = g.index.to_numpy()[np.argsort(-c, axis=1, kind="stable")[:, :truth["k"]]]
        x = z[1:, g.index] - z[1:, g.index].mean(0)
        y = z[:-1][:, top].mean(axis=2)
        y = y - y.mean(0)
        r.update(zip(g["name"], (x * y).sum(0) / np.sqrt((x * x).sum(0) * (y * y).sum(0))))
    return np.array([r[n] for n in genes])


def test_graph_signal_beats_null(runs):
    driven = _read(runs["graph"])[3]["driven"]
    assert _read(runs["null"])[3]["driven"] == []
    graph = _lagged_partner_corr(runs["graph"], driven).mean()
    null = _lagged_partner_corr(runs["null"], driven).mean()
    assert graph > 0.1 and graph - null > 0.1, (graph, null)


def test_determinism_and_shared_layout(runs):
    paths = {k: run["paths"] for k, run in runs.items()}
    for kind, p in paths["graph"].items():
        assert p.read_bytes() == paths["again"][kind].read_bytes(), kind
    for kind in ("cool", "genes"):  # null shares the layout, only the dynamics differ
        assert paths["graph"][kind].read_bytes() == paths["null"][kind].read_bytes(), kind
    assert paths["graph"]["expression"].read_bytes() != paths["null"]["expression"].read_bytes()


def test_names_and_arguments(tmp_path):
    names = scale_data._gene_names(7000, seed=1)
    assert len(set(names)) == 7000 and names[-1].startswith("Synth")
    assert all(re.fullmatch(r"Synth\d+", n) for n in names if n.startswith("Synth"))
    with pytest.raises(ValueError):
        scale_data.make_scale_inputs(tmp_path, 10, 3, mode="chain")
    with pytest.raises(ValueError):
        scale_data.make_scale_inputs(tmp_path, 10, 3, chromosomes=["chrZ"])
