"""Wall time and peak memory of the causal window embeddings (not a test).

``python benchmarks/bench_embedding.py [--cases mrna,mirna,mirna-synthetic] [--set dim=16 ...]``
``python benchmarks/bench_embedding.py --cases mirna --set processes=1``  (in-process fits;
the default ``processes=0`` is the auto pool size)

Cases (each in its own process, cold: a fresh temporary cache directory):
- ``mrna``: the published mRNA file with configs/mrna.yaml (graph, history, embedding, seed).
- ``mirna``: the published miRNA file (log1p working scale) with configs/mirna.yaml when it
  exists, else the recommended miRNA settings below.
- ``mirna-synthetic``: a random graph of miRNA size (162 genes, 150 times, 967 edges).

Prints the command, and per case the seconds of ``window_embeddings``, the processes setting
and the number of fitting processes it resolved to, the peak RSS of the main process and of
its largest waited-for child process (pool workers, but also any other subprocess;
``resource.getrusage``) and the RSS before the embedding step; writes
``benchmarks/results/embedding.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from step.config import DataConfig, EmbeddingConfig, GraphConfig, load_config  # noqa: E402
from step.graph.graphs import TemporalGraphs, build_graphs  # noqa: E402

# Used when configs/mirna.yaml does not exist (yet): history 10 and the recommended embedding.
MIRNA_FALLBACK = {"history": 10, "transform": "log1p",
                  "embedding": dict(dim=16, walks_per_node=6, walk_length=20, epochs=1, span=10)}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def _case_inputs(case: str) -> tuple[TemporalGraphs, int, EmbeddingConfig, int, dict]:
    from step.data.course import working_scale
    from step.data.load import load_course

    if case == "mrna":
        cfg = load_config(ROOT / "configs/mrna.yaml")
        course = load_course(ROOT / cfg.data.path, cfg.data)
        g = build_graphs(course, cfg.graph, working_scale(course.X, cfg.data.transform))
        return g, cfg.split.history, cfg.embedding, cfg.train.seed, {"config": "configs/mrna.yaml"}
    if case in ("mirna", "mirna-synthetic"):
        path = ROOT / "configs/mirna.yaml"
        if path.is_file():
            cfg = load_config(path)
            hist, emb, seed, gcfg, dcfg = cfg.split.history, cfg.embedding, cfg.train.seed, cfg.graph, cfg.data
            src = "configs/mirna.yaml"
        else:
            hist, seed, gcfg = MIRNA_FALLBACK["history"], 0, GraphConfig()
            emb = dataclasses.replace(EmbeddingConfig(), **MIRNA_FALLBACK["embedding"])
            dcfg = DataConfig(path="dataset/mirna/interaction_mirna.csv", transform="log1p")
            src = "MIRNA_FALLBACK in benchmarks/bench_embedding.py (configs/mirna.yaml missing)"
        if case == "mirna":
            course = load_course(ROOT / dcfg.path, dcfg)
            g = build_graphs(course, gcfg, working_scale(course.X, dcfg.transform))
        else:
            g = synthetic_graphs(162, 150, 967, seed=0)
        return g, hist, emb, seed, {"config": src}
    raise SystemExit(f"unknown case {case!r}")


def synthetic_graphs(n_genes: int, n_times: int, n_edges: int, seed: int = 0) -> TemporalGraphs:
    """Random connected-ish graph: a path through all genes plus random extra pairs."""
    rng = np.random.default_rng(seed)
    pairs = {(k, k + 1) for k in range(n_genes - 1)}
    while len(pairs) < n_edges:
        i, j = sorted(rng.choice(n_genes, 2, replace=False).tolist())
        pairs.add((i, j))
    edges = np.array(sorted(pairs))
    return TemporalGraphs(np.arange(n_times, dtype=float), n_genes, edges,
                          rng.uniform(0.1, 1.0, (n_times, len(edges))))


def run_case(case: str, overrides: dict) -> dict:
    from step.graph.embeddings import _n_processes, window_embeddings, window_ends

    g, history, emb_cfg, seed, meta = _case_inputs(case)
    emb_cfg = dataclasses.replace(emb_cfg, **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        emb_cfg = dataclasses.replace(emb_cfg, cache_dir=tmp)
        rss_before = _rss_mb()
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        out = window_embeddings(g, history, emb_cfg, seed)
        secs, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        t1 = time.perf_counter()
        window_embeddings(g, history, emb_cfg, seed)
        hit = time.perf_counter() - t1
    params = {k: v for k, v in dataclasses.asdict(emb_cfg).items() if k != "cache_dir"}
    n_proc = _n_processes(g, emb_cfg, window_ends(g.n_times, history).size)
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return {"case": case, "genes": g.n_genes, "times": g.n_times, "edges": g.n_edges,
            "history": history, "windows": int(out.shape[0]), "shape": list(out.shape),
            "processes": emb_cfg.processes, "fit_processes": n_proc,
            "seconds": round(secs, 2), "cpu_seconds": round(cpu, 2),
            "seconds_per_window": round(secs / out.shape[0], 4), "cache_hit_seconds": round(hit, 3),
            "peak_rss_mb": round(_rss_mb(), 1), "rss_before_mb": round(rss_before, 1),
            "peak_child_rss_mb": round(child_rss, 1),
            "embedding": params, **meta}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="mrna,mirna,mirna-synthetic")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override an EmbeddingConfig field for every case (e.g. walks_per_node=6)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/embedding.json"))
    ap.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    args = ap.parse_args()
    types = {f.name: type(f.default) for f in dataclasses.fields(EmbeddingConfig)}
    overrides = {k: types[k](v) for k, v in (s.split("=", 1) for s in args.set)}
    if args.case:
        logging.basicConfig(level=logging.WARNING)
        print(json.dumps(run_case(args.case, overrides)))
        return 0
    cmd = "python " + " ".join([os.path.relpath(__file__, ROOT)] + sys.argv[1:])
    print(f"$ {cmd}", flush=True)
    results = []
    for case in args.cases.split(","):
        proc = subprocess.run([sys.executable, __file__, "--case", case]
                              + [f"--set={s}" for s in args.set],
                              capture_output=True, text=True, cwd=ROOT)
        if proc.returncode:
            sys.stderr.write(proc.stderr)
            return proc.returncode
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{case:16s} processes={r['processes']} ({r['fit_processes']} fitting): "
              f"{r['genes']} genes x {r['times']} times, {r['windows']} windows "
              f"(L={r['history']}, span={r['embedding']['span']}, walks={r['embedding']['walks_per_node']}"
              f"x{r['embedding']['walk_length']}, dim={r['embedding']['dim']}, epochs={r['embedding']['epochs']}): "
              f"{r['seconds']:.1f} s wall ({r['cpu_seconds']:.1f} s CPU in the main process, "
              f"{r['seconds_per_window']:.3f} s/window), "
              f"peak RSS {r['peak_rss_mb']:.0f} MB (before {r['rss_before_mb']:.0f} MB, "
              f"largest child {r['peak_child_rss_mb']:.0f} MB), "
              f"cache hit {r['cache_hit_seconds']:.3f} s", flush=True)
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    report = {"command": cmd, "python": platform.python_version(), "machine": platform.machine(),
              "cpus": os.cpu_count(), "loadavg_at_end": load, "results": results}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from step.io import write_json

    write_json(out, report)
    print(f"wrote {os.path.relpath(out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
