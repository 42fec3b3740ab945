"""After a run's files are written: its plots and its biological analysis, in one pass.

The run folder is read once (:func:`step.outputs.rundata.load_run`), its genes are ranked once, matplotlib
is imported once and every figure is drawn once. The figures that need nothing from the enrichment
(every run plot, the analysis' per-gene skill plots and best / worst genes' pages) are one list of
tasks (:func:`step.outputs.plots.run_plot_tasks`, :func:`step.outputs.analyze.gene_figure_tasks`), largest first.
On a machine with two or more CPUs (Linux, fork), one forked process takes tasks from that list
while this process runs the enrichment (and draws its dot plots), then takes tasks too: the two
share the list through a counter, so neither waits for the other. The child inherits the loaded
run, the ranking and the imports; it only writes PNGs, and only this process writes
``results.txt``. A figure whose inputs are unchanged since an earlier run is copied from the figure
cache (``output.figure_cache``, :mod:`step.outputs.figure_cache`) instead of drawn.

A failure is logged and noted in ``results.txt``, never raised: a plot or the analysis must not
lose the run's numbers.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from step.outputs import report
from step.config import RunConfig

log = logging.getLogger(__name__)

DEFAULT_TOLERANCE = 1e-4  # step.outputs.rundata.gene_table's default, which the time-course pages rank by


def post_steps(d: Path, cfg: RunConfig) -> None:
    """The plots (``output.plots``) and the biological analysis (``analysis.enabled``) of run folder ``d``."""
    plots_on, analysis_on = cfg.output.plots, cfg.analysis.enabled
    if not plots_on:
        log.info("plots disabled (output.plots: false)")
    if not analysis_on:
        log.info("biological analysis disabled (analysis.enabled: false)")
    if not (plots_on or analysis_on):
        return
    from step.outputs.rundata import gene_table, load_run

    try:
        run = load_run(d)
    except Exception as exc:  # noqa: BLE001  (an unreadable folder: neither can run)
        for what, on in (("plots", plots_on), ("biological analysis", analysis_on)):
            if on:
                _note(d, f"{what} failed", exc, trace=True)
        return
    ranking = table = None
    if plots_on and 0 < cfg.output.timecourse_genes < len(run.features):
        ranking = gene_table(run)  # the pages of the best and worst genes only
    if analysis_on:
        try:
            from step.outputs.analyze import analysis_table

            same = ranking is not None and cfg.analysis.skill_tolerance == DEFAULT_TOLERANCE
            table = analysis_table(run, cfg.analysis, ranking if same else None)
        except Exception as exc:  # noqa: BLE001
            _note(d, "biological analysis failed", exc, trace=True)
            analysis_on = False
    tasks = _tasks(d, cfg, run, ranking, table) if plots_on else []
    shared = _Shared(tasks)
    store = _store(cfg) if plots_on else None
    if store is not None:
        tasks[:] = _behind_store(tasks, store, d / "plots", shared.hit)
    child = shared.fork(d) if tasks else None
    if analysis_on:
        try:
            from step.outputs.analyze import analyze_run

            analyze_run(d, cfg.analysis, cfg.output, run=run, table=table, gene_figures=False, figure_store=store)
        except Exception as exc:  # noqa: BLE001
            _note(d, "biological analysis failed", exc, trace=True)
    for name, exc in shared.drain():
        _note(d, f"plots failed: {name}", exc)  # logged with its traceback by drain
    if child is not None:
        child.join()
        if child.exitcode != 0:
            log.error("the plotting process %s ended with exit code %s", child.name, child.exitcode)
            report.append_note(d, f"plots failed: {child.name} exit code {child.exitcode}")
    if store is not None:
        store.prune()
    if tasks:
        hits = shared.hits()
        log.info("%d figures into %s (%s): %d drawn, %d unchanged since an earlier run (copied from the "
                 "figure cache %s)", len(tasks), d / "plots", "2 processes" if child is not None else "1 process",
                 len(tasks) - hits, hits, store.root if store is not None else "off")


def _store(cfg: RunConfig):
    """The figure cache of ``output.figure_cache`` (None: off)."""
    from step.outputs.figure_cache import FigureStore, store_root

    root = store_root(cfg.output.figure_cache, cfg.embedding.cache_dir)
    return FigureStore(root) if root is not None else None


def _behind_store(tasks: list, store, dest: Path, hit) -> list:
    """Each task with known inputs drawn only when the store has no figure for them."""
    import dataclasses

    from step.outputs.figure_cache import cached_draw

    return [dataclasses.replace(t, draw=cached_draw(store, t.name, t.inputs, dest, t.draw, hit))
            if t.inputs is not None else t for t in tasks]


def _tasks(d: Path, cfg: RunConfig, run, ranking, table) -> list:
    """Every figure that needs nothing from the enrichment, largest first."""
    from step.outputs.plots import run_plot_tasks

    tasks = run_plot_tasks(d, cfg.output, run, gene_plots=table is None, ranking=ranking)
    if table is not None:  # the analysis' own per-gene skill plots (with its groups) and pages
        from step.outputs.analyze import gene_figure_tasks

        tasks += gene_figure_tasks(run, table[0], table[1], d)
    return sorted(tasks, key=lambda t: -t.cost)


class _Count:
    """A counter that a forked child and this process share (``shared``), else a local one."""

    def __init__(self, shared: bool):
        import multiprocessing as mp

        self.value = mp.get_context("fork").Value("i", 0) if shared else None
        self.local = 0

    def add(self) -> int:
        """Add one; the value before."""
        if self.value is None:
            self.local += 1
            return self.local - 1
        with self.value.get_lock():
            i = self.value.value
            self.value.value = i + 1
        return i

    def get(self) -> int:
        return self.local if self.value is None else int(self.value.value)


class _Shared:
    """A task list two processes work through; the next task's index is a shared counter."""

    def __init__(self, tasks: list):
        self.tasks = tasks
        forks = _can_fork()
        self.next = _Count(forks)
        self.copied = _Count(forks)  # figures copied from the figure cache, counted by both processes
        self.forks = forks  # a forked process can share the list

    def hit(self) -> None:
        self.copied.add()

    def hits(self) -> int:
        return self.copied.get()

    def _take(self) -> int:
        return self.next.add()

    def drain(self) -> list[tuple[str, Exception]]:
        """Draw tasks until none is left; the failures (name, error), each logged."""
        failed = []
        while (i := self._take()) < len(self.tasks):
            try:
                self.tasks[i].draw()
            except Exception as exc:  # noqa: BLE001  (a plot must not lose the run's numbers)
                log.exception("plot %s failed: %s", self.tasks[i].name, exc)
                failed.append((self.tasks[i].name, exc))
        return failed

    def fork(self, d: Path):
        """Start a forked process that drains the list too; None where it cannot be started."""
        if not self.forks or len(self.tasks) < 2:
            return None
        import multiprocessing as mp

        try:
            proc = mp.get_context("fork").Process(target=_child, args=(self,), name="step-plots")
            proc.start()
        except Exception as exc:  # noqa: BLE001  (no fork: this process draws everything)
            log.warning("cannot start the plotting process (%s); drawing in this process", exc)
            return None
        return proc


