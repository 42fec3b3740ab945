"""step.procs.torch_huge_pages: when it asks torch for huge pages, and that the numbers do not change."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from step.procs import THP_SETTING, torch_huge_pages

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def no_setting(monkeypatch):
    monkeypatch.delenv("THP_MEM_ALLOC_ENABLE", raising=False)


@pytest.mark.parametrize("mode, expected", [("always [madvise] never\n", True), ("[always] madvise never\n", True),
                                            ("always madvise [never]\n", False)])
def test_follows_the_kernel_setting(tmp_path, no_setting, mode, expected):
    f = tmp_path / "enabled"
    f.write_text(mode)
    assert torch_huge_pages(str(f)) is expected
    assert os.environ.get("THP_MEM_ALLOC_ENABLE") == ("1" if expected else None)


def test_no_kernel_setting_leaves_it_unset(tmp_path, no_setting):
    assert torch_huge_pages(str(tmp_path / "missing")) is False
    assert "THP_MEM_ALLOC_ENABLE" not in os.environ


@pytest.mark.parametrize("user, expected", [("0", False), ("", False), ("1", True), (" 1 ", True),
                                            ("true", False)])
def test_the_users_setting_wins(tmp_path, monkeypatch, user, expected):
    f = tmp_path / "enabled"
    f.write_text("always [madvise] never\n")
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", user)
    assert torch_huge_pages(str(f)) is expected
    assert os.environ["THP_MEM_ALLOC_ENABLE"] == user


def test_importing_step_sets_it_before_torch():
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    code = "import os, sys, step; print(os.environ.get('THP_MEM_ALLOC_ENABLE'), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    try:
        allowed = "[never]" not in Path(THP_SETTING).read_text()
    except OSError:
        allowed = False
    assert out == (["1"] if allowed else ["None"]) + ["False"]


# A few training steps of STEPmr's blocks on tensors of ~20 MB (above torch's 2 MB threshold for huge
# pages): the loss and every gradient, to the bit
_STEPS = r"""
import hashlib, json, torch
from step.forecasters.layers import STBlock, scaled_laplacian
torch.manual_seed(0)
N = 3000
A = torch.rand(N, N) * (torch.rand(N, N) < 0.002)
lap = scaled_laplacian((A + A.T) / 2)
block = STBlock(4, 32, 32, N, 2, 2, dropout=0.1)
opt = torch.optim.Adam(block.parameters(), lr=1e-3)
x = torch.randn(8, 4, 3, N)
h = hashlib.sha256()
for _ in range(3):
    loss = block(x, lap).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    h.update(loss.detach().numpy().tobytes())
    for p in block.parameters():
        h.update(p.grad.numpy().tobytes())
huge = 0
for line in open("/proc/self/smaps_rollup"):
    if line.startswith("AnonHugePages:"):
        huge = int(line.split()[1])
print(json.dumps([h.hexdigest(), huge]))
"""


def test_same_numbers_with_and_without_huge_pages():
    """The same loss and gradients to the bit; then, where the kernel allows huge pages, that the run
    with the setting on got some (else the comparison was of two runs on 4 KB pages: skipped)."""
    runs = {}
    for setting in ("1", "0"):
        env = {**os.environ, "THP_MEM_ALLOC_ENABLE": setting, "OMP_NUM_THREADS": "2"}
        res = subprocess.run([sys.executable, "-c", _STEPS], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        runs[setting] = json.loads(res.stdout.strip().splitlines()[-1])
    assert runs["1"][0] == runs["0"][0]
    try:
        allowed = "[never]" not in Path(THP_SETTING).read_text()
    except OSError:
        allowed = False
    if not allowed or runs["1"][1] == 0:
        pytest.skip(f"same numbers, but no huge page was in use (kernel allows them: {allowed})")
    assert runs["0"][1] <= runs["1"][1]


_TRIM = r"""
import json, platform
from step.procs import release_free_memory
from step.outputs.post import _rss_bytes
keep = []
blocks = [bytes(4000) for _ in range(50_000)]   # ~200 MB from the C heap (below its mmap threshold)
keep.append(bytes(4000))                         # something live above them: free() cannot shrink the heap
before = _rss_bytes()
del blocks
freed = _rss_bytes()
ran = release_free_memory()
print(json.dumps([platform.libc_ver()[0], ran, before, freed, _rss_bytes()]))
"""


def test_release_free_memory_gives_the_heaps_free_pages_back():
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("MALLOC_")}
    res = subprocess.run([sys.executable, "-c", _TRIM], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    libc, ran, before, freed, after = json.loads(res.stdout.strip().splitlines()[-1])
    if libc != "glibc":
        assert ran is False
        pytest.skip("not glibc: nothing to trim")
    assert ran is True
    if before == 0 or freed < before - 50 * 2**20:
        pytest.skip("free() alone gave the memory back here (or /proc unreadable): nothing left to trim")
    assert after < freed - 100 * 2**20  # malloc_trim handed the ~200 MB back
