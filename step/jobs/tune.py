"""Hyper-parameter sweeps with Optuna, on validation error only.

    python -m step.tune --config CONFIG --trials N [--storage URL] [--study NAME]
        [--out DIR] [--seed N] [--epochs N] [--sampler-seed N] [--storage-wait S]

Each trial trains the configured model with suggested settings (hidden size,
learning rate, dropout, loss weights, embedding dimension, history length) and
returns the model's RMSE on the **validation** windows (working scale: log1p for
counts) of the **first fit of the rolling-origin protocol** -- the protocol of the
README results table: every window it trains and validates on has its target at
or before the first rolling origin, so no tuning window lies in the reported test
period (:func:`tuning_windows`; a test checks it). Test-window forecasts are
never scored or read: baselines are skipped and only the model's validation
forecasts are. (A trial that changes ``split.history``
shifts the window grid, so its validation targets can differ by a time point
from another trial's.) Unpromising trials are pruned from their per-epoch
validation error (median pruner). A study resumes where it stopped: the same
``--study`` on the same ``--storage`` adds ``--trials`` more trials.

Storage: ``sqlite:///<out>/<study>.db`` by default (one machine, several
worker processes); a PostgreSQL URL (``postgresql://user:pass@host:port/db``, in
``--storage`` or ``$STEP_TUNE_STORAGE``, with the ``cluster`` extra installed) lets
many workers on many machines share one study (:mod:`step.jobs.tune_storage`: URL
checks, retries while the database starts or another worker creates its tables).

Writes, under ``--out`` (default ``results/tune``):
``<study>_best.yaml`` (``extends:`` the base config, plus the best settings:
``--config`` accepts it), ``<study>_trials.csv``, ``<study>_history.png`` and
``<study>_importances.png``.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from step.config import RunConfig, load_config
from step.errors import InputError

log = logging.getLogger(__name__)


def suggest(trial, base: RunConfig) -> dict[str, Any]:
    """The search space: dotted config keys -> suggested values."""
    L = base.split.history
    histories = sorted({h for h in (L - 1, L, L + 1) if 1 <= h <= base.embedding.span})
    return {
        "model.hidden": trial.suggest_categorical("model.hidden", [8, 16, 32, 64]),
        "train.lr": trial.suggest_float("train.lr", 3e-4, 1e-2, log=True),
        "model.dropout": trial.suggest_float("model.dropout", 0.0, 0.4),
        "loss.w_direction": trial.suggest_float("loss.w_direction", 0.0, 0.3),
        "loss.w_trend": trial.suggest_float("loss.w_trend", 0.0, 0.3),
        "loss.w_correction": trial.suggest_float("loss.w_correction", 1e-3, 1.0, log=True),
        "embedding.dim": trial.suggest_categorical("embedding.dim", [8, 16, 32]),
        "split.history": trial.suggest_categorical("split.history", histories),
    }


def tuning_config(config: str | Path, params: dict[str, Any], extra: dict[str, Any] | None = None) -> RunConfig:
    """The run config of one trial: the base file, the trial's settings, the rolling-origin
    protocol (the validation windows of its first fit are the objective)."""
    over = dict(extra or {})
    over.update(params)
    over["split.protocol"] = "rolling"
    over["train.seeds"] = 1
    cfg = load_config(config, over)
    if cfg.split.val_frac <= 0:
        raise InputError(f"{config}: split.val_frac is 0: tuning needs validation windows.")
    return cfg


def validation_rmse(cfg: RunConfig, on_epoch=None) -> float:
    """Train the model once (seed ``train.seed``) and return its validation RMSE (working scale)."""
    import torch

    from step.data.course import working_scale
    from step.jobs.pipeline import features_stage, forecast_stage, load_stage, plan_stage

    from step.auto import resolve_auto

    course = load_stage(cfg)
    cfg, _ = resolve_auto(cfg, course.n_genes)
    if cfg.train.torch_threads > 0:
        torch.set_num_threads(cfg.train.torch_threads)
    ws, folds = plan_stage(cfg, course)
    feats = features_stage(cfg, course)
    seed = cfg.train.seed
    first = folds[0]  # only the first fit: it sees nothing after the first rolling origin
    fc = forecast_stage(cfg, feats, [first], [seed], {}, on_epoch=on_epoch, baselines=False)
    v = first.split.idx("val")
    y = working_scale(course.X[ws.targets[v]], cfg.data.transform)
    p = fc.model[seed][v]  # forecasts are in the working scale
    return float(np.sqrt(np.nanmean((p - y) ** 2)))


def tuning_windows(cfg: RunConfig, n_times: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Target time indices of the windows a trial trains on, validates on, and those the
    README's rolling protocol reports as test: ``(train, val, test)``."""
    from step.data.windows import rolling_folds

    s = cfg.split
    ws, folds = rolling_folds(n_times, s.history, s.rolling_test_frac, s.val_frac, s.refit_every, s.rolling_min_val)
    f = folds[0].split
    return ws.targets[f.idx("train")], ws.targets[f.idx("val")], ws.targets[ws.idx("test")]


