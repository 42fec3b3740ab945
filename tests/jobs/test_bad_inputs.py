"""Bad inputs found by trying the entry points as a user would: each gives an InputError that names
the file or option, the part, and what was expected, before any work is done."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from step.errors import InputError
from step.io import check_output_dir, check_output_file

ROOT = Path(__file__).resolve().parents[2]


def test_output_folder_that_is_a_file_or_under_a_file(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(InputError, match="--out .*afile: is a file, expected a folder"):
        check_output_dir(f, "--out")
    with pytest.raises(InputError, match="is a file, so a folder cannot be made under it"):
        check_output_dir(f / "sub", "--out")
    with pytest.raises(InputError, match="--csv .*: is a folder, expected a file name"):
        check_output_file(tmp_path, "--csv")
    check_output_dir(tmp_path / "new" / "deeper", "--out")          # can be made: accepted, nothing made
    assert not (tmp_path / "new").exists()
    assert not list(tmp_path.glob(".step-write-check-*"))


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (a folder nothing can be made in)")
def test_output_folder_where_nothing_can_be_written():
    with pytest.raises(InputError, match="nothing can be written in /proc"):
        check_output_dir("/proc/step-out", "--out")


def test_job_refuses_an_output_file_before_any_work(tmp_path):
    from step.jobs.cli import main

    f = tmp_path / "afile"
    f.write_text("x")
    rc = main(["--config", str(ROOT / "configs/test_tiny_mrna.yaml"), "--out", str(f)], "STEPmr",
              "configs/mrna.yaml", "STEPmr")
    assert rc == 1 and f.read_text() == "x"


@pytest.mark.parametrize("meta, match", [([1, 2], "expected a JSON object"),
                                         ({"format": "step-dataset", "version": "1.0"}, "'version' is '1.0'")])
def test_dataset_json_of_the_wrong_shape(tmp_path, meta, match):
    from step.data.dataset_dir import load_dataset_dir

    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=match):
        load_dataset_dir(tmp_path)


def test_command_line_values_are_named_in_config_errors():
    from step.config import load_config

    with pytest.raises(InputError, match=r"command-line settings .*train\.epochs=0.*train\.epochs must be >= 1"):
        load_config(ROOT / "configs/test_tiny_mrna.yaml", {"train.epochs": 0})


def test_genome_matrix_value_out_of_range_and_header_only(tmp_path):
    from raw_data_conversion.genome.config import load_genome_config
    from raw_data_conversion.genome.readers import read_expression

    samples = ["S1", "S2", "S3"]
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample\ttime\n" + "".join(f"{s}\t{i}\n" for i, s in enumerate(samples)))
    big = tmp_path / "big.tsv"
    big.write_text("gene\t" + "\t".join(samples) + "\nA\t1\t2\t3\nB\t4\t1e300\t6\n")
    cfg = load_genome_config(None, {"matrix": str(big), "samples": str(sheet), "genes": "g.bed", "contacts": "c.cool"})
    with pytest.raises(InputError, match=r"big\.tsv: 1 value\(s\) .*gene 'B' sample 'S2' = 1e\+300"):
        read_expression(cfg)
    head = tmp_path / "head.tsv"
    head.write_text("gene\t" + "\t".join(samples) + "\n")
    cfg = load_genome_config(None, {"matrix": str(head), "samples": str(sheet), "genes": "g.bed", "contacts": "c.cool"})
    with pytest.raises(InputError, match=r"head\.tsv: the matrix has no gene rows"):
        read_expression(cfg)


def test_genome_min_oe_must_be_a_number():
    from raw_data_conversion.genome.config import load_genome_config

    with pytest.raises(InputError, match="min_oe must be a finite number"):
        load_genome_config(None, {"matrix": "m.tsv", "genes": "g.bed", "contacts": "c.cool", "min_oe": float("nan")})


def test_preprocess_config_value_of_the_wrong_kind(tmp_path):
    from raw_data_conversion.config import load_config

    cfg = yaml.safe_load((ROOT / "configs/preprocess/mrna.yaml").read_text())
    cfg["hic"]["bin_size"] = "2Mb"
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError, match=r"'hic\.bin_size' is '2Mb'; expected a number"):
        load_config(p)


def test_preprocess_expression_header_only_or_comma_separated(tmp_path):
    from raw_data_conversion.expression import read_sample_table

    h = tmp_path / "h.txt"
    h.write_text("id\t0.5\t1.0\n")
    with pytest.raises(InputError, match="no data rows after the header"):
        read_sample_table(h, "id", [])
    c = tmp_path / "c.txt"
    c.write_text("id,0.5,1.0\nA,1,2\n")
    with pytest.raises(InputError, match="must be tab-separated"):
        read_sample_table(c, "id", [])


def test_a_course_without_pairs_is_said_loudly(tiny_mrna_config, caplog):
    import pandas as pd

    from step.jobs.pipeline import prepare_course

    df = pd.read_csv(ROOT / "tests/data/tiny_mrna.csv")
    assert np.isfinite(df["HiC_Interaction"]).all()
    cfg = tiny_mrna_config()
    course = prepare_course(cfg)
    assert len(course.pairs) > 0
    with caplog.at_level("WARNING"):
        import dataclasses

        from step.jobs import pipeline

        orig = pipeline.load_course
        try:
            pipeline.load_course = lambda *a, **k: dataclasses.replace(orig(*a, **k), pairs=np.zeros((0, 2), int))
            prepare_course(cfg)
        finally:
            pipeline.load_course = orig
    assert "no Hi-C pairs" in caplog.text


def test_bed_end_before_start_is_refused_and_an_odd_strand_is_said(tmp_path, caplog):
    from raw_data_conversion.genome.readers import read_gene_positions

    bad = tmp_path / "g.bed"
    bad.write_text("1\t100\t200\tA\t0\t+\n1\t500\t300\tB\t0\t-\n")
    with pytest.raises(InputError, match=r"record 2 \(B\): end 300 is before start 500"):
        read_gene_positions(bad)
    odd = tmp_path / "o.bed"
    odd.write_text("1\t100\t200\tA\t0\t+\n1\t300\t500\tB\t0\t*\n")
    with caplog.at_level("WARNING"):
        out = read_gene_positions(odd)
    assert list(out["tss"]) == [100, 300] and "strand other than" in caplog.text
