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
    # per-gene scaler: a gene whose training-period std is below scale_floor x the median std of
    # all genes (the dataset's typical scale) is scaled by that floor instead (counted in the log):
    # a constant or near-constant gene cannot blow up its standardised values or its partners'
    # neighbour means
    scale_floor: float = 0.05
    # every standardised value (inputs, neighbour means, targets) and every forecast, baselines and
    # models alike, is kept within +- z_clip training standard deviations of the gene's training mean
    z_clip: float = 10.0
    # values beyond this magnitude are refused (naming gene and time): no assay gives them, and
    # squared they overflow the float32 the models train in
    max_abs_value: float = 1e15


@dataclass
class GraphConfig:
    """Edge weight = weighted sum of the normalised features of a gene pair."""

    w_hic: float = 0.4
    w_compartment: float = 0.15
    w_tad: float = 0.15
    w_insulation: float = 0.1
    w_expression: float = 0.2
    operator: str = "window"  # "window": mean of the window's input-time graphs | "structural"
    # graph operators: "sparse" (torch.sparse, O(W E) memory), "dense" ([W, N, N]; faster for small
    # panels), "auto" = dense up to auto_sparse_genes genes, sparse above; both give the same numbers
    # (tests); the resolved choice is recorded in the run's config.yaml (step/auto.py)
    sparse: str = "auto"
    auto_sparse_genes: int = 1000


@dataclass
class EmbeddingConfig:
    """Temporal Node2Vec (vectorised biased walks + gensim Word2Vec)."""

    enabled: bool = True
    # "windows": one temporal Node2Vec fit per forecast window over its trailing span, aligned to the
    # previous window by Procrustes (cost ~ windows x span x genes); "stream": one Word2Vec trained on
    # as time goes on, each window adding walks from its newest time slice only (cost ~ times x genes,
    # aligned by construction; the genome-scale choice); "auto" (default): "windows" up to
    # auto_stream_genes genes, "stream" above, with the auto_stream_* walk settings below (step/auto.py;
    # the threshold is measured in benchmarks/results/defaults.json, README "Defaults that scale").
    # The resolved method and settings are recorded in the run's config.yaml.
    method: str = "auto"
    auto_stream_genes: int = 200
    # walk settings of a stream chosen by "auto" (those of configs/genome.yaml); an explicit
    # "stream" uses walks_per_node / walk_length / window / span as given. The span is at least
    # split.history.
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
    # Processes fitting the per-window Node2Vec models in parallel (the alignment stays
    # sequential in the main process). Results are bit-identical for any value, so it is not
    # part of the cache key. 0 = auto: min(CPUs // workers, windows, 4), but 1 (no pool) when
    # there are fewer than 8 windows or under ~1e6 walk tokens in all, where starting a pool
    # costs more than it saves; 1 = in-process; n > 1 = a pool of n even for tiny inputs.
    processes: int = 0
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
    patience: int = 30
    # above auto_patience_genes genes, early stopping waits at most auto_patience epochs (step/auto.py,
    # recorded in config.yaml): an epoch costs ~ genes x windows (about 1.2 s at 2,000 genes here),
    # and a validation error averaged over thousands of genes varies far less between epochs than
    # over a panel of 50; 3 is configs/genome.yaml's patience. auto_patience = 0: patience at any size
    auto_patience_genes: int = 1000
    auto_patience: int = 3
    finetune_epochs: int = 30  # epochs of a warm-started rolling refit (split.warm_start)
    seed: int = 0
    seeds: int = 1
    device: str = "cpu"
    deterministic: bool = True
    torch_threads: int = 1  # small models run fastest on one thread; 0 leaves torch's default
    # start the linear path at its ridge fit on the training windows (strength chosen on
    # validation among linear_alphas and infinity = the moving average); false = the moving average
    linear_init: bool = True
    # "se": a trained state (or a ridge start of the linear path) replaces the starting point
    # only if it beats it on validation by more than selection_z standard errors of the paired
    # per-window difference; "best": the lowest validation error wins
    selection: str = "se"
    selection_z: float = 2.0
    linear_alphas: list[float] = field(default_factory=lambda: [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0])
    # partial pooling of the linear path's per-gene lag weights towards the shared ones
    # (step/linear_fit.py): 0 (per-gene ridge) and infinity (pooled ridge) are always tried too
    linear_poolings: list[float] = field(default_factory=lambda: [1.0, 10.0, 100.0, 1000.0])
    # evidence for the choices "ridge start or moving average", "correction or linear path only"
    # and the best baseline: "prequential" = out-of-sample errors of every earlier origin (the
    # linear start: each past window forecast by candidates refitted on the windows before it;
    # the correction and the best baseline under --protocol rolling: earlier fits' forecasts,
    # this fit's validation windows where no earlier forecast exists); "validation" = the fit's
    # validation windows only. The paper protocol (windows in random order) always uses validation.
    evidence: str = "prequential"
    prequential_min_train: int = 3  # windows a prequential refit needs before it forecasts
    # prequential evidence is discounted by age: weight 0.5 ** (windows back / evidence_halflife),
    # so a change of regime late in a long course is not outvoted by its early windows (0 = every
    # window counts the same); the standard-error rule then uses the effective number of windows
    evidence_halflife: float = 8.0
    # the standard-error rule on per-window log errors (a consistent relative gain across windows)
    # rather than on their differences, which the few windows with the largest errors dominate
    selection_relative: bool = True
    # a candidate also replaces the moving average when it wins consistently: lower error in so many
    # evidence windows that a one-sided sign test gives p < selection_consistent_p (0 = off)
    selection_consistent_p: float = 0.05
    # the scale the evidence errors are measured in: "working" (the data.transform scale, that of
    # the reported metrics) or "standardised" (every gene weighted the same)
    evidence_scale: str = "working"
    # global learners (fitted across genes on raw lags) the model's start may be, besides its linear
    # family; chosen on the same prequential evidence (step/forecasters.py); [] = the linear family only
    global_bases: list[str] = field(default_factory=lambda: ["global_linear", "global_gbm", "global_ses"])
    # how the start is made from those candidates (prequential evidence): "blend" = the moving
    # average, the best linear candidate and the global bases combined with simplex weights fitted
    # on the evidence, kept if its leave-one-window-out evidence error beats the moving average's
    # (on at least blend_min_windows windows); "select" = one candidate, switched to from the moving
    # average by the selection / selection_consistent_p rules
    start_rule: str = "blend"
    blend_min_windows: int = 3
    # train the linear path's weights with the correction (false: it stays at its start, the
    # validated ridge fit or the moving average, and training fits the correction only)
    train_linear: bool = False


