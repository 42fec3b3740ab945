"""Shared test set-up: the helpers of ``tests/fixtures_run.py`` importable by name from every test
module, and the job config of the tiny fixtures as a fixture."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from fixtures_run import job_config  # noqa: E402


@pytest.fixture
def tiny_mrna_config(tmp_path):
    """``configs/test_tiny_mrna.yaml`` for a test: cache under ``tmp_path``, no plots, no analysis;
    call it with dotted overrides."""
    return lambda **over: job_config(HERE.parent / "configs/test_tiny_mrna.yaml", tmp_path, **over)
