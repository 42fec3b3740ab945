"""Wall time of the preprocessing command, cold (empty feature cache) then warm.

    python benchmarks/bench_preprocess.py [--configs mrna,mirna,mrna_published,mirna_published]

Each run is a child process exactly as a user runs it (``python -m raw_data_conversion``),
outputs and cache in a temporary folder. Writes ``benchmarks/results/preprocess.json`` and
prints a table. Not a test.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from step.io import write_json  # noqa: E402


def _run(config: str, out: Path, cache: Path) -> tuple[float, int]:
    cmd = [sys.executable, "-m", "raw_data_conversion", "--config", f"configs/preprocess/{config}.yaml",
           "--out", str(out), "--cache-dir", str(cache)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        sys.stderr.write(r.stderr[-3000:])
    return time.perf_counter() - t0, r.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="mrna,mirna,mrna_published,mirna_published")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs.split(","):
            cache = Path(tmp) / f"cache-{name}"
            cold, rc1 = _run(name, Path(tmp) / f"{name}-cold", cache)
            warm, rc2 = _run(name, Path(tmp) / f"{name}-warm", cache)
            report = json.loads((Path(tmp) / f"{name}-warm" / "report.json").read_text()) if rc2 == 0 else {}
            rows.append({"config": name, "cold_s": round(cold, 2), "warm_s": round(warm, 2), "ok": rc1 == rc2 == 0,
                         "warm_cache": report.get("cache")})
    result = {"python": platform.python_version(), "machine": platform.machine(), "runs": rows}
    out = ROOT / "benchmarks" / "results" / "preprocess.json"
    write_json(out, result)
    print(f"{'config':<18}{'cold s':>8}{'warm s':>8}  ok")
    for r in rows:
        print(f"{r['config']:<18}{r['cold_s']:>8}{r['warm_s']:>8}  {r['ok']}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
