"""Where a ``step.jobs.tune`` study lives, and opening it when many workers start at once.

The storage is an Optuna RDB URL: ``sqlite:///<out>/<study>.db`` by default (one machine), or a
server database shared by workers on many machines, e.g.
``postgresql://USER:PASSWORD@HOST:PORT/DB`` (the ``cluster`` extra installs the driver,
``psycopg2-binary``; characters such as ``@ : / %`` in the password are percent-encoded:
``urllib.parse.quote(password, safe="")``). ``$STEP_TUNE_STORAGE`` gives the URL when ``--storage``
is not passed, so that a password need not appear on a command line or in a batch script.

What a real PostgreSQL server showed (``tests/services/test_services_postgres.py``):

- two workers that open a new database at the same moment race to create Optuna's tables: one of
  them fails with ``IntegrityError: duplicate key value violates unique constraint
  "pg_type_typname_nsp_index"`` (``CREATE TYPE studydirection``). A lock file cannot serialise
  workers on different machines, so opening the study is retried instead: on that error, and on
  ``OperationalError`` (the server not accepting connections yet, too many connections), with
  growing pauses, for at most ``wait_s`` seconds;
- a connection that the server (or a firewall) closed while a long trial trained fails the next
  storage call, and the trial would be lost: server databases get ``pool_pre_ping`` (SQLAlchemy
  tests a pooled connection before using it and reconnects).
"""
from __future__ import annotations

import importlib.util
import logging
import os
import time
from pathlib import Path

from step.errors import InputError

log = logging.getLogger(__name__)

ENV_URL = "STEP_TUNE_STORAGE"
# URL scheme -> (DBAPI module SQLAlchemy imports for it, the package that provides it)
DRIVERS = {"postgresql": ("psycopg2", "psycopg2-binary (pip install -e '.[cluster]')"),
           "postgresql+psycopg2": ("psycopg2", "psycopg2-binary (pip install -e '.[cluster]')"),
           "postgresql+psycopg": ("psycopg", "psycopg[binary]"),
           "mysql": ("MySQLdb", "mysqlclient"), "mysql+pymysql": ("pymysql", "PyMySQL")}


def storage_url(url: str | None, out: Path, study: str) -> str:
    """The study's storage URL: ``url``, else ``$STEP_TUNE_STORAGE``, else a SQLite file under
    ``out``. ``postgres://`` (as some providers print it) is read as ``postgresql://``."""
    url = url or os.environ.get(ENV_URL) or None
    if url is None:
        out.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(out / f'{study}.db').resolve()}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    return url


def describe(url: str) -> str:
    """The URL with its password hidden, for logs and error messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: say so without echoing it
        return "<unparsable storage URL>"


def check_url(url: str) -> None:
    """Fail early, naming what is expected, on a URL SQLAlchemy cannot parse or whose driver is
    not installed (instead of a traceback from inside Optuna)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise InputError(f"--storage / ${ENV_URL}: not a database URL ({exc}); expected e.g. "
                         "sqlite:///results/tune/study.db or postgresql://USER:PASSWORD@HOST:PORT/DB "
                         "(percent-encode @ : / % in the password).") from None
    module, package = DRIVERS.get(parsed.drivername, (None, None))
    if module and importlib.util.find_spec(module) is None:
        raise InputError(f"storage {describe(url)}: the database driver '{module}' is not installed; "
                         f"install {package}.")


def open_storage(url: str):
    """An Optuna RDB storage on ``url``: SQLite waits for the file lock; a server database
    re-tests pooled connections before use (``pool_pre_ping``)."""
    import optuna

    if url.startswith("sqlite"):
        # several local workers on one file: wait for the lock instead of failing
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 120}})
    return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})


def retrying(fn, what: str, wait_s: float = 120.0, first_pause_s: float = 0.5):
    """``fn()``, retried on the errors a shared database gives while it starts or while another
    worker creates the tables (``OperationalError``, ``IntegrityError``, ``ProgrammingError``),
    with pauses doubling up to 10 s, until ``wait_s`` seconds have passed; then the last error,
    as an :class:`InputError` naming ``what``."""
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    deadline = time.monotonic() + wait_s
    pause, attempt = first_pause_s, 1
    while True:
        try:
            return fn()
        except (OperationalError, IntegrityError, ProgrammingError) as exc:
            short = str(exc.orig if getattr(exc, "orig", None) is not None else exc).strip().splitlines()[0]
            if time.monotonic() + pause > deadline:
                raise InputError(f"{what}: still failing after {attempt} attempts over {wait_s:g} s: "
                                 f"{type(exc).__name__}: {short}") from None
            log.warning("%s: attempt %d failed (%s: %s); retrying in %.1f s", what, attempt,
                        type(exc).__name__, short, pause)
            time.sleep(pause)
            pause, attempt = min(2 * pause, 10.0), attempt + 1
