"""The biological analysis step on a synthetic run folder (step.outputs.analyze)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from step.outputs.analyze import SECTION_MARKER, analyze_run, main
from step.config import AnalysisConfig, OutputConfig
from step.errors import InputError

try:
    from fixtures_run import GENES, make_genesets, make_run
except ImportError:  # tests/ imported as a package
    from tests.fixtures_run import GENES, make_genesets, make_run

REPO = Path(__file__).resolve().parents[2]
ALIASES = str(REPO / "dataset" / "annotation" / "gene_aliases.csv")


def _cfg(gs: Path, **kw) -> AnalysisConfig:
    return AnalysisConfig(genesets_dir=str(gs), aliases=ALIASES, min_set_size=3, **kw)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("analyse")
    gs = make_genesets(root / "genesets")
    run = make_run(root)
    out = analyze_run(run, _cfg(gs), OutputConfig(genes_per_page=6))
    return run, out


def test_analysis_writes_every_file(analysed: tuple[Path, dict]) -> None:
    run, out = analysed
    for rel in ["genes.csv", "enrichment/top.csv", "enrichment/bottom.csv", "enrichment/unmapped_genes.csv",
                "enrichment/gene_mapping.csv", "enrichment/summary.json", "enrichment/top_dotplot.png",
                "enrichment/bottom_dotplot.png", "plots/genes_skill_vs_connectivity.png",
                "plots/genes_skill_vs_variability.png", "plots/genes_skill_by_compartment.png",
                "plots/genes_best_timecourses.png", "plots/genes_worst_timecourses.png"]:
        p = run / rel
        assert p.is_file() and p.stat().st_size > 0, rel
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(run.rglob("*.tmp")), "temporary files left behind"

    genes = pd.read_csv(run / "genes.csv", keep_default_na=False, na_values=[""])
    assert set(genes["gene"]) == set(GENES)
    for col in ["test_skill_vs_best_baseline", "test_skill_vs_best_baseline_std", "test_skill_vs_persistence",
                "test_skill_vs_persistence_std", "test_rmse", "test_direction_accuracy", "test_pearson",
                "val_skill_vs_best_baseline", "val_rmse", "degree", "variability", "chromosome", "compartment",
                "rank", "group"]:
        assert col in genes.columns, col
    skill = genes["test_skill_vs_best_baseline"].to_numpy()
    assert np.all(np.diff(skill[~np.isnan(skill)]) <= 0), "genes.csv is ranked by test skill"
    # the fixture predicts the first half of the genes well: they fill the top group
    top = set(genes.loc[genes["group"] == "top", "gene"])
    assert len(top) == out["group_size"] == 4 and top <= set(GENES[:6])

    for name in ("top", "bottom"):
        t = pd.read_csv(run / "enrichment" / f"{name}.csv")
        assert list(t.columns[:6]) == ["term", "collection", "overlap", "p", "adjusted_p", "genes"]
        assert len(t) and t["p"].between(0, 1).all() and t["adjusted_p"].between(0, 1).all()
        assert (t["adjusted_p"] >= t["p"] - 1e-12).all()
    unm = pd.read_csv(run / "enrichment" / "unmapped_genes.csv")
    assert unm["gene"].tolist() == ["Mystery1"] == out["unmapped"]
    mapping = pd.read_csv(run / "enrichment" / "gene_mapping.csv").set_index("gene")
    assert mapping.loc["TTF-1", "symbol"] == "Nkx2-1" and mapping.loc["Vegf", "symbol"] == "Vegfa"

    text = (run / "results.txt").read_text()
    assert text.startswith("Comparison table"), "the job's part of results.txt is kept"
    assert text.count(SECTION_MARKER) == 1
    assert "pass FDR < 0.05" in text and "Mystery1" in text


def test_rerun_replaces_the_results_section(analysed: tuple[Path, dict], tmp_path: Path) -> None:
    src, _ = analysed
    run = tmp_path / "run"
    shutil.copytree(src, run)
    before = (run / "results.txt").read_text()
    cfg = _cfg(make_genesets(tmp_path / "gs"))
    analyze_run(run, cfg, OutputConfig(plots=False))
    analyze_run(run, cfg, OutputConfig(plots=False))
    after = (run / "results.txt").read_text()
    assert after.count(SECTION_MARKER) == 1
    assert after == before


def test_per_gene_skill_matches_hand_computation(tmp_path: Path) -> None:
    gs = make_genesets(tmp_path / "gs")
    run = make_run(tmp_path, transform="log1p", seeds=(0, 1, 2))
    analyze_run(run, _cfg(gs), OutputConfig(plots=False))
    pred = pd.read_csv(run / "predictions.csv")
    g = "Tnc"
    p = pred[(pred["gene"] == g) & (pred["split"] == "test")]
    ref = p[p["model"] == "mean_last"]
    mse_ref = np.mean((np.log1p(ref["y_pred"]) - np.log1p(ref["y_true"])) ** 2)
    skills, dirs = [], []
    pers = p[p["model"] == "persistence"].set_index("target_time")["y_pred"]
    for _, s in p[p["model"] == "STEPmr"].groupby("seed"):
        yt, yp = np.log1p(s["y_true"].to_numpy()), np.log1p(s["y_pred"].to_numpy())
        last = np.log1p(pers.loc[s["target_time"]].to_numpy())
        skills.append(1 - np.mean((yp - yt) ** 2) / mse_ref)
        dirs.append(np.mean(np.sign(yt - last) == np.sign(yp - last)))
    row = pd.read_csv(run / "genes.csv").set_index("gene").loc[g]
    assert row["test_skill_vs_best_baseline"] == pytest.approx(np.mean(skills), rel=1e-5)
    assert row["test_skill_vs_best_baseline_std"] == pytest.approx(np.std(skills, ddof=1), rel=1e-5)
    assert row["test_direction_accuracy"] == pytest.approx(np.mean(dirs), rel=1e-5)
    assert "log1p scale" in (run / "results.txt").read_text()


def test_paper_protocol_ranks_on_validation(tmp_path: Path) -> None:
    gs = make_genesets(tmp_path / "gs")
    run = make_run(tmp_path, protocol="paper", embeddings=False)
    analyze_run(run, _cfg(gs), OutputConfig(plots=False))
    genes = pd.read_csv(run / "genes.csv")
    assert genes["ranked_on"].iloc[0] == "val_skill_vs_best_baseline"
    assert not any(c.startswith("test_") for c in genes.columns)
    assert "optimistic" in (run / "results.txt").read_text()


def test_command_line_uses_the_run_config(tmp_path: Path) -> None:
    gs = make_genesets(tmp_path / "gs")
    run = make_run(tmp_path, genesets_dir=gs, aliases=ALIASES)
    assert main([str(run)]) == 0
    summary = json.loads((run / "enrichment" / "summary.json").read_text())
    assert set(summary["groups"]) == {"top", "bottom"} and summary["background_size"] == len(GENES)
    (run / "predictions.csv").unlink()
    assert main([str(run)]) == 1


def test_missing_column_names_the_file(tmp_path: Path) -> None:
    gs = make_genesets(tmp_path / "gs")
    run = make_run(tmp_path)
    feats = pd.read_csv(run / "gene_features.csv").drop(columns="degree")
    feats.to_csv(run / "gene_features.csv", index=False)
    with pytest.raises(InputError, match=r"gene_features\.csv: missing column\(s\) degree"):
        analyze_run(run, _cfg(gs), OutputConfig(plots=False))
    assert not (run / "genes.csv").exists()


def test_single_seed_summary_prints_no_std(analysed: tuple[Path, dict], tmp_path: Path) -> None:
    gs = make_genesets(tmp_path / "gs")
    run = make_run(tmp_path, seeds=(0,))
    analyze_run(run, _cfg(gs), OutputConfig(plots=False))
    text = (run / "results.txt").read_text()
    section = text[text.index(SECTION_MARKER):]
    assert "+-nan" not in section and "+-" not in section.split("Most predictable genes")[1]
    assert "one seed" in section
    genes = pd.read_csv(run / "genes.csv")
    assert "test_skill_vs_best_baseline_std" in genes.columns  # genes.csv keeps its columns
    # with two seeds (the shared fixture) the std is printed beside the mean
    two = (analysed[0] / "results.txt").read_text()
    assert "+-" in two.split("Most predictable genes")[1] and "+-nan" not in two


def test_rundata_is_shared_without_an_import_cycle() -> None:
    """step.outputs.rundata reads run folders for both step.outputs.analyze and step.outputs.plots and imports neither."""
    import subprocess
    import sys

    import step.outputs.analyze as analyze
    import step.outputs.plots as plots
    import step.outputs.rundata as rundata

    for name in ("RunData", "load_run", "last_inputs", "gene_scores", "gene_table", "assign_groups"):
        assert getattr(analyze, name) is getattr(rundata, name)  # re-exported for old callers
    assert plots.load_run is rundata.load_run
    code = ("import sys, step.outputs.rundata; "
            "assert 'step.outputs.plots' not in sys.modules and 'step.outputs.analyze' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_group_and_background_are_counted_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unmapped genes are in the background, so they must be in their group too (as non-hits):
    a group of only its mapped genes against a background of all genes inflates every overlap."""
    from step.outputs import enrichment as enr

    gs = make_genesets(tmp_path / "genesets")
    run = make_run(tmp_path)
    calls = []
    real = enr.enrich_group

    def spy(query, background, *a, **k):
        calls.append((list(query), list(background)))
        return real(query, background, *a, **k)

    monkeypatch.setattr(enr, "enrich_group", spy)
    analyze_run(run, _cfg(gs, group_frac=0.5), OutputConfig(plots=False))
    summary = json.loads((run / "enrichment" / "summary.json").read_text())
    assert summary["n_unmapped"] > 0  # the fixture has unmapped genes, else this test shows nothing
    tab = pd.read_csv(run / "genes.csv")
    mapping = pd.read_csv(run / "enrichment" / "gene_mapping.csv")
    sym = dict(zip(mapping["gene"], mapping["symbol"]))
    grouped_unmapped = 0
    for (query, background), name in zip(calls, ("top", "bottom")):
        members = tab.loc[tab["group"] == name, "gene"]
        grouped_unmapped += int((~mapping.set_index("gene").loc[members, "mapped"]).sum())
        assert set(query) <= set(background)
        assert sorted(query) == sorted({sym[g] for g in members})
        # the report states the tested group size, and lists only mapped symbols as possible hits
        assert summary["groups"][name]["group_size_tested"] == len(query)
        assert set(summary["groups"][name]["query"]) == {sym[g] for g in members
                                                         if mapping.set_index("gene").loc[g, "mapped"]}
    assert grouped_unmapped > 0


