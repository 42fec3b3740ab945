"""``auto`` settings resolved by the data's size: the default job is fast at any size.

A setting left at ``auto`` becomes a concrete value once the data are loaded (the gene count is
known), before anything is computed; the run's ``config.yaml`` holds the resolved config (concrete
values only) and an ``auto`` block saying what each ``auto`` became and why, and the log says the
same. A resolved config has no ``auto`` left, so resolving again changes nothing, and rerunning
the recorded config gives the same numbers.

- ``embedding.method``: ``windows`` (one temporal Node2Vec per window, cost ~ windows x span x
  genes) up to ``embedding.auto_stream_genes`` genes, ``stream`` (cost ~ times x genes) above, with
  the ``embedding.auto_stream_*`` walk settings (those of ``configs/genome.yaml``); the default
  threshold 0 streams at every size (README "Defaults that scale").
- ``graph.sparse``: dense graph operators up to ``graph.auto_sparse_genes`` genes, sparse above
  (the same numbers either way, to float precision; tested).
- ``train.patience``: above ``train.auto_patience_genes`` genes, at most ``train.auto_patience``
  epochs without a better validation error (an epoch costs ~ genes x windows; the validation error
  over thousands of genes is far less noisy than over a panel of 50).
- ``output.prediction_splits`` / ``output.timecourse_genes``: above ``output.auto_genes`` genes,
  predictions.csv without the training windows and time-course pages for at most
  ``output.auto_timecourse_genes`` genes (files only: metrics.json keeps every split).

Not chosen by size: what the model is (``model.hidden``), the most epochs it may train
(``train.epochs``), the data's scale (``data.transform``) and checks (``data.strict``), and
``train.torch_threads`` (2 threads trained 5x slower than 1 at 2,000 genes on a busy 2-core
machine); ``configs/genome.yaml`` sets those explicitly.
"""
from __future__ import annotations

import copy
import dataclasses
import logging

from step.config import EmbeddingConfig, GraphConfig, OutputConfig, RunConfig, TrainConfig, validate

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


def resolve_patience(cfg: TrainConfig, n_genes: int) -> tuple[TrainConfig, dict[str, str]]:
    """Above ``train.auto_patience_genes`` genes, ``train.patience`` is at most ``train.auto_patience``."""
    cap, limit = cfg.auto_patience, cfg.auto_patience_genes
    if cap <= 0 or n_genes <= limit or cfg.patience <= cap:
        return cfg, {}
    why = f"{n_genes} genes > train.auto_patience_genes = {limit}; train.auto_patience, was {cfg.patience}"
    return dataclasses.replace(cfg, patience=cap), {"train.patience": f"{cap} (auto: {why})"}


def resolve_outputs(cfg: OutputConfig, n_genes: int) -> tuple[OutputConfig, dict[str, str]]:
    """Above ``output.auto_genes`` genes: predictions.csv without the training windows, time-course
    pages for at most ``output.auto_timecourse_genes`` genes."""
    limit = cfg.auto_genes
    if limit <= 0 or n_genes <= limit:
        return cfg, {}
    why = f"{n_genes} genes > output.auto_genes = {limit}"
    changes: dict = {}
    record: dict[str, str] = {}
    if "train" in cfg.prediction_splits:
        changes["prediction_splits"] = [x for x in cfg.prediction_splits if x != "train"]
        record["output.prediction_splits"] = f"{changes['prediction_splits']} (auto: {why})"
    cap = cfg.auto_timecourse_genes
    if cap > 0 and (cfg.timecourse_genes == 0 or cfg.timecourse_genes > cap):
        changes["timecourse_genes"] = cap
        record["output.timecourse_genes"] = f"{cap} (auto: {why}; output.auto_timecourse_genes)"
    return (dataclasses.replace(cfg, **changes), record) if changes else (cfg, {})


def resolve_auto(cfg: RunConfig, n_genes: int) -> tuple[RunConfig, dict[str, str]]:
    """Every ``auto`` setting of ``cfg`` resolved for ``n_genes`` genes.

    Returns a new config (``cfg`` is not changed) without ``auto`` settings and the record of
    what was chosen (empty when nothing was ``auto``), each choice logged.
    """
    emb, rec_e = resolve_embedding(cfg.embedding, n_genes, cfg.split.history)
    graph, rec_g = resolve_sparse(cfg.graph, n_genes)
    train, rec_t = resolve_patience(cfg.train, n_genes)
    output, rec_o = resolve_outputs(cfg.output, n_genes)
    record = {**rec_e, **rec_g, **rec_t, **rec_o}
    if not record:
        return cfg, {}
    out = copy.deepcopy(cfg)
    out.embedding, out.graph, out.train, out.output = emb, graph, train, output
    for key, value in record.items():
        log.info("%s = %s", key, value)
    return validate(out, "resolved config"), record
