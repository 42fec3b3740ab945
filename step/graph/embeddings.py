"""Causal temporal Node2Vec: vectorised biased walks + gensim Word2Vec, cached on disk.

Temporal graph
--------------
For time indices ``t_lo..t_hi`` every (gene, time) pair is a node, numbered
``(t - t_lo) * N + gene``. Spatial edges are the gene graph at that time
(:class:`~step.graph.graphs.TemporalGraphs`); temporal edges join ``(g, t)`` and
``(g, t + 1)`` with weight ``EmbeddingConfig.temporal_weight``.

Walks
-----
:func:`biased_walks` advances all walks one step at a time with numpy. The
first step from a node picks a neighbour with probability proportional to the
edge weight (inverse CDF on the CSR row). Later steps use the node2vec bias on
the previous node ``s``: weight ``w(v, x) * alpha`` with ``alpha = 1/p`` if
``x == s``, ``1`` if ``x`` is a neighbour of ``s``, ``1/q`` otherwise. It is
sampled exactly by rejection (propose from the weight CDF, accept with
probability ``alpha / max(alpha)``); with ``p = q = 1`` no rejection is needed.
A walk stops (padded with -1) only at an isolated node, i.e. when it starts at one.
``tests/graph/reference_walks.py`` is the same process written as a plain loop, the tests' second route.

Causal windows
--------------
The pipeline's window ``w`` has inputs at time indices ``e-L+1..e`` and target
``e+1``, for ``e = L-1, ..., T-2`` (``W = T - L`` windows, ``L = history``).
For each ``e``, :func:`window_embeddings`:

1. fits temporal Node2Vec on the trailing span ``max(0, e-span+1)..e`` only
   (``span = EmbeddingConfig.span >= L``), so nothing after ``e`` is seen, not
   even through temporal edges or Word2Vec co-occurrence;
2. aligns the fitted span to the previous window's (already aligned) span on
   the (gene, time) nodes they share (times ``max(a, a')..e-1``), so
   coordinates are comparable across windows; the first window is the
   reference frame. The alignment is rigid and done per connected component
   of the temporal graph: Node2Vec places disconnected components arbitrarily
   relative to each other (the miRNA Hi-C graph has 20 components, the mRNA
   one 4), so one global rotation cannot align two fits (relative residual
   ~0.95 on miRNA), while per component it can (~0.3). For each component the
   shared nodes of both fits are centred, the current fit is rotated by
   orthogonal Procrustes (``scipy.linalg.orthogonal_procrustes``) and shifted
   to the previous fit's centre; a component without shared nodes (only
   possible when ``temporal_weight = 0``) gets the global rotation;
3. keeps the last ``L`` time slices, ``[L, N, D]``.

Each step uses only data at times ``<= e`` and the embeddings of earlier windows
(themselves built from data ``<= e``), so window ``w``'s embedding is unchanged,
bit for bit, if anything after its ``e`` changes. The Word2Vec seed of the fit
for ``e`` is derived from ``(seed, e)``; with ``workers == 1`` everything is
bit-reproducible (gensim 4 initialises vectors from the seed, not from
``hash()``, and we pass a fixed ``hashfxn`` anyway, so PYTHONHASHSEED does not matter).

Parallel fitting
----------------
The fits of step 1 are independent (each window's seed comes from ``(seed, e)``
alone), so they run in a process pool of ``EmbeddingConfig.processes`` workers
('fork' start method from a clean parent on Linux, else 'forkserver': ``_pool_context``;
one BLAS/OpenMP/torch thread each), delivered in
window order; the alignment of step 2 is sequential and runs in the main process
as the fits arrive. Each fit is the same function of the same inputs in any
process, so the result is bit-identical for any number of processes. A failing
fit or a dead worker raises RuntimeError and nothing is written to the cache.

Cache
-----
The result is stored in ``<cache_dir>/<sha256>.npz`` (atomic write), keyed by the
graphs (times, edges, weights), ``history``, every EmbeddingConfig field except
``cache_dir`` and ``processes`` (neither changes the result), the seed, the gensim / numpy
(/ node2vec) versions and :data:`CODE_VERSION` (bump it whenever the output of this module
changes for the same inputs).

Parts: the temporal graph and the walks in :mod:`step.graph.walks`, the Procrustes alignment in
:mod:`step.graph.alignment`; here the two fitting schemes (``windows`` with its process pool, ``stream``)
and the cache. The job around it is :mod:`step.graph.embedding_job`, the plain-loop reference walker
``tests/graph/reference_walks.py``.
"""
from __future__ import annotations