def _as_model(run: Path, source: str, best: str, noise: float) -> None:
    """Make the main model's forecasts those of ``source`` (plus float noise) and name ``best``
    the best baseline."""
    pred = pd.read_csv(run / "predictions.csv")
    src = pred[pred["model"] == source].set_index(["split", "target_time", "gene"])["y_pred"]
    main = pred["model"] == "STEPmr"
    keys = pd.MultiIndex.from_frame(pred.loc[main, ["split", "target_time", "gene"]])
    rng = np.random.default_rng(1)
    vals = src.reindex(keys).to_numpy()
    pred.loc[main, "y_pred"] = vals * (1 + noise * rng.normal(size=len(vals)))
    pred.to_csv(run / "predictions.csv", index=False)
    m = json.loads((run / "metrics.json").read_text())
    m["best_baseline"] = best
    (run / "metrics.json").write_text(json.dumps(m))


def test_a_model_equal_to_its_best_baseline_is_ranked_on_its_own_skill(tmp_path: Path) -> None:
    gs = make_genesets(tmp_path / "genesets")
    run = make_run(tmp_path)
    _as_model(run, "mean_last", "mean_last", 1e-9)
    analyze_run(run, _cfg(gs), OutputConfig(plots=False))
    genes = pd.read_csv(run / "genes.csv", keep_default_na=False, na_values=[""])
    assert set(genes["ranked_on"]) == {"test_skill_vs_persistence"}
    assert genes["test_skill_vs_best_baseline"].abs().max() < 1e-6  # what used to be ranked: noise
    top = genes.loc[genes["group"] == "top", "test_skill_vs_persistence"]
    bottom = genes.loc[genes["group"] == "bottom", "test_skill_vs_persistence"]
    assert len(top) and len(bottom) and top.min() - bottom.max() > 1e-3
    txt = (run / "results.txt").read_text()
    assert "Ranked on test_skill_vs_persistence" in txt and "numerical noise" in txt


