"""The start method of the project's process pools: fork where it is safe, forkserver elsewhere."""
from __future__ import annotations

import multiprocessing as mp
import sys
import threading

__all__ = ["pool_context", "fork_is_safe", "library_threads", "child_exit", "usable_cpus", "can_fork_helper",
           "torch_huge_pages", "release_free_memory", "POOL_UNSAFE", "CHILD_UNSAFE", "THP_SETTING"]

#: modules whose threads or runtimes make a fork of the process that loaded them unsafe
POOL_UNSAFE = ("torch", "lightgbm", "hictkpy")
#: native libraries whose fork handlers or threads can leave a forked child stuck before it runs any
#: Python (seen: a plot child forked after hictkpy had read a .hic hung in its first instruction); a
#: child that uses none of torch, LightGBM or OpenMP (the figures' process, the per-gene smoothers'
#: process) may be forked from a job that loaded only the others
CHILD_UNSAFE = ("hictkpy",)


def fork_is_safe(unsafe: tuple[str, ...] = POOL_UNSAFE) -> bool:
    """Linux, no Python thread but the main one and tqdm's monitor (it only sleeps and takes tqdm's
    own lock, which a child never touches), and none of the ``unsafe`` modules loaded."""
    if not sys.platform.startswith("linux"):
        return False
    others = [t for t in threading.enumerate()
              if t is not threading.main_thread() and type(t).__name__ != "TMonitor"]
    return not others and not any(m in sys.modules for m in unsafe)


def pool_context(preload: list[str]) -> mp.context.BaseContext:
    """'fork' from a clean parent (Linux; no Python thread but the main one and tqdm's monitor, and
    neither torch nor LightGBM loaded: a job's embedding stage, before torch is imported); else
    'forkserver' with ``preload`` imported in its server (a fork from a process whose other threads
    or OpenMP runtimes may hold locks can deadlock the child: seen in the test session, where
    earlier tests ran torch and LightGBM); the platform default off Linux. tqdm's monitor thread
    only sleeps and takes tqdm's own lock, which pool workers never touch."""
    if not sys.platform.startswith("linux"):
        return mp.get_context()
    methods = mp.get_all_start_methods()
    if "fork" in methods and fork_is_safe():
        return mp.get_context("fork")
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        return ctx
    return mp.get_context()


def library_threads(n: int) -> None:
    """A pool worker's start: ``n`` threads for the OpenMP and BLAS libraries it loads from now on
    (LightGBM, scikit-learn, torch)."""
    import os

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(int(n))


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the platform has one)."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def can_fork_helper() -> bool:
    """Whether this process may fork a helper that uses none of torch, LightGBM or OpenMP (the figures'
    process, the per-gene smoothers' process): Linux with 'fork', 2+ usable CPUs, not itself a
    daemonic worker, and :func:`fork_is_safe` with :data:`CHILD_UNSAFE`."""
    return ("fork" in mp.get_all_start_methods() and usable_cpus() >= 2 and not mp.current_process().daemon
            and fork_is_safe(CHILD_UNSAFE))


def child_exit(code: int) -> None:
    """End a forked helper process: flush its output streams, then ``os._exit(code)`` (a forked child
    runs none of the parent's exit handlers)."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said
            pass
    os._exit(code)


#: where Linux says whether transparent huge pages may be used ("[never]": not at all)
THP_SETTING = "/sys/kernel/mm/transparent_hugepage/enabled"


def torch_huge_pages(setting: str = THP_SETTING) -> bool:
    """Ask torch to back its CPU buffers of 2 MB and more with transparent huge pages
    (``THP_MEM_ALLOC_ENABLE=1``, PyTorch >= 2.2), unless the user set that variable (``0`` turns it off)
    or the kernel has them off (``never``) or has no such setting (not Linux). Whether it is now on.

    torch reads the variable once, at its first CPU allocation, so this must run before anything
    allocates a tensor (``step/__init__.py`` calls it when ``step`` is imported; a notebook that made
    a tensor before importing ``step`` keeps 4 KB pages in that process, while processes it starts
    inherit the variable: the numbers are the same either way). Each large tensor otherwise faults in
    4 KB pages every time it is allocated: at 20,000 genes a training step's activations are ~60 MB
    tensors, and STEPmr's epochs took 1.55x as long (benchmarks/bench_train_epoch.py). numpy already
    asks for huge pages for its own large arrays. A huge page is 2 MB: a tensor's last one may be
    partly unused (PyTorch notes a slightly higher memory use; the 20,000-gene job's peak was lower).
    The pages change where memory lies, not what is computed (tests/test_procs.py)."""
    import os

    if "THP_MEM_ALLOC_ENABLE" in os.environ:  # torch reads it as an integer: "1" on, "0" or text off
        value = os.environ["THP_MEM_ALLOC_ENABLE"].strip()
        return value.isdigit() and int(value) != 0
    try:
        with open(setting) as fh:
            mode = fh.read()
    except OSError:
        return False
    if "[never]" in mode:
        return False
    if "torch" in sys.modules:
        import logging

        logging.getLogger(__name__).debug("THP_MEM_ALLOC_ENABLE set after torch was imported: it applies "
                                          "only if torch has not allocated a CPU tensor yet")
    os.environ["THP_MEM_ALLOC_ENABLE"] = "1"
    return True


def release_free_memory() -> bool:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim(0)``), e.g. before a
    stage whose own peak adds to what the process holds. Memory that Python, numpy or pandas freed
    stays resident in the heap otherwise. Whether glibc's trim ran (False off glibc or without
    ctypes; under an ``LD_PRELOAD`` allocator such as jemalloc it runs but that allocator keeps its
    own pages)."""
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        import ctypes

        trim = ctypes.CDLL(None).malloc_trim
        trim.argtypes = [ctypes.c_size_t]
        trim.restype = ctypes.c_int
        trim(0)
    except (ImportError, OSError, AttributeError):
        return False
    return True
