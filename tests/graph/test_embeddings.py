"""Walks (statistics, vectorised vs loop), causal window embeddings, cache, determinism."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from step.config import EmbeddingConfig, GraphConfig
from step.data.course import GeneTimeCourse
from step.graph.alignment import _align, _align_components
from step.graph.embeddings import fit_temporal_node2vec, window_embeddings, window_ends
from step.graph.graphs import TemporalGraphs, build_graphs
from step.graph.walks import biased_walks, temporal_graph

try:
    from reference_walks import reference_walks
except ImportError:  # tests/ imported as a package
    from tests.graph.reference_walks import reference_walks

ROOT = Path(__file__).resolve().parents[2]


def csr(dense) -> sp.csr_matrix:
    a = sp.csr_matrix(np.asarray(dense, dtype=float))
    a.sort_indices()
    return a


# A 5-node weighted graph with a triangle (0, 1, 2), a tail 2-3-4 and node 5 isolated.
TINY = csr([[0, 1, 2, 0, 0, 0],
            [1, 0, 3, 0, 0, 0],
            [2, 3, 0, 1, 0, 0],
            [0, 0, 1, 0, 4, 0],
            [0, 0, 0, 4, 0, 0],
            [0, 0, 0, 0, 0, 0]])


def exact_next(a: sp.csr_matrix, prev: int, cur: int, p: float, q: float) -> np.ndarray:
    """P(next | prev, cur) of a node2vec walk, over all nodes."""
    d = a.toarray()
    w = d[cur].copy()
    for x in np.flatnonzero(w):
        w[x] *= 1 / p if x == prev else (1.0 if d[prev, x] > 0 else 1 / q)
    return w / w.sum()


def transition_freq(walks: np.ndarray, prev: int, cur: int, n: int) -> tuple[np.ndarray, int]:
    a, b, c = walks[:, :-2].ravel(), walks[:, 1:-1].ravel(), walks[:, 2:].ravel()
    sel = (a == prev) & (b == cur)
    return np.bincount(c[sel], minlength=n) / max(sel.sum(), 1), int(sel.sum())


def test_first_step_follows_weights():
    a = csr([[0, 1, 3], [1, 0, 0], [3, 0, 0]])  # node 0: neighbours 1 and 2 weighted 1:3
    w = biased_walks(a.indptr, a.indices, a.data, np.zeros(40000, int), 2, 1.0, 1.0,
                     np.random.default_rng(0))
    freq = np.bincount(w[:, 1], minlength=3) / w.shape[0]
    np.testing.assert_allclose(freq, [0, 0.25, 0.75], atol=0.01)


@pytest.mark.parametrize("p,q", [(1.0, 1.0), (0.25, 4.0), (4.0, 0.25)])
def test_walks_match_exact_transitions_and_reference(p, q):
    a = TINY
    starts = np.tile(np.arange(5), 4000)
    fast = biased_walks(a.indptr, a.indices, a.data, starts, 6, p, q, np.random.default_rng(1))
    slow = reference_walks(a.indptr, a.indices, a.data, starts[:3000], 6, p, q,
                           np.random.default_rng(2))
    assert fast.shape == (20000, 6) and (fast >= 0).all()
    for prev, cur in [(0, 2), (1, 2), (3, 2), (2, 0), (0, 1)]:
        exact = exact_next(a, prev, cur, p, q)
        f, nf = transition_freq(fast, prev, cur, 6)
        s, ns = transition_freq(slow, prev, cur, 6)
        assert nf > 500 and ns > 50
        np.testing.assert_allclose(f, exact, atol=2 / np.sqrt(nf) + 0.01)
        np.testing.assert_allclose(s, exact, atol=2 / np.sqrt(ns) + 0.01)
    # the two implementations also agree on overall visit frequencies
    vf = np.bincount(fast[:, 1:].ravel(), minlength=6) / fast[:, 1:].size
    vs = np.bincount(slow[:, 1:].ravel(), minlength=6) / slow[:, 1:].size
    np.testing.assert_allclose(vf, vs, atol=0.02)


def test_p_q_bias_direction():
    """Small p returns more often; small q moves outward more often (prev 0, cur 2)."""
    a = TINY
    starts = np.zeros(30000, int)
    back = {}
    for p, q in [(0.25, 1.0), (1.0, 1.0), (4.0, 1.0)]:
        w = biased_walks(a.indptr, a.indices, a.data, starts, 3, p, q, np.random.default_rng(3))
        f, _ = transition_freq(w, 0, 2, 6)
        back[p] = f[0]
    assert back[0.25] > back[1.0] > back[4.0]
    out = {}
    for q in (0.25, 4.0):
        w = biased_walks(a.indptr, a.indices, a.data, starts, 3, 1.0, q, np.random.default_rng(4))
        out[q] = transition_freq(w, 0, 2, 6)[0][3]  # node 3 is not a neighbour of 0
    assert out[0.25] > out[4.0]


def test_isolated_start_is_the_only_stop():
    a = TINY
    w = biased_walks(a.indptr, a.indices, a.data, np.array([5, 4, 0]), 4, 0.5, 2.0,
                     np.random.default_rng(0))
    assert w[0].tolist() == [5, -1, -1, -1]
    assert (w[1:] >= 0).all()
    r = reference_walks(a.indptr, a.indices, a.data, np.array([5]), 4, 0.5, 2.0,
                        np.random.default_rng(0))
    assert r[0].tolist() == [5, -1, -1, -1]
    # every step follows an edge
    d = a.toarray()
    assert (d[w[1:, :-1], w[1:, 1:]] > 0).all()


# ----------------------------------------------------------------- temporal graphs / windows
def random_course(N: int = 7, T: int = 10, seed: int = 0) -> GeneTimeCourse:
    rng = np.random.default_rng(seed)
    pairs = np.array([(i, j) for i in range(N) for j in range(i + 1, N) if rng.random() < 0.5
                      or j == i + 1])
    return GeneTimeCourse(
        genes=[f"g{k}" for k in range(N)], display=[f"g{k}" for k in range(N)],
        times=np.arange(T, dtype=float), X=rng.normal(size=(T, N)), pairs=pairs,
        hic=rng.uniform(10, 100, len(pairs)), chromosome=["chr1"] * N, bin=np.arange(N, dtype=float),
        compartment=rng.choice(["A", "B"], N), insulation=rng.normal(size=N),
        tad_distance=rng.uniform(0, 5, N))


SMALL = EmbeddingConfig(method="windows", dim=4, walk_length=6, walks_per_node=3, span=4, window=2, epochs=1)


def test_temporal_graph_structure():
    g = build_graphs(random_course(), GraphConfig(), random_course().X)
    a = temporal_graph(g, 2, 4, temporal_weight=0.7)
    N = g.n_genes
    assert a.shape == (3 * N, 3 * N) and (a != a.T).nnz == 0
    assert a[0 * N + 3, 1 * N + 3] == pytest.approx(0.7)  # gene 3: time 2 -- time 3
    assert a[0 * N + 3, 2 * N + 3] == 0  # no edge skipping a time
    i, j = g.edges[0]
    assert a[N + i, N + j] == pytest.approx(g.weights[3, 0])


def test_window_embeddings_shape_and_cache(tmp_path, caplog):
    course = random_course()
    g = build_graphs(course, GraphConfig(), course.X)
    cfg = dataclasses.replace(SMALL, cache_dir=str(tmp_path))
    info: dict = {}
    with caplog.at_level("INFO", logger="step.graph.embeddings"):
        emb = window_embeddings(g, 3, cfg, seed=0, info=info)
    assert emb.shape == (10 - 3, 3, 7, 4) and emb.dtype == np.float32
    assert not info["cache_hit"] and Path(info["cache_path"]).is_file()
    assert "cache miss" in caplog.text
    info2: dict = {}
    with caplog.at_level("INFO", logger="step.graph.embeddings"):
        emb2 = window_embeddings(g, 3, cfg, seed=0, info=info2)
    assert info2["cache_hit"] and info2["cache_path"] == info["cache_path"]
    assert "cache hit" in caplog.text
    np.testing.assert_array_equal(emb, emb2)
    # any parameter, the seed, the history or the data changes the key
    keys = {info["cache_path"]}
    for kwargs in ({"seed": 1}, {"cfg": dataclasses.replace(cfg, q=2.0)}, {"history": 2}):
        i3: dict = {}
        window_embeddings(g, kwargs.get("history", 3), kwargs.get("cfg", cfg),
                          seed=kwargs.get("seed", 0), info=i3)
        keys.add(i3["cache_path"])
    g2 = TemporalGraphs(g.times, g.n_genes, g.edges, g.weights * 1.5)
    i4: dict = {}
    window_embeddings(g2, 3, cfg, seed=0, info=i4)
    keys.add(i4["cache_path"])
    assert len(keys) == 5
    # cache_dir itself is not part of the key
    other = dataclasses.replace(cfg, cache_dir=str(tmp_path / "other"))
    i5: dict = {}
    window_embeddings(g, 3, other, seed=0, info=i5)
    assert Path(i5["cache_path"]).name == Path(info["cache_path"]).name


@pytest.mark.parametrize("method", ["windows", "stream"])
def test_causality_future_changes_leave_past_windows_bit_identical(tmp_path, method):
    """Perturb expression (and hence graph weights) after time index e: windows ending <= e unchanged."""
    course = random_course(T=11)
    L = 2
    cfg = dataclasses.replace(SMALL, cache_dir=str(tmp_path), method=method)
    base = window_embeddings(build_graphs(course, GraphConfig(), course.X), L, cfg, seed=5)
    ends = window_ends(course.n_times, L)
    for e in (3, 6):
        X = course.X.copy()
        X[e + 1:] = np.random.default_rng(e).normal(size=X[e + 1:].shape) * 3
        g = build_graphs(course, GraphConfig(), X)
        pert = window_embeddings(g, L, cfg, seed=5)
        past = ends <= e
        assert past.any() and (~past).any()
        np.testing.assert_array_equal(pert[past], base[past])
        assert not np.array_equal(pert[~past], base[~past])
    # the same holds when the graph weights themselves are perturbed after e
    g0 = build_graphs(course, GraphConfig(), course.X)
    w = g0.weights.copy()
    w[5:] = w[5:][:, ::-1]
    pert = window_embeddings(TemporalGraphs(g0.times, g0.n_genes, g0.edges, w), L, cfg, seed=5)
    np.testing.assert_array_equal(pert[ends <= 4], base[ends <= 4])


def test_alignment_recovers_a_rotation():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(30, 4))
    Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    cur = ref @ Q.T + 2.0
    R, mu_c, mu_r = _align(cur, ref)
    np.testing.assert_allclose((cur - mu_c) @ R + mu_r, ref, atol=1e-10)


def test_alignment_is_per_connected_component():
    """Two components moved by different rigid maps are both put back, new time slice included."""
    rng = np.random.default_rng(1)
    g = TemporalGraphs(np.arange(3.0), 4, np.array([[0, 1], [2, 3]]), np.ones((3, 2)))
    Z = rng.normal(size=(3, 4, 3))
    emb = Z.copy()
    for genes in ([0, 1], [2, 3]):
        Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        emb[:, genes] = Z[:, genes] @ Q + rng.normal(size=3)
    out = _align_components(g, 0, 2, 1.0, emb, Z[:2], 0)
    np.testing.assert_allclose(out, Z, atol=1e-8)
    R, mu_c, mu_r = _align(emb[:2].reshape(-1, 3), Z[:2].reshape(-1, 3))
    assert not np.allclose((emb - mu_c) @ R + mu_r, Z, atol=1e-3)  # one global rotation cannot


def test_fit_is_deterministic_across_processes(tmp_path):
    course = random_course()
    g = build_graphs(course, GraphConfig(), course.X)
    a = fit_temporal_node2vec(g, 2, 5, SMALL, seed=11)
    b = fit_temporal_node2vec(g, 2, 5, SMALL, seed=11)
    c = fit_temporal_node2vec(g, 2, 5, SMALL, seed=12)
    assert a.shape == (4, 7, 4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # a fresh interpreter with another hash seed gives the same bits
    out = tmp_path / "a.npy"
    code = (
        "import numpy as np, sys; sys.path.insert(0, sys.argv[2]); sys.path.insert(0, sys.argv[3])\n"
        "from test_embeddings import random_course, SMALL\n"
        "from step.graph.graphs import build_graphs; from step.config import GraphConfig\n"
        "from step.graph.embeddings import fit_temporal_node2vec\n"
        "c = random_course(); g = build_graphs(c, GraphConfig(), c.X)\n"
        "np.save(sys.argv[1], fit_temporal_node2vec(g, 2, 5, SMALL, seed=11))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(out), str(Path(__file__).resolve().parent), str(ROOT)],
                   check=True, env=env, cwd=tmp_path)
    np.testing.assert_array_equal(np.load(out), a)


def test_corrupt_cache_entry_is_recomputed(tmp_path, caplog):
    course = random_course(T=6)
    g = build_graphs(course, GraphConfig(), course.X)
    cfg = dataclasses.replace(SMALL, cache_dir=str(tmp_path))
    info: dict = {}
    good = window_embeddings(g, 2, cfg, seed=0, info=info)
    Path(info["cache_path"]).write_bytes(b"not an npz")
    with caplog.at_level("WARNING", logger="step.graph.embeddings"):
        again = window_embeddings(g, 2, cfg, seed=0, info=info)
    assert "unreadable" in caplog.text and not info["cache_hit"]
    np.testing.assert_array_equal(good, again)


@pytest.mark.parametrize("script", ["create_graph_and_embedding_STEPmr",
                                    "create_graph_and_embedding_STEPmi"])
def test_scripts_exit_1_on_bad_input(script, tmp_path):
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, f"{script}.py", "--config", str(tmp_path / "missing.yaml")], cwd=root,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "config file not found" in out.stderr


# ----------------------------------------------------------------- parallel fitting
def test_process_pool_is_bit_identical_and_outside_the_cache_key(tmp_path, monkeypatch):
    """processes=1 and a forced 2-process pool give the same bits and the same cache file name."""
    import step.graph.embeddings as E

    course = random_course(N=6, T=14, seed=3)
    g = build_graphs(course, GraphConfig(), course.X)
    used = []
    real = E._fits
    monkeypatch.setattr(E, "_fits", lambda *a: used.append(a[-1]) or real(*a))
    runs = {}
    for n in (1, 2):
        cfg = dataclasses.replace(SMALL, processes=n, cache_dir=str(tmp_path / f"p{n}"))
        info: dict = {}
        runs[n] = (window_embeddings(g, 3, cfg, seed=4, info=info), Path(info["cache_path"]).name)
    assert used == [1, 2]  # the pool really ran (11 windows)
    assert runs[1][0].shape == (11, 3, 6, 4)
    np.testing.assert_array_equal(runs[1][0], runs[2][0])
    assert runs[1][1] == runs[2][1]
    from step.graph.embeddings import embedding_cache_key

    keys = {embedding_cache_key(g, 3, dataclasses.replace(SMALL, processes=n), 4) for n in (0, 1, 2, 7)}
    assert len(keys) == 1


def test_auto_processes_stays_in_process_for_small_inputs():
    import step.graph.embeddings as E

    course = random_course()
    g = build_graphs(course, GraphConfig(), course.X)
    assert E._n_processes(g, dataclasses.replace(SMALL, processes=0), 7) == 1  # tiny graph
    assert E._n_processes(g, dataclasses.replace(SMALL, processes=3), 7) == 3  # forced
    assert E._n_processes(g, dataclasses.replace(SMALL, processes=3), 2) == 2  # <= windows
    big = TemporalGraphs(np.arange(160.0), 162, g.edges, g.weights[:1].repeat(160, 0))
    auto = E._n_processes(big, EmbeddingConfig(), 150)
    assert auto == min(os.cpu_count() or 1, 4)
    assert E._n_processes(big, EmbeddingConfig(), 5) == 1  # too few windows
    with pytest.raises(Exception, match="processes"):
        window_embeddings(g, 3, dataclasses.replace(SMALL, processes=-1), seed=0)


_FAILING_WORKER = r"""
import os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from test_embeddings import SMALL, random_course
import dataclasses
import step.graph.embeddings as E
from step.config import GraphConfig
from step.graph.graphs import build_graphs

