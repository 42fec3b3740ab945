"""A throw-away one-node SLURM cluster for ``make test-services``: munged, slurmctld and slurmd in
a temporary folder, each in the foreground as a child process (no systemd, no cgroups), talking
over 127.0.0.1 on free high ports, with their own munge key, state, spool, PID and log files.

- **Accounting**: none (``accounting_storage/none``, no slurmdbd). ``sacct`` then only answers
  "Slurm accounting storage is disabled", which is why the shipped profile asks the plugin for
  ``squeue`` job states. Every finished job is recorded by ``jobcomp/filetxt`` in ``jobcomp.txt``
  (one line per job: id, name, state, partition, time limit, CPUs, memory): the test counts jobs
  there, on the controller's side, not in Snakemake's output.
- **The node**: this machine's short host name, ``CPUs=2``, ``RealMemory=8000`` (MB; a bookkeeping
  number, nothing is enforced without cgroups), one partition ``steptest`` marked default; the
  shipped profile names no partition, so the plugin takes the default one (sinfo's ``*``).
- **Where clients find slurm.conf**: ``$SLURM_CONF`` (nothing is written to /etc). The plugin's job
  step (``snakemake-executor-plugin-slurm-jobstep``) removes every ``SLURM_*`` variable but the
  job's identity before it calls ``srun`` inside the job, so on this cluster that ``srun`` would
  find no configuration ("Could not establish a configuration source"). A real cluster has
  /etc/slurm/slurm.conf or runs configless; here a two-line ``srun`` wrapper that sets
  ``SLURM_CONF`` and runs the real ``srun`` stands first on the jobs' PATH (``bin/srun``).
- slurmd runs as root (it starts jobs as their user); SlurmUser is the current user (root).
"""
from __future__ import annotations

import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PARTITION = "steptest"
NODE_CPUS, NODE_MEM_MB = 2, 8000
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "srun", "sinfo", "scancel")


def missing() -> str | None:
    """Why no cluster can be started here, or None."""
    absent = [d for d in DAEMONS if shutil.which(d) is None]
    if absent:
        return (f"SLURM/munge not installed ({', '.join(absent)} not on PATH; Debian: apt-get install slurm-wlm munge, "
                "which make test-services does as root)")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "Snakemake's SLURM executor plugin is not installed (pip install -e '.[cluster]')"
    if os.geteuid() != 0:
        return "slurmd must run as root (it starts each job as its user): run make test-services as root"
    return None


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class SlurmCluster:
    """``start()`` the three daemons and wait for the node to be idle; ``stop()`` cancels what is
    left and ends them (SIGTERM, then SIGKILL); ``env`` is what a client (sbatch, snakemake) needs."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="step-slurm-", dir="/tmp"))  # short: the munge socket path
        self.node = socket.gethostname().split(".")[0]
        self.conf = self.dir / "slurm.conf"
        self.jobcomp = self.dir / "jobcomp.txt"
        self.socket = self.dir / "munge" / "munge.socket"
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ, SLURM_CONF=str(self.conf))
        env["PATH"] = f"{self.dir / 'bin'}:{env.get('PATH', '')}"
        return env

    def _write_files(self) -> None:
        for sub in ("munge", "state", "spool", "log", "bin"):
            (self.dir / sub).mkdir()
        (self.dir / "munge").chmod(0o755)   # clients reach the socket inside it
        key = self.dir / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        ctld_port, d_port = _free_ports(2)
        user = pwd.getpwuid(os.geteuid()).pw_name
        d = self.dir
        self.conf.write_text(f"""# written by tests/services/slurm_cluster.py: a throw-away one-node cluster
ClusterName=steptest
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser={user}
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.socket}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp}
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=3600
ReturnToService=2
MpiDefault=none
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory={NODE_MEM_MB} State=UNKNOWN
PartitionName={PARTITION} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")
        srun = self.dir / "bin" / "srun"
        srun.write_text(f"#!/bin/sh\nexport SLURM_CONF={self.conf}\nexec {shutil.which('srun')} \"$@\"\n")
        srun.chmod(0o755)

    def _spawn(self, name: str, cmd: list[str]) -> None:
        out = open(self.dir / "log" / f"{name}.out", "w")
        self.procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                            cwd=self.dir, start_new_session=True)

    def logs(self, n: int = 2500) -> str:
        parts = []
        for p in sorted((self.dir / "log").glob("*")) + [self.dir / "munge" / "munged.log"]:
            if p.is_file():
                parts.append(f"--- {p.name}:\n{p.read_text(errors='replace')[-n:]}")
        return "\n".join(parts)

    def start(self, timeout: float = 60) -> None:
        self._write_files()
        m = self.dir / "munge"
        self._spawn("munged", ["munged", "--foreground", "--force", f"--key-file={m / 'munge.key'}",
                               f"--socket={self.socket}", f"--pid-file={m / 'munged.pid'}",
                               f"--log-file={m / 'munged.log'}", f"--seed-file={m / 'munged.seed'}"])
        self._wait(lambda: self.socket.exists(), timeout, "munged's socket")
        self._spawn("slurmctld", ["slurmctld", "-D", "-c", "-f", str(self.conf)])
        self._wait(lambda: self._run(["sinfo", "-h"]).returncode == 0, timeout, "slurmctld answering sinfo")
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf), "-N", self.node])
        self._wait(lambda: self._run(["sinfo", "-h", "-N", "-o", "%T"]).stdout.strip() == "idle", timeout,
                   "the node to be idle")

    def _run(self, cmd: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)

    def _wait(self, ok, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited ({p.returncode}) while waiting for {what}\n{self.logs()}")
            if ok():
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}\n{self.logs()}")

    def jobs(self) -> dict[int, dict[str, str]]:
        """Every finished job, from the controller's completion records: id -> fields."""
        if not self.jobcomp.is_file():
            return {}
        out = {}
        for line in self.jobcomp.read_text().splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", line))
            if "JobId" in fields:
                out[int(fields["JobId"])] = fields
        return out

    def stop(self) -> None:
        try:
            if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
                self._run(["scancel", "--full", "--user", pwd.getpwuid(os.geteuid()).pw_name])
        except Exception:  # teardown goes on
            pass
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.get(name)
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
