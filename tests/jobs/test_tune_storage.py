"""step.jobs.tune_storage without a server: which URL a worker uses, what it logs, the errors it names,
and the retry on the errors a shared database gives while it starts (the real server is in
tests/services/test_services_postgres.py, run by `make test-services`)."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from step.errors import InputError
from step.jobs.tune_storage import ENV_URL, check_url, describe, retrying, storage_url


def test_storage_url_precedence_and_postgres_scheme(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_URL, raising=False)
    assert storage_url(None, tmp_path / "t", "s") == f"sqlite:///{(tmp_path / 't' / 's.db').resolve()}"
    monkeypatch.setenv(ENV_URL, "postgresql://u:p@h:5432/db")
    assert storage_url(None, tmp_path, "s") == "postgresql://u:p@h:5432/db"
    assert storage_url("sqlite:///x.db", tmp_path, "s") == "sqlite:///x.db"        # --storage wins
    assert storage_url("postgres://u:p@h/db", tmp_path, "s") == "postgresql://u:p@h/db"


def test_describe_hides_the_password():
    text = describe("postgresql://step:p%40ss%3Aw%2Frd@127.0.0.1:5432/tune")
    assert text == "postgresql://step:***@127.0.0.1:5432/tune"
    assert "p%40ss" not in text


def test_check_url_names_what_is_expected(monkeypatch):
    with pytest.raises(InputError, match="not a database URL"):
        check_url("no-scheme-here")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "psycopg2" else real(name, *a))
    with pytest.raises(InputError, match=r"driver 'psycopg2' is not installed; install psycopg2-binary") as err:
        check_url("postgresql://u:secret@h/db")
    assert "secret" not in str(err.value)
    check_url("sqlite:///x.db")                                    # sqlite3 is in the standard library


def test_retrying_waits_through_startup_errors_then_gives_up(caplog):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("connect", {}, Exception("Connection refused"))
        if len(calls) == 2:
            raise IntegrityError("CREATE TYPE", {}, Exception('duplicate key "pg_type_typname_nsp_index"'))
        return "study"

    with caplog.at_level(logging.WARNING, logger="step.jobs.tune_storage"):
        assert retrying(flaky, "opening s", wait_s=10, first_pause_s=0.01) == "study"
    assert len(calls) == 3 and "attempt 2 failed (IntegrityError" in caplog.text

    def down():
        raise OperationalError("connect", {}, Exception("Connection refused"))

    with pytest.raises(InputError, match=r"opening s: still failing after \d+ attempts over 0.05 s: "
                                         r"OperationalError: Connection refused"):
        retrying(down, "opening s", wait_s=0.05, first_pause_s=0.01)

    def other():
        raise ValueError("not a database error")

    with pytest.raises(ValueError):                                 # anything else is not retried
        retrying(other, "opening s", wait_s=10)