tmp = Path(sys.argv[2])
assert E._pool_context().get_start_method() == "fork", "a clean parent forks"
course = random_course(T=12)
g = build_graphs(course, GraphConfig(), course.X)
real = E.fit_temporal_node2vec
cfg = dataclasses.replace(SMALL, processes=2, cache_dir=str(tmp))

def flaky(graphs, lo, hi, cfg, seed):
    if hi == 6:
        raise ValueError("boom")
    return real(graphs, lo, hi, cfg, seed)

def dies(graphs, lo, hi, cfg, seed):  # a worker killed outright (e.g. out of memory)
    if hi == 6:
        os._exit(1)
    return real(graphs, lo, hi, cfg, seed)

for fn, expect in ((flaky, "ValueError: boom"), (dies, "died")):
    E.fit_temporal_node2vec = fn  # inherited by the forked workers
    try:
        E.window_embeddings(g, 3, cfg, seed=0)
    except RuntimeError as exc:
        assert expect in str(exc) and (expect == "died" or "window e=6" in str(exc)), str(exc)
    else:
        raise AssertionError("no error")
    assert not any(tmp.iterdir()), list(tmp.iterdir())
print("OK")
"""


def test_failing_worker_raises_and_writes_no_cache(tmp_path):
    """A fit that raises or a worker that dies: RuntimeError naming the window, no cache entry. Run
    in a fresh interpreter (a clean parent, so the pool forks and the patched fit reaches it)."""
    r = subprocess.run([sys.executable, "-c", _FAILING_WORKER, str(Path(__file__).parent), str(tmp_path)],
                       capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2])
    assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stderr[-3000:]


def test_pool_forks_only_from_a_clean_parent(monkeypatch):
    """Forking a process with other threads (or torch's runtime) loaded can deadlock the child:
    such a parent gets a forkserver pool."""
    import threading

    import step.graph.embeddings as E

    monkeypatch.setitem(sys.modules, "torch", sys.modules.get("torch", object()))
    assert E._pool_context().get_start_method() == "forkserver"
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.delitem(sys.modules, "lightgbm", raising=False)
    monkeypatch.delitem(sys.modules, "hictkpy", raising=False)
    monkeypatch.setattr(threading, "enumerate", lambda: [threading.main_thread()])
    assert E._pool_context().get_start_method() == "fork"
    worker = threading.Thread(target=lambda: None)
    monkeypatch.setattr(threading, "enumerate", lambda: [threading.main_thread(), worker])
    assert E._pool_context().get_start_method() == "forkserver"


def test_stream_embeddings_are_aligned_by_construction(tmp_path):
    """``stream``: a gene's vector moves little from one window to the next (one model trained on),
    while independent ``windows`` fits are only comparable after alignment; both recover the graph's
    two communities (nearest neighbours of a gene are mostly in its own community)."""
    rng = np.random.default_rng(0)
    N, T = 40, 12
    comm = np.repeat([0, 1], N // 2)
    pairs = np.array([(i, j) for i in range(N) for j in range(i + 1, N)
                      if (comm[i] == comm[j] and rng.random() < 0.3) or (comm[i] != comm[j] and rng.random() < 0.01)])
    course = GeneTimeCourse(
        genes=[f"g{k}" for k in range(N)], display=[f"g{k}" for k in range(N)], times=np.arange(T, dtype=float),
        X=rng.normal(size=(T, N)), pairs=pairs, hic=np.ones(len(pairs)), chromosome=["1"] * N,
        bin=np.zeros(N), compartment=np.array(["A"] * N, dtype=object), insulation=np.zeros(N),
        tad_distance=np.zeros(N))
    g = build_graphs(course, GraphConfig(), course.X)
    cfg = EmbeddingConfig(dim=8, walk_length=10, walks_per_node=10, span=3, epochs=3, cache_dir=str(tmp_path),
                          method="stream")
    emb = window_embeddings(g, 2, cfg, seed=0)
    assert emb.shape == (T - 2, 2, N, 8)
    # the same time slice seen from consecutive windows: close (trained on, not refitted)
    a, b = emb[3, 1], emb[4, 0]  # time index 4 in windows ending at 4 and 5
    drift = np.linalg.norm(a - b) / np.linalg.norm(a)
    assert drift < 0.5
    last = emb[-1, -1]
    unit = last / np.linalg.norm(last, axis=1, keepdims=True)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    nn = sim.argsort(axis=1)[:, -5:]
    assert (comm[nn] == comm[:, None]).mean() > 0.8


def test_unknown_embedding_method_is_a_config_error(tmp_path):
    from step.config import load_config
    from step.errors import InputError

    bad = tmp_path / "c.yaml"
    bad.write_text("extends: " + str(ROOT / "configs/test_tiny_mrna.yaml") + "\nembedding:\n  method: fast\n")
    with pytest.raises(InputError, match="embedding.method"):
        load_config(bad)


def _communities(n: int = 60, k: int = 3, seed: int = 0) -> tuple[GeneTimeCourse, np.ndarray]:
    rng = np.random.default_rng(seed)
    comm = np.repeat(np.arange(k), n // k)
    pairs = np.array([(i, j) for i in range(n) for j in range(i + 1, n)
                      if rng.random() < (0.3 if comm[i] == comm[j] else 0.01)])
    course = GeneTimeCourse(
        genes=[f"g{x}" for x in range(n)], display=[f"g{x}" for x in range(n)], times=np.arange(2, dtype=float),
        X=rng.normal(size=(2, n)), pairs=pairs, hic=np.ones(len(pairs)), chromosome=["1"] * n,
        bin=np.zeros(n), compartment=np.array(["A"] * n, dtype=object), insulation=np.zeros(n),
        tad_distance=np.zeros(n))
    return course, comm


def _purity(emb: np.ndarray, comm: np.ndarray, k: int = 5) -> float:
    """Share of each node's k nearest neighbours (cosine) in its own community."""
    u = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    s = u @ u.T
    np.fill_diagonal(s, -np.inf)
    return float((comm[s.argsort(axis=1)[:, -k:]] == comm[:, None]).mean())


def test_node2vec_package_backend_recovers_communities_like_the_default():
    """The reference backend (PyPI ``node2vec`` walks) and the default numpy walks, same Word2Vec:
    both place every node among its own community (3 planted communities, chance 1/3)."""
    pytest.importorskip("node2vec")
    course, comm = _communities()
    g = build_graphs(course, GraphConfig(), course.X)
    purity = {}
    for backend in ("numpy", "node2vec"):
        cfg = EmbeddingConfig(dim=8, walk_length=10, walks_per_node=20, epochs=5, window=5, q=0.5, backend=backend)
        purity[backend] = _purity(fit_temporal_node2vec(g, 0, 0, cfg, seed=0)[0], comm)
    assert purity["numpy"] > 0.9 and purity["node2vec"] > 0.9, purity
    assert abs(purity["numpy"] - purity["node2vec"]) < 0.1, purity


def test_script_processes_flag_overrides_config_and_keeps_the_cache_entry(tmp_path, monkeypatch):
    """``--processes N`` (the workflow passes its rule's threads) sets the pool size only: a second
    call with another number hits the same cache entry."""
    import json

    import step.graph.embeddings as E
    from step.jobs.cli import embedding_main

    def main(argv):
        return embedding_main(argv, "create_graph_and_embedding_STEPmr.py", "configs/mrna.yaml")

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"extends: {Path('configs/test_tiny_mrna.yaml').resolve()}\n"
                   f"embedding:\n  method: windows\n  cache_dir: {tmp_path / 'cache'}\n")
    used = []
    real = E._fits
    monkeypatch.setattr(E, "_fits", lambda *a: used.append(a[-1]) or real(*a))
    data = str(Path("tests/data/tiny_mrna.csv").resolve())
    summaries = []
    for n in (2, 1):
        out = tmp_path / f"s{n}.json"
        assert main(["--config", str(cfg), "--data", data, "--processes", str(n), "--summary", str(out)]) == 0
        summaries.append(json.loads(out.read_text()))
    assert used == [2]  # the first call fitted with a 2-process pool, the second was a cache hit
    assert not summaries[0]["cache_hit"] and summaries[1]["cache_hit"]
    assert summaries[0]["cache_path"] == summaries[1]["cache_path"]


