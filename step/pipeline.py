"""One train/test job: data -> graphs + embeddings -> windows -> model and baselines
-> predictions -> metrics -> files. Shared by the STEPmr and STEPmi entry points.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from step import report
from step.baselines import BASELINES, run_baselines
from step.config import RunConfig
from step.data import GeneTimeCourse, load_interactions, original_scale, working_scale
from step.errors import InputError
from step.io import save_npz, write_json, write_text, write_with
from step.metrics import compute_metrics, mse
from step.runs import RunFolder, dump_yaml, new_run_id, provenance
from step.windows import Scaler, WindowSplit, make_windows, split_windows

log = logging.getLogger(__name__)


@dataclass
class JobResult:
    run_dir: Path
    metrics: dict
    summary: str
    timings: dict[str, float] = field(default_factory=dict)


def prepare_course(cfg: RunConfig) -> GeneTimeCourse:
    """Load and validate the data named by the config (nothing is written)."""
    course = load_interactions(cfg.data.path, cfg.data)
    if cfg.data.transform == "log1p" and np.nanmin(course.X) <= -1:
        raise InputError(f"{cfg.data.path}: data.transform is log1p but some values are <= -1 "
                         f"(min {np.nanmin(course.X):g}); log1p needs values > -1 (counts).")
    if course.n_times <= cfg.split.history + 3:
        raise InputError(f"{cfg.data.path}: {course.n_times} time points are too few for history "
                         f"{cfg.split.history} (need at least {cfg.split.history + 4}).")
    return course


def _window_laplacians(graphs, ws_targets: np.ndarray, history: int, operator: str,
                       structural: np.ndarray) -> torch.Tensor:
    """Scaled Laplacian of each window's graph: ``[W, N, N]`` (window) or ``[N, N]`` (structural)."""
    from step.layers import scaled_laplacian

    if operator == "structural":
        return scaled_laplacian(torch.as_tensor(structural, dtype=torch.float32))
    A = np.stack([graphs.dense_mean(list(range(k - history, k))) for k in ws_targets])
    return scaled_laplacian(torch.as_tensor(A, dtype=torch.float32))


