"""The interaction-CSV loader: accepts the published files, rejects bad input clearly."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from step.config import DataConfig
from step.data.course import clean_gene_name, unique_display_names
from step.data.load import load_course
from step.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests/data/tiny_mrna.csv"
PUBLISHED_MRNA = ROOT / "dataset/mrna/interaction_mrna.csv"
PUBLISHED_MIRNA = ROOT / "dataset/mirna/interaction_mirna.csv"


def test_published_mrna_loads_and_logs_conflicts(caplog):
    with caplog.at_level(logging.WARNING):
        c = load_course(PUBLISHED_MRNA)
    assert c.X.shape == (43, 50)
    assert np.all(np.diff(c.times) > 0) and c.times[0] == -4.5 and c.times[-1] == 28.0
    assert len(set(c.display)) == c.n_genes
    assert "GUCY1A2" in c.display
    assert (c.pairs[:, 0] < c.pairs[:, 1]).all()
    assert "different expression series" in caplog.text
    # first occurrence kept: ABCA3's series is the one of data row 1
    raw = pd.read_csv(PUBLISHED_MRNA)
    k = c.genes.index("ABCA3")
    assert np.allclose(c.X[:, k], raw.loc[0, [f"Gene1_Time_{t:.1f}" for t in c.times]].astype(float))


def test_published_mrna_strict_is_an_error():
    with pytest.raises(InputError, match="strict"):
        load_course(PUBLISHED_MRNA, DataConfig(strict=True))


def test_published_mirna_drops_empty_column(caplog):
    with caplog.at_level(logging.WARNING):
        c = load_course(PUBLISHED_MIRNA)
    assert c.X.shape == (159, 162)
    assert 154.0 not in c.times
    assert "Gene1_Time_154.0" in caplog.text


def test_gene_name_cleaning():
    assert clean_gene_name("GUCY1A2  sGC(soluble guanylate cyclase) (PMID 23934926)") == "GUCY1A2"
    assert clean_gene_name("EGFR (Epidermal growth factor receptor) (PMID 1)") == "EGFR"
    assert clean_gene_name("N-Cadherin(CDH2)") == "N-Cadherin(CDH2)"
    assert clean_gene_name("Claudin 1") == "Claudin 1"
    names = unique_display_names(["EGFR (long)", "EGFR"])
    assert len(set(names)) == 2 and names[0] == "EGFR"


def _tiny() -> pd.DataFrame:
    return pd.read_csv(TINY, dtype=str, keep_default_na=False)


def _write(tmp_path: Path, df: pd.DataFrame, name: str = "bad.csv") -> Path:
    p = tmp_path / name
    df.to_csv(p, index=False)
    return p


def _expect(path: Path, *fragments: str, cfg: DataConfig | None = None) -> str:
    with pytest.raises(InputError) as exc:
        load_course(path, cfg)
    msg = str(exc.value)
    assert str(path) in msg, msg
    for f in fragments:
        assert f in msg, msg
    assert "\n" not in msg.strip() or len(msg) < 2000
    return msg


def test_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    _expect(p, "empty")


def test_not_a_csv(tmp_path):
    p = tmp_path / "binary.csv"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR")
    _expect(p, "binary")
    q = tmp_path / "prose.csv"
    q.write_text("this is just some text\nwith lines\n")
    _expect(q, "missing required column")


def test_header_only(tmp_path):
    p = tmp_path / "header.csv"
    p.write_text(",".join(_tiny().columns) + "\n")
    _expect(p, "no data rows")


def test_missing_required_column(tmp_path):
    _expect(_write(tmp_path, _tiny().drop(columns=["HiC_Interaction"])), "HiC_Interaction")


def test_non_numeric_value(tmp_path):
    df = _tiny()
    df.loc[2, "Gene1_Time_1.0"] = "abc"
    _expect(_write(tmp_path, df), "row 4", "Gene1_Time_1.0", "abc", "numeric")
    df = _tiny()
    df.loc[0, "HiC_Interaction"] = "high"
    _expect(_write(tmp_path, df), "row 2", "HiC_Interaction")


def test_unpaired_time_column(tmp_path):
    _expect(_write(tmp_path, _tiny().drop(columns=["Gene2_Time_1.0"])), "Gene1_Time_1.0", "Gene2_Time_1.0")


def test_unparseable_time_label(tmp_path):
    df = _tiny().rename(columns={"Gene1_Time_1.0": "Gene1_Time_P1", "Gene2_Time_1.0": "Gene2_Time_P1"})
    _expect(_write(tmp_path, df), "Gene1_Time_P1", "not a number")


def test_blank_gene_name(tmp_path):
    df = _tiny()
    df.loc[1, "Gene2"] = "  "
    _expect(_write(tmp_path, df), "row 3", "Gene2", "blank")


def test_bad_compartment(tmp_path):
    df = _tiny()
    df.loc[0, "Gene1_Compartment"] = "C"
    _expect(_write(tmp_path, df), "row 2", "Gene1_Compartment", "'C'")
    df = _tiny()
    df.loc[0, "Gene1_Compartment"] = "Unknown"
    c = load_course(_write(tmp_path, df, "ok.csv"))
    assert c.compartment[c.genes.index(df.loc[0, "Gene1"])] == ""


def test_partly_missing_time_column(tmp_path):
    df = _tiny()
    df.loc[0, "Gene1_Time_2.0"] = ""
    _expect(_write(tmp_path, df), "missing expression", "Gene1_Time_2.0")
    c = load_course(_write(tmp_path, df, "masked.csv"), DataConfig(allow_missing=True))
    assert np.isnan(c.X).sum() == 1


def test_self_pair_dropped_and_logged(tmp_path, caplog):
    df = _tiny()
    extra = df.iloc[[0]].copy()
    extra["Gene2"] = extra["Gene1"]
    for col in [c for c in df.columns if c.startswith("Gene2_Time_")]:
        extra[col] = extra[col.replace("Gene2", "Gene1")]
    with caplog.at_level(logging.WARNING):
        c = load_course(_write(tmp_path, pd.concat([df, extra], ignore_index=True)))
    assert "self-pair" in caplog.text
    assert (c.pairs[:, 0] != c.pairs[:, 1]).all()


def test_cli_reports_bad_input_with_exit_1(tmp_path):
    import subprocess
    import sys

    p = tmp_path / "empty.csv"
    p.write_text("")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "mrna.STEPmr_train_test", "--config", "configs/test_tiny_mrna.yaml",
                        "--data", str(p), "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert str(p) in r.stderr and "empty" in r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_config_extends_and_rejects_unknown_keys(tmp_path):
    from step.config import load_config

    cfg = load_config(ROOT / "configs/mirna_corrected.yaml")
    assert cfg.model_name == "STEPmi" and cfg.split.history == 3 and cfg.data.transform == "log1p"
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochz: 3\n")
    with pytest.raises(InputError, match="epochz"):
        load_config(bad)
    bad.write_text("train:\n  epochs: many\n")
    with pytest.raises(InputError, match="integer"):
        load_config(bad)
    with pytest.raises(InputError, match="protocol"):
        load_config(None, {"split.protocol": "random"})


def test_repeated_column_and_wrong_separator(tmp_path):
    lines = TINY.read_text().splitlines()
    p = tmp_path / "dup.csv"
    p.write_text("\n".join([lines[0] + ",HiC_Interaction"] + [l + ",1" for l in lines[1:]]) + "\n")
    _expect(p, "repeats", "HiC_Interaction")
    q = tmp_path / "semi.csv"
    q.write_text("\n".join(l.replace(",", ";") for l in lines) + "\n")
    _expect(q, "';'", "comma-separated")


def test_conflicting_per_gene_features_are_named_and_strict_refuses_them(tmp_path, caplog):
    """A repeated gene row with another bin or chromosome: strict names the row and column; otherwise
    the first row is kept with a warning (never silently)."""
    df = _tiny()
    g = df.loc[0, "Gene1"]
    later = [i for i in range(1, len(df)) if df.loc[i, "Gene1"] == g]
    assert later, "the fixture repeats its first gene"
    r = later[0]
    df.loc[r, "Gene1_Bin"] = str(int(float(df.loc[r, "Gene1_Bin"])) + 1_000_000)
    path = _write(tmp_path, df)
    _expect(path, f"row {r + 2} column Gene1_Bin", "per-gene features", cfg=DataConfig(strict=True))
    with caplog.at_level(logging.WARNING):
        c = load_course(path, DataConfig(strict=False))
    assert "per-gene features" in caplog.text and any("feature conflicts" in n for n in c.notes)
    assert c.bin[c.genes.index(g)] == float(df.loc[0, "Gene1_Bin"])  # the first row's value


def test_first_occurrence_wins_across_both_gene_columns_and_every_later_row_is_named(tmp_path, caplog):
    """A gene's first occurrence may be in Gene2; a later Gene1 row with another series or another
    compartment is named with its row and column, in file order, and the first occurrence is kept."""
    df = _tiny()
    g = df.loc[0, "Gene2"]
    later = [i for i in range(1, len(df)) if g in (df.loc[i, "Gene1"], df.loc[i, "Gene2"])]
    assert len(later) >= 2, "the fixture repeats the first row's Gene2"
    tcols = [c for c in df.columns if c.startswith("Gene1_Time_")]
    changed = []
    for r in later[:2]:
        side = "Gene1" if df.loc[r, "Gene1"] == g else "Gene2"
        df.loc[r, side + "_Time_" + tcols[0].split("_Time_", 1)[1]] = "99.5"
        df.loc[r, side + "_Compartment"] = "B" if df.loc[0, "Gene2_Compartment"] == "A" else "A"
        changed.append((r, side))
    path = _write(tmp_path, df)
    with caplog.at_level(logging.INFO):
        c = load_course(path, DataConfig(strict=False))
    rows = ", ".join(str(r + 2) for r, _ in changed)
    assert f"gene {g!r} first at row 2, differing rows [{rows}]" in caplog.text
    for r, side in changed:
        assert f"row {r + 2} column {side}_Compartment" in caplog.text
    k = c.genes.index(g)
    assert c.X[0, k] == float(df.loc[0, "Gene2_" + tcols[0].split("_", 1)[1]])
    assert c.compartment[k] == df.loc[0, "Gene2_Compartment"]


def test_dataset_folder_duplicate_names_are_checked_after_stripping(tmp_path):
    """'A' and 'A ' name one gene: the folder loader refuses them instead of listing the gene twice."""
    import gzip

    from step.data.dataset_dir import load_dataset_dir

    conv = Path(__file__).resolve().parents[2] / "dataset" / "yeast" / "converted"
    d = tmp_path / "folder"
    d.mkdir()
    for f in conv.iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    genes = pd.read_csv(d / "genes.tsv.gz", sep="\t", dtype=str, keep_default_na=False)
    genes.loc[1, "gene"] = genes.loc[0, "gene"] + " "
    with gzip.open(d / "genes.tsv.gz", "wt") as fh:
        genes.to_csv(fh, sep="\t", index=False)
    with pytest.raises(InputError, match="listed twice.*without surrounding spaces"):
        load_dataset_dir(d, DataConfig())


def test_model_name_inside_the_model_section_is_an_error_not_ignored(tmp_path):
    """``model: {name: STEPmi}`` used to be silently ignored; the model is chosen by model_name."""
    from step.config import load_config

    p = tmp_path / "c.yaml"
    p.write_text("model:\n  name: STEPmi\n")
    with pytest.raises(InputError, match="unknown setting 'name'"):
        load_config(p)