@pytest.mark.parametrize("cmd", [["-m", "step.embed", "--dataset", "test_tiny_mrna"],
                                 ["create_graph_and_embedding_STEPmr.py", "--config", "configs/test_tiny_mrna.yaml"],
                                 ["create_graph_and_embedding_STEPmi.py", "--config", "configs/test_tiny_mirna.yaml"]])
def test_one_embedding_command_and_the_published_script_names(tmp_path, cmd):
    env = dict(os.environ)
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable] + cmd + ["--summary", str(tmp_path / "s.json")], cwd=root, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "s.json").is_file()
    bad = subprocess.run([sys.executable, "-m", "step.embed", "--dataset", "no_such_dataset"], cwd=root,
                         capture_output=True, text=True, timeout=120) if cmd[0] == "-m" else None
    if bad is not None:
        assert bad.returncode == 1 and "no config configs/no_such_dataset.yaml" in bad.stderr


def test_cache_key_changes_with_the_library_versions(monkeypatch):
    """An entry written by another gensim / numpy version is not reused."""
    import step.graph.embeddings as E

    course = random_course(N=6, T=10, seed=1)
    g = build_graphs(course, GraphConfig(), course.X)
    cfg = EmbeddingConfig()
    k0 = E.embedding_cache_key(g, 3, cfg, 0)
    assert k0 == E.embedding_cache_key(g, 3, cfg, 0)
    monkeypatch.setattr(E, "_library_versions", lambda backend: {"gensim": "0.0-other", "numpy": "0"})
    assert E.embedding_cache_key(g, 3, cfg, 0) != k0


