"""The preprocessing command end to end on tiny fixtures: corrected mode, the report,
incremental re-runs through the cache, and bad input leaving no output behind."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from raw_data_conversion.assemble import columns
from raw_data_conversion.cli import main

FIX = Path(__file__).parents[1] / "data" / "preprocess"


def tiny_config(tmp_path: Path, name: str = "cfg.yaml", **sections) -> Path:
    cfg = {
        "dataset": "mrna",
        "mode": "corrected",
        "expression": {"path": str(FIX / "tiny_mrna.txt"), "kind": "table", "id_column": "id", "time_axis": "label_mean"},
        "genes": {"annotation": str(FIX / "tiny_annotation.csv"), "annotation_assembly": "unknown",
                  "tss": str(FIX / "tiny_tss.bed"), "symbols": str(FIX / "tiny_symbols.csv"), "placement": "auto"},
        "hic": {"path": str(FIX / "tiny_chr{chrom}_contact_map.txt"), "chromosomes": ["1", "2"],
                "chrom_sizes": str(FIX / "tiny.chrom.sizes"), "bin_size": 2_000_000, "labels": "index",
                "label_step": 1_000_000, "layout": "full", "min_extent": 0.95},
        "features": {"method": "standard", "insulation_window_bp": 4_000_000, "ignore_diags": 1,
                     "clip_percentile": 100, "boundary_threshold": 0.0},
        "cache_dir": str(tmp_path / "cache"),
    }
    for key, value in sections.items():
        if isinstance(value, dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_cli(cfg: Path, out: Path, *extra: str) -> tuple[int, dict | None]:
    rc = main(["--config", str(cfg), "--out", str(out), *extra])
    report = out / "report.json"
    return rc, json.loads(report.read_text()) if report.exists() else None


def test_corrected_mrna_tiny_end_to_end(tmp_path):
    rc, report = run_cli(tiny_config(tmp_path), tmp_path / "out")
    assert rc == 0
    df = pd.read_csv(tmp_path / "out" / "interaction_mrna.csv", dtype={"Gene1_Chromosome": str, "Gene2_Chromosome": str})
    assert list(df.columns) == columns(["-4.5", "0.5", "1.0", "1.5"])
    assert list(zip(df.Gene1, df.Gene2)) == [("Alpha", "BETA-2 (PMID 1)"), ("Alpha", "Gam"),
                                             ("BETA-2 (PMID 1)", "Gam"), ("Delta", "Eps")]
    np.testing.assert_allclose(df.HiC_Interaction, [75.0, 42.8571, 75.0, 25.0])
    np.testing.assert_array_equal(df.Gene1_Bin, [4e6, 4e6, 10e6, 2e6])  # genomic start of the 2 Mb bin
    np.testing.assert_array_equal(df.Gene1_Start, [4_500_000, 4_500_000, 10_500_000, 2_500_000])
    # compartments follow the fixture's pattern, A = gene-dense
    comp = dict(zip(df.Gene1, df.Gene1_Compartment)) | dict(zip(df.Gene2, df.Gene2_Compartment))
    # fixture patterns: chr1 AAABBABBAA (bins 2, 5, 8), chr2 ABBBAAB (bins 1, 4)
    assert comp == {"Alpha": "A", "BETA-2 (PMID 1)": "A", "Gam": "A", "Delta": "B", "Eps": "A"}
    raw = pd.read_csv(FIX / "tiny_mrna.txt", sep="\t", index_col=0)
    assert df.loc[0, "Gene1_Time_-4.5"] == pytest.approx(raw.loc["Alpha"].iloc[:2].mean())
    # every considered gene is in the output or listed as dropped, with its reason
    dropped = {d["gene"]: d["reason"] for d in report["dropped_genes"]}
    assert set(dropped) == {"Zeta", "Orphan", "Lonely", "Nope"}
    assert "which have no Hi-C map" in dropped["Zeta"]
    assert "no symbol of the TSS table" in dropped["Orphan"]
    assert "has no Hi-C contacts" in dropped["Lonely"]
    assert "on purpose" in dropped["Nope"]
    c = report["counts"]
    assert (c["genes_considered"], c["genes_in_output"], c["pairs"], c["time_points"]) == (9, 5, 4, 4)
    assert {i["role"] for i in report["inputs"]} >= {"expression", "tss_table", "hic_chr1", "hic_chr2", "chrom_sizes"}
    assert all(len(i["sha256"]) == 64 for i in report["inputs"])
    assert report["output"]["rows"] == 4 and report["assumptions"]


def test_jobs_loader_accepts_corrected_output(tmp_path):
    from step.data.load import load_course

    assert run_cli(tiny_config(tmp_path), tmp_path / "out")[0] == 0
    g = load_course(tmp_path / "out" / "interaction_mrna.csv")
    assert g.n_genes == 5 and g.n_times == 4 and len(g.pairs) == 4
    np.testing.assert_array_equal(g.times, [-4.5, 0.5, 1.0, 1.5])


def test_corrected_mirna_tiny_stages_and_targets(tmp_path):
    cfg = tiny_config(tmp_path, dataset="mirna", expression={
        "path": str(FIX / "tiny_mirna.txt"), "kind": "nanostring", "id_column": "Gene Name",
        "annotation_columns": ["Accession #", "Probe Name", "Class Name"], "time_axis": "stage_mean",
        "birth_embryonic_day": 21.0, "targets": str(FIX / "tiny_targets.csv")})
    rc, report = run_cli(cfg, tmp_path / "out")
    assert rc == 0
    df = pd.read_csv(tmp_path / "out" / "interaction_mirna.csv")
    assert list(df.columns) == columns(["-4.5", "0.5", "1.0", "1.5"])
    assert list(zip(df.Gene1, df.Gene2)) == [("Alpha", "Gamma"), ("Delta", "Eps")]
    raw = pd.read_csv(FIX / "tiny_mirna.txt", sep="\t", index_col=0)
    e165 = raw.filter(like="E16.5").loc[["mmu-miR-1", "mmu-miR-2"]].to_numpy().mean()
    assert df.loc[0, "Gene1_Time_-4.5"] == pytest.approx(e165)
    assert report["dropped_columns"][0]["reason"] == "no label and no values"
    assert report["times"] == [-4.5, 0.5, 1.0, 1.5]


def test_rerun_reuses_cache_and_changed_map_recomputes(tmp_path):
    maps = tmp_path / "maps"
    maps.mkdir()
    for c in ("1", "2"):
        shutil.copy(FIX / f"tiny_chr{c}_contact_map.txt", maps)
    cfg = tiny_config(tmp_path, hic={"path": str(maps / "tiny_chr{chrom}_contact_map.txt")})
    rc, first = run_cli(cfg, tmp_path / "a")
    assert rc == 0 and (first["cache"]["hits"], first["cache"]["misses"]) == (0, 2)
    rc, second = run_cli(cfg, tmp_path / "b")
    assert rc == 0 and (second["cache"]["hits"], second["cache"]["misses"]) == (2, 0)
    assert (tmp_path / "a" / "interaction_mrna.csv").read_bytes() == (tmp_path / "b" / "interaction_mrna.csv").read_bytes()
    # change one contact of chr2 (both triangles): only chr2 recomputes, and its value shows
    p = maps / "tiny_chr2_contact_map.txt"
    lines = p.read_text().splitlines()
    lines = [("1000000\t4000000\t99.0" if l.startswith("1000000\t4000000\t") else
              "4000000\t1000000\t99.0" if l.startswith("4000000\t1000000\t") else l) for l in lines]
    p.write_text("\n".join(lines) + "\n")
    rc, third = run_cli(cfg, tmp_path / "c")
    assert rc == 0 and (third["cache"]["hits"], third["cache"]["misses"]) == (1, 1)
    df = pd.read_csv(tmp_path / "c" / "interaction_mrna.csv")
    assert df.HiC_Interaction.iloc[-1] == 99.0
    # a changed feature setting recomputes every chromosome
    cfg2 = tiny_config(tmp_path, "cfg2.yaml", hic={"path": str(maps / "tiny_chr{chrom}_contact_map.txt")},
                       features={"insulation_window_bp": 6_000_000})
    rc, fourth = run_cli(cfg2, tmp_path / "d")
    assert rc == 0 and (fourth["cache"]["hits"], fourth["cache"]["misses"]) == (0, 2)


def test_no_cache_flag_writes_no_cache(tmp_path):
    rc, report = run_cli(tiny_config(tmp_path), tmp_path / "out", "--no-cache")
    assert rc == 0 and report["cache"]["dir"] is None and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("bad, message", [
    ("ragged", "line 3 has 2 fields but the header has 7"),
    ("text", "line 2, column '0.5': value 'high' is not a number"),
    ("label", "time label 'week1' is not a number of days"),
])
def test_bad_expression_leaves_no_output(tmp_path, caplog, bad, message):
    src = (FIX / "tiny_mrna.txt").read_text().splitlines()
    if bad == "ragged":
        src[2] = "\t".join(src[2].split("\t")[:2])
    elif bad == "text":
        fields = src[1].split("\t")
        fields[3] = "high"
        src[1] = "\t".join(fields)
    else:
        src[0] = src[0].replace("1.5", "week1")
    p = tmp_path / "bad.txt"
    p.write_text("\n".join(src) + "\n")
    out = tmp_path / "out"
    rc, report = run_cli(tiny_config(tmp_path, expression={"path": str(p)}), out)
    assert rc == 1 and report is None
    assert not out.exists() or not any(out.iterdir())
    assert message in caplog.text and str(p) in caplog.text
    assert "Traceback" not in caplog.text


def test_map_that_cannot_cover_chromosome_is_refused(tmp_path, caplog):
    cfg = tiny_config(tmp_path, hic={"bin_size": 1_000_000, "labels": "start"})
    rc, _ = run_cli(cfg, tmp_path / "out")
    assert rc == 1 and "cannot cover the chromosome as declared" in caplog.text
    assert not (tmp_path / "out").exists()


def test_config_errors(tmp_path, caplog):
    rc, _ = run_cli(tiny_config(tmp_path, hic={"bin_sise": 5}), tmp_path / "out")
    assert rc == 1 and "unknown key 'hic.bin_sise'" in caplog.text
    rc, _ = run_cli(tiny_config(tmp_path, "c2.yaml", hic={"labels": "middle"}), tmp_path / "out")
    assert rc == 1 and "'hic.labels' is 'middle'" in caplog.text
    rc, _ = run_cli(tiny_config(tmp_path, "c3.yaml", hic={"chromosomes": ["1", "7"]}), tmp_path / "out")
    assert rc == 1 and "lists '7', which is not in" in caplog.text


def test_existing_output_survives_a_failed_run(tmp_path):
    out = tmp_path / "out"
    assert run_cli(tiny_config(tmp_path), out)[0] == 0
    before = (out / "interaction_mrna.csv").read_bytes()
    bad = tiny_config(tmp_path, "bad.yaml", expression={
        "targets": str(tmp_path / "missing.csv"), "kind": "nanostring", "path": str(FIX / "tiny_mirna.txt"),
        "id_column": "Gene Name", "annotation_columns": ["Accession #", "Probe Name", "Class Name"]})
    assert run_cli(bad, out)[0] == 1
    assert (out / "interaction_mrna.csv").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
