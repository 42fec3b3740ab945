"""Conformal prediction intervals (step/intervals.py): calibrated on a Gaussian case, causal,
absent without enough earlier residuals."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from step.intervals import conformal_quantile, coverage_and_winkler, interval_rows, level_key


def test_conformal_quantile_by_hand():
    s = np.arange(1.0, 11.0)  # 10 scores
    assert conformal_quantile(s, 0.8) == 9.0     # ceil(11 * 0.8) = 9th smallest
    assert conformal_quantile(-s, 0.5) == 6.0    # absolute values
    assert conformal_quantile(s, 0.95) == math.inf  # ceil(11 * 0.95) = 11 > 10: no finite interval
    assert math.isnan(conformal_quantile(np.array([np.nan]), 0.8))
    assert level_key(0.8) == "80" and level_key(0.95) == "95" and level_key(0.975) == "97_5"


def test_winkler_by_hand():
    y = np.array([0.0, 2.0, -3.0, np.nan])
    lo, hi = np.array([-1.0, -1.0, -1.0, -1.0]), np.array([1.0, 1.0, 1.0, 1.0])
    r = coverage_and_winkler(y, lo, hi, 0.8)
    # widths 2; misses: y = 2 above by 1 -> + 2/0.2 * 1 = 10; y = -3 below by 2 -> + 20
    assert r["coverage"] == pytest.approx(1 / 3) and r["winkler"] == pytest.approx((2 + 12 + 22) / 3)
    assert r["n"] == 3 and r["share"] == 1.0


@pytest.mark.parametrize("level", [0.8, 0.95])
def test_coverage_on_a_gaussian_case_is_within_the_binomial_band(level):
    """Residuals of earlier times, standardised by each gene's scale: new cells are covered at the
    nominal rate (within a 99.9 % binomial band)."""
    rng = np.random.default_rng(0)
    n_genes = 40
    scale = rng.uniform(0.5, 3.0, n_genes)
    past = rng.normal(size=(30, n_genes)) * scale           # residuals on 30 earlier target times
    q = interval_rows(past, scale, [level], min_times=4)[level]
    assert q == pytest.approx(stats.norm.ppf(0.5 + level / 2), rel=0.15)
    new = rng.normal(size=(200, n_genes)) * scale            # future errors
    r = coverage_and_winkler(new, -q * scale[None, :] + 0 * new, q * scale[None, :] + 0 * new, level)
    n = r["n"]
    half = stats.norm.ppf(0.9995) * math.sqrt(level * (1 - level) / n) + 0.02  # + the quantile's own noise
    assert abs(r["coverage"] - level) < half


def test_too_few_earlier_times_give_no_interval():
    past = np.full((6, 5), np.nan)
    past[:3] = 1.0  # residuals on 3 target times only
    out = interval_rows(past, np.ones(5), [0.8, 0.95], min_times=4)
    assert all(math.isnan(v) for v in out.values())
    out = interval_rows(past, np.ones(5), [0.8], min_times=3)
    assert out[0.8] == 1.0
