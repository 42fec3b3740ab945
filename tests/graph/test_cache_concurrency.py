"""Two processes filling the same embedding cache entry at once both finish with the same file."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
import numpy as np
from step.config import load_config
from step.data.course import working_scale
from step.data.load import load_course
from step.graph.graphs import build_graphs
from step.graph.embeddings import window_embeddings
cfg = load_config("configs/test_tiny_mrna.yaml", {"embedding.cache_dir": sys.argv[1]})
course = load_course(cfg.data.path, cfg.data)
g = build_graphs(course, cfg.graph, working_scale(course.X, cfg.data.transform))
info = {}
emb = window_embeddings(g, cfg.split.history, cfg.embedding, cfg.train.seed, info=info)
np.save(sys.argv[2], emb)
print(json.dumps({"path": str(info["cache_path"]), "hit": bool(info["cache_hit"])}))
"""


def test_two_processes_fill_one_cache_entry(tmp_path):
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(cache), str(tmp_path / f"e{i}.npy")], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert outs[0]["path"] == outs[1]["path"]                         # one content-addressed entry
    files = sorted(cache.iterdir())
    assert [f.name for f in files] == [Path(outs[0]["path"]).name]   # no temp files left behind
    e0, e1 = np.load(tmp_path / "e0.npy"), np.load(tmp_path / "e1.npy")
    assert np.array_equal(e0, e1)
    with np.load(files[0]) as z:
        assert np.array_equal(z["embeddings"], e0)                    # the file is complete and equal
