"""``--device cuda``: the whole job on one GPU with the same code path (skipped without a GPU)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from step.config import load_config
from step.errors import InputError
from step.jobs.pipeline import run_job

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, device: str, sparse: str) -> pd.DataFrame:
    cfg = load_config(ROOT / "configs/test_tiny_mrna.yaml",
                      {"train.device": device, "graph.sparse": sparse, "train.epochs": 3,
                       "embedding.cache_dir": str(tmp_path / "emb"), "output.plots": False,
                       "analysis.enabled": False})
    res = run_job(cfg, tmp_path / device / sparse)
    return pd.read_csv(res.run_dir / "predictions.csv")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("sparse", ["dense", "sparse"])
def test_cuda_job_matches_cpu(tmp_path, sparse):
    cpu = _run(tmp_path, "cpu", sparse)
    gpu = _run(tmp_path, "cuda", sparse)
    assert list(cpu.columns) == list(gpu.columns) and len(cpu) == len(gpu)
    num = [c for c in cpu.columns if pd.api.types.is_float_dtype(cpu[c])]
    np.testing.assert_allclose(gpu[num].to_numpy(), cpu[num].to_numpy(), rtol=1e-3, atol=1e-4)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_gpu_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="--device cuda was asked for but torch sees no CUDA device"):
        _run(tmp_path, "cuda", "auto")
