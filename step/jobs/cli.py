"""Command line shared by ``python -m mrna.STEPmr_train_test`` and ``python -m mirna.STEPmi_train_test``."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import NoReturn

from step.errors import InputError
from step.logs import setup_logging  # noqa: F401  (re-exported)

log = logging.getLogger("step")


def exit_now(code: int) -> NoReturn:
    """End a command line process with ``code`` without the interpreter's teardown.

    Tearing down the modules of a job (torch, scipy, statsforecast, sklearn, arch, gseapy) took
    about 1 s of a 12 s job on a 2-core machine. By the time a command returns, every file it
    writes has been written atomically and closed, and no child process is left; the output
    streams and the logging handlers are flushed here. Only the ``__main__`` blocks call this
    (``main`` itself returns normally, for callers in-process such as the tests).
    """
    from step.procs import child_exit

    logging.shutdown()
    child_exit(code)  # the streams flushed, then os._exit


def parser(prog: str, default_config: str, model: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=f"Train {model} and the baselines, evaluate, write results.")
    p.add_argument("--config", default=default_config, help=f"YAML config (default {default_config})")
    p.add_argument("--data", help="interaction CSV or dataset folder (overrides data.path)")
    p.add_argument("--out", help="folder under which the run folder is created (default results/<dataset>/)")
    p.add_argument("--run-dir", help="write the run folder exactly here, replacing an earlier run (workflows)")
    p.add_argument("--seed", type=int, help="first seed (overrides train.seed)")
    p.add_argument("--seeds", type=int, help="number of seeds to train; mean and std are reported")
    p.add_argument("--epochs", type=int, help="maximum training epochs")
    p.add_argument("--protocol", choices=["chronological", "paper", "rolling"], help="evaluation protocol (rolling: rolling-origin backtest)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="torch device")
    p.add_argument("--horizon", type=int, help="forecast t+1 .. t+H from every origin (recursive; default 1)")
    p.add_argument("--no-plots", action="store_true", help="skip plots")
    p.add_argument("--no-analysis", action="store_true", help="skip the biological analysis")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def main(argv: list[str] | None, prog: str, default_config: str, model: str) -> int:
    args = parser(prog, default_config, model).parse_args(argv)
    setup_logging(args.verbose)
    from step.config import load_config
    from step.jobs.pipeline import run_job

    overrides = {"data.path": args.data, "train.seed": args.seed, "train.seeds": args.seeds,
                 "train.epochs": args.epochs, "split.protocol": args.protocol, "train.device": args.device,
                 "split.horizon": args.horizon}
    if args.no_plots:
        overrides["output.plots"] = False
    if args.no_analysis:
        overrides["analysis.enabled"] = False
    try:
        cfg = load_config(args.config, overrides)
        if cfg.model_name != model:
            raise InputError(f"{args.config}: model_name is {cfg.model_name!r}, but this entry point trains {model}.")
        from step.io import check_output_dir

        if args.out:
            check_output_dir(args.out, "--out")
        if args.run_dir:
            check_output_dir(Path(args.run_dir).parent, "--run-dir")
        if not args.out and not args.run_dir:
            check_output_dir(Path(cfg.output.results_dir) / cfg.dataset, "output.results_dir")
        result = run_job(cfg, Path(args.out) if args.out else None, Path(args.run_dir) if args.run_dir else None)
    except InputError as exc:
        log.error("%s", exc)
        return 1
    sys.stdout.write("\n" + result.summary + f"\n\nResults: {result.run_dir}\n")
    return 0


def embedding_main(argv: list[str] | None, prog: str, default_config: str) -> int:
    """Body of the ``create_graph_and_embedding_*`` scripts: build graphs, fill the embedding cache."""
    p = argparse.ArgumentParser(prog=prog, description="Build the per-time-point gene graphs and the causal "
                                "temporal Node2Vec embeddings, and cache them (logs what it did).")
    p.add_argument("--config", default=None, help=f"YAML run config (default {default_config})")
    p.add_argument("--dataset", help="a shipped dataset by name: configs/<NAME>.yaml (e.g. mrna, mirna, yeast, "
                   "mrna_corrected); --config wins when both are given")
    p.add_argument("--data", help="interaction CSV or dataset folder (overrides data.path)")
    p.add_argument("--seed", type=int, help="embedding seed (overrides train.seed)")
    p.add_argument("--summary", help="also write what was built (cache path, shape, timings) to this JSON file")
    p.add_argument("--processes", type=int, help="fitting processes (overrides embedding.processes; 0 = auto). "
                   "Does not change the embeddings (bit-identical for any number)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    from step.graph.embedding_job import build_embedding_cache
    from step.io import write_json

    config = args.config or (f"configs/{args.dataset}.yaml" if args.dataset else default_config)
    try:
        if args.dataset and not args.config and not Path(config).is_file():
            raise InputError(f"--dataset {args.dataset}: no config {config}; shipped: "
                             + ", ".join(sorted(q.stem for q in Path("configs").glob("*.yaml"))))
        summary = build_embedding_cache(config, args.data, args.seed, args.processes)
    except InputError as exc:
        log.error("%s", exc)
        return 1
    if args.summary:
        write_json(Path(args.summary), summary)
    return 0
