"""Run folders and provenance.

A run is built in a hidden staging folder next to its final place and renamed
into place when complete, so ``results/`` never holds a half-written run.
"""
from __future__ import annotations

import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Callable, Any

import yaml

log = logging.getLogger(__name__)

PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "torch", "gensim", "gseapy", "matplotlib", "pyyaml",
            "tqdm", "statsforecast", "statsmodels", "networkx", "optuna", "arch", "cooler", "cooltools")


def versions(packages) -> dict[str, str]:
    """The installed version of each distribution in ``packages`` ("not installed" when absent)."""
    out = {}
    for p in packages:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def package_versions() -> dict[str, str]:
    return {"python": platform.python_version(), "platform": platform.platform(), **versions(PACKAGES)}


def git_commit(cwd: Path | None = None) -> str:
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd or Path(__file__).parent,
                           capture_output=True, text=True, timeout=5)
        commit = r.stdout.strip() if r.returncode == 0 else "unknown"
        d = subprocess.run(["git", "status", "--porcelain"], cwd=cwd or Path(__file__).parent,
                           capture_output=True, text=True, timeout=5)
        return commit + ("+dirty" if d.returncode == 0 and d.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def new_run_id(config_hash: str) -> str:
    return time.strftime("%Y%m%d-%H%M%S") + f"-{config_hash}"


def partial_suffix() -> str:
    """``.partial-<host>-<pid>``: whose staging folder it is, so a dead one can be told from a live one."""
    import socket

    return f".partial-{socket.gethostname()}-{os.getpid()}"


def clear_stale_partials(root: Path) -> list[Path]:
    """Remove the staging folders under ``root`` left by a run of this host that died (killed, out of
    memory) before publishing; a live run's (its process exists) and other hosts' are kept. Each
    removal is logged. Returns the removed paths."""
    import socket

    host = socket.gethostname()
    gone = []
    for d in Path(root).glob(".*.partial-*"):
        tail = d.name.rsplit(".partial-", 1)[-1]
        h, _, pid = tail.rpartition("-")
        if h != host or not pid.isdigit() or not d.is_dir():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # alive, another user's
        shutil.rmtree(d, ignore_errors=True)
        log.warning("removed the unfinished folder %s of a run that did not finish (process %s ended)", d, pid)
        gone.append(d)
    return gone


class RunFolder:
    """``root/<run-id>/`` built in ``root/.<run-id>.partial`` and published by :meth:`publish`."""

    def __init__(self, root: Path, run_id: str):
        self.root = Path(root)
        self.run_id = run_id
        self.final = self.root / run_id
        k = 2
        while self.final.exists():
            self.final = self.root / f"{run_id}-{k}"
            k += 1
        self.root.mkdir(parents=True, exist_ok=True)
        clear_stale_partials(self.root)
        self.staging = self.root / f".{self.final.name}{partial_suffix()}"
        self.staging.mkdir(parents=True, exist_ok=False)

    @classmethod
    def at(cls, path: Path) -> "RunFolder":
        """A run folder published exactly at ``path`` (workflows need fixed paths).

        An existing folder there is replaced only when the new one is complete.
        """
        self = cls.__new__(cls)
        self.final = Path(path)
        self.root, self.run_id = self.final.parent, self.final.name
        self.staging = self.root / f".{self.final.name}{partial_suffix()}"
        shutil.rmtree(self.staging, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        clear_stale_partials(self.root)
        self.staging.mkdir(parents=True)
        return self

    @property
    def path(self) -> Path:
        return self.staging

    def publish(self) -> Path:
        old = None
        if self.final.exists():
            old = self.root / f".{self.final.name}.old-{os.getpid()}"
            self.final.rename(old)
        self.staging.rename(self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def provenance(cfg_dict: dict[str, Any], seeds: list[int], data_files: dict[str, str],
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The resolved config plus what is needed to reproduce the run."""
    return {
        "config": cfg_dict,
        "seeds": seeds,
        "data_checksums_sha256": data_files,
        "package_versions": package_versions(),
        "git_commit": git_commit(),
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        **(extra or {}),
    }


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=None, width=100)


def publish_run(cfg, out_root: Path, prefix: str, write: "Callable[[Path], Any]", seeds: list[int],
                data_files: dict[str, str], extra: dict[str, Any] | None = None,
                exact_dir: Path | None = None) -> tuple[Path, Any]:
    """The one writer of result folders (train/test runs, ablations): stage
    ``out_root/<prefix><run-id>/`` (or exactly ``exact_dir``), write ``config.yaml`` (resolved
    config, seeds, data checksums, package versions), call ``write(folder)``, publish atomically;
    on any error nothing is left behind. Returns the final path and what ``write`` returned."""
    run = RunFolder.at(Path(exact_dir)) if exact_dir else RunFolder(Path(out_root), prefix + new_run_id(cfg.short_hash()))
    try:
        d = run.path
        from step.io import write_text

        write_text(d / "config.yaml", dump_yaml(provenance(cfg.to_dict(), seeds, data_files, extra)))
        out = write(d)
        final = run.publish()
    except BaseException:
        run.discard()
        raise
    return final, out