def test_deferred_stream_is_bit_identical_to_in_process_and_cached(tmp_path):
    """``defer=True``: the stream runs in a forked process while the caller goes on; its result has
    the bits of the in-process stream, the child writes the cache entry, and the next call hits it."""
    from step.graph.embeddings import PendingEmbeddings
    from step.procs import fork_is_safe

    course = random_course(N=6, T=14, seed=5)
    g = build_graphs(course, GraphConfig(), course.X)
    cfg = dataclasses.replace(SMALL, method="stream", cache_dir=str(tmp_path / "a"))
    pending = window_embeddings(g, 3, cfg, seed=2, defer=True)
    alone = window_embeddings(g, 3, dataclasses.replace(cfg, processes=1, cache_dir=str(tmp_path / "b")), seed=2)
    forked = fork_is_safe() and (os.cpu_count() or 1) >= 2
    assert isinstance(pending, PendingEmbeddings) == forked
    beside = pending.result() if forked else pending
    np.testing.assert_array_equal(beside, alone)
    if forked:
        assert pending.result() is beside  # waited for once
        pending._proc.join(30)  # the child writes the cache entry after sending the result
        assert pending._proc.exitcode == 0
        info = {}
        again = window_embeddings(g, 3, cfg, seed=2, info=info, defer=True)
        assert info["cache_hit"] and isinstance(again, np.ndarray)
        np.testing.assert_array_equal(again, alone)


