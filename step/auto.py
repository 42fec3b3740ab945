"""``auto`` settings resolved by the data's size: the default job is fast at any size.

A setting left at ``auto`` becomes a concrete value once the data are loaded (the gene count is
known), before anything is computed; the run's ``config.yaml`` holds the resolved config (concrete
values only) and an ``auto`` block saying what each ``auto`` became and why, and the log says the
same. A resolved config has no ``auto`` left, so resolving again changes nothing, and rerunning
the recorded config gives the same numbers.

- ``embedding.method``: ``windows`` (one temporal Node2Vec per window, cost ~ windows x span x
  genes) up to ``embedding.auto_stream_genes`` genes, ``stream`` (cost ~ times x genes) above, with
  the ``embedding.auto_stream_*`` walk settings (those of ``configs/genome.yaml``). The threshold
  is measured (``benchmarks/bench_defaults.py --threshold``; README "Defaults that scale").
- ``graph.sparse``: dense graph operators up to ``graph.auto_sparse_genes`` genes, sparse above
  (the same numbers either way, to float precision; tested).

Settings that change what the model is or how long it trains (``model.hidden``, ``train.epochs``,
``train.patience``), the data's scale (``data.transform``) and checks (``data.strict``) are not
chosen by size: ``configs/genome.yaml`` sets those on purpose.
"""
from __future__ import annotations

import copy
import dataclasses
import logging

from step.config import EmbeddingConfig, GraphConfig, RunConfig, validate

log = logging.getLogger(__name__)

STREAM_WALK_KEYS = ("walks_per_node", "walk_length", "window", "span")


def resolve_embedding(cfg: EmbeddingConfig, n_genes: int, history: int) -> tuple[EmbeddingConfig, dict[str, str]]:
    """``embedding.method: auto`` -> ``windows`` or ``stream`` (with auto's walk settings).

    Returns the resolved section (a copy; ``cfg`` itself when nothing is ``auto``) and
    ``{"embedding.<key>": "<value> (auto: <reason>)"}`` for every setting it chose.
    """
    if cfg.method != "auto":
        return cfg, {}
    limit = cfg.auto_stream_genes
    if n_genes <= limit:
        why = f"{n_genes} genes <= embedding.auto_stream_genes = {limit}"
        return dataclasses.replace(cfg, method="windows"), {"embedding.method": f"windows (auto: {why})"}
    why = f"{n_genes} genes > embedding.auto_stream_genes = {limit}"
    walks = {k: getattr(cfg, f"auto_stream_{k}") for k in STREAM_WALK_KEYS}
    walks["span"] = max(walks["span"], int(history))  # a window's span holds its inputs
    record = {"embedding.method": f"stream (auto: {why})"}
    for k, v in walks.items():
        src = f"embedding.auto_stream_{k}" + (f", at least split.history = {history}" if k == "span" else "")
        record[f"embedding.{k}"] = f"{v} (auto: stream chosen by auto; {src})"
    return dataclasses.replace(cfg, method="stream", **walks), record


def resolve_sparse(cfg: GraphConfig, n_genes: int) -> tuple[GraphConfig, dict[str, str]]:
    """``graph.sparse: auto`` -> ``dense`` up to ``graph.auto_sparse_genes`` genes, else ``sparse``."""
    if cfg.sparse != "auto":
        return cfg, {}
    limit = cfg.auto_sparse_genes
    value, rel = ("sparse", ">") if n_genes > limit else ("dense", "<=")
    return (dataclasses.replace(cfg, sparse=value),
            {"graph.sparse": f"{value} (auto: {n_genes} genes {rel} graph.auto_sparse_genes = {limit})"})


def resolve_auto(cfg: RunConfig, n_genes: int) -> tuple[RunConfig, dict[str, str]]:
    """Every ``auto`` setting of ``cfg`` resolved for ``n_genes`` genes.

    Returns a new config (``cfg`` is not changed) without ``auto`` settings and the record of
    what was chosen (empty when nothing was ``auto``), each choice logged.
    """
    emb, rec_e = resolve_embedding(cfg.embedding, n_genes, cfg.split.history)
    graph, rec_g = resolve_sparse(cfg.graph, n_genes)
    record = {**rec_e, **rec_g}
    if not record:
        return cfg, {}
    out = copy.deepcopy(cfg)
    out.embedding, out.graph = emb, graph
    for key, value in record.items():
        log.info("%s = %s", key, value)
    return validate(out, "resolved config"), record
