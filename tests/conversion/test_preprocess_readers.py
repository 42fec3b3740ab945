"""Each input format is read correctly, whatever its line endings; bad input is refused
with the file, the line and the rule."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raw_data_conversion import annotation, expression, hic
from raw_data_conversion.placement import published_bin, resolve_symbol
from step.errors import InputError

FIX = Path(__file__).parents[1] / "data" / "preprocess"
ENDINGS = {"LF": "\n", "CRLF": "\r\n", "CR": "\r"}


def with_endings(src: Path, dst: Path, ending: str) -> Path:
    text = src.read_bytes().decode().replace("\r\n", "\n").replace("\r", "\n")
    dst.write_bytes(text.replace("\n", ending).encode())
    return dst


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ---------------------------------------------------------------- formats x line endings


@pytest.mark.parametrize("ending", ENDINGS)
def test_expression_table_any_line_ending(tmp_path, ending):
    p = with_endings(FIX / "tiny_mrna.txt", tmp_path / "m.txt", ENDINGS[ending])
    table = expression.read_sample_table(p, "id", [])
    assert table.ids[0] == "Alpha" and len(table.ids) == 9
    tc = expression.label_mean(table)
    np.testing.assert_array_equal(tc.times, [-4.5, 0.5, 1.0, 1.5])
    np.testing.assert_allclose(tc.X[:, 0], table.values[:, :2].mean(axis=1))
    np.testing.assert_allclose(tc.X[:, 2], table.values[:, 4])


@pytest.mark.parametrize("ending", ENDINGS)
def test_nanostring_table_any_line_ending(tmp_path, ending):
    p = with_endings(FIX / "tiny_mirna.txt", tmp_path / "n.txt", ENDINGS[ending])
    table = expression.read_sample_table(p, "Gene Name", ["Accession #", "Probe Name", "Class Name"])
    assert table.labels == ["p0.5", "P0.5", "P1", "p1.5", "", "E16.5", "E16.5"]
    assert np.isnan(table.values[:, 4]).all() and np.isfinite(np.delete(table.values, 4, axis=1)).all()
    raw = expression.sample_order(table)
    np.testing.assert_array_equal(raw.times, np.arange(1, 8))
    st = expression.stage_mean(table, birth_embryonic_day=21.0)
    np.testing.assert_array_equal(st.times, [-4.5, 0.5, 1.0, 1.5])  # E16.5 first, p/P merged
    np.testing.assert_allclose(st.X[:, 0], table.values[:, 5:7].mean(axis=1))
    np.testing.assert_allclose(st.X[:, 1], table.values[:, 0:2].mean(axis=1))
    assert st.dropped_columns == [{"column": 9, "label": "", "reason": "no label and no values"}]
    targets = expression.read_targets(FIX / "tiny_targets.csv", table.ids, p)
    assert targets["Alpha"] == ["mmu-miR-1", "mmu-miR-2"]
    tg = expression.target_means(st, targets)
    assert tg.genes == ["Alpha", "Gamma", "Delta", "Eps"]
    np.testing.assert_allclose(tg.X[0], st.X[:2].mean(axis=0))


@pytest.mark.parametrize("ending", ENDINGS)
def test_triplets_any_line_ending(tmp_path, ending):
    p = with_endings(FIX / "tiny_chr1_contact_map.txt", tmp_path / "c.txt", ENDINGS[ending])
    t = hic.read_triplets(p, "1", "full")
    assert len(t.v) == 81 and t.labels[0] == 1e6 and t.labels[-1] == 9e6
    cm = hic.to_matrix(t, "index", 2_000_000, 1e6, 20_000_000, 0.95)
    assert cm.n_bins == 10 and np.isnan(cm.M[0]).all() and np.isfinite(cm.M[1:, 1:]).all()
    np.testing.assert_allclose(cm.M, cm.M.T, equal_nan=True)
    assert cm.M[1, 1] == pytest.approx(300.0)


@pytest.mark.parametrize("ending", ENDINGS)
def test_annotation_tss_sizes_symbols_any_line_ending(tmp_path, ending):
    e = ENDINGS[ending]
    sizes = annotation.read_chrom_sizes(with_endings(FIX / "tiny.chrom.sizes", tmp_path / "s", e))
    assert sizes == {"1": 20_000_000, "2": 13_000_000}
    coords = annotation.read_gene_annotation(with_endings(FIX / "tiny_annotation.csv", tmp_path / "a.csv", e), set(sizes))
    assert coords.coords["Gam"] == ("1", 17_000_000.0, 17_100_000.0)
    tss = annotation.read_tss(with_endings(FIX / "tiny_tss.bed", tmp_path / "t.bed", e))
    assert tss.sites["beta-2"] == [("1", 10_500_000, "-")]  # minus strand: end + offset
    assert tss.sites["alpha"] == [("1", 4_500_000, "+")]
    dens = tss.density("1", 10, 2_000_000)
    assert dens[0] == 5 and dens[2] == 5 and dens[3] == 1  # A bins: 4 dummies + a gene; B bins: 1 dummy
    symbols = annotation.read_symbol_map(with_endings(FIX / "tiny_symbols.csv", tmp_path / "y.csv", e))
    assert resolve_symbol("Gam", symbols, tss) == ("Gamma", "symbol table (alias for the test)")
    assert resolve_symbol("BETA-2 (PMID 1)", symbols, tss)[0] == "Beta-2"
    assert resolve_symbol("Nope", symbols, tss)[0] is None
    assert resolve_symbol("Orphan", symbols, tss)[0] is None


def test_cool_file_through_cooler(tmp_path):
    cooler = pytest.importorskip("cooler")
    import pandas as pd

    t = hic.read_triplets(FIX / "tiny_chr2_contact_map.txt", "2", "full")
    ref = hic.to_matrix(t, "index", 2_000_000, 1e6, 13_000_000, 0.95)
    n = ref.n_bins
    bins = pd.DataFrame({"chrom": "chr2", "start": np.arange(n) * 2_000_000,
                         "end": np.minimum(np.arange(1, n + 1) * 2_000_000, 13_000_000)})
    i, j = np.triu_indices(n)
    pixels = pd.DataFrame({"bin1_id": i, "bin2_id": j, "count": ref.M[i, j]})
    uri = str(tmp_path / "m.cool")
    cooler.create_cooler(uri, bins, pixels, dtypes={"count": float}, ordered=True)
    cm = hic.read_cool(uri, "2", False, 2_000_000, 13_000_000)
    np.testing.assert_allclose(cm.M, ref.M)
    with pytest.raises(InputError, match="bin size 2000000 but the config declares"):
        hic.read_cool(uri, "2", False, 1_000_000, 13_000_000)
    with pytest.raises(InputError, match="different assemblies"):
        hic.read_cool(uri, "2", False, 2_000_000, 14_000_000)


def test_a_fine_cool_is_refused_by_the_dense_panel_path(tmp_path, monkeypatch):
    cooler = pytest.importorskip("cooler")
    import pandas as pd

    bins = pd.DataFrame({"chrom": "chr2", "start": np.arange(13) * 1_000_000,
                         "end": np.minimum(np.arange(1, 14) * 1_000_000, 13_000_000)})
    uri = str(tmp_path / "fine.cool")
    cooler.create_cooler(uri, bins, pd.DataFrame({"bin1_id": [0], "bin2_id": [1], "count": [1.0]}),
                         dtypes={"count": float}, ordered=True)
    monkeypatch.setattr(hic, "DENSE_MAX_BINS", 12)
    with pytest.raises(InputError, match=r"13 bins at 1,000,000 bp.*python -m raw_data_conversion.genome --contacts"):
        hic.read_cool(uri, "2", False, 1_000_000, 13_000_000)


def test_published_bin_snaps_and_clamps():
    union = np.arange(1, 10) * 1e6
    assert published_bin(4_500_000, union, 1e6) == 4e6
    assert published_bin(500_000, union, 1e6) == 1e6  # no bin 0: snapped up
    assert published_bin(15_300_000, union, 1e6) == 9e6  # past the map: clamped into the last bin


# ---------------------------------------------------------------- bad input


def test_ragged_row(tmp_path):
    p = write(tmp_path / "m.txt", "id\t1.0\t2.0\nA\t1\t2\nB\t1\n")
    with pytest.raises(InputError, match=r"m.txt: line 3 has 2 fields but the header has 3.*ragged"):
        expression.read_sample_table(p, "id", [])


def test_non_numeric_value(tmp_path):
    p = write(tmp_path / "m.txt", "id\t1.0\t2.0\nA\t1\t2\nB\t1\tx7\n")
    with pytest.raises(InputError, match=r"m.txt: line 3, column '2.0': value 'x7' is not a number"):
        expression.read_sample_table(p, "id", [])


def test_unparseable_time_label(tmp_path):
    p = write(tmp_path / "m.txt", "id\t1.0\tday2\nA\t1\t2\n")
    table = expression.read_sample_table(p, "id", [])
    with pytest.raises(InputError, match=r"m.txt: line 1, column 3: time label 'day2' is not a number of days"):
        expression.label_mean(table)


def test_unparseable_stage_label(tmp_path):
    p = write(tmp_path / "n.txt", "Gene Name\tP1\tadult\nm1\t1\t2\n")
    table = expression.read_sample_table(p, "Gene Name", [])
    with pytest.raises(InputError, match=r"n.txt: line 1, column 3: stage label 'adult' does not parse"):
        expression.stage_mean(table, 21.0, n_lead=1)


def test_target_table_names_absent_mirna(tmp_path):
    p = write(tmp_path / "t.csv", "target_gene,mirna\nAlpha,mmu-miR-1\nBeta,mmu-miR-99\n")
    with pytest.raises(InputError, match=r"t.csv: line 3: miRNA 'mmu-miR-99' \(target 'Beta'\) is not a row of"):
        expression.read_targets(p, ["mmu-miR-1"], Path("expr.txt"))


def test_unknown_chromosome_in_annotation(tmp_path):
    p = write(tmp_path / "a.csv", "gene,chromosome,start,end\nA,1,10,20\nB,chr23,10,20\n")
    with pytest.raises(InputError, match=r"a.csv: line 3, column 'chromosome': unknown chromosome 'chr23'"):
        annotation.read_gene_annotation(p, {"1", "2"})


def test_map_not_symmetric_as_declared(tmp_path):
    p = write(tmp_path / "c.txt", "0 0 5\n0 1000000 2\n1000000 0 3\n1000000 1000000 5\n")
    with pytest.raises(InputError, match=r"c.txt: lines 2 and 3: .* a map declared full must be symmetric"):
        hic.read_triplets(p, "1", "full")


def test_map_missing_mirror_as_declared_full(tmp_path):
    p = write(tmp_path / "c.txt", "0 0 5\n0 1000000 2\n1000000 1000000 5\n")
    with pytest.raises(InputError, match=r"c.txt: line 2: pixel \(0, 1e\+06\) has no mirror"):
        hic.read_triplets(p, "1", "full")


def test_map_lower_entries_declared_upper(tmp_path):
    p = write(tmp_path / "c.txt", "0 0 5\n0 1000000 2\n1000000 0 2\n")
    with pytest.raises(InputError, match=r"c.txt: line 3: .*below the diagonal.*declared upper"):
        hic.read_triplets(p, "1", "upper")
    t = hic.read_triplets(write(tmp_path / "u.txt", "0 0 5\n0 1000000 2\n1000000 1000000 4\n"), "1", "upper")
    cm = hic.to_matrix(t, "start", 1_000_000, 1e6, 2_000_000, 0.95)
    np.testing.assert_allclose(cm.M, [[5, 2], [2, 4]])


def test_map_cannot_cover_chromosome_as_declared():
    t = hic.read_triplets(FIX / "tiny_chr1_contact_map.txt", "1", "full")
    # read as 1 Mb bins labelled by start, the map ends at 10 Mb of a 20 Mb chromosome: refused
    with pytest.raises(InputError, match=r"ends at 10,000,000 bp but the chromosome is 20,000,000 bp.*cannot cover"):
        hic.to_matrix(t, "start", 1_000_000, 1e6, 20_000_000, 0.95)
    # read as 2 Mb bins on a chromosome too short for them: refused too
    with pytest.raises(InputError, match=r"line \d+: .*past the end of chr1"):
        hic.to_matrix(t, "index", 2_000_000, 1e6, 15_000_000, 0.95)


def test_label_not_on_the_declared_grid(tmp_path):
    t = hic.read_triplets(write(tmp_path / "c.txt", "0 0 5\n0 1500000 2\n1500000 0 2\n"), "1", "full")
    with pytest.raises(InputError, match=r"c.txt: line 2: label 1.5e\+06 is not a bin"):
        hic.to_matrix(t, "index", 2_000_000, 1e6, 4_000_000, 0.5)


def test_negative_contact_and_duplicate_pixel(tmp_path):
    with pytest.raises(InputError, match=r"line 2: contact value -2.0 is negative"):
        hic.read_triplets(write(tmp_path / "c.txt", "0 0 5\n0 0 -2\n"), "1", "upper")
    with pytest.raises(InputError, match=r"line 2: pixel \(0, 0\) appears more than once"):
        hic.read_triplets(write(tmp_path / "d.txt", "0 0 5\n0 0 5\n"), "1", "upper")
