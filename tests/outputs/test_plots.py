"""The run's plots, drawn from a synthetic run folder (step.outputs.plots)."""
from __future__ import annotations

from pathlib import Path

from step.config import OutputConfig
from step.outputs.plots import make_run_plots

try:
    from fixtures_run import GENES, make_run
except ImportError:  # tests/ imported as a package
    from tests.fixtures_run import GENES, make_run

PNG = b"\x89PNG\r\n\x1a\n"


def test_make_run_plots_writes_every_plot(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    paths = make_run_plots(run, OutputConfig(genes_per_page=5))
    names = sorted(p.name for p in paths)
    n_pages = -(-len(GENES) // 5)
    expected = sorted(["loss_curves.png", "scatter_test.png", "change_distributions_test.png",
                       "genes_skill_vs_connectivity.png", "genes_skill_vs_variability.png",
                       "genes_skill_by_compartment.png", "embedding_trajectories.png"]
                      + [f"timecourses_{i:02d}.png" for i in range(1, n_pages + 1)])
    assert names == expected
    for p in paths:
        assert p.parent == run / "plots" and p.read_bytes()[:8] == PNG
    assert not list((run / "plots").glob("*.tmp"))


def test_missing_embeddings_and_history_are_skipped(tmp_path: Path) -> None:
    run = make_run(tmp_path, embeddings=False, protocol="paper")
    (run / "history.csv").unlink()
    names = {p.name for p in make_run_plots(run, OutputConfig(genes_per_page=12))}
    assert "embedding_trajectories.png" not in names and "loss_curves.png" not in names
    assert {"scatter_val.png", "timecourses_01.png", "change_distributions_val.png"} <= names


def test_plots_disabled(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    assert make_run_plots(run, OutputConfig(plots=False)) == []
    assert not (run / "plots").exists()


def test_timecourse_pages_cover_only_best_and_worst_genes_at_scale(tmp_path: Path, caplog) -> None:
    run = make_run(tmp_path)
    import logging

    with caplog.at_level(logging.INFO, logger="step.outputs.plots"):
        paths = make_run_plots(run, OutputConfig(genes_per_page=2, timecourse_genes=4))
    pages = [p for p in paths if p.name.startswith("timecourses_")]
    assert len(pages) == 2  # 4 genes (2 best + 2 worst of 12), 2 per page
    assert any("2 best and 2 worst of" in r.message for r in caplog.records)
    all_pages = [p for p in make_run_plots(run, OutputConfig(genes_per_page=2, timecourse_genes=0))
                 if p.name.startswith("timecourses_")]
    assert len(all_pages) == -(-len(GENES) // 2)
