"""A throw-away PostgreSQL server for ``make test-services``: ``initdb`` + ``pg_ctl`` in a temporary
folder, listening on 127.0.0.1 (a free high port) and on a Unix socket in that folder only.

PostgreSQL refuses to run as root: as root, the server runs as the ``postgres`` system user (the
Debian package's), or as a system user ``step-services`` created for it. The superuser connects
over the Unix socket (trust); the study's role connects over TCP with a password (scram-sha-256)
that contains ``@ : / %``, so the URL the workers get is percent-encoded like a user's would be.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
from pathlib import Path

ROLE, DB, PASSWORD = "step", "step_tune", "p@ss:w/rd%1"
SUPERUSER = "stepadmin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_bin(name: str) -> str | None:
    """``initdb`` / ``pg_ctl`` on PATH, else the newest Debian ``/usr/lib/postgresql/*/bin``."""
    found = shutil.which(name)
    if found:
        return found
    cands = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[-3]))
    return cands[-1] if cands else None


def missing() -> str | None:
    """Why no server can be started here, or None."""
    for name in ("initdb", "pg_ctl"):
        if server_bin(name) is None:
            return (f"PostgreSQL server not installed ({name} neither on PATH nor in /usr/lib/postgresql/*/bin; "
                    "Debian: apt-get install postgresql)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "the PostgreSQL driver psycopg2 is not installed (pip install -e '.[cluster]')"
    return None


def _server_user() -> str | None:
    """The unprivileged user the server runs as (None: the current user, who is not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "step-services"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "step-services"],
                   check=True, capture_output=True, text=True)
    return "step-services"


class PostgresCluster:
    """``start()`` / ``stop()`` a server; ``url`` is what a ``step.jobs.tune`` worker passes as --storage."""

    def __init__(self) -> None:
        self.user = _server_user()
        self.dir = Path(tempfile.mkdtemp(prefix="step-pg-", dir="/tmp"))  # short: Unix socket paths
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.running = False

    def _as_server_user(self, cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        full = (["runuser", "-u", self.user, "--"] if self.user else []) + cmd
        r = subprocess.run(full, cwd=self.dir, capture_output=True, text=True, timeout=timeout)
        if r.returncode:
            raise RuntimeError(f"{' '.join(cmd[:2])} failed ({r.returncode}): {r.stdout[-1500:]}{r.stderr[-1500:]}"
                               f"{self.log_tail()}")
        return r

    def log_tail(self, n: int = 3000) -> str:
        return f"\n--- {self.log}:\n{self.log.read_text()[-n:]}" if self.log.is_file() else ""

    def init(self) -> None:
        pwfile = self.dir / "superuser.pw"
        pwfile.write_text("admin-" + os.urandom(8).hex() + "\n")
        if self.user:
            shutil.chown(pwfile, self.user)
        self._as_server_user([server_bin("initdb"), "-D", str(self.data), "-U", SUPERUSER, "--pwfile", str(pwfile),
                              "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"])

    def start(self) -> None:
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} "
                "-c fsync=off -c max_connections=40")
        self._as_server_user([server_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts,
                              "-w", "-t", "60", "start"])
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._as_server_user([server_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop"])
            self.running = False

    def admin(self, sql: str, params: tuple = (), dbname: str = "postgres") -> list[tuple]:
        """Run ``sql`` as the superuser over the Unix socket; the rows it returns."""
        import psycopg2

        conn = psycopg2.connect(host=str(self.dir), port=self.port, user=SUPERUSER, dbname=dbname)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def create_study_database(self) -> None:
        self.admin(f"CREATE ROLE {ROLE} LOGIN PASSWORD %s", (PASSWORD,))
        self.admin(f"CREATE DATABASE {DB} OWNER {ROLE}")

    @property
    def url(self) -> str:
        return f"postgresql://{ROLE}:{urllib.parse.quote(PASSWORD, safe='')}@127.0.0.1:{self.port}/{DB}"

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