def test_a_deferred_stream_that_fails_raises_in_the_caller_and_caches_nothing(tmp_path, monkeypatch):
    """An error inside the streaming process is raised where the embeddings are read, with its
    message; no cache entry is written; ``processes: 1`` never forks."""
    import step.graph.embeddings as E
    from step.procs import fork_is_safe

    if not (fork_is_safe() and (os.cpu_count() or 1) >= 2):
        pytest.skip("no fork here: the stream runs in-process")
    course = random_course(N=6, T=14, seed=5)
    g = build_graphs(course, GraphConfig(), course.X)
    cfg = dataclasses.replace(SMALL, method="stream", cache_dir=str(tmp_path / "a"))

    def boom(*a, **k):
        raise ValueError("walks exploded")

    monkeypatch.setattr(E, "_compute_stream", boom)  # inherited by the fork
    pending = E.window_embeddings(g, 3, cfg, seed=2, defer=True)
    with pytest.raises(RuntimeError, match="walks exploded"):
        pending.result()
    pending._proc.join(30)
    assert not list((tmp_path / "a").glob("*.npz"))
    one = dataclasses.replace(cfg, processes=1)
    with pytest.raises(ValueError, match="walks exploded"):
        E.window_embeddings(g, 3, one, seed=2, defer=True)