def run_tuning(config: str | Path, trials: int, storage: str | None, study_name: str, out: Path,
               extra: dict[str, Any] | None = None, sampler_seed: int | None = 0,
               storage_wait_s: float = 120.0) -> dict:
    """Add ``trials`` trials to the study and write the best config and plots. ``sampler_seed``
    seeds the TPE sampler (the same seed, storage state and trials reproduce a study; give
    parallel workers different seeds, or they suggest the same settings). ``storage_wait_s``: how
    long opening a shared database is retried (:func:`step.jobs.tune_storage.retrying`)."""
    import optuna

    from step.jobs.tune_storage import check_url, describe, open_storage, retrying, storage_url

    base = load_config(config, extra)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage_url(storage, out, study_name)
    check_url(url)
    log.info("study %s on %s", study_name, describe(url))

    def open_study():
        return optuna.create_study(study_name=study_name, storage=open_storage(url), direction="minimize",
                                   load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=sampler_seed),
                                   pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=5))

    # workers starting at once on a new SQLite file would race to create its schema: serialise
    # opening the storage and creating the study with a lock file next to it. Workers on several
    # machines cannot share a lock: on a server database the same race is retried instead
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f".{study_name}.lock", "w") as lock:
        if url.startswith("sqlite"):
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        study = retrying(open_study, f"opening study {study_name} on {describe(url)}", storage_wait_s)

    def objective(trial) -> float:
        cfg = tuning_config(config, suggest(trial, base), extra)

        def report(epoch: int, val_mse: float) -> None:
            if np.isfinite(val_mse):
                trial.report(float(np.sqrt(val_mse)), epoch)  # standardised-scale RMSE, for pruning only
                if trial.should_prune():
                    raise optuna.TrialPruned()

        return validation_rmse(cfg, report)

    study.optimize(objective, n_trials=trials, gc_after_trial=True)
    return write_outputs(study, config, out, extra)


def write_outputs(study, config: str | Path, out: Path, extra: dict[str, Any] | None = None) -> dict:
    """Best settings as a config that ``extends:`` the base, the trial table and the plots."""
    import optuna
    import yaml

    from step.io import write_text, write_with

    out.mkdir(parents=True, exist_ok=True)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise InputError(f"study {study.study_name}: no trial completed; nothing to write.")
    best = study.best_trial
    nested: dict[str, Any] = {}
    fixed = {k: v for k, v in (extra or {}).items() if v is not None}  # --data, --seed, --epochs
    for key, val in {**fixed, **best.params}.items():
        sec, name = key.split(".", 1)
        nested.setdefault(sec, {})[name] = val
    base_rel = os.path.relpath(Path(config).resolve(), out.resolve())
    doc = {"extends": base_rel, **nested}
    head = (f"# Best of Optuna study '{study.study_name}': trial {best.number}, validation RMSE "
            f"{best.value:.6g} ({len(done)} complete trials). Written by python -m step.tune.\n")
    best_path = out / f"{study.study_name}_best.yaml"
    write_text(best_path, head + yaml.safe_dump(doc, sort_keys=False))
    write_with(out / f"{study.study_name}_trials.csv",
               lambda p: study.trials_dataframe().to_csv(p, index=False))
    _plots(study, out)
    return {"best_value": best.value, "best_params": best.params, "best_config": str(best_path),
            "n_complete": len(done), "n_trials": len(study.trials)}


def _plots(study, out: Path) -> None:
    from step.io import write_with

    try:
        import matplotlib

        matplotlib.use("Agg")
        from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances
    except Exception as exc:  # plots must not lose the study
        log.warning("no Optuna plots: %s", exc)
        return
    for name, fn in (("history", plot_optimization_history), ("importances", plot_param_importances)):
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                ax = fn(study)
            fig = ax.figure if hasattr(ax, "figure") else ax[0].figure
            fig.tight_layout()
            write_with(out / f"{study.study_name}_{name}.png", lambda p: fig.savefig(p, dpi=100, format="png"))
            import matplotlib.pyplot as plt

            plt.close(fig)
        except Exception as exc:  # e.g. importances need >= 2 complete trials
            log.warning("Optuna %s plot skipped: %s", name, exc)


def main(argv: list[str] | None = None) -> int:
    from step.logs import setup_logging

    ap = argparse.ArgumentParser(prog="python -m step.tune", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="base run config (YAML)")
    ap.add_argument("--trials", type=int, required=True, help="trials this worker adds to the study")
    ap.add_argument("--storage", default=None,
                    help="Optuna storage URL (default $STEP_TUNE_STORAGE, else sqlite:///<out>/<study>.db)")
    ap.add_argument("--storage-wait", type=float, default=120.0,
                    help="seconds to keep retrying while a shared database is unreachable or another "
                         "worker creates its tables (default 120)")
    ap.add_argument("--study", default=None, help="study name (default: tune-<config name>)")
    ap.add_argument("--out", type=Path, default=Path("results/tune"))
    ap.add_argument("--data", help="interaction CSV or dataset folder (overrides data.path)")
    ap.add_argument("--seed", type=int, help="training seed of every trial (overrides train.seed)")
    ap.add_argument("--epochs", type=int, help="maximum epochs per trial")
    ap.add_argument("--sampler-seed", type=int, default=0,
                    help="seed of the TPE sampler (default 0; give each parallel worker its own)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    setup_logging(args.verbose)
    if args.trials < 1:
        log.error("--trials must be >= 1")
        return 1
    study = args.study or f"tune-{Path(args.config).stem}"
    extra = {"data.path": args.data, "train.seed": args.seed, "train.epochs": args.epochs}
    try:
        res = run_tuning(args.config, args.trials, args.storage, study, args.out, extra, args.sampler_seed,
                         args.storage_wait)
    except InputError as exc:
        log.error("%s", exc)
        return 1
    sys.stdout.write(f"study {study}: {res['n_complete']} complete of {res['n_trials']} trials; best validation "
                     f"RMSE {res['best_value']:.6g}\nbest config: {res['best_config']}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