def test_nothing_separates_the_genes_no_ranking_and_no_enrichment(tmp_path: Path) -> None:
    gs = make_genesets(tmp_path / "genesets")
    run = make_run(tmp_path)
    _as_model(run, "persistence", "persistence", 1e-10)
    out = analyze_run(run, _cfg(gs), OutputConfig(plots=False))
    genes = pd.read_csv(run / "genes.csv", keep_default_na=False, na_values=[""])
    assert genes["rank"].isna().all() and (genes["group"].fillna("") == "").all()
    assert out["n_significant"] == {}
    assert not (run / "enrichment" / "top.csv").exists()
    summary = json.loads((run / "enrichment" / "summary.json").read_text())
    assert summary["ranked_on"] == "" and summary["enrichment_tested"] is False
    txt = (run / "results.txt").read_text()
    assert "NOT RANKED" in txt and "Enrichment: not tested. Nothing separates the genes" in txt


def test_gene_sets_of_another_organism_are_a_warning_not_an_empty_result(tmp_path: Path, caplog) -> None:
    gs = tmp_path / "other_organism"
    gs.mkdir()
    (gs / "sets.gmt").write_text("SET_A\tna\t" + "\t".join(f"YAL{i:03d}W" for i in range(12)) + "\n")
    run = make_run(tmp_path)
    with caplog.at_level("WARNING"):
        out = analyze_run(run, _cfg(gs), OutputConfig(plots=False))
    assert "do not fit this organism" in caplog.text and "analysis.genesets_dir" in caplog.text
    assert out["n_significant"] == {}
    txt = (run / "results.txt").read_text()
    assert "gene sets do not fit this organism" in txt and "analysis.genesets_dir" in txt


def test_unmapped_genes_log_line_is_bounded(tmp_path: Path, monkeypatch, caplog) -> None:
    """The warning lists at most _LOG_NAMES names, then how many more, and names the file with all of them."""
    import logging

    import step.outputs.analyze as an

    gs = make_genesets(tmp_path / "genesets")
    run = make_run(tmp_path)
    monkeypatch.setattr(an, "_LOG_NAMES", 0)
    with caplog.at_level(logging.WARNING, logger="step.outputs.analyze"):
        analyze_run(run, _cfg(gs), OutputConfig(genes_per_page=6))
    line = next(r.getMessage() for r in caplog.records if "map to no gene-set symbol" in r.getMessage())
    assert "(+1 more)" in line and "Mystery1" not in line
    assert "enrichment/unmapped_genes.csv" in line