def _stream_model(seed: int = 3):
    from gensim.models import Word2Vec

    from step.graph.embeddings import _stable_hash

    return Word2Vec(sg=1, vector_size=8, window=3, negative=5, epochs=2, workers=1, seed=seed, min_count=1,
                    hashfxn=_stable_hash, sorted_vocab=0, sample=0)


def test_the_streams_vocabulary_is_gensims():
    """:func:`step.graph.embeddings._node_vocabulary` (numpy) leaves the model as gensim's
    ``build_vocab_from_freq`` does: vocabulary, per-word attributes, negative-sampling table, initial
    vectors; and the two models train to the same vectors bit for bit."""
    from step.graph.embeddings import _node_vocabulary

    tokens = [str(k) for k in range(1500)]
    ours, theirs = _stream_model(), _stream_model()
    _node_vocabulary(ours, tokens)
    theirs.build_vocab_from_freq({t: 1 for t in tokens})
    assert ours.wv.index_to_key == theirs.wv.index_to_key
    assert ours.wv.key_to_index == theirs.wv.key_to_index
    assert sorted(ours.wv.expandos) == sorted(theirs.wv.expandos)
    for k, v in theirs.wv.expandos.items():
        assert ours.wv.expandos[k].dtype == v.dtype, k
        np.testing.assert_array_equal(ours.wv.expandos[k], v)
    np.testing.assert_array_equal(ours.cum_table, theirs.cum_table)
    assert ours.cum_table.dtype == theirs.cum_table.dtype
    np.testing.assert_array_equal(ours.wv.vectors, theirs.wv.vectors)
    np.testing.assert_array_equal(ours.syn1neg, theirs.syn1neg)
    assert (ours.corpus_count, ours.effective_min_count, len(ours.raw_vocab)) == \
        (theirs.corpus_count, theirs.effective_min_count, len(theirs.raw_vocab))
    rng = np.random.default_rng(0)
    sentences = [[str(k) for k in rng.integers(0, 1500, 12)] for _ in range(400)]
    for m in (ours, theirs):
        m.train(sentences, total_examples=len(sentences), epochs=2)
    np.testing.assert_array_equal(ours.wv.vectors, theirs.wv.vectors)


def test_another_model_goes_through_gensim():
    """A model outside the closed form (frequency downsampling on) is built by gensim itself."""
    from step.graph.embeddings import _node_vocabulary

    m = _stream_model()
    m.sample = 1e-3
    calls = []
    orig = m.build_vocab_from_freq
    m.build_vocab_from_freq = lambda freq: (calls.append(len(freq)), orig(freq))
    _node_vocabulary(m, ["a", "b", "c"])
    assert calls == [3] and m.wv.index_to_key == ["a", "b", "c"]
    repeated = _stream_model()
    seen = []
    orig = repeated.build_vocab_from_freq
    repeated.build_vocab_from_freq = lambda freq: (seen.append(len(freq)), orig(freq))
    _node_vocabulary(repeated, ["a", "b", "a"])  # not the stream's vocabulary: gensim decides
    assert seen == [2]