import dataclasses
import logging
import multiprocessing as mp
import os
import sys
import time
import traceback
import zlib
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from tqdm.auto import tqdm

from step.graph.alignment import _align_window
from step.auto import resolve_embedding
from step.config import EmbeddingConfig
from step.errors import InputError
from step.graph.graphs import TemporalGraphs
from step.io import hash_parts, save_npz
from step.graph.walks import _sentences, temporal_graph, walk

log = logging.getLogger(__name__)

CODE_VERSION = "temporal-node2vec/2"
STREAM_VERSION = 3  # bump when embedding.method: stream changes its output for the same inputs




# --------------------------------------------------------------------------- fitting


def _stable_hash(s: str) -> int:
    """Process-independent replacement for ``hash`` (gensim's ``hashfxn``)."""
    return zlib.crc32(s.encode())


def _check_embedding_cfg(cfg: EmbeddingConfig) -> None:
    for name in ("dim", "walk_length", "walks_per_node", "span", "window", "epochs", "workers"):
        if getattr(cfg, name) < 1:
            raise InputError(f"embedding.{name} must be >= 1, got {getattr(cfg, name)}.")
    if cfg.negative < 1:
        raise InputError(f"embedding.negative must be >= 1, got {cfg.negative}.")
    for name in ("p", "q"):
        if not getattr(cfg, name) > 0:
            raise InputError(f"embedding.{name} must be > 0, got {getattr(cfg, name)}.")
    if cfg.temporal_weight < 0:
        raise InputError(f"embedding.temporal_weight must be >= 0, got {cfg.temporal_weight}.")
    if cfg.processes < 0:
        raise InputError(f"embedding.processes must be >= 0 (0 = auto), got {cfg.processes}.")


def fit_temporal_node2vec(graphs: TemporalGraphs, t_lo: int, t_hi: int, cfg: EmbeddingConfig,
                          seed: int) -> np.ndarray:
    """Temporal Node2Vec over time indices ``t_lo..t_hi`` (inclusive).

    Parameters
    ----------
    graphs : per-time gene graphs; only ``weights[t_lo..t_hi]`` are read.
    t_lo, t_hi : first and last time index, ``0 <= t_lo <= t_hi < T``.
    cfg : walk and Word2Vec settings (``dim, walks_per_node, walk_length, p, q,
        temporal_weight, window, negative, epochs, workers``).
    seed : seeds the walks and Word2Vec; bit-reproducible when ``cfg.workers == 1``.

    Returns
    -------
    float32 array ``[t_hi - t_lo + 1, N, D]`` (``D = cfg.dim``).
    """
    from gensim.models import Word2Vec  # slow import; only needed here

    if not 0 <= t_lo <= t_hi < graphs.n_times:
        raise ValueError(f"need 0 <= t_lo <= t_hi < {graphs.n_times}, got {t_lo}, {t_hi}")
    _check_embedding_cfg(cfg)
    N, S = graphs.n_genes, t_hi - t_lo + 1
    adj = temporal_graph(graphs, t_lo, t_hi, cfg.temporal_weight)
    n_nodes = S * N
    rng = np.random.default_rng(seed)
    starts = np.tile(np.arange(n_nodes, dtype=np.int64), cfg.walks_per_node)
    walks = walk(adj, starts, cfg, rng)
    tokens = np.array([str(k) for k in range(n_nodes)], dtype=object)
    sentences = _sentences(walks, tokens)
    model = Word2Vec(
        sentences=sentences, sg=1, vector_size=cfg.dim, window=cfg.window, negative=cfg.negative,
        epochs=cfg.epochs, workers=cfg.workers, seed=int(seed) % (2**32), min_count=1,
        hashfxn=_stable_hash,
    )
    order = [model.wv.key_to_index[t] for t in tokens]
    return np.asarray(model.wv.vectors[order], dtype=np.float32).reshape(S, N, cfg.dim)


def _window_seed(seed: int, e: int) -> int:
    return int(np.random.SeedSequence([int(seed) % (2**32), int(e)]).generate_state(1)[0])


