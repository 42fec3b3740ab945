"""``auto`` settings (step/auto.py): resolved by the gene count, recorded, and equal to the explicit value."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from step.auto import resolve_auto, resolve_embedding
from step.config import EmbeddingConfig, GraphConfig, load_config
from step.graph.embeddings import embedding_cache_key, window_embeddings
from step.graph.graphs import build_graphs
from step.jobs.pipeline import run_job

try:
    from test_embeddings import random_course
except ImportError:  # tests/ imported as a package
    from tests.test_embeddings import random_course

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs/test_tiny_mrna.yaml"  # 8 genes x 20 times
SMALL = EmbeddingConfig(dim=4, walk_length=6, walks_per_node=3, span=4, window=2, epochs=1,
                        auto_stream_walks_per_node=2, auto_stream_walk_length=5, auto_stream_window=2,
                        auto_stream_span=3)


def test_auto_is_the_default_and_resolves_by_gene_count():
    assert EmbeddingConfig().method == "auto" and GraphConfig().sparse == "auto"
    below, rec = resolve_embedding(dataclasses.replace(SMALL, auto_stream_genes=6), n_genes=6, history=3)
    assert below.method == "windows" and rec == {"embedding.method": "windows (auto: 6 genes <= "
                                                                     "embedding.auto_stream_genes = 6)"}
    assert (below.walks_per_node, below.walk_length, below.window, below.span) == (3, 6, 2, 4)  # as given
    above, rec = resolve_embedding(dataclasses.replace(SMALL, auto_stream_genes=5), n_genes=6, history=3)
    assert above.method == "stream" and rec["embedding.method"].startswith("stream (auto: 6 genes > ")
    assert (above.walks_per_node, above.walk_length, above.window, above.span) == (2, 5, 2, 3)  # auto's
    assert set(rec) == {"embedding.method", "embedding.walks_per_node", "embedding.walk_length",
                        "embedding.window", "embedding.span"}
    # the span holds a window's inputs
    assert resolve_embedding(dataclasses.replace(SMALL, auto_stream_genes=5), 6, history=4)[0].span == 4
    # an explicit method is kept, with its own walk settings; a resolved section resolves to itself
    for cfg in (dataclasses.replace(SMALL, method="stream"), dataclasses.replace(SMALL, method="windows"), above):
        assert resolve_embedding(cfg, 10**6, 3) == (cfg, {})


def test_resolve_auto_records_and_is_idempotent():
    cfg = load_config(CONFIG, {"embedding.auto_stream_genes": 7, "graph.auto_sparse_genes": 7})
    res, rec = resolve_auto(cfg, n_genes=8)
    assert cfg.embedding.method == "auto" and cfg.graph.sparse == "auto"  # the input is not changed
    assert res.embedding.method == "stream" and res.graph.sparse == "sparse"
    assert rec["graph.sparse"] == "sparse (auto: 8 genes > graph.auto_sparse_genes = 7)"
    assert resolve_auto(res, 8) == (res, {})
    small, rec = resolve_auto(cfg, n_genes=7)
    assert small.embedding.method == "windows" and small.graph.sparse == "dense"
    assert small.embedding.walks_per_node == cfg.embedding.walks_per_node


@pytest.mark.parametrize("threshold, explicit", [(5, "stream"), (6, "windows")])
def test_auto_embedding_equals_the_explicit_method(tmp_path, threshold, explicit):
    """A resolved auto gives the explicit method's numbers and shares its cache entry."""
    course = random_course(N=6, T=12, seed=2)
    g = build_graphs(course, GraphConfig(), course.X)
    auto = dataclasses.replace(SMALL, auto_stream_genes=threshold, cache_dir=str(tmp_path / "a"))
    resolved, _ = resolve_embedding(auto, 6, 3)
    assert resolved.method == explicit
    by_hand = dataclasses.replace(SMALL, method=explicit, cache_dir=str(tmp_path / "b"))
    if explicit == "stream":  # what auto chose, written out
        by_hand = dataclasses.replace(by_hand, walks_per_node=2, walk_length=5, window=2, span=3)
    a = window_embeddings(g, 3, auto, seed=1)
    b = window_embeddings(g, 3, by_hand, seed=1)
    np.testing.assert_array_equal(a, b)
    assert embedding_cache_key(g, 3, auto, 1) == embedding_cache_key(g, 3, by_hand, 1)
    # the thresholds and auto's walk settings are not in the key (the resolved settings are)
    other = dataclasses.replace(auto, auto_stream_genes=threshold + 100) if explicit == "windows" else \
        dataclasses.replace(auto, auto_stream_genes=0)
    assert embedding_cache_key(g, 3, other, 1) == embedding_cache_key(g, 3, auto, 1)


