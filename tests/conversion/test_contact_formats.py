"""Hi-C in the formats users download (.hic, .mcool, .cool) and expression as AnnData (.h5ad):
the same contacts or the same expression give the same dataset folder; the sparse, chunked path
equals one block and matches cooltools run directly; names are harmonised and explained."""
from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

cooler = pytest.importorskip("cooler")
hictkpy = pytest.importorskip("hictkpy")
anndata = pytest.importorskip("anndata")

from raw_data_conversion import genome  # noqa: E402
from step.errors import InputError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("scale_data", ROOT / "benchmarks/scale_data.py")
scale_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scale_data)

CHROMS = {"chr1": 1_500_000, "chr2": 900_000}
RES = 10_000
TIMES = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def _pixels(seed: int = 0, band: int = 60) -> pd.DataFrame:
    """Cis upper-triangle pixels ``bin1_id, bin2_id, count`` with distance decay and blocks."""
    rng = np.random.default_rng(seed)
    rows, off = [], 0
    for size in CHROMS.values():
        n = -(-size // RES)
        blocks = np.repeat(np.arange(n // 12 + 1), 12)[:n]
        for i in range(n):
            j = np.arange(i, min(n, i + band))
            lam = 400.0 / (j - i + 1) * np.where(blocks[j] == blocks[i], 2.0, 1.0)
            c = rng.poisson(lam)
            keep = c > 0
            rows.append(np.stack([off + i + 0 * j[keep], off + j[keep], c[keep]], axis=1))
        off += n
    a = np.concatenate(rows)
    return pd.DataFrame({"bin1_id": a[:, 0], "bin2_id": a[:, 1], "count": a[:, 2].astype(np.int32)})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("formats")
    px = _pixels()
    w = hictkpy.hic.FileWriter(str(d / "map.hic"), CHROMS, [RES, 50_000])
    w.add_pixels(px)
    w.finalize()
    c = hictkpy.cooler.FileWriter(str(d / "map.cool"), CHROMS, RES)
    c.add_pixels(px)
    c.finalize()
    cooler.zoomify_cooler(str(d / "map.cool"), str(d / "map.mcool"), [RES, 50_000], chunksize=1_000_000)
    rng = np.random.default_rng(1)
    genes, lines = [], []
    for chrom, size in CHROMS.items():
        for k in range(40):
            g = f"Gene{chrom[3:]}x{k:02d}"
            tss = int(rng.integers(0, size - 1))
            genes.append(g)
            lines.append(f"{chrom[3:]}\t{tss}\t{tss + 1}\t{g}\t0\t{'+' if k % 2 else '-'}\n")  # Ensembl names
    (d / "genes.bed").write_text("".join(lines))
    samples = [f"S{t:g}_r{r}" for t in TIMES for r in (1, 2)]
    X = rng.gamma(2.0, 5.0, size=(len(genes), len(samples))).round(3)
    pd.DataFrame(X, columns=samples).assign(gene=genes)[["gene"] + samples].to_csv(d / "expr.tsv", sep="\t", index=False)
    sheet = pd.DataFrame({"sample": samples, "time": [float(s[1:].split("_")[0]) for s in samples]})
    sheet.to_csv(d / "samples.tsv", sep="\t", index=False)
    ad = anndata.AnnData(X=np.zeros_like(X.T), obs=pd.DataFrame({"day": sheet["time"].to_numpy()}, index=samples),
                         var=pd.DataFrame({"symbol": genes}, index=[f"ENS{k:05d}" for k in range(len(genes))]))
    ad.layers["norm"] = X.T.copy()
    ad.write_h5ad(d / "expr.h5ad")
    return {"dir": d, "hic": d / "map.hic", "cool": d / "map.cool", "mcool": d / "map.mcool",
            "genes": d / "genes.bed", "tsv": d / "expr.tsv", "samples": d / "samples.tsv", "h5ad": d / "expr.h5ad"}


def _run(inputs, out: Path, **kw) -> Path:
    base = dict(matrix=str(inputs["tsv"]), samples=str(inputs["samples"]), genes=str(inputs["genes"]),
                contacts=str(inputs["mcool"]), bin_size=RES, normalization="none", k=4)
    base.update(kw)
    genome.run(genome.load_genome_config(None, base), out)
    return out


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {t: pd.read_csv(folder / f"{t}.tsv.gz", sep="\t") for t in ("genes", "expression", "pairs")}


def _same_folder(a: Path, b: Path) -> None:
    ta, tb = _tables(a), _tables(b)
    for t in ta:
        pd.testing.assert_frame_equal(ta[t], tb[t], check_exact=True, obj=t)
    ca = json.loads((a / "dataset.json").read_text())["counts"]
    cb = json.loads((b / "dataset.json").read_text())["counts"]
    assert ca == cb


@pytest.fixture(scope="module")
def from_mcool(inputs, tmp_path_factory) -> Path:
    return _run(inputs, tmp_path_factory.mktemp("m") / "ds", compartment_bin_size=50_000)


def test_hic_and_mcool_of_the_same_contacts_give_the_same_folder(inputs, from_mcool, tmp_path):
    from_hic = _run(inputs, tmp_path / "hic", contacts=str(inputs["hic"]), compartment_bin_size=50_000)
    _same_folder(from_mcool, from_hic)
    meta = json.loads((from_hic / "dataset.json").read_text())
    assert meta["contacts"]["format"] == "hic" and meta["contacts"]["compartment_map"] == "the file's 50,000 bp level, ICE-balanced (cooler.balance_cooler; the map has no usable weights at this level)"
    assert len(pd.read_csv(from_hic / "pairs.tsv.gz", sep="\t")) > 100


def test_a_single_cool_coarsens_for_compartments(inputs, from_mcool, tmp_path):
    """No coarser level in a .cool: the working map is coarsened by cooler, with the same result as the level."""
    out = _run(inputs, tmp_path / "cool", contacts=str(inputs["cool"]), compartment_bin_size=50_000)
    _same_folder(from_mcool, out)
    assert "coarsened 5x" in json.loads((out / "dataset.json").read_text())["contacts"]["compartment_map"]


def test_h5ad_gives_the_same_folder_as_tsv_and_sample_sheet(inputs, from_mcool, tmp_path):
    out = _run(inputs, tmp_path / "h5", matrix=str(inputs["h5ad"]), samples=None, gene_key="symbol",
               time_key="day", layer="norm", compartment_bin_size=50_000)
    _same_folder(from_mcool, out)


def test_h5ad_errors_name_the_key(inputs, tmp_path):
    with pytest.raises(InputError, match=r"obs has no column 'stage'.*obs columns: day"):
        _run(inputs, tmp_path / "x", matrix=str(inputs["h5ad"]), samples=None, gene_key="symbol", time_key="stage")
    with pytest.raises(InputError, match=r"no layer 'raw' \(--layer\); layers: norm"):
        _run(inputs, tmp_path / "x", matrix=str(inputs["h5ad"]), samples=None, time_key="day", layer="raw")
    with pytest.raises(InputError, match=r"var has no column 'gene_symbols'"):
        _run(inputs, tmp_path / "x", matrix=str(inputs["h5ad"]), samples=None, time_key="day", gene_key="gene_symbols")


def test_chunked_conversion_equals_one_chunk(inputs, from_mcool, tmp_path):
    small = _run(inputs, tmp_path / "small", compartment_bin_size=50_000, chunk_pixels=200)
    _same_folder(from_mcool, small)
    meta = json.loads((small / "dataset.json").read_text())
    assert meta["settings"]["chunk_pixels"] == 200


def test_pairs_respect_the_maximum_distance(inputs, tmp_path):
    out = _run(inputs, tmp_path / "near", max_distance_bp=100_000, compartment_bin_size=50_000)
    genes = pd.read_csv(out / "genes.tsv.gz", sep="\t").set_index("gene")
    pairs = pd.read_csv(out / "pairs.tsv.gz", sep="\t")
    d_bins = np.abs(genes.loc[pairs["gene1"], "bin"].to_numpy() - genes.loc[pairs["gene2"], "bin"].to_numpy())
    assert len(pairs) and d_bins.max() <= 10
    assert json.loads((out / "dataset.json").read_text())["max_distance_bins"] == 10


def test_chromosome_names_are_harmonised_and_logged(inputs, from_mcool, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="raw_data_conversion.genome"):
        _run(inputs, tmp_path / "names", compartment_bin_size=50_000)
    assert "chromosome names harmonised (annotation -> contacts), 2 renamed: 1->chr1, 2->chr2" in caplog.text
    assert set(pd.read_csv(from_mcool / "genes.tsv.gz", sep="\t")["chromosome"].astype(str)) == {"1", "2"}


def test_case_only_gene_mismatch_names_the_cause_and_the_option(inputs, tmp_path):
    m = pd.read_csv(inputs["tsv"], sep="\t")
    m["gene"] = m["gene"].str.upper()
    path = tmp_path / "upper.tsv"
    m.to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match=r"differ only in letter case \(e\.g\. GENE1X00 vs Gene1x00\); use --match-case insensitive"):
        _run(inputs, tmp_path / "x", matrix=str(path))
    out = _run(inputs, tmp_path / "ci", matrix=str(path), match_case="insensitive", compartment_bin_size=50_000)
    genes = pd.read_csv(out / "genes.tsv.gz", sep="\t")
    assert len(genes) == 80 and genes["gene"].str.isupper().all()  # the matrix's spelling is kept


def test_missing_normalisation_lists_what_the_file_has(inputs, tmp_path):
    with pytest.raises(InputError, match=r"no normalisation 'KR' at this resolution \(has none\)"):
        _run(inputs, tmp_path / "x", contacts=str(inputs["hic"]), normalization="KR")
    with pytest.raises(InputError, match=r"no normalisation 'KR' \(its bin columns: none\)"):
        _run(inputs, tmp_path / "x", contacts=str(inputs["cool"]), normalization="KR")


def test_cli_takes_hic_and_refuses_two_contact_flags(inputs, tmp_path, caplog):
    args = ["--matrix", str(inputs["tsv"]), "--samples", str(inputs["samples"]), "--genes", str(inputs["genes"]),
            "--bin-size", str(RES), "--normalization", "none", "--compartment-bin-size", "50000", "--k", "4"]
    assert genome.main(args + ["--hic", str(inputs["hic"]), "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "pairs.tsv.gz").exists()
    assert genome.main(args + ["--hic", str(inputs["hic"]), "--cool", str(inputs["cool"]),
                               "--out", str(tmp_path / "two")]) == 1
    assert "give the contacts once" in caplog.text and not (tmp_path / "two").exists()


# ---------------------------------------------------------------- against cooltools run directly


def test_features_match_cooltools_run_directly(tmp_path):
    import cooltools

    raw = scale_data.make_scale_inputs(tmp_path / "raw", n_genes=200, n_times=6, replicates=1, bin_size=100_000,
                                       seed=3, chromosomes=["18", "19"])["paths"]
    out = tmp_path / "ds"
    genome.run(genome.load_genome_config(None, dict(matrix=str(raw["expression"]), samples=str(raw["samples"]),
                                                    genes=str(raw["genes"]), contacts=str(raw["cool"]), k=5)), out)
    genes = pd.read_csv(out / "genes.tsv.gz", sep="\t")
    clr = cooler.Cooler(str(raw["cool"]))
    w = 10 * clr.binsize
    ins = cooltools.insulation(clr, [w], ignore_diags=2, clr_weight_name="weight", threshold="Li")
    gid = np.array([clr.offset(f"chr{c}") for c in genes["chromosome"].astype(str)]) + genes["bin"].to_numpy()
    np.testing.assert_allclose(genes["insulation"].to_numpy(), ins[f"log2_insulation_score_{w}"].to_numpy()[gid],
                               rtol=1e-5, atol=1e-6, equal_nan=True)  # genes.tsv keeps 6 significant digits
    for c in ("18", "19"):
        sub = genes[genes["chromosome"].astype(str) == c]
        tab = ins[ins["chrom"] == f"chr{c}"].reset_index(drop=True)
        bounds = np.flatnonzero(tab[f"is_boundary_{w}"].to_numpy(bool))
        want = np.abs(sub["bin"].to_numpy()[:, None] - bounds[None, :]).min(axis=1) if bounds.size else np.nan
        np.testing.assert_array_equal(sub["tad_distance"].to_numpy(), want)
    bins = clr.bins()[:]
    tss_bin = np.bincount(gid, minlength=len(bins)).astype(float)
    track = bins[["chrom", "start", "end"]].assign(value=tss_bin)
    _, vecs = cooltools.eigs_cis(clr, phasing_track=track, n_eigs=3, clr_weight_name="weight", clip_percentile=99.9)
    e1 = vecs["E1"].to_numpy()[gid]
    want = np.where(np.isfinite(e1), np.where(e1 > 0, "A", "B"), "nan")
    assert (genes["compartment"].fillna("nan").to_numpy() == want).mean() >= 0.99  # ARPACK: labels at |E1| ~ 0 may flip


def test_yeast_converts_at_10kb_without_a_dense_chromosome_matrix(tmp_path, monkeypatch):
    """Every dense fetch is cooltools.eigs_cis' at the compartment resolution, bounded by
    DENSE_COMPARTMENT_BINS; pairs, expected and insulation read pixels only."""
    from raw_data_conversion.genome.config import DENSE_COMPARTMENT_BINS

    raw = ROOT / "dataset/yeast/raw"
    if not (raw / "yeast.10kb.cool").exists():
        pytest.skip("dataset/yeast/raw not present")
    shapes: list[tuple[int, int]] = []
    real = cooler.Cooler.matrix

    def spy(self, *a, **kw):
        sel = real(self, *a, **kw)
        if not kw.get("as_pixels") and not kw.get("sparse"):
            fetch = sel.fetch

            def counted(*r, **k):
                m = fetch(*r, **k)
                shapes.append(m.shape)
                return m
            sel.fetch = counted
        return sel
    monkeypatch.setattr(cooler.Cooler, "matrix", spy)
    cfg = genome.load_genome_config(ROOT / "configs/preprocess/yeast.yaml", {})
    genome.run(cfg, tmp_path / "yeast")
    assert shapes and max(max(s) for s in shapes) <= DENSE_COMPARTMENT_BINS
    old = pd.read_csv(ROOT / "dataset/yeast/converted/pairs.tsv.gz", sep="\t")
    new = pd.read_csv(tmp_path / "yeast/pairs.tsv.gz", sep="\t")
    assert len(new) == len(old) > 5000


def test_h5ad_with_values_only_in_a_layer_or_duplicate_samples_is_a_clear_error(inputs, tmp_path):
    import anndata

    ad = anndata.read_h5ad(inputs["h5ad"])
    only_layer = anndata.AnnData(X=None, obs=ad.obs.copy(), var=ad.var.copy(), layers={"norm": ad.layers["norm"]})
    p = tmp_path / "layer_only.h5ad"
    only_layer.write_h5ad(p)
    with pytest.raises(InputError, match=r"layer_only.h5ad: X holds no .* name it with --layer \(layers: norm\)"):
        _run(inputs, tmp_path / "x", matrix=str(p), samples=None, gene_key="symbol", time_key="day")
    dup = ad.copy()
    dup.obs_names = [dup.obs_names[0]] * 2 + list(dup.obs_names[2:])
    p = tmp_path / "dup.h5ad"
    dup.write_h5ad(p)
    with pytest.raises(InputError, match=r"dup.h5ad: 1 duplicate sample name\(s\) in obs_names"):
        _run(inputs, tmp_path / "y", matrix=str(p), samples=None, gene_key="symbol", time_key="day", layer="norm")


@pytest.mark.parametrize("fmt", ["hic", "mcool"])
def test_a_truncated_contact_file_is_named_as_damaged(inputs, tmp_path, fmt):
    data = Path(inputs[fmt]).read_bytes()
    p = tmp_path / f"cut.{fmt}"
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match=rf"cut.{fmt}: cannot read this .*file; it looks damaged or truncated"):
        _run(inputs, tmp_path / "x", contacts=str(p), compartment_bin_size=50_000)