def window_ends(n_times: int, history: int) -> np.ndarray:
    """Last input time index ``e`` of each window, ``[W]`` (``W = T - history``)."""
    return np.arange(history - 1, n_times - 1)


@contextmanager
def _quiet_gensim() -> Iterator[None]:
    """gensim logs ~10 INFO lines per Word2Vec fit; keep them out of our logs while fitting."""
    lg = logging.getLogger("gensim")
    level = lg.level
    if lg.getEffectiveLevel() < logging.WARNING:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        lg.setLevel(level)


# Auto ``processes``: below these sizes a pool's start-up costs more than it saves.
_POOL_MIN_WINDOWS = 8
_POOL_MIN_TOKENS = 1_000_000  # walk tokens over all windows (~0.3 s of fitting)
_POOL_MAX_AUTO = 4


def _n_processes(graphs: TemporalGraphs, cfg: EmbeddingConfig, n_windows: int) -> int:
    """Number of fitting processes for ``cfg.processes`` (0 = auto, see EmbeddingConfig)."""
    if cfg.processes > 0:
        n = min(int(cfg.processes), max(n_windows, 1))
    else:
        span = min(cfg.span, graphs.n_times)
        tokens = n_windows * span * graphs.n_genes * cfg.walks_per_node * cfg.walk_length
        if n_windows < _POOL_MIN_WINDOWS or tokens < _POOL_MIN_TOKENS:
            return 1
        n = min(max((os.cpu_count() or 1) // cfg.workers, 1), n_windows, _POOL_MAX_AUTO)
    if n > 1 and mp.current_process().daemon:
        log.info("embedding: running inside a daemonic process, which cannot start a pool; "
                 "fitting in-process")
        return 1
    return n


def _window_span(e: int, span: int) -> tuple[int, int]:
    return max(0, int(e) - span + 1), int(e)


# State of a fitting worker process, set once by _init_worker.
_WORKER: dict[str, Any] = {}


def _init_worker(graphs: TemporalGraphs, cfg: EmbeddingConfig, seed: int) -> None:
    """Pool initializer: one BLAS/OpenMP/torch thread per worker, gensim quiet, inputs stored."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # for libraries loaded from now on
    try:  # and for the BLAS already loaded (inherited from the parent under fork)
        from threadpoolctl import threadpool_limits

        _WORKER["limits"] = threadpool_limits(1)
    except Exception:  # pragma: no cover - threadpoolctl is optional
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            torch.set_num_threads(1)
        except Exception:  # pragma: no cover
            pass
    logging.getLogger("gensim").setLevel(logging.WARNING)
    _WORKER.update(graphs=graphs, cfg=cfg, seed=seed)


def _fit_window(e: int) -> np.ndarray:
    """Worker task: the (unaligned) float32 fit ``[S, N, D]`` of the window ending at ``e``."""
    graphs, cfg, seed = _WORKER["graphs"], _WORKER["cfg"], _WORKER["seed"]
    lo, hi = _window_span(e, cfg.span)
    try:
        return fit_temporal_node2vec(graphs, lo, hi, cfg, _window_seed(seed, hi))
    except Exception as exc:
        # re-raised in the parent; say which window, keep the worker's traceback text
        raise RuntimeError(f"embedding fit of window e={hi} (times {lo}..{hi}) failed in worker "
                           f"process {os.getpid()}: {type(exc).__name__}: {exc}\n"
                           f"{traceback.format_exc()}") from None


def _pool_context() -> mp.context.BaseContext:
    """The fitting pool's start method (:func:`step.procs.pool_context`; forkserver preloads this module)."""
    from step.procs import pool_context

    return pool_context(["step.graph.embeddings"])


def _fits(graphs: TemporalGraphs, cfg: EmbeddingConfig, seed: int, ends: np.ndarray,
          processes: int) -> Iterator[np.ndarray]:
    """The float32 fit of each window, in window order (in-process or from a process pool)."""
    if processes <= 1:
        for e in ends:
            lo, hi = _window_span(int(e), cfg.span)
            yield fit_temporal_node2vec(graphs, lo, hi, cfg, _window_seed(seed, hi))
        return
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    import gensim.models  # noqa: F401  # imported once here, inherited by forked workers

    chunk = max(1, ends.size // (processes * 32))  # small chunks: even load, a live progress bar
    ctx = _pool_context()
    log.info("embedding: %d worker processes (%s)", processes, ctx.get_start_method())
    ex = ProcessPoolExecutor(max_workers=processes, mp_context=ctx,
                             initializer=_init_worker, initargs=(graphs, cfg, seed))
    try:
        yield from ex.map(_fit_window, [int(e) for e in ends], chunksize=chunk)
    except BrokenProcessPool as exc:
        raise RuntimeError(f"embedding: a worker process of the {processes}-process fitting pool "
                           f"died ({exc}); no embeddings were written. Rerun with "
                           f"embedding.processes = 1 to fit in-process.") from exc
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _compute_stream(graphs: TemporalGraphs, history: int, cfg: EmbeddingConfig, seed: int) -> np.ndarray:
    """``embedding.method: stream``: one Word2Vec, trained on as the windows advance.

    The first window trains on walks from every node of its span like ``windows``; every later
    window ``e`` trains the same model on walks that start at time slice ``e`` on the temporal
    graph of the trailing span (they reach earlier slices through the temporal edges, which ties
    the new vectors to the existing coordinates). Negative samples come from times ``<= e`` only. Window
    ``e``'s output is a snapshot of the vectors of times ``e-L+1..e`` right after that step, so it
    depends on data at times ``<= e`` only. Cost ~ (span + W) x N walks instead of W x span x N.
    Returns float32 ``[W, L, N, D]``.
    """
    from gensim.models import Word2Vec

    ends = window_ends(graphs.n_times, history)
    L, N, D = history, graphs.n_genes, cfg.dim
    out = np.empty((ends.size, L, N, D), dtype=np.float32)
    V = graphs.n_times * N
    tokens = np.array([str(k) for k in range(V)], dtype=object)
    # The vocabulary is every (gene, time) node, in node order, with equal counts: it carries no
    # data, only the shape [T, N]. Built once (gensim's vocabulary update costs O(vocabulary) in
    # Python per call, quadratic over the windows). Negative samples are drawn uniformly from the
    # nodes of times <= e only (the cumulative table below), so nothing after e is ever sampled.
    model = Word2Vec(sg=1, vector_size=D, window=cfg.window, negative=cfg.negative, epochs=cfg.epochs,
                     workers=cfg.workers, seed=int(seed) % (2**32), min_count=1, hashfxn=_stable_hash,
                     sorted_vocab=0, sample=0)  # no frequency downsampling: the counts here are not data
    _node_vocabulary(model, tokens.tolist())
    if model.wv.index_to_key[: min(V, 3)] != tokens[: min(V, 3)].tolist() or len(model.wv) != V:
        raise RuntimeError("gensim reordered the stream vocabulary; expected node order")
    domain = 2**31 - 1
    # gensim warns that a later train() call starts at a higher alpha than the previous one ended at:
    # that is the design here (each step is a fresh linear-decay pass over new walks)
    logging.getLogger("gensim.models.word2vec").setLevel(logging.ERROR)
    log.info("embedding: streaming %d windows (%d genes, span %d)", ends.size, N, cfg.span)
    started = False
    for w, e in enumerate(tqdm(ends, desc="embedding windows", unit="win", leave=False, disable=None)):
        lo, hi = _window_span(int(e), cfg.span)
        adj = temporal_graph(graphs, lo, hi, cfg.temporal_weight)
        first = hi if started else lo
        started = True
        local = np.arange((first - lo) * N, (hi - lo + 1) * N, dtype=np.int64)
        rng = np.random.default_rng(_window_seed(seed, hi))
        walks = walk(adj, np.tile(local, cfg.walks_per_node), cfg, rng)
        walks = np.where(walks >= 0, walks + lo * N, -1)
        sentences = _sentences(walks, tokens)
        seen = (hi + 1) * N
        model.cum_table = np.round(np.minimum(np.arange(1, V + 1), seen) / seen * domain).astype(np.uint32)
        model.train(sentences, total_examples=len(sentences), epochs=cfg.epochs)
        out[w] = model.wv.vectors[(int(e) - L + 1) * N:(int(e) + 1) * N].reshape(L, N, D)
        if (w + 1) % 10 == 0 and not sys.stderr.isatty():
            log.info("embedding: %d of %d windows", w + 1, ends.size)
    return out


def _node_vocabulary(model, tokens: list[str]) -> None:
    """The state ``model.build_vocab_from_freq({t: 1 for t in tokens})`` leaves, built with numpy.

    gensim's version loops in Python over the vocabulary three times (counts, sampling thresholds,
    the negative-sampling table): ~6 s before the first walk at 20,000 genes x 40 times (800,000
    nodes), on the stream's critical path. For the stream's model (every count 1, ``sample=0``,
    ``min_count=1``, ``sorted_vocab=0``, no hierarchical softmax, no null word, no
    ``max_final_vocab``) the result is known in closed form: the tokens in order, counts 1, every
    word kept (``sample_int`` at its maximum), a uniform table. Any other model, or a gensim without
    ``KeyedVectors.expandos`` (gensim 4's layout), or repeated tokens, goes through gensim. Not kept:
    gensim's three ``prepare_vocab`` lifecycle events (seen only in a saved model) and its info lines.
    ``tests/graph/test_embeddings.py`` checks that the two give the same vocabulary, tables, initial
    vectors and trained vectors."""
    import gensim

    wv = model.wv
    V = len(tokens)
    index = dict(zip(tokens, range(V)))  # shorter than V: a token repeats
    plain = (gensim.__version__.startswith("4.") and model.sample == 0 and model.min_count == 1
             and not model.sorted_vocab and not model.hs and not model.null_word and model.max_final_vocab is None
             and model.negative > 0 and isinstance(getattr(wv, "expandos", None), dict) and not wv.expandos
             and not wv.index_to_key and len(index) == V)
    if not plain:
        model.build_vocab_from_freq({t: 1 for t in tokens})
        return
    from collections import defaultdict

    model.corpus_count = 0
    model.raw_vocab = defaultdict(int)  # what prepare_vocab leaves (keep_raw_vocab=False)
    model.effective_min_count = model.min_count
    wv.index_to_key = list(tokens)
    wv.key_to_index = index
    wv.expandos["count"] = np.ones(V, dtype=np.int64)
    # every word kept: gensim's probability (sqrt(1 / V) + 1) * V is above 1, stored as 1.0 * (2**32 - 1)
    wv.expandos["sample_int"] = np.full(V, 2**32 - 1, dtype=np.uint32)
    domain = 2**31 - 1  # make_cum_table's default; equal counts: a uniform table
    model.cum_table = np.round(np.arange(1, V + 1, dtype=float) / V * domain).astype(np.uint32)
    model.prepare_weights(update=False)


def _can_stream_beside(cfg: EmbeddingConfig) -> bool:
    """Whether a stream can run in a forked process beside the job: ``embedding.processes`` not 1,
    two or more cores, a parent that can fork safely (:func:`step.procs.fork_is_safe`), not itself
    a daemonic worker."""
    from step.procs import fork_is_safe

    return (cfg.processes != 1 and (os.cpu_count() or 1) >= 2 and fork_is_safe()
            and not mp.current_process().daemon)


class PendingEmbeddings:
    """Window embeddings ``[W, L, N, D]`` being streamed in a forked process (:func:`window_embeddings`
    with ``defer=True``) while the job goes on with what does not need them (its imports, the
    baselines, the model's linear start). :meth:`result` waits for them (once; later calls return
    the same array); the child writes the cache entry after sending them. ``seconds``: the
    stream's own wall time in its process, ``waited``: how long :meth:`result` waited."""

    def __init__(self, proc, conn):
        self._proc, self._conn = proc, conn
        self._out: np.ndarray | None = None
        self.seconds = self.waited = 0.0

    def result(self) -> np.ndarray:
        if self._out is not None:
            return self._out
        t = time.perf_counter()
        try:
            status, payload = self._conn.recv()
        except (EOFError, OSError) as exc:
            self._proc.join(5)
            raise RuntimeError(f"embedding: the streaming process died (exit code {self._proc.exitcode}); no "
                               "embeddings were written. Rerun with embedding.processes = 1 to stream "
                               "in-process.") from exc
        finally:
            self._conn.close()
        if status != "ok":
            raise RuntimeError(f"embedding: streaming failed in process {self._proc.pid}: {payload}")
        (self._out, self.seconds), self.waited = payload, time.perf_counter() - t
        log.info("window embeddings %s in %.2f s beside the job (waited %.2f s for them)",
                 tuple(self._out.shape), self.seconds, self.waited)
        return self._out

    def is_alive(self) -> bool:
        """Whether the streaming process still runs (it writes the cache entry after sending)."""
        return self._proc.is_alive()

    def cancel(self) -> None:
        """Stop the stream (the job failed before it needed the embeddings); nothing is cached."""
        if self._out is None and self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)
        self._conn.close()


def _start_stream(graphs: TemporalGraphs, history: int, cfg: EmbeddingConfig, seed: int, path: Path,
                  key: str) -> PendingEmbeddings:
    """Fork the process of :class:`PendingEmbeddings`: it computes exactly what
    :func:`_compute_stream` computes here (the same numbers), sends them, then writes the cache entry."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_stream_child, args=(send, graphs, history, cfg, seed, path, key),
                       name="step-embedding")  # not daemonic: an interpreter's exit waits for the cache entry
    proc.start()
    send.close()
    log.info("embedding: streaming in a forked process (pid %d) beside the job", proc.pid)
    return PendingEmbeddings(proc, recv)


def _stream_child(conn, graphs: TemporalGraphs, history: int, cfg: EmbeddingConfig, seed: int, path: Path,
                  key: str) -> None:
    """Body of the streaming process: the stream, sent to the parent, then its cache entry; ends
    with ``os._exit`` (a forked child runs none of the parent's exit handlers)."""
    code = 0
    try:
        _init_worker(graphs, cfg, seed)
        t0 = time.perf_counter()
        with _quiet_gensim():
            out = _compute_stream(graphs, history, cfg, seed)
        conn.send(("ok", (out, time.perf_counter() - t0)))
        conn.close()
        _save_entry(path, out, graphs.n_times, history, key)
    except BaseException as exc:  # noqa: BLE001  (said to the parent, which raises it)
        code = 1
        try:
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        except Exception:  # noqa: BLE001  (the parent is gone or the entry's write failed after sending)
            pass
    finally:
        from step.procs import child_exit

        child_exit(code)


def _save_entry(path: Path, out: np.ndarray, n_times: int, history: int, key: str) -> None:
    """The cache entry of one embedding (atomic)."""
    save_npz(path, compress=False, embeddings=out, window_ends=window_ends(n_times, history), key=np.array(key))


def _compute_windows(graphs: TemporalGraphs, history: int, cfg: EmbeddingConfig, seed: int,
                     meanwhile: Callable[[], None] | None = None) -> np.ndarray:
    if cfg.method == "stream":
        return _compute_stream(graphs, history, cfg, seed)
    ends = window_ends(graphs.n_times, history)
    L, N, D = history, graphs.n_genes, cfg.dim
    out = np.empty((ends.size, L, N, D), dtype=np.float32)
    prev: np.ndarray | None = None  # aligned embedding of the previous window's whole span
    prev_lo = 0
    warned = False
    processes = _n_processes(graphs, cfg, ends.size)
    log.info("embedding: fitting %d windows with %d process%s", ends.size, processes,
             "" if processes == 1 else "es")
    fits = _fits(graphs, cfg, seed, ends, processes)
    with closing(fits):  # an error here also shuts the pool down at once
        for w, (e, fit) in enumerate(zip(ends, tqdm(fits, total=ends.size, desc="embedding windows",
                                                     unit="win", leave=False, disable=None))):
            prev, prev_lo, warned = _align_window(graphs, cfg, int(e), fit, prev, prev_lo, warned)
            out[w] = prev[-L:].astype(np.float32)
            if w == 0 and processes > 1 and meanwhile is not None:
                meanwhile()  # every fit is with the pool by now (map submits them all first)
    return out


def embedding_cache_key(graphs: TemporalGraphs, history: int, cfg: EmbeddingConfig, seed: int) -> str:
    """sha256 of everything :func:`window_embeddings` depends on (``method: auto`` resolved first)."""
    return _cache_key(graphs, history, resolve_embedding(cfg, graphs.n_genes, history)[0], seed)


def _cache_key(graphs: TemporalGraphs, history: int, cfg: EmbeddingConfig, seed: int) -> str:
    """:func:`embedding_cache_key` of a resolved ``cfg``."""
    # cache_dir and processes do not change the result (processes: bit-identical by construction),
    # nor do the auto_* settings once method is resolved (the settings auto chose are in the key)
    params = {k: v for k, v in dataclasses.asdict(cfg).items()
              if k not in ("cache_dir", "processes") and not k.startswith("auto_")}
    if cfg.method == "stream":
        params["stream_version"] = STREAM_VERSION
    # an entry written by another gensim / numpy / walk backend version is not reused
    return hash_parts(CODE_VERSION, graphs.times, int(graphs.n_genes), graphs.edges, graphs.weights,
                      int(history), params, int(seed), _library_versions(cfg.backend))


def _library_versions(backend: str) -> dict[str, str]:
    """Versions of the libraries an embedding's numbers depend on (part of the cache key)."""
    from importlib.metadata import PackageNotFoundError, version

    names = ["gensim", "numpy"] + (["node2vec"] if backend == "node2vec" else [])
    out = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = "absent"
    return out


def window_embeddings(graphs: TemporalGraphs, history: int, cfg: EmbeddingConfig, seed: int,
                      info: dict[str, Any] | None = None, meanwhile: Callable[[], None] | None = None,
                      defer: bool = False) -> np.ndarray | PendingEmbeddings:
    """Causal, aligned temporal Node2Vec embedding of every forecast window.

    Parameters
    ----------
    graphs : per-time gene graphs ``[T]``.
    history : window length ``L``; windows end at ``e = L-1 .. T-2`` (:func:`window_ends`).
    cfg : embedding settings; ``cfg.span >= history`` time points are fitted per window;
        ``method: auto`` is resolved by ``graphs.n_genes`` (:func:`step.auto.resolve_embedding`).
    seed : base seed (per-window seeds are derived from it and ``e``).
    info : optional dict filled with ``cache_path``, ``cache_hit`` and ``seconds``.
    meanwhile : optional work for this process while a process pool fits the windows (the job
        imports what its later stages need); not called otherwise. It cannot change the result.
    defer : on a cache miss of a ``stream`` that can run in a forked process
        (:func:`_can_stream_beside`), return a :class:`PendingEmbeddings` at once instead of the
        array (the job computes its baselines meanwhile); the same numbers either way.

    Returns
    -------
    float32 array ``[W, L, N, D]``: ``out[w, k]`` is the embedding of time index
    ``e_w - L + 1 + k``, computed from data at times ``<= e_w`` only. Cached on disk.
    """
    t0 = time.perf_counter()
    cfg, _ = resolve_embedding(cfg, graphs.n_genes, history)  # the one resolution (a no-op for a resolved cfg)
    _check_embedding_cfg(cfg)
    if history < 1:
        raise InputError(f"history must be >= 1, got {history}.")
    if cfg.span < history:
        raise InputError(f"embedding.span ({cfg.span}) must be >= history ({history}).")
    if graphs.n_times < history + 1:
        raise InputError(f"{graphs.n_times} time points are too few for history {history}: "
                         f"a window needs {history + 1}.")
    key = _cache_key(graphs, history, cfg, seed)  # cfg resolved above, once
    path = Path(cfg.cache_dir) / f"{key}.npz"
    hit = False
    out = None
    if path.is_file():
        try:
            with np.load(path) as z:
                out = z["embeddings"]
            expected = (window_ends(graphs.n_times, history).size, history, graphs.n_genes, cfg.dim)
            if out.shape != expected:
                raise ValueError(f"shape {out.shape} != {expected}")
            hit = True
        except Exception as exc:  # a corrupt cache entry is recomputed, not trusted
            out = None
            log.warning("embedding cache %s unreadable (%s); recomputing", path, exc)
    if out is None:
        log.info("embedding cache miss: %s", path)
        if defer and cfg.method == "stream" and _can_stream_beside(cfg):
            if info is not None:
                info.update(cache_path=str(path), cache_hit=False, key=key, deferred=True)
            return _start_stream(graphs, history, cfg, seed, path, key)
        with _quiet_gensim():
            out = _compute_windows(graphs, history, cfg, seed, meanwhile)
        _save_entry(path, out, graphs.n_times, history, key)
    else:
        log.info("embedding cache hit: %s", path)
    secs = time.perf_counter() - t0
    log.info("window embeddings %s in %.2f s", tuple(out.shape), secs)
    if info is not None:
        info.update(cache_path=str(path), cache_hit=hit, seconds=secs, key=key)
    return out