def test_job_records_auto_and_equals_the_explicit_config(tmp_path):
    """The tiny job (8 genes) with auto's thresholds below its size: stream and sparse operators;
    config.yaml holds the resolved values and the reasons; rerunning the resolved config with the
    explicit values gives the same predictions."""
    over = {"output.plots": False, "analysis.enabled": False, "train.epochs": 2,
            "embedding.auto_stream_genes": 4, "graph.auto_sparse_genes": 4}
    r1 = run_job(load_config(CONFIG, {**over, "embedding.cache_dir": str(tmp_path / "c1")}), tmp_path / "auto")
    prov = yaml.safe_load((r1.run_dir / "config.yaml").read_text())
    assert prov["config"]["embedding"]["method"] == "stream" and prov["config"]["graph"]["sparse"] == "sparse"
    assert prov["auto"]["embedding.method"] == "stream (auto: 8 genes > embedding.auto_stream_genes = 4)"
    assert prov["auto"]["embedding.walks_per_node"].startswith("1 (auto: ")
    assert prov["config"]["embedding"]["walks_per_node"] == 1 and prov["config"]["embedding"]["span"] == 3
    explicit = {**over, "embedding.cache_dir": str(tmp_path / "c2"), "embedding.method": "stream",
                "graph.sparse": "sparse", "embedding.walks_per_node": 1, "embedding.walk_length": 10,
                "embedding.window": 3, "embedding.span": 3}
    r2 = run_job(load_config(CONFIG, explicit), tmp_path / "explicit")
    assert yaml.safe_load((r2.run_dir / "config.yaml").read_text())["auto"] == {}
    pd.testing.assert_frame_equal(pd.read_csv(r1.run_dir / "predictions.csv"),
                                  pd.read_csv(r2.run_dir / "predictions.csv"))
    # below the thresholds: the per-window embedding and dense operators, the explicit values' numbers
    r3 = run_job(load_config(CONFIG, {**over, "embedding.auto_stream_genes": 8, "graph.auto_sparse_genes": 8,
                                      "embedding.cache_dir": str(tmp_path / "c3")}), tmp_path / "below")
    r4 = run_job(load_config(CONFIG, {**over, "embedding.method": "windows", "graph.sparse": "dense",
                                      "embedding.cache_dir": str(tmp_path / "c4")}), tmp_path / "windows")
    assert yaml.safe_load((r3.run_dir / "config.yaml").read_text())["auto"]["embedding.method"].startswith("windows")
    pd.testing.assert_frame_equal(pd.read_csv(r3.run_dir / "predictions.csv"),
                                  pd.read_csv(r4.run_dir / "predictions.csv"))


def test_patience_and_outputs_at_scale():
    """Above their gene counts: patience capped, predictions.csv without training windows, fewer
    time-course pages; at or below, the config as given (the published panels)."""
    cfg = load_config(CONFIG, {"train.patience": 30, "train.auto_patience_genes": 7, "output.auto_genes": 7,
                               "output.timecourse_genes": 200, "embedding.method": "windows", "graph.sparse": "dense"})
    same, rec = resolve_auto(cfg, n_genes=7)
    assert rec == {} and same is cfg
    big, rec = resolve_auto(cfg, n_genes=8)
    assert big.train.patience == 3
    assert rec["train.patience"].startswith("3 (auto: 8 genes > train.auto_patience_genes = 7")
    assert big.output.prediction_splits == ["val", "test"] and big.output.timecourse_genes == 48
    assert set(rec) == {"train.patience", "output.prediction_splits", "output.timecourse_genes"}
    assert resolve_auto(big, 8) == (big, {})
    off = load_config(CONFIG, {"train.patience": 30, "train.auto_patience": 0, "output.auto_genes": 0,
                               "embedding.method": "windows", "graph.sparse": "dense"})
    assert resolve_auto(off, 10**6) == (off, {})
    low = load_config(CONFIG, {"train.patience": 2, "train.auto_patience_genes": 7, "output.auto_genes": 0,
                               "embedding.method": "windows", "graph.sparse": "dense"})
    assert resolve_auto(low, 8) == (low, {})  # a patience below the cap is kept


def test_auto_stream_settings_are_checked():
    from step.errors import InputError

    with pytest.raises(InputError, match="auto_stream_walk_length"):
        load_config(CONFIG, {"embedding.auto_stream_walk_length": 0})
    with pytest.raises(InputError, match="embedding.method"):
        load_config(CONFIG, {"embedding.method": "fast"})
    with pytest.raises(InputError, match="auto_patience"):
        load_config(CONFIG, {"train.auto_patience": -1})
