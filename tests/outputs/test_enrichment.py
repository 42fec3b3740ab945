"""Gene-set loading, name normalisation and the hypergeometric test (step.outputs.enrichment)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hypergeom

from step.outputs import enrichment as enr
from step.errors import InputError

try:
    from fixtures_run import write_gmt
except ImportError:  # tests/ imported as a package
    from tests.fixtures_run import write_gmt

REPO = Path(__file__).resolve().parents[2]
SETS = {
    "SET_A": ["G1", "G2", "G3", "G4", "G5"],
    "SET_B": ["G6", "G7", "G8", "G9", "G10", "X1"],
    "SET_TINY": ["G1", "G2"],
}
BACKGROUND = [f"G{i}" for i in range(1, 21)]


def test_load_gmt_plain_and_gzip_agree(tmp_path: Path) -> None:
    a = enr.load_gmt(write_gmt(tmp_path / "a.gmt", SETS))
    b = enr.load_gmt(write_gmt(tmp_path / "b.gmt.gz", SETS))
    assert a == b == SETS
    assert enr.collection_label("mh.all.2023.1.Mm.symbols.gmt") == "Hallmark"
    assert enr.collection_label("m5.go.bp.2023.1.Mm.symbols.gmt.gz") == "GO_BP"
    assert enr.collection_label("custom.gmt") == "custom"


def test_bad_gmt_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.gmt"
    p.write_text("SET_A\tdesc\tG1\nBROKEN_LINE\n")
    with pytest.raises(InputError, match=r"bad\.gmt: line 2"):
        enr.load_gmt(p)


def test_hypergeometric_p_matches_scipy() -> None:
    # 20 background genes, SET_A holds 5 of them; the query holds 3 of SET_A and 1 other.
    query = ["G1", "G2", "G3", "G12"]
    table, n_tested = enr.enrich_group(query, BACKGROUND, {"test": SETS}, min_size=3, max_size=500)
    assert n_tested == {"test": 2}  # SET_TINY is below min_size
    row = table.set_index("term").loc["SET_A"]
    assert row["overlap"] == "3/5"
    assert row["p"] == pytest.approx(hypergeom.sf(3 - 1, 20, 5, 4), rel=1e-9)
    assert row["genes"] == "G1;G2;G3"
    # SET_B: X1 is outside the background, so 5 of its genes count; the query has none -> no row
    assert "SET_B" not in table.index
    # BH over both tested sets: the untested-overlap SET_B counts with p = 1
    assert row["adjusted_p"] == pytest.approx(min(1.0, row["p"] * 2))
    assert table["p"].between(0, 1).all() and table["adjusted_p"].between(0, 1).all()
    assert list(table.columns[:6]) == ["term", "collection", "overlap", "p", "adjusted_p", "genes"]


def test_query_outside_background_and_empty_group() -> None:
    table, _ = enr.enrich_group(["NOT_IN_BG"], BACKGROUND, {"test": SETS}, min_size=3)
    assert table.empty and list(table.columns) == enr.RESULT_COLUMNS


def test_bh_adjust_known_values() -> None:
    adj = enr.bh_adjust(np.array([0.01, 0.04, 0.03]))
    np.testing.assert_allclose(adj, [0.03, 0.04, 0.04])
    np.testing.assert_allclose(enr.bh_adjust(np.array([0.01]), n_tests=10), [0.1])


def test_alias_normalisation_and_unmapped(tmp_path: Path) -> None:
    aliases = tmp_path / "aliases.csv"
    aliases.write_text("alias,symbol\nTTF-1,Nkx2-1\nrage,Ager\nN-Cadherin(CDH2),Cdh2\nVegf,Vegfa\n")
    symbols = {"Nkx2-1", "Ager", "Cdh2", "Vegfa", "Abca3", "Gucy1a2", "Egfr", "1700025G04Rik"}
    names = ["TTF-1", "RAGE", "N-Cadherin(CDH2)", "Vegf", "ABCA3", "GUCY1A2  sGC(soluble) (PMID 1)",
             "EGFR (Epidermal growth factor receptor) (PMID 2)", "1700025G04Rik", "FOO-1"]
    m = enr.normalise_genes(names, symbols, enr.load_aliases(aliases)).set_index("gene")
    assert m.loc["TTF-1", "symbol"] == "Nkx2-1" and m.loc["TTF-1", "method"] == "alias"
    assert m.loc["RAGE", "symbol"] == "Ager"  # alias keys match case-insensitively
    assert m.loc["N-Cadherin(CDH2)", "symbol"] == "Cdh2"
    assert m.loc["ABCA3", "symbol"] == "Abca3" and m.loc["ABCA3", "method"] == "case"
    assert m.loc["GUCY1A2  sGC(soluble) (PMID 1)", "symbol"] == "Gucy1a2"
    assert m.loc["EGFR (Epidermal growth factor receptor) (PMID 2)", "symbol"] == "Egfr"
    assert m.loc["1700025G04Rik", "method"] == "exact"  # exact wins over mouse case
    assert not m.loc["FOO-1", "mapped"] and m.loc["FOO-1", "symbol"] == "FOO-1"
    assert m["mapped"].sum() == len(names) - 1


def test_alias_table_conflict_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "aliases.csv"
    p.write_text("alias,symbol\nVegf,Vegfa\nVEGF,Vegfb\n")
    with pytest.raises(InputError, match="row 3"):
        enr.load_aliases(p)
    p.write_text("name,symbol\nVegf,Vegfa\n")
    with pytest.raises(InputError, match="alias"):
        enr.load_aliases(p)


def test_shipped_alias_table_maps_the_mrna_panel() -> None:
    """Every alias target exists in the shipped gene sets, and every mRNA gene maps."""
    collections = enr.load_collections(REPO / "dataset" / "genesets")
    assert set(collections) == {"GO_BP", "Hallmark", "Reactome", "WikiPathways"}
    symbols = enr.universe(collections)
    aliases = enr.load_aliases(REPO / "dataset" / "annotation" / "gene_aliases.csv")
    assert set(aliases.values()) <= symbols
    pairs = pd.read_csv(REPO / "dataset" / "mrna" / "interaction_mrna.csv", usecols=["Gene1", "Gene2"])
    genes = list(dict.fromkeys(list(pairs["Gene1"]) + list(pairs["Gene2"])))
    m = enr.normalise_genes(genes, symbols, aliases)
    assert m["mapped"].all(), m.loc[~m["mapped"], "gene"].tolist()
    sym = dict(zip(m["gene"], m["symbol"]))
    assert sym["TTF-1"] == "Nkx2-1" and sym["Hist1h2ab"] == "H2ac4" and sym["P-63"] == "Trp63"