def _child(shared: _Shared) -> None:
    """Body of the plotting process: exit status 1 if any figure failed (the parent notes it)."""
    if shared.drain():
        sys.exit(1)


# Above this resident size a forked child would carry a copy of the job's pages in its RSS (a
# 20,000-gene job: 3.3 GB parent + 3.1 GB child, a 6.5 GB process tree), for a few seconds saved.
_FORK_MAX_RSS = 1 << 30


def _rss_bytes() -> int:
    """This process's resident set size (Linux /proc; 0 where it cannot be read)."""
    import os

    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _can_fork() -> bool:
    """Two or more CPUs, Linux, not a daemon, no Python thread but the main one and tqdm's monitor,
    none of :data:`step.procs.CHILD_UNSAFE` loaded (a job never loads them; a converter or a test session
    may), and at most :data:`_FORK_MAX_RSS` resident. Else the figures are drawn in this process."""
    from step.procs import can_fork_helper

    rss = _rss_bytes()
    if rss > _FORK_MAX_RSS:
        log.info("figures drawn in this process: %.1f GB resident, a forked copy would double the "
                 "process tree's resident size", rss / 2**30)
        return False
    return can_fork_helper()


def _note(d: Path, what: str, exc: Exception, trace: bool = False) -> None:
    """Log a failure (with its traceback: ``trace``) and note it in results.txt."""
    (log.exception if trace else log.error)("%s: %s", what, exc)
    report.append_note(d, f"{what}: {exc}")
