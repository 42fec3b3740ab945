"""The files of a run: the run folder staged and published atomically, its tables, provenance
and model, then the plots and the biological analysis, read back from the files in one pass
(:mod:`step.outputs.post`)."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from step.logs import RUN_LOG_FORMAT
from step.outputs import report
from step.config import RunConfig
from step.data.course import GeneTimeCourse
from step.evaluation.evaluate import predictions_table
from step.jobs.forecast import Features, Forecasts
from step.io import save_npz, write_csv, write_json, write_with
from step.outputs.post import post_steps
from step.outputs.runs import publish_run
from step.data.windows import Scaler, WindowSplit

log = logging.getLogger(__name__)


def write_stage(cfg: RunConfig, out_root: Path | None, course: GeneTimeCourse, ws: WindowSplit,
                seeds: list[int], fc: Forecasts, metrics: dict, feats: Features,
                t_start: float, run_dir: Path | None = None, auto: dict[str, str] | None = None,
                log_so_far=None) -> tuple[Path, str]:
    """Stage 6: the run folder, staged and published atomically (plots and analysis after).
    ``auto``: what the config's ``auto`` settings resolved to (:func:`step.auto.resolve_auto`),
    recorded in config.yaml beside the resolved config. ``log_so_far`` (a
    :class:`step.logs.RunLogBuffer`): the job's log before this stage, the start of ``run.log``."""
    y_true_o = course.X[ws.targets]
    base_o, model_o = fc.original(course, ws.history)  # written in the data's own scale
    base_iv, model_iv = fc.intervals_original()
    pred_df = predictions_table(cfg.model_name, ws, course, y_true_o, base_o, model_o, cfg.train.seed,
                                base_iv, model_iv, list(cfg.evaluation.interval_levels), fc.horizons_original(),
                                fc.horizon_intervals_original(),
                                splits=sorted(set(cfg.output.prediction_splits) | {ws.report}))
    root = Path(out_root) if out_root else Path(cfg.output.results_dir) / cfg.dataset

    def write(d: Path) -> str:
        if log_so_far is not None:  # the job's log so far, then this stage's
            log_so_far.detach()
            (d / "run.log").write_text("".join(line + "\n" for line in log_so_far.lines()), encoding="utf-8")
        handler = logging.FileHandler(d / "run.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter(RUN_LOG_FORMAT))
        logging.getLogger().addHandler(handler)
        try:
            write_outputs(d, cfg, course, ws, fc.scaler, seeds, pred_df, metrics, fc.hist_rows, feats.emb,
                          fc.states, fc.model_args, feats.Xw, fc.linear_starts[-1] if fc.linear_starts else None)
            summary = report.write_results_txt(d, metrics, pred_df, cfg)
            post_steps(d, cfg)
            metrics["runtime_s"]["total"] = round(time.perf_counter() - t_start, 3)
            write_json(d / "metrics.json", metrics)
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()
        return summary

    return publish_run(cfg, root, "", write, seeds, {str(cfg.data.path): course.checksum},
                       {"data_notes": course.notes, "n_genes": course.n_genes, "n_times": course.n_times,
                        "auto": dict(auto or {})},
                       exact_dir=Path(run_dir) if run_dir else None)

def write_outputs(d: Path, cfg: RunConfig, course: GeneTimeCourse, ws: WindowSplit, scaler: Scaler,
                  seeds: list[int], pred_df: pd.DataFrame, metrics: dict, hist_rows: list[dict],
                  emb: np.ndarray | None, states: dict, model_args: dict, Xw: np.ndarray,
                  start: dict | None = None) -> None:
    write_json(d / "metrics.json", metrics)  # config.yaml (provenance) is written by step.outputs.runs.publish_run
    keep = list(cfg.output.prediction_splits)
    if set(keep) != {"train", "val", "test"}:
        log.info("predictions.csv holds the %s windows only (output.prediction_splits; metrics.json has every split)",
                 " and ".join(keep))
        pred_df = pred_df[pred_df["split"].isin(keep)]
    write_csv(d / "predictions.csv", pred_df)
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
    write_csv(d / "series.csv", series)
    write_json(d / "splits.json", {**ws.times_of(course.times), "history": ws.history,
                                   "protocol": ws.protocol, "report": ws.report})
    write_with(d / "history.csv", lambda p: pd.DataFrame(hist_rows).to_csv(p, index=False))
    if emb is not None:
        save_npz(d / "embeddings.npz", compress=False, times=course.times[ws.ends], genes=np.array(course.genes),
                 emb=emb[:, -1].astype(np.float32))

    def _save_model(p: Path) -> None:
        import torch

        torch.save({"model_name": cfg.model_name, "model_args": model_args, "state_dicts": states,
                    "scaler": {"mean": scaler.mean, "std": scaler.std}, "genes": course.genes,
                    "transform": cfg.data.transform, "history": ws.history,
                    # the last fit's start: with global learners in it (a blend or one learner),
                    # the forecast is the model's output + sum_k weight_k * learner_k's forecast
                    # (step/forecasters/registry.py, refitted from the run's data; the learners are not saved)
                    "start": start, "start_offsets": {k: v for k, v in (start or {}).get("weights", {}).items()
                                                      if k in ("global_linear", "global_gbm")}}, p)

    write_with(d / "model.pt", _save_model)
