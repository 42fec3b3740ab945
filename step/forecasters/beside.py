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

from step.forecasters.global_learners import sharing_cores_with
from step.forecasters.registry import REGISTRY, SharedFits

log = logging.getLogger(__name__)

__all__ = ["BesideFits", "beside_processes", "shareable_names", "start_beside"]

#: auto: above this many genes the fits stay in the job's process (ETS pools its own fits there)
AUTO_MAX_GENES = 5000


def beside_processes(setting: int, n_genes: int, names: list[str], seed_workers: int = 1) -> int:
    """1 or 2: the processes that fit the shareable forecasters ``names`` of a job (see the module;
    auto also steps aside for a job whose seeds train in ``seed_workers`` > 1 processes: they keep
    the cores busy already)."""
    from step.procs import can_fork_helper

    if setting == 1 or not names:
        return 1
    if not can_fork_helper():
        if setting == 2:
            log.info("baselines.processes = 2, but this process cannot fork safely here: the per-gene "
                     "smoothers are fitted in the job's process")
        return 1
    if setting == 0 and (n_genes > AUTO_MAX_GENES or seed_workers > 1):
        return 1
    return 2


#: seconds without any file written by the process (its start, an entry, a fold's log) after which
#: the job stops it and fits the rest itself: a fit of 5,000 genes takes seconds; a forked child
#: can hang before it runs any Python (seen with hictkpy loaded; :data:`step.procs.CHILD_UNSAFE`)
STALL_S = 300.0


class BesideFits(SharedFits):
    """:class:`SharedFits` filled by a forked process (:func:`start_beside`): :meth:`fit` waits for
    an entry while that process runs and makes progress, and fits in this process when the
    process ended, stalled (:data:`STALL_S`) or finished the entry's fold without it. The process's
    log lines (kept per fold in the folder, not printed by it) are logged here as the job reads
    each fold, so that they reach the terminal and ``run.log`` once. ``waited``: seconds this
    process waited for entries."""

    def __init__(self, folder: str | os.PathLike, proc) -> None:
        super().__init__(folder)
        self.proc = proc
        self.waited = 0.0
        self._fold, self._i = None, -1      # the fit being read (its FoldData) and its index
        self._relayed: set[str] = set()
        self._gave_up = ""
        # LightGBM on one thread in the job while the process runs (step.forecasters.global_learners)
        self._cores = sharing_cores_with(proc)
        self._cores.__enter__()

    def fit(self, cls, ctx, d):
        path = self.entry(cls, ctx, d)
        if d.fold is not self._fold:  # the job's next fit (they come in the process's order)
            self._fold, self._i = d.fold, self._i + 1
        i = self._i
        t0 = time.perf_counter()
        delay = 0.001
        while not self._gave_up and not path.is_file():
            why = self._why_not(i)
            if why:
                self._give_up(why)
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
        self.waited += time.perf_counter() - t0
        self._relay()
        if not path.is_file() and not self._gave_up:
            self._give_up(f"it finished fold {i + 1} without the {cls.name} fit this job needs")
        return super().fit(cls, ctx, d)

    def _why_not(self, i: int) -> str:
        """Why waiting longer for fold ``i``'s entries is pointless ("": it is not)."""
        if (self.folder / f"log-{i:04d}.json").is_file():  # the fold is done: its entries are written
            return f"it finished fold {i + 1} without this fit (its key differs)"
        if not self.proc.is_alive():
            return f"it ended (exit code {self.proc.exitcode})"
        try:
            quiet = time.time() - self.folder.stat().st_mtime
        except OSError:
            return "its folder is gone"
        if quiet > STALL_S:
            return f"it wrote nothing for {quiet:.0f} s (stopped)"
        return ""

    def _give_up(self, why: str) -> None:
        self._gave_up = why
        if self.proc.is_alive():  # the job reads only what is written from now on
            self.proc.terminate()
        self._relay()
        log.warning("the process beside the job that fits the per-gene smoothers: %s; the job fits what "
                    "it has not written itself", why)

    def _relay(self) -> None:
        """Log the process's lines of the folds (and of its failure) it has finished, once each."""
        import json

        for f in sorted(self.folder.glob("log-*.json")):
            if f.name in self._relayed:
                continue
            self._relayed.add(f.name)
            try:
                lines = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            for name, level, msg in lines:
                logging.getLogger(name).log(level, "%s", msg)

    def close(self) -> None:
        """Stop the process (if it still runs), log its last lines and remove the folder."""
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(5)
        self._cores.__exit__(None, None, None)
        self._relay()
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.hits or self.misses:
            log.info("per-gene smoothers: %d fit(s) made beside the job, %d in it; waited %.2f s for them",
                     self.hits, self.misses, self.waited)


def _child(cfg, feats, folds: list, names: list[str], folder: str, parent: int) -> None:
    """Body of the forked process: every fold's fits of ``names`` into ``folder``, in the job's order
    (the job's own :func:`step.jobs.forecast._fit_step` arguments: its standardisation, its
    ``want_val_oos``), each fold's log lines in ``log-<fold>.json`` after its entries (a failure's in
    ``log-fail.json``); stops (removing the folder) when the job's process ``parent`` is gone;
    ignores Ctrl-C (the job stops it); ends with ``os._exit`` (a forked child runs none of the
    parent's exit handlers)."""
    import signal
    import traceback

    from step.io import write_json
    from step.logs import CollectLines

    code = 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    root = logging.getLogger()
    lines = CollectLines()
    root.handlers[:] = [lines]  # the job logs them (terminal and run.log), once
    write_json(Path(folder) / "started.json", {"pid": os.getpid()})
    try:
        from step.forecasters.fold_data import evidence_kind, fit_data, job_context, standardise

        shared = SharedFits(folder)
        ctx = job_context(cfg, feats)
        for i, fold in enumerate(folds):
            if os.getppid() != parent:  # the job died without stopping this process
                shutil.rmtree(folder, ignore_errors=True)
                break
            fd = standardise(cfg, feats, fold, neighbours=False)
            d = fit_data(fd, want_val_oos=i == 0 or evidence_kind(cfg, fold.split) == "validation")
            for n in names:
                shared.fit(REGISTRY[n], ctx, d)
            write_json(Path(folder) / f"log-{i:04d}.json", lines.lines)
            lines.lines = []
    except BaseException:  # noqa: BLE001  (the job fits what is missing; it logs why)
        code = 1
        lines.lines.append((__name__, logging.ERROR, "the process beside the job that fits the per-gene "
                            f"smoothers failed:\n{traceback.format_exc()}"))
        try:
            write_json(Path(folder) / "log-fail.json", lines.lines)
        except Exception:  # noqa: BLE001  (the folder may be gone: nothing more to say)
            pass
    finally:
        from step.procs import child_exit

        child_exit(code)


def start_beside(cfg, feats, folds: list, names: list[str]) -> BesideFits | None:
    """Fork the process that fits the shareable forecasters ``names`` of every fold in ``folds``;
    None (the job fits them) if it cannot be started."""
    import multiprocessing as mp

    folder = Path(tempfile.mkdtemp(prefix="step-beside-fits-"))
    try:
        ctx = mp.get_context("fork")
        proc = ctx.Process(target=_child, args=(cfg, feats, folds, names, str(folder), os.getpid()),
                           name="step-beside-fits")
        proc.start()
    except Exception as exc:  # noqa: BLE001  (out of processes or memory: the job fits them itself)
        shutil.rmtree(folder, ignore_errors=True)
        log.warning("the per-gene smoothers' process could not be started (%s); the job fits them", exc)
        return None
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
