"""The embedding job of the ``create_graph_and_embedding_*`` scripts: the train/test job's loading
and checks (:func:`step.jobs.pipeline.load_stage`), the per-time graphs and the causal window
embeddings, computed or read from the cache the train/test job reads."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from step.auto import resolve_auto
from step.config import RunConfig, load_config
from step.data.course import working_scale
from step.graph.embeddings import window_embeddings
from step.graph.graphs import build_graphs
from step.jobs.pipeline import load_stage

log = logging.getLogger(__name__)


def build_embedding_cache(config_path: str | Path | None, data_path: str | None = None,
                          seed: int | None = None, processes: int | None = None) -> dict[str, Any]:
    """The body of the ``create_graph_and_embedding_*`` scripts (``processes`` overrides
    ``embedding.processes``; it does not change the result).

    Loads the config and the interaction CSV, builds the per-time graphs in the
    working scale and computes (or loads) the causal window embeddings. Logs
    and returns a summary dict. Raises InputError on bad input.
    """
    t0 = time.perf_counter()
    cfg: RunConfig = load_config(config_path, overrides={"data.path": data_path, "train.seed": seed,
                                                         "embedding.processes": processes})
    course = load_stage(cfg)  # the job's own loading and checks (transform, enough time points)
    cfg, _ = resolve_auto(cfg, course.n_genes)  # the job's own auto choices: the same cache entry
    X = working_scale(course.X, cfg.data.transform)
    graphs = build_graphs(course, cfg.graph, X)
    log.info("%s: %d genes x %d time points, %d Hi-C edges per graph",
             cfg.data.path, graphs.n_genes, graphs.n_times, graphs.n_edges)
    if not cfg.embedding.enabled:
        log.info("embedding.enabled is false: graphs built, no embeddings computed")
        return {"data": str(cfg.data.path), "genes": graphs.n_genes, "times": graphs.n_times,
                "edges": graphs.n_edges, "embedding": "disabled"}
    info: dict[str, Any] = {}
    emb = window_embeddings(graphs, cfg.split.history, cfg.embedding, cfg.train.seed, info=info)
    summary = {
        "data": str(cfg.data.path), "genes": graphs.n_genes, "times": graphs.n_times,
        "edges": graphs.n_edges, "history": cfg.split.history, "shape": list(emb.shape),
        "cache_path": info["cache_path"], "cache_hit": info["cache_hit"],
        "embedding_seconds": round(info["seconds"], 3),
        "total_seconds": round(time.perf_counter() - t0, 3),
    }
    log.info("embeddings %s: %s (%s) in %.2f s (total %.2f s)", summary["shape"], summary["cache_path"],
             "cache hit" if summary["cache_hit"] else "computed", summary["embedding_seconds"],
             summary["total_seconds"])
    return summary
