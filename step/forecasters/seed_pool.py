"""A job's seeds trained side by side: one fit's seeds in worker processes at once.

A job with several seeds trains the model once per seed at every fit; the seeds are independent
once the fit's start is chosen (the same for every seed), so on a machine with idle cores they can
train at once. :class:`SeedPool` is a pool of spawned worker processes that lives as long as the
job's fits (:func:`step.jobs.forecast.forecast_stage`); each task is one seed of one fit
(:func:`step.forecasters.model_forecaster.train_seed`), run with the job's ``train.torch_threads``
in the worker, so its numbers are bit for bit those of the same seed trained in the job's process
(tested). The workers' log lines (early stopping, best epoch) are handed back and logged by the job.

``train.seed_workers`` (:func:`seed_workers`): 0 = auto (a pool of up to 4 workers, no more than the
CPUs or the seeds, when torch runs one thread per training, ``train.torch_threads: 1``, so that the
workers do not compete for cores, and the data have at most :data:`AUTO_MAX_GENES` genes), 1 = the
job's own process, N = N workers.

Spawned, not forked: a fork of a process that has run torch or LightGBM's OpenMP threads can
deadlock (:mod:`step.procs`). A worker imports torch once (about 1 s) and then serves every fit.
"""
from __future__ import annotations

import logging
import os
import pickle
from typing import Any, Callable

log = logging.getLogger(__name__)

MAX_WORKERS = 4
# auto: above this many genes the seeds stay in the job's process (each worker holds its own copy of
# the fit's tensors and its training activations: about 1 GB per process at 5,000 genes)
AUTO_MAX_GENES = 5000


def seed_workers(train_cfg, n_seeds: int, on_epoch: Callable | None = None, n_genes: int = 0) -> int:
    """The number of processes that train one fit's ``n_seeds`` seeds (1: the job's own process).

    One process when there is one seed, an epoch callback (a tuning trial's pruning reads the job's
    state), a device other than the CPU, or this process is a pool's daemon worker; under auto also
    when torch runs more than one thread or above :data:`AUTO_MAX_GENES` genes."""
    import multiprocessing as mp

    w = int(train_cfg.seed_workers)
    if w < 0:
        raise ValueError(f"train.seed_workers must be >= 0 (0 = auto), got {w}")
    if w == 1 or n_seeds < 2 or on_epoch is not None or train_cfg.device != "cpu" or mp.current_process().daemon:
        return 1
    if w == 0:
        if train_cfg.torch_threads != 1 or n_genes > AUTO_MAX_GENES:
            return 1
        from step.procs import usable_cpus

        return max(1, min(usable_cpus(), n_seeds, MAX_WORKERS))
    return min(w, n_seeds)


def _init_worker(threads: int) -> None:
    """Worker start: the job's torch threads (OpenMP and BLAS libraries loaded later keep to them);
    no progress bars (:func:`step.forecasters.train.train_model`)."""
    from step.procs import library_threads

    library_threads(threads)
    os.environ["STEP_SEED_WORKER"] = "1"
    import torch

    torch.set_num_threads(threads)


def _task(blob: bytes) -> bytes:
    """One seed of one fit in a worker: ``train_seed(*args)`` and its log lines, both ways as plain
    pickles (:meth:`SeedPool.map`)."""
    from step.forecasters.model_forecaster import train_seed

    root = logging.getLogger()
    from step.logs import CollectLines

    handler = CollectLines()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        return pickle.dumps((train_seed(*pickle.loads(blob)), handler.lines), protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


class SeedPool:
    """``workers`` spawned processes, each running torch with ``threads`` threads."""

    def __init__(self, workers: int, threads: int):
        if threads < 1:
            raise ValueError(f"SeedPool: threads must be >= 1 (the job's torch threads), got {threads}")
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.workers = int(workers)
        self.broken = False
        self._ex = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"),
                                       initializer=_init_worker, initargs=(int(threads),))
        log.info("training the seeds of each fit in %d worker processes (train.seed_workers; %d torch "
                 "thread(s) each, as in this process: the same numbers)", self.workers, threads)

    def map(self, tasks: list[tuple]) -> list[Any] | None:
        """``train_seed(*t)`` for every ``t``, in order; the workers' log lines logged here. None when
        the pool failed (a worker died, killed or out of memory; a task could not be sent): the pool
        is then closed and the caller trains the seeds itself, from this fit on (an error of the
        training itself then shows there).

        Tasks and results travel as plain pickles (tensors by value): multiprocessing's own pickler
        would hand torch tensors over through shared memory (``/dev/shm``, small in containers) and
        leave a file-descriptor server thread running in this process, after which the job's
        figures could no longer be drawn in a forked process (:mod:`step.outputs.post`)."""
        if self.broken:
            return None
        out = []
        try:
            blobs = [pickle.dumps(t, protocol=pickle.HIGHEST_PROTOCOL) for t in tasks]
            for blob in self._ex.map(_task, blobs):
                result, lines = pickle.loads(blob)
                for name, level, msg in lines:
                    logging.getLogger(name).log(level, msg)
                out.append(result)
        except Exception as exc:  # noqa: BLE001  (any failure of the pool: the job trains the seeds)
            log.warning("the seed worker processes failed (%s: %s); the seeds are trained in this process "
                        "from now on", type(exc).__name__, exc)
            self.broken = True
            self.close()
            return None
        return out

    def close(self) -> None:
        self._ex.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "SeedPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
