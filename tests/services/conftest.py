"""``make test-services``: the cluster path against real servers started here (PostgreSQL for a
shared Optuna study, a one-node SLURM cluster for the workflow profile).

These tests run only with ``STEP_SERVICES=1`` (set by ``make test-services``); in ``make test`` they
are skipped, saying so. A server or package that is missing skips its tests with the reason. Each
server is started once per session in a temporary folder and stopped in a ``finally``, also when a
test fails. What the tests measured (trials counted in PostgreSQL, jobs that went through SLURM)
is printed at the end and, with ``STEP_SERVICES_REPORT=FILE``, written there as JSON.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pg_cluster  # noqa: E402
import slurm_cluster  # noqa: E402

ENABLED = os.environ.get("STEP_SERVICES") == "1"
REPORT: dict[str, dict] = {}


def pytest_collection_modifyitems(config, items):
    if ENABLED:
        return
    skip = pytest.mark.skip(reason="starts PostgreSQL / SLURM servers: run `make test-services` (STEP_SERVICES=1)")
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def report() -> dict[str, dict]:
    return REPORT


@pytest.fixture(scope="session")
def postgres():
    """A running PostgreSQL server with an empty study database (:class:`pg_cluster.PostgresCluster`)."""
    why = pg_cluster.missing()
    if why:
        pytest.skip(why)
    pg = pg_cluster.PostgresCluster()
    try:
        pg.init()
        pg.start()
        pg.create_study_database()
        yield pg
    finally:
        pg.cleanup()


@pytest.fixture(scope="session")
def slurm():
    """A running one-node SLURM cluster (:class:`slurm_cluster.SlurmCluster`)."""
    why = slurm_cluster.missing()
    if why:
        pytest.skip(why)
    cluster = slurm_cluster.SlurmCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not ENABLED:
        return
    tr = terminalreporter
    tr.section("services: measured")
    if not REPORT:
        tr.write_line("nothing measured in this session (its service tests were skipped, deselected or failed first)")
    for name, row in REPORT.items():
        tr.write_line(f"{name}: " + ", ".join(f"{k}={v}" for k, v in row.items()))
    out = os.environ.get("STEP_SERVICES_REPORT")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps({"exitstatus": int(exitstatus), **REPORT}, indent=2) + "\n")