@dataclass
class SplitConfig:
    protocol: str = "chronological"  # "chronological" | "paper" | "rolling"
    history: int = 3
    train_frac: float = 0.7
    val_frac: float = 0.1
    paper_seed: int = 42
    paper_train_frac: float = 0.8
    # rolling origin: the last rolling_test_frac of windows are forecast one origin at a time;
    # the models are refitted every refit_every origins (1 = at every origin)
    rolling_test_frac: float = 0.4
    refit_every: int = 1
    rolling_min_val: int = 4  # validation windows of a rolling fit: max(this, val_frac of its windows)
    # rolling: a refit starts from the previous fit's weights and trains at most
    # train.finetune_epochs epochs (false = every refit starts from scratch)
    warm_start: bool = False
    # forecast t+1 .. t+horizon from every origin, recursively (each step's forecast becomes the next
    # step's last input; graph operator and embedding of the origin window); 1 = one step (as before)
    horizon: int = 1


@dataclass
class BaselineConfig:
    ridge_alphas: list[float] = field(default_factory=lambda: [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0])
    # ETS candidates per gene, chosen by AICc on the fit period: ANN (simple exponential
    # smoothing), AAN (Holt), AAdN (damped trend); see step/ets.py
    ets_models: list[str] = field(default_factory=lambda: ["ANN"])  # ANN alone: lower val RMSE on mRNA
    # the library peers run beside the baselines (step/forecasters.py): statsforecast's AutoETS per
    # gene, a global linear regression and a global LightGBM on raw lags; [] = none
    peers: list[str] = field(default_factory=lambda: ["auto_ets", "global_linear", "global_gbm"])
    global_lags: int = 3            # lags 1..global_lags of the global learners (at most split.history)
    per_gene_peer_max_genes: int = 5000  # above this many genes the per-gene peers (auto_ets) are skipped


@dataclass
class EvaluationConfig:
    """How comparisons are judged (step/uncertainty.py)."""

    # below this many target times a comparison's verdict is "too few target times to tell": the
    # HAC variance of the loss differential rests on too few serially correlated values
    # (benchmarks/bench_null_calibration.py measures the false-verdict rate at 8 and 16)
    min_target_times: int = 15
    level: float = 0.95
    n_boot: int = 2000
    # conformal prediction intervals (step/intervals.py) at these levels, from the residuals of at
    # least interval_min_times earlier target times (fewer: no interval, NaN)
    interval_levels: list[float] = field(default_factory=lambda: [0.8, 0.95])
    interval_min_times: int = 4
    # each gene's error scale: its residuals' RMS shrunk towards its training std x the pooled error
    # ratio, the prior weighing as many residuals as this (0: the gene's own residuals only)
    interval_shrink: float = 4.0
    # > 0: older residuals weigh less in the conformal quantile, 0.5 ** (windows back / this): the same
    # forgetting as the choices' evidence (train.evidence_halflife)
    interval_halflife: float = 8.0


