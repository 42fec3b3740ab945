"""The per-gene smoothers' fits of every fold in a forked process beside the job.

The ``shareable`` forecasters (:class:`step.forecasters.registry.Forecaster`: ``ets``, ``auto_ets``)
read only a fold's series, windows and scaler -- no graph, embedding, seed or model -- and they
are the costliest baselines of a small job (their fits and their libraries' imports, statsmodels and
statsforecast). :class:`BesideFits` forks one process at the start of the forecast stage that fits
them for every fold, in the order the job needs them, and stores each fit in a temporary folder
(:class:`step.forecasters.registry.SharedFits` entries: the same arrays a fit in the job's process
gives, keyed on every input it reads). Meanwhile the job fits its other baselines, chooses the
model's start and trains. When the job reaches such a forecaster it reads the entry, waiting for it
if the process has not written it yet; if the process died or never writes that entry, the job
fits it itself (logged). The folder is removed when the forecast stage ends.

``baselines.processes``: 1 = every fit in the job's process; 2 = this process beside it; 0 (auto)
= 2 where it can fork (Linux, 2+ CPUs, not a daemonic worker, no thread but tqdm's monitor, at
most 5,000 genes: above that ETS fits in its own pool and a forked copy of a large job costs
memory), the job's seeds train in its own process (seed workers keep both cores busy: the corrected
mRNA course's 5 rolling seeds were no faster with this process) and the job fits its
baselines itself (an ablation shares them through its own folder). Meanwhile the job runs
LightGBM on one thread (:func:`step.forecasters.global_learners.sharing_cores_with`; the same fits): a second
OpenMP thread spinning on the core the process keeps busy made its fits several times slower.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from step.forecasters.registry import REGISTRY, SharedFits

log = logging.getLogger(__name__)

__all__ = ["BesideFits", "beside_processes", "shareable_names", "start_beside"]

#: auto: above this many genes the fits stay in the job's process (ETS pools its own fits there)
AUTO_MAX_GENES = 5000


def beside_processes(setting: int, n_genes: int, names: list[str], seed_workers: int = 1) -> int:
    """1 or 2: the processes that fit the shareable forecasters ``names`` of a job (see the module;
    auto also steps aside for a job whose seeds train in ``seed_workers`` > 1 processes: they keep
    the cores busy already)."""
    import multiprocessing as mp
    import sys

    from step.procs import CHILD_UNSAFE, fork_is_safe

    if setting == 1 or not names:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    can = (sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods() and cpus >= 2
           and not mp.current_process().daemon and fork_is_safe(CHILD_UNSAFE))
    if not can:
        if setting == 2:
            log.info("baselines.processes = 2, but this process cannot fork safely here: the per-gene "
                     "smoothers are fitted in the job's process")
        return 1
    if setting == 0 and (n_genes > AUTO_MAX_GENES or seed_workers > 1):
        return 1
    return 2


class BesideFits(SharedFits):
    """:class:`SharedFits` filled by a forked process (:func:`start_beside`): :meth:`fit` waits for
    an entry while that process runs, and fits in this process when it ends without one.
    ``waited``: seconds this process waited for entries."""

    def __init__(self, folder: str | os.PathLike, proc) -> None:
        super().__init__(folder)
        self.proc = proc
        self.waited = 0.0
        self._said = False

    def fit(self, cls, ctx, d):
        path = self.entry(cls, ctx, d)
        t0 = time.perf_counter()
        delay = 0.001
        while not path.is_file() and self.proc.is_alive():
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
        self.waited += time.perf_counter() - t0
        if not path.is_file() and not self._said:
            self._said = True
            code = self.proc.exitcode
            log.warning("the process beside the job that fits %s ended (exit code %s) without this fit; the job "
                        "fits it itself", cls.name, code)
        return super().fit(cls, ctx, d)

    def close(self) -> None:
        """Stop the process (if it still runs) and remove the folder."""
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(5)
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.hits or self.misses:
            log.info("per-gene smoothers: %d fit(s) made beside the job, %d in it; waited %.2f s for them",
                     self.hits, self.misses, self.waited)


def _child(cfg, feats, folds: list, names: list[str], folder: str) -> None:
    """Body of the forked process: every fold's fits of ``names`` into ``folder``, in the job's order
    (the job's own :func:`step.jobs.forecast._fit_step` arguments: its standardisation, its
    ``want_val_oos``); ends with ``os._exit`` (a forked child runs none of the parent's exit handlers)."""
    import sys

    code = 0
    try:
        from step.forecasters.fold_data import evidence_kind, fit_data, job_context, standardise

        shared = SharedFits(folder)
        ctx = job_context(cfg, feats)
        for i, fold in enumerate(folds):
            fd = standardise(cfg, feats, fold, neighbours=False)
            d = fit_data(fd, want_val_oos=i == 0 or evidence_kind(cfg, fold.split) == "validation")
            for n in names:
                shared.fit(REGISTRY[n], ctx, d)
    except BaseException:  # noqa: BLE001  (the job fits what is missing; say why here)
        code = 1
        log.exception("the process beside the job that fits the per-gene smoothers failed")
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def start_beside(cfg, feats, folds: list, names: list[str]) -> BesideFits:
    """Fork the process that fits the shareable forecasters ``names`` of every fold in ``folds``."""
    import multiprocessing as mp

    folder = Path(tempfile.mkdtemp(prefix="step-beside-fits-"))
    ctx = mp.get_context("fork")
    proc = ctx.Process(target=_child, args=(cfg, feats, folds, names, str(folder)), name="step-beside-fits")
    proc.start()
    log.info("baselines: %s of %d fit(s) in a forked process (pid %d) beside the job", ", ".join(names),
             len(folds), proc.pid)
    return BesideFits(folder, proc)


def shareable_names(cfg, n_genes: int) -> list[str]:
    """The job's forecasters that are ``shareable`` (:func:`step.forecasters.registry.enabled_names`,
    without its log line: the job says which peers it skips)."""
    from step.forecasters.registry import BASELINE_NAMES, PER_GENE_PEERS

    b = cfg.baselines
    names = list(BASELINE_NAMES) + [p for p in b.peers if not (p in PER_GENE_PEERS and n_genes > b.per_gene_peer_max_genes)]
    return [n for n in names if REGISTRY[n].shareable]
