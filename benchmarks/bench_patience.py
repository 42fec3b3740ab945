"""What early stopping's patience costs and changes (not a test): every study dataset's job, rolling
origin, 1 seed, trained with a long patience; every shorter patience replayed on its validation
curves.

    python benchmarks/bench_patience.py [--patience 30] [--datasets mrna,mrna_corrected,...]
        [--out benchmarks/results/patience.json]

Each dataset's shipped config runs once (``--protocol rolling --no-plots --no-analysis``, the
embedding cache in a temporary folder) with ``train.patience`` = ``--patience`` (default 30, the
longest any shipped config used). Training is deterministic and does not depend on the patience
before it stops, so the run's ``history.csv`` (one validation MSE per epoch and fit) holds what a
run with any shorter patience ``p`` would have seen: replaying ``p`` on each fit's curve gives the
epochs it trains and the epoch whose weights it keeps. Reported per dataset and ``p``: epochs
trained (sum over fits), fits whose kept epoch differs from the long-patience run's, and the
largest relative excess of the kept validation MSE over the long run's. A fit whose kept epoch is
the same keeps the same weights, so everything after (the keep-or-drop choice, the reported
forecasts) is unchanged. A dataset above ``train.auto_patience_genes`` genes trains with
``train.auto_patience`` whatever ``--patience`` says (``patience_capped_by_auto``: yeast alpha).
"""
from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from step.io import write_json  # noqa: E402

from step.config import load_config  # noqa: E402
from step.jobs.study import DATASETS  # noqa: E402  (the study's datasets, configs/<name>.yaml)

MODULES = {"STEPmr": "mrna.STEPmr_train_test", "STEPmi": "mirna.STEPmi_train_test"}
REPLAY = (3, 5, 8, 10, 15, 20, 30)


def replay(curve: list[float], patience: int) -> tuple[int, int]:
    """``(epochs trained, kept epoch)`` of early stopping with ``patience`` on one fit's validation
    curve (epochs 1..n). The kept epoch is among the trained ones (the starting weights, epoch 0,
    compete with it in the job; equal kept epochs mean equal outcomes either way)."""
    from step.forecasters.train import EarlyStopping  # the job's own rule

    rule = EarlyStopping(patience)
    for e, v in enumerate(curve, start=1):
        rule.update(e, v)
        if rule.stop:
            return e, rule.best_epoch
    return len(curve), rule.best_epoch


def curves(history: Path) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    with history.open() as fh:
        for row in csv.DictReader(fh):
            out[(row["seed"], row["origin_time_index"])].append((int(row["epoch"]), float(row["val_loss"])))
    return {k: [v for _, v in sorted(rows)] for k, rows in out.items()}


def measure(name: str, patience: int, tmp: Path) -> dict:
    config = f"configs/{name}.yaml"
    module = MODULES[load_config(str(ROOT / config)).model_name]
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(f"extends: {ROOT / config}\ntrain:\n  patience: {patience}\n"
                   f"embedding:\n  cache_dir: {tmp / 'cache'}\n")
    run_dir = tmp / name
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", module, "--config", str(cfg), "--protocol", "rolling", "--no-plots",
                    "--no-analysis", "--run-dir", str(run_dir)], cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    auto = yaml.safe_load((run_dir / "config.yaml").read_text()).get("auto") or {}
    c = curves(run_dir / "history.csv")
    long = {k: replay(v, patience) for k, v in c.items()}
    rows = {}
    for p in [q for q in REPLAY if q <= patience]:
        short = {k: replay(v, p) for k, v in c.items()}
        excess = [(c[k][short[k][1] - 1] / c[k][long[k][1] - 1] - 1) if short[k][1] and long[k][1] else 0.0
                  for k in c]
        rows[str(p)] = {"epochs": sum(s[0] for s in short.values()),
                        "fits_kept_epoch_differs": sum(short[k][1] != long[k][1] for k in c),
                        "max_val_mse_excess_pct": round(100 * max(excess, default=0.0), 3)}
    return {"fits": len(c), "epochs_at_long_patience": sum(v[0] for v in long.values()),
            "job_wall_s": round(wall, 1), "training_s": metrics.get("runtime_s", {}).get("training"),
            "patience_capped_by_auto": auto.get("train.patience"),
            "correction_kept_fits": sum(sum(map(bool, v)) for v in (metrics.get("correction_used") or {}).values()),
            "replayed": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patience", type=int, default=30)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "patience.json")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        ap.error(f"unknown dataset(s) {unknown}; known: {sorted(DATASETS)}")
    result = {"when": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.processor() or platform.machine(),
              "python": platform.python_version(), "long_patience": args.patience, "datasets": {}}
    with tempfile.TemporaryDirectory(prefix="step-patience-") as d:
        for name in names:
            result["datasets"][name] = r = measure(name, args.patience, Path(d))
            print(f"{name}: {r['fits']} fits, {r['epochs_at_long_patience']} epochs at patience {args.patience} "
                  f"({r['job_wall_s']} s job; correction kept at {r['correction_kept_fits']} fit(s))")
            for p, row in r["replayed"].items():
                print(f"  patience {p:>2}: {row['epochs']:4d} epochs, kept epoch differs at "
                      f"{row['fits_kept_epoch_differs']} fit(s), kept val MSE up to "
                      f"+{row['max_val_mse_excess_pct']} %")
    write_json(args.out, result)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
