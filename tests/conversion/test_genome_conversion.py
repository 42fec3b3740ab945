"""Genome-scale input: raw_data_conversion.genome (matrix + sample sheet + BED/GTF + cooler ->
dataset folder), the dataset-folder loader, bad input, and a job run on the folder."""
from __future__ import annotations

import gzip
import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

cooler = pytest.importorskip("cooler")

from raw_data_conversion import genome  # noqa: E402
from step.data.load import load_course  # noqa: E402
from step.errors import InputError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("scale_data", ROOT / "benchmarks/scale_data.py")
scale_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scale_data)

KW = dict(n_genes=300, n_times=12, replicates=2, bin_size=200_000, seed=1, chromosomes=["18", "19"])


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> dict[str, Path]:
    return scale_data.make_scale_inputs(tmp_path_factory.mktemp("raw"), **KW)["paths"]


def _cfg(raw: dict[str, Path], **kw) -> genome.GenomeConfig:
    base = dict(matrix=str(raw["expression"]), samples=str(raw["samples"]), genes=str(raw["genes"]),
                cool=str(raw["cool"]), k=5)
    base.update(kw)
    return genome.load_genome_config(None, base)


@pytest.fixture(scope="module")
def converted(raw, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "mine"
    genome.run(_cfg(raw), out)
    return out


def test_folder_contents_and_counts(converted, raw):
    meta = json.loads((converted / "dataset.json").read_text())
    assert meta["format"] == "step-dataset" and meta["version"] == 1
    c = meta["counts"]
    assert c["genes_in_matrix"] == 300 and c["genes_kept"] == 300 and c["genes_not_in_annotation"] == 0
    assert c["time_points"] == 12 and c["replicates_per_time"] == [2] * 12
    genes = pd.read_csv(converted / "genes.tsv.gz", sep="\t")
    assert list(genes.columns) == ["gene", "chromosome", "tss", "bin", "compartment", "insulation", "tad_distance"]
    assert set(genes["chromosome"].astype(str)) == {"18", "19"}
    assert set(genes["compartment"].dropna()) <= {"A", "B"}
    # replicate means: one gene by hand from the raw matrix and the sample sheet
    m = pd.read_csv(raw["expression"], sep="\t").set_index("gene")
    s = pd.read_csv(raw["samples"], sep="\t")
    e = pd.read_csv(converted / "expression.tsv.gz", sep="\t").set_index("gene")
    g = genes["gene"].iloc[7]
    t0 = sorted(s["time"].unique())[3]
    want = m.loc[g, s.loc[s["time"] == t0, "sample"]].mean()
    assert e.loc[g, repr(float(t0))] == pytest.approx(want, rel=1e-6)
    assert list(e.index) == list(genes["gene"])


def test_pairs_are_each_genes_top_k_by_observed_over_expected(converted, raw):
    """Recompute O/E for a few genes straight from the cooler's balanced matrix."""
    genes = pd.read_csv(converted / "genes.tsv.gz", sep="\t")
    pairs = pd.read_csv(converted / "pairs.tsv.gz", sep="\t")
    assert (pairs["gene1"] != pairs["gene2"]).all()
    key = pairs[["gene1", "gene2"]].apply(lambda r: tuple(sorted(r)), axis=1)
    assert not key.duplicated().any()
    clr = cooler.Cooler(str(raw["cool"]))
    sub = genes[genes["chromosome"].astype(str) == "19"].reset_index(drop=True)
    M = clr.matrix(balance=True).fetch("chr19")
    n = M.shape[0]
    exp = np.array([np.nanmean(np.diagonal(M, d)) if np.isfinite(np.diagonal(M, d)).any() else np.nan for d in range(n)])
    b = (sub["tss"] // clr.binsize).to_numpy()
    partners = {g: set() for g in sub["gene"]}
    for a, c in zip(pairs["gene1"], pairs["gene2"]):
        if a in partners:
            partners[a].add(c)
        if c in partners:
            partners[c].add(a)
    checked = 0
    for r in (0, len(sub) // 2, len(sub) - 1):
        with np.errstate(all="ignore"):
            oe = np.array([M[b[r], b[x]] / exp[abs(b[r] - b[x])] if x != r else np.nan for x in range(len(sub))])
        ok = np.isfinite(oe)
        if ok.sum() < 5:
            continue
        fifth = np.sort(oe[ok])[-5]
        strictly_better = {sub["gene"][x] for x in np.flatnonzero(ok & (oe > fifth + 1e-9))}
        assert strictly_better <= partners[sub["gene"][r]]  # all that beat the 5th best are chosen
        assert len(partners[sub["gene"][r]]) >= 5
        checked += 1
    assert checked >= 2


def test_loader_reads_the_folder(converted):
    course = load_course(converted)
    assert course.n_genes == 300 and course.n_times == 12
    assert course.X.shape == (12, 300) and np.isfinite(course.X).all()
    assert (course.pairs[:, 0] < course.pairs[:, 1]).all()
    assert (course.hic >= 0).all() and len(course.checksum) == 64
    assert np.all(np.diff(course.times) > 0)


def test_min_oe_drops_weak_pairs(raw, tmp_path):
    out = genome.run(_cfg(raw, min_oe=1.5), tmp_path / "strict")
    pairs = pd.read_csv(out / "pairs.tsv.gz", sep="\t")
    assert (pairs["hic"] >= 1.5).all()
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["counts"]["pairs_kept"] == len(pairs)


def test_header_times_without_a_sample_sheet(raw, tmp_path):
    m = pd.read_csv(raw["expression"], sep="\t")
    s = pd.read_csv(raw["samples"], sep="\t").set_index("sample")
    m.columns = ["gene"] + [f"{s.loc[c, 'time']}_r{s.loc[c, 'replicate']}" for c in m.columns[1:]]
    path = tmp_path / "m.csv"
    m.to_csv(path, index=False)
    out = genome.run(_cfg(raw, matrix=str(path), samples=None), tmp_path / "hdr")
    assert json.loads((out / "dataset.json").read_text())["counts"]["time_points"] == 12


# --------------------------------------------------------------------------- bad input


def _write_matrix(raw, tmp_path, edit) -> str:
    m = pd.read_csv(raw["expression"], sep="\t", dtype=str)
    m = edit(m)
    path = tmp_path / "bad.tsv"
    m.to_csv(path, sep="\t", index=False)
    return str(path)


def test_duplicate_gene_in_matrix_is_an_error(raw, tmp_path):
    path = _write_matrix(raw, tmp_path, lambda m: pd.concat([m, m.iloc[[4]]]))
    with pytest.raises(InputError, match=r"bad.tsv: 1 duplicate gene name.*lines 6 and 302"):
        genome.convert(_cfg(raw, matrix=path))


def test_duplicate_sample_name_is_an_error(raw, tmp_path):
    text = Path(raw["expression"]).read_text().split("\n", 1)
    head = text[0].split("\t")
    head[2] = head[1]
    path = tmp_path / "dup.tsv"
    path.write_text("\t".join(head) + "\n" + text[1])
    with pytest.raises(InputError, match=r"dup.tsv: line 1: duplicate sample column name\(s\) " + head[1]):
        genome.convert(_cfg(raw, matrix=str(path)))


def test_non_numeric_cell_names_line_and_column(raw, tmp_path):
    def edit(m):
        m.iloc[9, 3] = "n/a?"
        return m
    path = _write_matrix(raw, tmp_path, edit)
    col = pd.read_csv(raw["expression"], sep="\t", nrows=0).columns[3]
    with pytest.raises(InputError, match=rf"line 11, column '{col}': value 'n/a\?' is not a number"):
        genome.convert(_cfg(raw, matrix=path))


def test_sample_sheet_naming_missing_samples_is_an_error(raw, tmp_path):
    s = pd.read_csv(raw["samples"], sep="\t")
    s = pd.concat([s, pd.DataFrame({"sample": ["T99_r1"], "time": [99.0], "replicate": [1]})])
    path = tmp_path / "sheet.tsv"
    s.to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match=r"sheet.tsv: 1 sample\(s\) of the sheet are not columns of .*T99_r1"):
        genome.convert(_cfg(raw, samples=str(path)))


def test_matrix_columns_missing_from_the_sheet_are_dropped_and_logged(raw, tmp_path, caplog):
    s = pd.read_csv(raw["samples"], sep="\t")
    path = tmp_path / "sheet.tsv"
    s.iloc[1:].to_csv(path, sep="\t", index=False)
    with caplog.at_level(logging.WARNING):
        ds = genome.convert(_cfg(raw, samples=str(path)))
    assert "1 sample column(s) not in the sample sheet" in caplog.text
    assert ds.meta["counts"]["samples_not_in_sheet"] == [s["sample"].iloc[0]]


def test_genes_missing_from_the_annotation_are_dropped_with_a_count(raw, tmp_path, caplog):
    bed = pd.read_csv(raw["genes"], sep="\t", header=None)
    path = tmp_path / "genes.bed"
    bed.iloc[10:].to_csv(path, sep="\t", header=False, index=False)
    with caplog.at_level(logging.WARNING):
        ds = genome.convert(_cfg(raw, genes=str(path)))
    assert "10 of 300 matrix gene(s) are not in the annotation" in caplog.text
    assert ds.meta["counts"]["genes_not_in_annotation"] == 10 and len(ds.genes) == 290


def test_no_shared_gene_names_is_an_error(raw, tmp_path):
    bed = pd.read_csv(raw["genes"], sep="\t", header=None)
    bed[3] = "ENSMUSG" + bed.index.astype(str)
    path = tmp_path / "ids.bed"
    bed.to_csv(path, sep="\t", header=False, index=False)
    with pytest.raises(InputError, match="none of the 300 genes .* is in the annotation"):
        genome.convert(_cfg(raw, genes=str(path)))


def test_cooler_bin_size_mismatch_is_an_error(raw):
    with pytest.raises(InputError, match=r"bin size 200,000 bp but 100,000 bp was expected"):
        genome.convert(_cfg(raw, bin_size=100_000))


def test_annotation_on_another_assembly_is_an_error(raw, tmp_path):
    bed = pd.read_csv(raw["genes"], sep="\t", header=None)
    bed.loc[3, 1] = 95_000_000  # chr18 of mm9 is 90.8 Mb
    bed.loc[3, 2] = 95_000_001
    bed.loc[3, 0] = "chr18"
    path = tmp_path / "other.bed"
    bed.to_csv(path, sep="\t", header=False, index=False)
    with pytest.raises(InputError, match=r"beyond the end of their chromosome .* different assemblies"):
        genome.convert(_cfg(raw, genes=str(path)))


def _gtf(raw, tmp_path) -> Path:
    bed = pd.read_csv(raw["genes"], sep="\t", header=None)
    lines = ["#!genome-build test", "#!comment line"]
    for _, r in bed.iterrows():
        start, end = (r[1] + 1, r[1] + 5000) if r[5] == "+" else (r[2] - 5000, r[2])
        attr = f'gene_id "ENSMUSG{r.name:05d}.7"; gene_name "{r[3]}"; note "a#b";'
        lines.append(f"{r[0]}\tsrc\tgene\t{max(start, 1)}\t{end}\t.\t{r[5]}\t.\t{attr}")
        lines.append(f'{r[0]}\tsrc\texon\t{max(start, 1)}\t{end}\t.\t{r[5]}\t.\tgene_id "ENSMUSG{r.name:05d}.7";')
    path = tmp_path / "genes.gtf.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def test_gtf_annotation_both_strands(raw, tmp_path):
    bed = pd.read_csv(raw["genes"], sep="\t", header=None)
    ann = genome.read_gene_positions(_gtf(raw, tmp_path)).set_index("gene")
    assert len(ann) == len(bed)
    for strand in "+-":
        r = bed[bed[5] == strand].iloc[0]
        assert int(ann.loc[r[3], "tss"]) == (r[1] if strand == "+" else r[2] - 1)
    assert ann["gene_id"].str.match(r"^ENSMUSG\d{5}$").all()  # version suffix stripped


def test_matrix_with_gene_ids_joins_a_gtf_on_gene_id(raw, tmp_path, caplog):
    """An Ensembl-id matrix (featureCounts, salmon) against a GTF with gene names: join on gene_id."""
    bed = pd.read_csv(raw["genes"], sep="\t", header=None)
    ids = {r[3]: f"ENSMUSG{i:05d}.3" for i, r in bed.iterrows()}
    path = _write_matrix(raw, tmp_path, lambda m: m.assign(gene=m["gene"].map(ids)))
    with caplog.at_level(logging.INFO):
        ds = genome.convert(_cfg(raw, matrix=path, genes=str(_gtf(raw, tmp_path))))
    assert len(ds.genes) == 300 and "matched by gene_id" in caplog.text


def test_gff3_is_refused_clearly(raw, tmp_path):
    path = tmp_path / "genes.gff3"
    path.write_text("##gff-version 3\nchr1\tsrc\tgene\t1\t10\t.\t+\t.\tID=g1;Name=A\n")
    with pytest.raises(InputError, match="GFF3 is not read"):
        genome.convert(_cfg(raw, genes=str(path)))


def test_infinite_value_is_an_error(raw, tmp_path):
    def edit(m):
        m.iloc[4, 2] = "inf"
        return m
    path = _write_matrix(raw, tmp_path, edit)
    with pytest.raises(InputError, match=r"line 6, column .*: value 'inf' is infinite"):
        genome.convert(_cfg(raw, matrix=path))


def test_ragged_matrix_line_is_an_error(raw, tmp_path):
    text = Path(raw["expression"]).read_text().splitlines()
    text[5] += "\t1.0"
    path = tmp_path / "ragged.tsv"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(InputError, match="ragged.tsv: not a readable expression matrix"):
        genome.convert(_cfg(raw, matrix=str(path)))


def test_chromosomes_without_genes_is_an_error(raw, tmp_path):
    bed = pd.read_csv(raw["genes"], sep="\t", header=None)
    bed[0] = "chr18"
    path = tmp_path / "chr18.bed"
    bed.to_csv(path, sep="\t", header=False, index=False)
    with pytest.raises(InputError, match="no gene of .* lies on the chromosomes used"):
        genome.convert(_cfg(raw, genes=str(path), chromosomes=["19"]))


def test_every_pair_has_contact(converted):
    pairs = pd.read_csv(converted / "pairs.tsv.gz", sep="\t")
    assert (pairs["hic"] > 0).all() and (pairs["observed"] > 0).all()


def test_failed_conversion_leaves_the_old_folder_intact(converted, raw, tmp_path, monkeypatch):
    before = {p.name: p.read_bytes() for p in converted.iterdir()}
    with pytest.raises(InputError):
        genome.run(_cfg(raw, bin_size=100_000), converted)
    # a failure while the new folder is being written (disk full, killed): the old one stays
    real = pd.DataFrame.to_csv
    calls = []

    def failing(self, path, *a, **k):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("No space left on device")
        return real(self, path, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_csv", failing)
    with pytest.raises(OSError, match="No space left"):
        genome.run(_cfg(raw), converted)
    assert len(calls) == 2
    assert {p.name: p.read_bytes() for p in converted.iterdir()} == before
    assert not [p for p in converted.parent.iterdir() if p.name.startswith(".mine.")]


def test_out_that_is_not_a_dataset_is_not_replaced(raw, tmp_path):
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="is not a STEP dataset folder"):
        genome.run(_cfg(raw), other)
    assert (other / "notes.txt").read_text() == "keep me"


def test_cli_writes_folder_and_csv(raw, tmp_path):
    rc = genome.main(["--matrix", str(raw["expression"]), "--samples", str(raw["samples"]), "--genes",
                      str(raw["genes"]), "--cool", str(raw["cool"]), "--out", str(tmp_path / "o"), "--k", "3",
                      "--csv", str(tmp_path / "o.csv")])
    assert rc == 0 and (tmp_path / "o" / "dataset.json").is_file()
    assert load_course(tmp_path / "o.csv").n_genes > 250


def test_cli_exit_1_with_one_line(raw, tmp_path, caplog):
    rc = genome.main(["--matrix", str(raw["expression"]), "--genes", str(raw["genes"]), "--cool", str(raw["cool"]),
                      "--samples", str(tmp_path / "missing.tsv"), "--out", str(tmp_path / "o")])
    assert rc == 1 and "missing.tsv: sample sheet file not found" in caplog.text
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- the loader on bad folders


def _copy(converted: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in converted.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_loader_rejects_pairs_with_unknown_genes(converted, tmp_path):
    d = _copy(converted, tmp_path / "d")
    pairs = pd.read_csv(d / "pairs.tsv.gz", sep="\t")
    pairs.loc[2, "gene2"] = "NotAGene"
    pairs.to_csv(d / "pairs.tsv.gz", sep="\t", index=False)
    with pytest.raises(InputError, match=r"pairs.tsv.gz: line 4, column 'gene2': gene 'NotAGene' is not in genes.tsv.gz"):
        load_course(d)


def test_loader_rejects_expression_in_another_gene_order(converted, tmp_path):
    d = _copy(converted, tmp_path / "d")
    e = pd.read_csv(d / "expression.tsv.gz", sep="\t")
    e.iloc[[0, 1]] = e.iloc[[1, 0]].to_numpy()
    e.to_csv(d / "expression.tsv.gz", sep="\t", index=False)
    with pytest.raises(InputError, match="same order"):
        load_course(d)


def test_loader_names_a_missing_table(converted, tmp_path):
    d = _copy(converted, tmp_path / "d")
    (d / "pairs.tsv.gz").unlink()
    with pytest.raises(InputError, match="no pairs.tsv.gz"):
        load_course(d)


# --------------------------------------------------------------------------- a job on the folder


def test_mrna_job_runs_on_a_dataset_folder(converted, tmp_path, monkeypatch):
    """The whole job (plots and analysis included) on the folder, with every dense N x N graph
    helper made to fail: the sparse path must not touch them."""
    from step.graph import graphs
    from step.config import load_config
    from step.jobs.pipeline import run_job

    def dense(*_a, **_k):
        raise AssertionError("a dense N x N graph operator was built on the sparse path")

    monkeypatch.setattr(graphs.TemporalGraphs, "dense_mean", dense)
    monkeypatch.setattr(graphs, "structural_adjacency", dense)

    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(f"extends: {ROOT / 'configs/genome.yaml'}\n"
                        f"embedding:\n  cache_dir: {tmp_path / 'emb'}\n  dim: 4\n"
                        f"train:\n  epochs: 2\n  patience: 2\n"
                        f"graph:\n  sparse: sparse\n"
                        f"output:\n  timecourse_genes: 24\n")
    cfg = load_config(cfg_path, {"data.path": str(converted)})
    res = run_job(cfg, tmp_path / "res")
    metrics = json.loads((res.run_dir / "metrics.json").read_text())
    assert "STEPmr" in json.dumps(metrics)
    pred = pd.read_csv(res.run_dir / "predictions.csv")
    assert pred["gene"].nunique() == 300
    assert len(pd.read_csv(res.run_dir / "genes.csv")) == 300  # every gene kept in the analysis
    assert (res.run_dir / "plots" / "genes_best_timecourses.png").exists()


def test_interaction_csv_export_reads_back_to_the_same_course(converted, tmp_path):
    """The published schema stays supported: the folder written as an interaction CSV loads to the
    same genes, series and pairs (isolated genes aside: the CSV cannot hold them)."""
    csv = genome.write_interaction_csv(converted, tmp_path / "interaction.csv")
    a, b = load_course(converted), load_course(csv)
    linked = sorted(set(a.pairs.ravel()))
    assert sorted(b.genes) == sorted(a.genes[k] for k in linked)
    idx = {g: k for k, g in enumerate(b.genes)}
    cols = [idx[a.genes[k]] for k in linked]
    np.testing.assert_allclose(b.X[:, cols], a.X[:, linked], rtol=1e-12)
    np.testing.assert_array_equal(b.times, a.times)
    assert len(b.pairs) == len(a.pairs)
    np.testing.assert_allclose(np.sort(b.hic), np.sort(a.hic), rtol=1e-12)


def test_a_sample_sheet_with_one_time_names_the_sheet(raw, tmp_path):
    s = pd.read_csv(raw["samples"], sep="\t")
    s["time"] = 2.0
    path = tmp_path / "one_time.tsv"
    s.to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match=r"one_time.tsv \(the sample sheet, .*only 1 distinct time point\(s\) \(2\)"):
        genome.convert(_cfg(raw, samples=str(path)))