@dataclass
class AblationConfig:
    """python -m step.ablate: which variants, how many randomised graphs and seeds."""

    randomisations: int = 3  # degree-preserving randomised graphs (K)
    seeds: int = 5
    variants: list[str] = field(default_factory=lambda: ["no_graph", "no_embedding", "hic_only", "expression_only"])
    # the Hi-C information test (step/hic_test.py): a fixed global learner refitted at every origin
    # with own lags only / + Hi-C neighbour lags / + randomised or expression-graph neighbour lags,
    # on the last hic_test_frac of the windows
    hic_test: bool = True
    hic_learner: str = "global_linear"
    # share of the windows forecast (the later ones); every fit keeps at least hic_min_fit_windows
    # windows (a global learner has 2 p + 1 coefficients fitted on windows x genes rows)
    hic_test_frac: float = 0.7
    hic_min_fit_windows: int = 5
    hic_expression_max_genes: int = 3000


@dataclass
class AnalysisConfig:
    enabled: bool = True
    group_frac: float = 0.333  # top / bottom fraction of genes by skill
    # per-gene skills closer than this are ties, never a ranking (float noise of a model that
    # forecasts as its baseline does is ~1e-7)
    skill_tolerance: float = 1e-4
    # below this share of the dataset's genes found in the gene sets, the sets do not fit the
    # organism (e.g. yeast ORFs against mouse MSigDB): a warning naming analysis.genesets_dir
    min_mapped_frac: float = 0.1
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
    # time-course pages cover every gene up to this many; above, the best and worst halves by
    # skill only (genes.csv and the enrichment always keep every gene); 0 = always every gene
    timecourse_genes: int = 200
    # splits whose windows go into predictions.csv (genome scale: [val, test] keeps the file ~3x
    # smaller; plots and the analysis read val/test only, metrics.json always has every split)
    prediction_splits: list[str] = field(default_factory=lambda: ["train", "val", "test"])
    # above auto_genes genes (step/auto.py, recorded in config.yaml): predictions.csv without the
    # training windows and time-course pages for at most auto_timecourse_genes genes (the best and
    # worst halves), configs/genome.yaml's output settings: neither changes a number, and at 20,000
    # genes the training rows alone are ~4 million; auto_genes = 0: as set above at any size
    auto_genes: int = 1000
    auto_timecourse_genes: int = 48


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
    ("train", "selection"): ("se", "best"),
    ("train", "evidence"): ("prequential", "validation"),
    ("train", "start_rule"): ("blend", "select"),
    ("ablation", "hic_learner"): ("global_linear", "global_gbm"),
    ("train", "evidence_scale"): ("working", "standardised"),
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
    from step.forecasters import GLOBAL, PEERS

    bad_p = [m for m in cfg.baselines.peers if m not in PEERS]
    if bad_p:
        raise InputError(f"{where}: baselines.peers has unknown {bad_p}; expected some of {', '.join(PEERS)}.")
    bad_g = [m for m in cfg.train.global_bases if m not in GLOBAL]
    if bad_g:
        raise InputError(f"{where}: train.global_bases has unknown {bad_g}; expected some of {', '.join(GLOBAL)}.")
    if cfg.ablation.hic_min_fit_windows < 2:
        raise InputError(f"{where}: ablation.hic_min_fit_windows = {cfg.ablation.hic_min_fit_windows}; expected >= 2.")
    if not 0 < cfg.ablation.hic_test_frac < 1:
        raise InputError(f"{where}: ablation.hic_test_frac = {cfg.ablation.hic_test_frac}; expected in (0, 1).")
    if cfg.train.blend_min_windows < 2:
        raise InputError(f"{where}: train.blend_min_windows = {cfg.train.blend_min_windows}; expected >= 2.")
    if cfg.baselines.global_lags < 1 or not 0 <= cfg.train.selection_consistent_p < 1:
        raise InputError(f"{where}: baselines.global_lags must be >= 1 and train.selection_consistent_p in [0, 1).")
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
    if ev.interval_shrink < 0 or ev.interval_halflife < 0:
        raise InputError(f"{where}: evaluation.interval_shrink and evaluation.interval_halflife must be >= 0, "
                         f"got {ev.interval_shrink}, {ev.interval_halflife}.")
    if not ev.interval_levels or any(not 0 < lv < 1 for lv in ev.interval_levels) or ev.interval_min_times < 1:
        raise InputError(f"{where}: evaluation.interval_levels must be levels in (0, 1) and "
                         f"evaluation.interval_min_times >= 1; got {ev.interval_levels}, {ev.interval_min_times}.")
    if ev.min_target_times < 2 or not 0 < ev.level < 1 or ev.n_boot < 1:
        raise InputError(f"{where}: evaluation.min_target_times must be >= 2, evaluation.level in (0, 1) "
                         "and evaluation.n_boot >= 1.")
    if not cfg.data.z_clip > 0:
        raise InputError(f"{where}: data.z_clip must be > 0, got {cfg.data.z_clip}.")
    if any(p < 0 for p in cfg.train.linear_poolings) or any(a <= 0 for a in cfg.train.linear_alphas):
        raise InputError(f"{where}: train.linear_alphas must be > 0 and train.linear_poolings >= 0.")
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
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if given:  # a bad value may come from the command line: say which were given there
        where += " (with command-line settings " + ", ".join(f"{k}={v}" for k, v in given.items()) + ")"
    cfg = _build(RunConfig, raw, where)
    return validate(cfg, where)


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