def run_job(cfg: RunConfig, out_root: Path | None = None) -> JobResult:
    """Run one configured job end to end and publish its run folder.

    Input validation happens before anything is written; the run folder is
    staged and renamed into place only when complete.
    """
    from step.embeddings import window_embeddings
    from step.graphs import build_graphs, structural_adjacency
    from step.models import build_model
    from step.train import WindowTensors, predict, seed_everything, train_model

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if cfg.train.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but torch sees no CUDA device; use --device cpu.")
    if cfg.train.torch_threads > 0:
        torch.set_num_threads(cfg.train.torch_threads)
    course = prepare_course(cfg)
    L = cfg.split.history
    s = cfg.split
    ws = split_windows(course.n_times, L, s.protocol, s.train_frac, s.val_frac, s.paper_seed, s.paper_train_frac)
    Xw = working_scale(course.X, cfg.data.transform)  # [T, N]
    scaler = Scaler.fit(Xw, ws.train_time_indices())
    Z = scaler.transform(Xw)  # NaN only where data.allow_missing masks a value
    inputs, targets, _ = make_windows(Z, L)  # [W, L, N], [W, N]
    inputs = np.nan_to_num(inputs, nan=0.0)  # a masked input is imputed by the training mean
    mask = np.isfinite(targets)  # masked targets are left out of every loss, fit and metric
    train_idx, val_idx = ws.idx("train"), ws.idx("val")
    seeds = [cfg.train.seed + i for i in range(cfg.train.seeds)]

    # ---- graphs and causal embeddings
    t0 = time.perf_counter()
    graphs = build_graphs(course, cfg.graph, Xw)
    structural = structural_adjacency(course, cfg.graph)
    emb = None
    if cfg.embedding.enabled:
        emb = window_embeddings(graphs, L, cfg.embedding, seed=cfg.train.seed)  # [W, L, N, D]
    timings["embedding"] = time.perf_counter() - t0

    # ---- baselines (standardised scale)
    t0 = time.perf_counter()
    base_val = val_idx if (len(val_idx) and ws.report != "val") else None
    if ws.report == "val":
        log.info("paper protocol: ridge strengths chosen by leave-one-out on training windows")
    base_preds, base_info = run_baselines(inputs, targets, train_idx, base_val, course.pairs, cfg.baselines.ridge_alphas)
    timings["baselines"] = time.perf_counter() - t0

    # ---- model, one per seed
    t0 = time.perf_counter()
    x = torch.as_tensor(inputs[:, None], dtype=torch.float32)  # [W, 1, L, N]
    if emb is not None:
        x = torch.cat([x, torch.as_tensor(emb, dtype=torch.float32).permute(0, 3, 1, 2)], dim=1)  # [W, 1+D, L, N]
    lap = _window_laplacians(graphs, ws.targets, L, cfg.graph.operator, structural)
    data = WindowTensors(x, lap, torch.as_tensor(np.nan_to_num(targets, nan=0.0), dtype=torch.float32),
                         torch.as_tensor(inputs[:, -1], dtype=torch.float32),
                         torch.as_tensor(inputs, dtype=torch.float32),
                         torch.as_tensor(mask)).to(cfg.train.device)
    m = cfg.model
    model_args = dict(in_channels=int(x.shape[1]), n_nodes=course.n_genes, history=L, hidden=m.hidden,
                      cheb_k=m.cheb_k, kernel_size=m.kernel_size, n_blocks=m.n_blocks, dropout=m.dropout,
                      degree=[float(d) for d in course.degree()])
    if cfg.model_name == "STEPmi":
        model_args.update(lstm_layers=m.lstm_layers, attn_layers=m.attn_layers, heads=m.heads)
    model_preds: dict[int, np.ndarray] = {}
    states: dict[int, dict] = {}
    hist_rows: list[dict] = []
    for seed in seeds:
        seed_everything(seed, cfg.train.deterministic)
        model = build_model(cfg.model_name, **model_args).to(cfg.train.device)
        early = val_idx if len(val_idx) else np.array([], dtype=np.int64)
        model, hist = train_model(model, data, train_idx, early, cfg.loss, cfg.train, seed,
                                  desc=f"{cfg.model_name} seed {seed}")
        model_preds[seed] = predict(model, data)
        states[seed] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        hist_rows += [{"seed": seed, **r} for r in hist]
    timings["training"] = time.perf_counter() - t0

    # ---- predictions back to the original scale
    def to_orig(P: np.ndarray) -> np.ndarray:
        return original_scale(scaler.inverse(P), cfg.data.transform)

    y_true_o = course.X[ws.targets]  # [W, N]
    preds_o = {name: to_orig(P) for name, P in base_preds.items()}
    # persistence is exactly the previous observed value (no floating round trip through the scaler)
    preds_o["persistence"] = course.X[ws.targets - 1].astype(float)
    model_o = {sd: to_orig(P) for sd, P in model_preds.items()}
    pred_df = predictions_table(cfg.model_name, ws, course, y_true_o, preds_o, model_o, cfg.train.seed)

    # ---- metrics
    sel_split = "val" if len(val_idx) else "train"
    best = min(BASELINES, key=lambda b: mse(targets[ws.idx(sel_split)], base_preds[b][ws.idx(sel_split)]))
    metrics = build_metrics(cfg, ws, course, y_true_o, preds_o, model_o, best, sel_split)
    if cfg.data.transform == "log1p":
        lt = {k: np.log1p(v) for k, v in preds_o.items()}
        lm = {k: np.log1p(v) for k, v in model_o.items()}
        metrics["log1p"] = {"models": build_metrics(cfg, ws, course, np.log1p(y_true_o), lt, lm, best,
                                                    sel_split)["models"]}
    metrics["baseline_settings"] = base_info
    metrics["data_notes"] = course.notes
    timings["total_before_outputs"] = time.perf_counter() - t_start
    metrics["runtime_s"] = {k: round(v, 3) for k, v in timings.items()}

    # ---- write the run folder (staged, then published)
    root = Path(out_root) if out_root else Path(cfg.output.results_dir) / cfg.dataset
    run = RunFolder(root, new_run_id(cfg.short_hash()))
    try:
        d = run.path
        handler = logging.FileHandler(d / "run.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
        try:
            write_outputs(d, cfg, course, ws, scaler, seeds, pred_df, metrics, hist_rows, emb, states,
                          model_args, Xw)
            summary = report.write_results_txt(d, metrics, pred_df, cfg)
            _post_steps(d, cfg)
            metrics["runtime_s"]["total"] = round(time.perf_counter() - t_start, 3)
            write_json(d / "metrics.json", metrics)
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()
        final = run.publish()
    except BaseException:
        run.discard()
        raise
    log.info("results written to %s", final)
    return JobResult(final, metrics, summary, timings)


def _post_steps(d: Path, cfg: RunConfig) -> None:
    """Plots and biological analysis, read back from the saved files."""
    if cfg.output.plots:
        try:
            from step.plots import make_run_plots

            make_run_plots(d, cfg.output)
        except Exception as exc:  # a plot must not lose the run's numbers
            log.exception("plots failed: %s", exc)
            report.append_note(d, f"plots failed: {exc}")
    if cfg.analysis.enabled:
        try:
            from step.analyze import analyze_run

            analyze_run(d, cfg.analysis, cfg.output)
        except Exception as exc:
            log.exception("biological analysis failed: %s", exc)
            report.append_note(d, f"biological analysis failed: {exc}")


def predictions_table(model_name: str, ws: WindowSplit, course: GeneTimeCourse, y_true: np.ndarray,
                      base: dict[str, np.ndarray], model: dict[int, np.ndarray], base_seed: int) -> pd.DataFrame:
    """Long table ``model, seed, split, target_time, gene, y_true, y_pred`` (original scale)."""
    W, N = y_true.shape
    t = course.times[ws.targets]
    frames = []

    def block(name: str, seed: int, P: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({
            "model": name, "seed": seed,
            "split": np.repeat(ws.split, N),
            "target_time": np.repeat(t, N),
            "gene": np.tile(np.array(course.genes, dtype=object), W),
            "y_true": y_true.reshape(-1), "y_pred": P.reshape(-1),
        })

    for sd, P in model.items():
        frames.append(block(model_name, sd, P))
    for name in BASELINES:
        frames.append(block(name, base_seed, base[name]))
    return pd.concat(frames, ignore_index=True)


def build_metrics(cfg: RunConfig, ws: WindowSplit, course: GeneTimeCourse, y_true: np.ndarray,
                  base: dict[str, np.ndarray], model: dict[int, np.ndarray], best: str, sel_split: str) -> dict:
    """metrics.json content (values in the scale of the arrays given)."""
    persistence = base["persistence"]
    models: dict[str, dict] = {}
    splits = [s for s in ("train", "val", "test") if len(ws.idx(s))]
    for name in BASELINES:
        models[name] = {}
        for sp in splits:
            i = ws.idx(sp)
            models[name][sp] = compute_metrics(y_true[i], base[name][i], persistence[i],
                                               mse(y_true[i], persistence[i]), mse(y_true[i], base[best][i]))
    main: dict = {"seeds": sorted(model)}
    for sp in splits:
        i = ws.idx(sp)
        per_seed = [compute_metrics(y_true[i], P[i], persistence[i], mse(y_true[i], persistence[i]),
                                    mse(y_true[i], base[best][i])) for P in model.values()]
        main[sp] = {k: float(np.mean([r[k] for r in per_seed])) for k in per_seed[0]}
        main[sp + "_std"] = {k: float(np.std([r[k] for r in per_seed])) for k in per_seed[0]}
        main[sp + "_per_seed"] = per_seed
    models = {cfg.model_name: main, **models}
    rep = ws.report
    return {
        "dataset": cfg.dataset,
        "main_model": cfg.model_name,
        "protocol": ws.protocol,
        "optimistic": ws.optimistic,
        "report_split": rep,
        "history": ws.history,
        "transform": cfg.data.transform,
        "scale": "original",
        "n_genes": course.n_genes,
        "n_times": course.n_times,
        "n_pairs": int(len(course.pairs)),
        "splits": ws.times_of(course.times),
        "models": models,
        "best_baseline": best,
        "best_baseline_chosen_on": sel_split,
        "beats_best_baseline": bool(main[rep]["rmse"] < models[best][rep]["rmse"]),
    }


def write_outputs(d: Path, cfg: RunConfig, course: GeneTimeCourse, ws: WindowSplit, scaler: Scaler,
                  seeds: list[int], pred_df: pd.DataFrame, metrics: dict, hist_rows: list[dict],
                  emb: np.ndarray | None, states: dict, model_args: dict, Xw: np.ndarray) -> None:
    prov = provenance(cfg.to_dict(), seeds, {str(cfg.data.path): course.checksum},
                      {"data_notes": course.notes, "n_genes": course.n_genes, "n_times": course.n_times})
    write_text(d / "config.yaml", dump_yaml(prov))
    write_json(d / "metrics.json", metrics)
    write_with(d / "predictions.csv", lambda p: pred_df.to_csv(p, index=False))
    tr = ws.train_time_indices()
    feats = pd.DataFrame({
        "gene": course.genes, "display": course.display, "chromosome": course.chromosome,
        "bin": course.bin, "compartment": course.compartment, "insulation": course.insulation,
        "tad_distance": course.tad_distance, "degree": course.degree(),
        "variability": np.nanstd(Xw[tr], axis=0), "mean_expression": np.nanmean(Xw[tr], axis=0),
    })
    write_with(d / "gene_features.csv", lambda p: feats.to_csv(p, index=False))
    series = pd.DataFrame({"time": np.repeat(course.times, course.n_genes),
                           "gene": np.tile(np.array(course.genes, dtype=object), course.n_times),
                           "value": course.X.reshape(-1)})
    write_with(d / "series.csv", lambda p: series.to_csv(p, index=False, float_format="%.10g"))
    write_json(d / "splits.json", {**ws.times_of(course.times), "history": ws.history,
                                   "protocol": ws.protocol, "report": ws.report})
    write_with(d / "history.csv", lambda p: pd.DataFrame(hist_rows).to_csv(p, index=False))
    if emb is not None:
        save_npz(d / "embeddings.npz", times=course.times[ws.ends], genes=np.array(course.genes),
                 emb=emb[:, -1].astype(np.float32))

    def _save_model(p: Path) -> None:
        torch.save({"model_name": cfg.model_name, "model_args": model_args, "state_dicts": states,
                    "scaler": {"mean": scaler.mean, "std": scaler.std}, "genes": course.genes,
                    "transform": cfg.data.transform, "history": ws.history}, p)

    write_with(d / "model.pt", _save_model)
