"""Typed run configuration loaded from YAML, with command-line overrides.

Every section is a dataclass; unknown keys are an error naming the key and the
file, so a typo in a config never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from step.errors import InputError
from step.io import read_yaml_mapping


@dataclass
class DataConfig:
    """Where the interaction CSV lives and how it is read."""

    path: str = "dataset/mrna/interaction_mrna.csv"
    strict: bool = False  # conflicting series for one gene: error instead of keep-first
    transform: str = "none"  # "none" | "log1p": space the models and baselines work in
    allow_missing: bool = False  # partly-empty time columns: mask instead of error
    drop_empty_times: bool = True  # all-empty time columns are dropped (logged)
    scale_floor: float = 0.05  # a gene's scaler std is at least this x the median gene's
    z_clip: float = 10.0  # standardised values and forecasts kept within +- this many training stds
    max_abs_value: float = 1e15  # larger values are refused (they overflow float32 squared)


@dataclass
class GraphConfig:
    """Edge weight = weighted sum of the normalised features of a gene pair."""

    w_hic: float = 0.4
    w_compartment: float = 0.15
    w_tad: float = 0.15
    w_insulation: float = 0.1
    w_expression: float = 0.2
    operator: str = "window"  # "window": mean of the window's input-time graphs | "structural"
    sparse: str = "auto"  # graph operators "sparse" | "dense" | "auto" (by genes; the same numbers)
    auto_sparse_genes: int = 1000


# The forecasters a config may name (step.forecasters.registry registers them under these names).
BASELINE_NAMES = ("persistence", "mean_last", "ridge_ar_gene", "ridge_ar_pooled", "ridge_ar_graph", "ets")
PEERS = ("auto_ets", "global_linear", "global_gbm")
PER_GENE_PEERS = ("auto_ets",)
GLOBAL = ("global_linear", "global_gbm", "global_ses", "gene_ses")  # the two SES: start candidates only


@dataclass
class EmbeddingConfig:
    """Temporal Node2Vec (vectorised biased walks + gensim Word2Vec)."""

    enabled: bool = True
    method: str = "auto"  # "windows" | "stream" | "auto" (by genes; README "Defaults that scale")
    auto_stream_genes: int = 0  # "windows" up to this many genes, "stream" above (0: stream always)
    # walk settings of a stream chosen by "auto" (span at least split.history)
    auto_stream_walks_per_node: int = 1
    auto_stream_walk_length: int = 10
    auto_stream_window: int = 3
    auto_stream_span: int = 3
    backend: str = "numpy"  # walks: "numpy" (vectorised, default) | "node2vec" (the PyPI package; slow)
    dim: int = 16
    walk_length: int = 20
    walks_per_node: int = 10
    p: float = 1.0
    q: float = 1.0
    temporal_weight: float = 1.0  # weight of the edge (gene, t) -- (gene, t+1)
    span: int = 6  # time points fitted per forecast origin (>= history)
    window: int = 5  # Word2Vec context window
    negative: int = 5
    epochs: int = 1
    workers: int = 1  # >1 is faster but gensim is then not bit-reproducible
    processes: int = 0  # fitting processes of "windows" (0 = auto; bit-identical for any value)
    cache_dir: str = ".cache/step/embeddings"


@dataclass
class ModelConfig:
    """Sizes of STEPmr / STEPmi; every size comes from here (which model: the top-level
    ``model_name``)."""

    hidden: int = 32
    cheb_k: int = 2
    kernel_size: int = 2
    n_blocks: int = 2
    dropout: float = 0.1
    lstm_layers: int = 4
    attn_layers: int = 4
    heads: int = 4
    linear_graph: bool = True  # the linear path also reads the Hi-C neighbours' lags


@dataclass
class LossConfig:
    """Weights of the multi-component loss in step_losses.py."""

    base: str = "mse"  # "mse" (STEPmr) | "l1" (STEPmi)
    w_base: float = 1.0
    w_direction: float = 0.1
    w_trend: float = 0.1
    w_smooth: float = 0.01
    w_consistency: float = 0.0
    w_correction: float = 0.1  # penalty on the correction on top of the linear path (mean delta^2)


@dataclass
class TrainConfig:
    epochs: int = 200
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 8
    patience: int = 10  # 30 until 2026-12-07: benchmarks/bench_patience.py, README "Early stopping"
    # above auto_patience_genes genes, patience is at most auto_patience (0 = off; README "Defaults that scale")
    auto_patience_genes: int = 1000
    auto_patience: int = 3
    finetune_epochs: int = 30  # epochs of a warm-started rolling refit (split.warm_start)
    seed: int = 0
    seeds: int = 1
    device: str = "cpu"
    deterministic: bool = True
    torch_threads: int = 1  # small models run fastest on one thread; 0 leaves torch's default
    # processes training one fit's seeds at once (step/forecasters/seed_pool.py): 0 = auto (up to 4,
    # at most the CPUs and the seeds, when torch_threads is 1), 1 = the job's own process, N = N.
    # Each worker runs torch_threads threads: the same numbers as in one process
    seed_workers: int = 0
    train_linear: bool = False  # also train the linear path's weights (false: it stays at its start)


@dataclass
class SelectionConfig:
    """How the model's start and the keep-the-correction and best-baseline choices are made (README
    "Models" and "Choices worth knowing" give the reasons and the measurements)."""

    linear_init: bool = True  # false: the linear path starts at the moving average
    rule: str = "se"  # "se": replace the simpler choice only if better by z standard errors; "best"
    z: float = 2.0
    relative: bool = True  # the "se" rule on per-window log errors (a consistent relative gain)
    consistent_p: float = 0.05  # also switch when a one-sided sign test over windows gives p < this (0 = off)
    linear_alphas: list[float] = field(default_factory=lambda: [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0])
    linear_poolings: list[float] = field(default_factory=lambda: [1.0, 10.0, 100.0, 1000.0])  # 0 and inf too
    evidence: str = "prequential"  # "prequential" (earlier origins' out-of-sample errors) | "validation"
    prequential_min_train: int = 3  # windows a prequential refit needs before it forecasts
    evidence_halflife: float = 8.0  # evidence weight 0.5 ** (windows back / this); 0 = equal weights
    evidence_scale: str = "working"  # errors in the working scale | "standardised" (genes weighted equally)
    global_bases: list[str] = field(default_factory=lambda: ["global_linear", "global_gbm", "global_ses", "gene_ses"])
    start_rule: str = "blend"  # "blend" (simplex weights on the evidence) | "select" (one candidate)
    blend_min_windows: int = 3
    # the blend's weights shrunk towards equal shares of its candidates by one of these amounts
    # (0 = the fitted simplex weights, 1 = equal shares), the amount chosen on the same
    # leave-one-window-out evidence as the blend itself
    blend_equal_shares: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0])


# settings that moved from train to selection: old key -> new key (old configs are read with a warning)
MOVED_TO_SELECTION = {"linear_init": "linear_init", "selection": "rule", "selection_z": "z",
                      "selection_relative": "relative", "selection_consistent_p": "consistent_p",
                      "linear_alphas": "linear_alphas", "linear_poolings": "linear_poolings",
                      "evidence": "evidence", "prequential_min_train": "prequential_min_train",
                      "evidence_halflife": "evidence_halflife", "evidence_scale": "evidence_scale",
                      "global_bases": "global_bases", "start_rule": "start_rule",
                      "blend_min_windows": "blend_min_windows"}


@dataclass
class SplitConfig:
    protocol: str = "chronological"  # "chronological" | "paper" | "rolling"
    history: int = 3
    train_frac: float = 0.7
    val_frac: float = 0.1
    paper_seed: int = 42
    paper_train_frac: float = 0.8
    # rolling origin: the last rolling_test_frac of windows, refitted every refit_every origins
    rolling_test_frac: float = 0.4
    refit_every: int = 1
    rolling_min_val: int = 4  # validation windows of a rolling fit: max(this, val_frac of its windows)
    warm_start: bool = False  # a rolling refit starts from the previous fit's weights
    horizon: int = 1  # forecast t+1 .. t+horizon from every origin, recursively


@dataclass
class BaselineConfig:
    ridge_alphas: list[float] = field(default_factory=lambda: [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0])
    ets_models: list[str] = field(default_factory=lambda: ["ANN"])  # per-gene ETS candidates (AICc)
    # the library peers beside the baselines (step/forecasters/registry.py); [] = none
    peers: list[str] = field(default_factory=lambda: ["auto_ets", "global_linear", "global_gbm"])
    global_lags: int = 3            # lags 1..global_lags of the global learners (at most split.history)
    per_gene_peer_max_genes: int = 5000  # above this many genes the per-gene peers (auto_ets) are skipped
    # processes that fit the per-gene smoothers (ets, auto_ets; step/forecasters/beside.py): 1 = the job's
    # own, 2 = one forked process beside the job, 0 = auto (2 where it can fork, 2+ CPUs, <= 5,000 genes)
    processes: int = 0


@dataclass
class EvaluationConfig:
    """How comparisons are judged (step/evaluation/uncertainty.py)."""

    min_target_times: int = 15  # fewer: "too few target times to tell"
    level: float = 0.95
    n_boot: int = 2000
    # conformal intervals at these levels, from at least interval_min_times earlier target times
    interval_levels: list[float] = field(default_factory=lambda: [0.8, 0.95])
    interval_min_times: int = 4
    # weight (in residuals) of a gene's error-scale prior: "auto" = estimated from the genes' spread
    # (empirical Bayes, step.evaluation.intervals.prior_weight), or a number >= 0
    interval_shrink: float | str = "auto"
    interval_halflife: float = 8.0  # residual weight 0.5 ** (windows back / this); 0 = equal
    # adaptive conformal inference (step.evaluation.intervals.adaptive_levels): the quantile level moves
    # by this rate times the coverage shortfall of the forecaster's earlier intervals; 0 = fixed levels
    interval_adapt_rate: float = 0.05


@dataclass
class AblationConfig:
    """python -m step.ablate: which variants, how many randomised graphs and seeds."""

    randomisations: int = 3  # degree-preserving randomised graphs (K)
    seeds: int = 5
    variants: list[str] = field(default_factory=lambda: ["no_graph", "no_embedding", "hic_only", "expression_only"])
    hic_test: bool = True  # the Hi-C information test (step/evaluation/hic_test.py)
    hic_learner: str = "global_linear"
    hic_test_frac: float = 0.7
    hic_min_fit_windows: int = 5
    hic_expression_max_genes: int = 3000


@dataclass
class AnalysisConfig:
    enabled: bool = True
    group_frac: float = 0.333  # top / bottom fraction of genes by skill
    skill_tolerance: float = 1e-4  # per-gene skills closer than this are ties
    min_mapped_frac: float = 0.1  # fewer genes found in the gene sets: a warning (wrong organism?)
    min_set_size: int = 5
    max_set_size: int = 500
    fdr: float = 0.05
    online: bool = False
    genesets_dir: str = "dataset/genesets"
    aliases: str = "dataset/annotation/gene_aliases.csv"


@dataclass
class OutputConfig:
    results_dir: str = "results"
    plots: bool = True
    genes_per_page: int = 12
    timecourse_genes: int = 200  # more genes: pages of the best and worst halves only (0 = every gene)
    prediction_splits: list[str] = field(default_factory=lambda: ["train", "val", "test"])
    # above auto_genes genes: predictions.csv without training rows, fewer pages (0 = off)
    auto_genes: int = 1000
    auto_timecourse_genes: int = 48
    # figures drawn only when what they show changed: a store of PNGs keyed by their inputs
    # (step/outputs/figure_cache.py); "auto": beside the embedding cache (.cache/step/figures),
    # a path: there, "": off (every figure drawn)
    figure_cache: str = "auto"


@dataclass
class RunConfig:
    dataset: str = "mrna"
    model_name: str = "STEPmr"
    data: DataConfig = field(default_factory=DataConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    ablation: AblationConfig = field(default_factory=AblationConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def short_hash(self, ignore: tuple[str, ...] = ("output",)) -> str:
        """Hash of the settings that can change results (output paths ignored)."""
        d = {k: v for k, v in self.to_dict().items() if k not in ignore}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    if not isinstance(values, dict):
        raise InputError(f"{where}: expected a mapping of settings, got {type(values).__name__}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, val in values.items():
        if key not in fields:
            raise InputError(
                f"{where}: unknown setting '{key}'. Known settings: {', '.join(sorted(fields))}."
            )
        sub_cls = _SECTIONS.get(key) if cls is RunConfig else None
        if sub_cls is not None:
            kwargs[key] = _build(sub_cls, val or {}, f"{where}: section '{key}'")
        else:
            kwargs[key] = _coerce(val, fields[key], f"{where}: '{key}'")
    return cls(**kwargs)


def _coerce(val: Any, f: dataclasses.Field, where: str) -> Any:
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    if isinstance(default, bool):
        if not isinstance(val, bool):
            raise InputError(f"{where}: expected true/false, got {val!r}.")
        return val
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(val, bool) or not isinstance(val, (int, float)) or int(val) != val:
            raise InputError(f"{where}: expected an integer, got {val!r}.")
        return int(val)
    if isinstance(default, float):
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            raise InputError(f"{where}: expected a number, got {val!r}.")
        return float(val)
    if default == "auto" and isinstance(val, (int, float)) and not isinstance(val, bool):
        return float(val)  # a setting that is "auto" or a number
    if isinstance(default, str):
        if not isinstance(val, str):
            raise InputError(f"{where}: expected text, got {val!r}.")
        return val
    if isinstance(default, list):
        if not isinstance(val, list):
            raise InputError(f"{where}: expected a list, got {val!r}.")
        return list(val)
    return val


_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "graph": GraphConfig,
    "embedding": EmbeddingConfig,
    "model": ModelConfig,
    "loss": LossConfig,
    "train": TrainConfig,
    "selection": SelectionConfig,
    "split": SplitConfig,
    "baselines": BaselineConfig,
    "analysis": AnalysisConfig,
    "evaluation": EvaluationConfig,
    "ablation": AblationConfig,
    "output": OutputConfig,
}

_CHOICES = {
    ("data", "transform"): ("none", "log1p"),
    ("graph", "operator"): ("window", "structural"),
    ("graph", "sparse"): ("auto", "sparse", "dense"),
    ("embedding", "method"): ("auto", "windows", "stream"),
    ("embedding", "backend"): ("numpy", "node2vec"),
    ("loss", "base"): ("mse", "l1"),
    ("split", "protocol"): ("chronological", "paper", "rolling"),
    ("train", "device"): ("cpu", "cuda"),
    ("selection", "rule"): ("se", "best"),
    ("selection", "evidence"): ("prequential", "validation"),
    ("selection", "start_rule"): ("blend", "select"),
    ("ablation", "hic_learner"): ("global_linear", "global_gbm"),
    ("selection", "evidence_scale"): ("working", "standardised"),
}


def validate(cfg: RunConfig, where: str = "config") -> RunConfig:
    """Check choices and ranges; raise InputError naming the setting."""
    for (sec, key), allowed in _CHOICES.items():
        val = getattr(getattr(cfg, sec), key)
        if val not in allowed:
            raise InputError(f"{where}: {sec}.{key} = {val!r}; expected one of {', '.join(allowed)}.")
    s = cfg.split
    known = ("no_graph", "no_embedding", "hic_only", "expression_only")
    unknown = [v for v in cfg.ablation.variants if v not in known]
    if unknown:
        raise InputError(f"{where}: ablation.variants has unknown {unknown}; expected some of {', '.join(known)}.")
    if cfg.ablation.randomisations < 0 or cfg.ablation.seeds < 1:
        raise InputError(f"{where}: ablation.randomisations must be >= 0 and ablation.seeds >= 1.")
    ps = cfg.output.prediction_splits
    if not ps or any(x not in ("train", "val", "test") for x in ps) or not ({"val", "test"} <= set(ps)):
        raise InputError(f"{where}: output.prediction_splits must list val and test (and optionally train); got {ps}.")

    bad_p = [m for m in cfg.baselines.peers if m not in PEERS]
    if bad_p:
        raise InputError(f"{where}: baselines.peers has unknown {bad_p}; expected some of {', '.join(PEERS)}.")
    bad_g = [m for m in cfg.selection.global_bases if m not in GLOBAL]
    if bad_g:
        raise InputError(f"{where}: selection.global_bases has unknown {bad_g}; expected some of {', '.join(GLOBAL)}.")
    if cfg.ablation.hic_min_fit_windows < 2:
        raise InputError(f"{where}: ablation.hic_min_fit_windows = {cfg.ablation.hic_min_fit_windows}; expected >= 2.")
    if not 0 < cfg.ablation.hic_test_frac < 1:
        raise InputError(f"{where}: ablation.hic_test_frac = {cfg.ablation.hic_test_frac}; expected in (0, 1).")
    eq = cfg.selection.blend_equal_shares
    if not isinstance(eq, (list, tuple)) or not eq or any(isinstance(v, bool) or not isinstance(v, (int, float))
                                                          or not 0 <= v <= 1 for v in eq):
        raise InputError(f"{where}: selection.blend_equal_shares must be a non-empty list of numbers in [0, 1], "
                         f"got {eq!r}.")
    if cfg.selection.blend_min_windows < 2:
        raise InputError(f"{where}: selection.blend_min_windows = {cfg.selection.blend_min_windows}; expected >= 2.")
    if cfg.baselines.processes not in (0, 1, 2):
        raise InputError(f"{where}: baselines.processes = {cfg.baselines.processes}; expected 0 (auto), 1 (the "
                         "job's process) or 2 (one process beside the job).")
    if cfg.baselines.global_lags < 1 or not 0 <= cfg.selection.consistent_p < 1:
        raise InputError(f"{where}: baselines.global_lags must be >= 1 and selection.consistent_p in [0, 1).")
    bad = [m for m in cfg.baselines.ets_models if m not in ("ANN", "AAN", "AAdN")]
    if bad or not cfg.baselines.ets_models:
        raise InputError(f"{where}: baselines.ets_models must list ANN, AAN and/or AAdN; got {cfg.baselines.ets_models}.")
    if s.history < 1:
        raise InputError(f"{where}: split.history must be >= 1, got {s.history}.")
    if not (0 < s.train_frac < 1 and 0 <= s.val_frac < 1 and s.train_frac + s.val_frac < 1):
        raise InputError(f"{where}: split.train_frac + split.val_frac must leave a test share (got {s.train_frac}, {s.val_frac}).")
    if not 0 < s.rolling_test_frac < 1:
        raise InputError(f"{where}: split.rolling_test_frac must be in (0, 1), got {s.rolling_test_frac}.")
    if s.refit_every < 1:
        raise InputError(f"{where}: split.refit_every must be >= 1, got {s.refit_every}.")
    if s.horizon < 1:
        raise InputError(f"{where}: split.horizon must be >= 1, got {s.horizon}.")
    if s.horizon > 1 and s.protocol == "paper":
        raise InputError(f"{where}: split.horizon > 1 needs an origin in time: use --protocol rolling or "
                         "chronological (the paper protocol's windows are in random order).")
    if cfg.embedding.span < s.history:
        raise InputError(f"{where}: embedding.span ({cfg.embedding.span}) must be >= split.history ({s.history}).")
    for name in ("walks_per_node", "walk_length", "window", "span"):
        if getattr(cfg.embedding, f"auto_stream_{name}") < 1:
            raise InputError(f"{where}: embedding.auto_stream_{name} must be >= 1.")
    if not 0 <= cfg.data.scale_floor < 1:
        raise InputError(f"{where}: data.scale_floor must be in [0, 1), got {cfg.data.scale_floor}.")
    ev = cfg.evaluation
    if (ev.interval_shrink != "auto" and (isinstance(ev.interval_shrink, str) or ev.interval_shrink < 0)) \
            or ev.interval_halflife < 0:
        raise InputError(f"{where}: evaluation.interval_shrink must be 'auto' or a number >= 0 and "
                         f"evaluation.interval_halflife >= 0, got {ev.interval_shrink!r}, {ev.interval_halflife}.")
    if isinstance(ev.interval_adapt_rate, bool) or not isinstance(ev.interval_adapt_rate, (int, float)) \
            or not 0 <= ev.interval_adapt_rate < 1:
        raise InputError(f"{where}: evaluation.interval_adapt_rate must be in [0, 1), got {ev.interval_adapt_rate!r}.")
    if not ev.interval_levels or any(not 0 < lv < 1 for lv in ev.interval_levels) or ev.interval_min_times < 1:
        raise InputError(f"{where}: evaluation.interval_levels must be levels in (0, 1) and "
                         f"evaluation.interval_min_times >= 1; got {ev.interval_levels}, {ev.interval_min_times}.")
    if ev.min_target_times < 2 or not 0 < ev.level < 1 or ev.n_boot < 1:
        raise InputError(f"{where}: evaluation.min_target_times must be >= 2, evaluation.level in (0, 1) "
                         "and evaluation.n_boot >= 1.")
    if not cfg.data.z_clip > 0:
        raise InputError(f"{where}: data.z_clip must be > 0, got {cfg.data.z_clip}.")
    if any(p < 0 for p in cfg.selection.linear_poolings) or any(a <= 0 for a in cfg.selection.linear_alphas):
        raise InputError(f"{where}: selection.linear_alphas must be > 0 and selection.linear_poolings >= 0.")
    for name in ("epochs", "batch_size", "seeds"):
        if getattr(cfg.train, name) < 1:
            raise InputError(f"{where}: train.{name} must be >= 1.")
    if cfg.train.auto_patience < 0:
        raise InputError(f"{where}: train.auto_patience must be >= 0 (0 = train.patience at any size).")
    if cfg.model.hidden % max(cfg.model.heads, 1) != 0:
        raise InputError(f"{where}: model.hidden ({cfg.model.hidden}) must be divisible by model.heads ({cfg.model.heads}).")
    return cfg


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None,
                defaults: dict[str, Any] | None = None) -> RunConfig:
    """Load a YAML config on top of ``defaults``, then apply dotted ``overrides``.

    Parameters
    ----------
    path : YAML file or None (defaults only).
    overrides : ``{"train.epochs": 5, ...}`` from the command line; None values are skipped.
    defaults : a nested mapping applied before the file (e.g. the miRNA job's defaults).
    """
    raw: dict[str, Any] = {}
    _deep_update(raw, defaults or {})
    where = "config"
    if path is not None:
        where = str(path)
        _deep_update(raw, _read_yaml(Path(path), ()))
    for key, val in (overrides or {}).items():
        if val is None:
            continue
        cur = raw
        parts = key.split(".")
        for part in parts[:-1]:
            cur = cur.setdefault(part, {})
        cur[parts[-1]] = val
    _migrate_selection(raw, where)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if given:  # a bad value may come from the command line: say which were given there
        where += " (with command-line settings " + ", ".join(f"{k}={v}" for k, v in given.items()) + ")"
    cfg = _build(RunConfig, raw, where)
    return validate(cfg, where)


def _migrate_selection(raw: dict[str, Any], where: str) -> None:
    """Settings of an older config under ``train`` that are now under ``selection``: moved there,
    with a warning (a key also given under ``selection`` keeps that value)."""
    import logging

    train = raw.get("train")
    if not isinstance(train, dict):
        return
    for old, new in MOVED_TO_SELECTION.items():
        if old not in train:
            continue
        val = train.pop(old)
        sel = raw.setdefault("selection", {})
        if not isinstance(sel, dict):
            return
        if new in sel:
            logging.getLogger(__name__).warning("%s: train.%s is now selection.%s, which is also set; "
                                                "selection.%s = %r is used", where, old, new, new, sel[new])
            continue
        logging.getLogger(__name__).warning("%s: train.%s is now selection.%s; read as such", where, old, new)
        sel[new] = val


def _read_yaml(p: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """A config file as a dict; ``extends: other.yaml`` (relative to the file) is read first."""
    if p.is_file() and p.resolve() in chain:
        raise InputError(f"{p}: 'extends' loops back to itself.")
    loaded = read_yaml_mapping(p, "a mapping of sections")
    base = loaded.pop("extends", None)
    if base is None:
        return loaded
    if not isinstance(base, str):
        raise InputError(f"{p}: 'extends' must name another YAML file.")
    merged = _read_yaml(p.parent / base, chain + (p.resolve(),))
    _deep_update(merged, loaded)
    return merged


def _deep_update(dst: dict, src: dict) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _deep_update(dst[k], v)
        else:
            dst[k] = v if not isinstance(v, dict) else dict(v)
