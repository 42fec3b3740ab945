"""Figures drawn only when what they show changed (step.outputs.figure_cache through step.outputs.post)."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest

import step.outputs.plots as plots
from step.config import RunConfig
from step.outputs.figure_cache import FigureStore, digest, store_root
from step.outputs.post import post_steps

try:
    from fixtures_run import make_run
except ImportError:  # tests/ imported as a package
    from tests.fixtures_run import make_run


def _cfg(tmp_path: Path, figure_cache: str = "auto") -> RunConfig:
    cfg = RunConfig()
    cfg.embedding.cache_dir = str(tmp_path / "cache" / "embeddings")
    cfg.output.figure_cache = figure_cache
    cfg.output.genes_per_page = 5
    cfg.analysis.enabled = False
    return cfg


def _copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("plots", "enrichment"))
    return dst


def _figures(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((d / "plots").glob("*.png"))}


class _Drawn:
    """The time-course pages actually drawn (not copied), by either plotting process: one marker
    file per drawing in a folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir()

    def __len__(self) -> int:
        return len(list(self.folder.iterdir()))

    def __eq__(self, other) -> bool:
        return sorted(p.name for p in self.folder.iterdir()) == other

    def clear(self) -> None:
        for p in self.folder.iterdir():
            p.unlink()


def _counting(monkeypatch, tmp_path: Path) -> _Drawn:
    drawn = _Drawn(tmp_path / "drawn")
    real = plots.timecourse_page

    def counted(run, genes, path, title="", ncols=3):
        (drawn.folder / f"{Path(path).name}.{Path(path).parent.parent.name}.{len(drawn)}").touch()
        return real(run, genes, path, title=title, ncols=ncols)

    monkeypatch.setattr(plots, "timecourse_page", counted)
    return drawn


def test_a_second_run_copies_unchanged_figures_and_draws_the_changed_ones(tmp_path, monkeypatch, caplog) -> None:
    first = make_run(tmp_path / "a")
    cfg = _cfg(tmp_path)
    drawn = _counting(monkeypatch, tmp_path)
    post_steps(first, cfg)
    n_pages = len(drawn)
    assert n_pages >= 2
    assert any((tmp_path / "cache" / "figures").iterdir())  # auto: beside the embedding cache

    # the same inputs in another run folder: nothing drawn, every file byte for byte the same
    same = _copy_run(first, tmp_path / "same")
    drawn.clear()
    with caplog.at_level(logging.INFO, logger="step.outputs.post"):
        post_steps(same, cfg)
    assert drawn == []
    assert _figures(same) == _figures(first)
    assert any("0 drawn" in r.message and "unchanged since an earlier run" in r.message for r in caplog.records)

    # one prediction of one gene changed: every page that shows the predictions is drawn again
    changed = _copy_run(first, tmp_path / "changed")
    pred = pd.read_csv(changed / "predictions.csv")
    pred.loc[pred.index[-1], "y_pred"] += 0.5
    pred.to_csv(changed / "predictions.csv", index=False)
    drawn.clear()
    post_steps(changed, cfg)
    assert len(drawn) == n_pages
    assert _figures(changed)["scatter_test.png"] != _figures(first)["scatter_test.png"]
    # the loss curves read only history.csv, which did not change
    assert _figures(changed)["loss_curves.png"] == _figures(first)["loss_curves.png"]


def test_the_cache_off_draws_every_figure(tmp_path, monkeypatch) -> None:
    first = make_run(tmp_path / "a")
    cfg = _cfg(tmp_path, figure_cache="")
    assert store_root(cfg.output.figure_cache, cfg.embedding.cache_dir) is None
    drawn = _counting(monkeypatch, tmp_path)
    post_steps(first, cfg)
    n = len(drawn)
    post_steps(_copy_run(first, tmp_path / "again"), cfg)
    assert len(drawn) == 2 * n
    assert not (tmp_path / "cache").exists()


def test_a_damaged_entry_is_drawn_again(tmp_path, monkeypatch) -> None:
    first = make_run(tmp_path / "a")
    cfg = _cfg(tmp_path, figure_cache=str(tmp_path / "figs"))
    post_steps(first, cfg)
    entries = [e for e in (tmp_path / "figs").iterdir() if e.is_dir()]
    assert entries
    for e in entries:  # every stored PNG lost, manifests kept
        for png in e.glob("*.png"):
            png.unlink()
    drawn = _counting(monkeypatch, tmp_path)
    again = _copy_run(first, tmp_path / "again")
    post_steps(again, cfg)
    assert drawn  # drawn, not copied from a broken entry
    assert _figures(again) == _figures(first)
    drawn.clear()  # the damaged entries were replaced: a third run copies
    third = _copy_run(first, tmp_path / "third")
    post_steps(third, cfg)
    assert len(drawn) == 0 and _figures(third) == _figures(first)


def test_digest_sees_values_columns_and_types() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    assert digest(df) == digest(df.copy())
    assert digest(df) != digest(df.assign(a=[1.0, 2.0000001]))
    assert digest(df) != digest(df.rename(columns={"b": "c"}))
    assert digest(df) != digest(df.astype({"a": "float32"}))
    assert digest(df, "t") != digest(df, "u")


def test_the_store_keeps_its_most_recently_used_entries(tmp_path) -> None:
    store = FigureStore(tmp_path / "s")
    src = tmp_path / "f.png"
    src.write_bytes(b"x" * 1000)
    import os
    import time

    for i in range(5):
        store.put(f"k{i}", [src])
        os.utime(store.root / f"k{i}", (time.time() + i, time.time() + i))
    store.prune(max_bytes=2500)
    kept = sorted(e.name for e in store.root.iterdir())
    assert kept == ["k3", "k4"]
    out = store.fetch("k4", tmp_path / "dest")
    assert out == [tmp_path / "dest" / "f.png"] and out[0].read_bytes() == src.read_bytes()
    assert store.fetch("k0", tmp_path / "dest") is None


def test_store_root(tmp_path) -> None:
    assert store_root("auto", str(tmp_path / "c" / "embeddings")) == tmp_path / "c" / "figures"
    # a cache folder the user named: the store goes inside it, not next to it
    assert store_root("auto", str(tmp_path / "mine")) == tmp_path / "mine" / "figures"
    assert store_root("", str(tmp_path / "mine")) is None
    assert store_root(str(tmp_path / "figs"), str(tmp_path / "mine")) == tmp_path / "figs"


def test_a_store_that_cannot_be_written_still_gives_every_figure(tmp_path, caplog, monkeypatch) -> None:
    import step.outputs.post as post

    monkeypatch.setattr(post, "_can_fork", lambda: False)  # one process: its warnings reach caplog
    first = make_run(tmp_path / "a")
    blocked = tmp_path / "not_a_folder"
    blocked.write_text("a file where the store's folder should be")
    cfg = _cfg(tmp_path, figure_cache=str(blocked))
    with caplog.at_level(logging.WARNING, logger="step.outputs.figure_cache"):
        post_steps(first, cfg)
    other = make_run(tmp_path / "b")
    post_steps(other, _cfg(tmp_path, figure_cache=""))
    assert set(_figures(first)) == set(_figures(other)) and _figures(first)
    assert any("cannot store figure" in r.message for r in caplog.records)
    assert "failed" not in (first / "results.txt").read_text()
