"""Conformal prediction intervals (step/evaluation/intervals.py): calibrated on a Gaussian case, causal,
absent without enough earlier residuals."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from step.evaluation.intervals import (adaptive_levels, conformal_quantile, coverage_and_winkler, error_scales,
                                      interval_rows, level_key, prior_weight)


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


@pytest.mark.parametrize("shrink", [4.0, "auto"])
@pytest.mark.parametrize("level", [0.8, 0.95])
def test_per_gene_coverage_when_error_scales_differ_from_the_training_std(level, shrink):
    """Genes whose forecast errors are 0.25x .. 4x what their training std says: scored by their own
    (shrunk) error scale, new cells are covered at the nominal rate pooled and per gene; scored by
    the training std alone (shrink -> infinity, the old rule) the noisy genes are under-covered."""
    rng = np.random.default_rng(0)
    n_genes = 60
    prior = rng.uniform(0.5, 3.0, n_genes)                    # training std
    err = prior * np.exp(rng.uniform(np.log(0.25), np.log(4.0), n_genes))   # true error sd
    past = rng.normal(size=(30, n_genes)) * err               # residuals on 30 earlier target times
    new = rng.normal(size=(400, n_genes)) * err               # future errors
    q, scale, _ = interval_rows(past, prior, [level], min_times=4, shrink=shrink)
    inside = np.abs(new) <= q[level] * scale[None, :]
    n = inside.size
    assert abs(inside.mean() - level) < stats.norm.ppf(0.9995) * math.sqrt(level * (1 - level) / n) + 0.02
    per_gene = inside.mean(axis=0)
    far = np.mean(per_gene < level - 0.15)
    assert far <= 0.05                                        # few genes far below the level ...
    q0, s0, _ = interval_rows(past, prior, [level], min_times=4, shrink=1e12)
    old = (np.abs(new) <= q0[level] * s0[None, :]).mean(axis=0)
    assert np.allclose(s0 / prior, s0[0] / prior[0])          # ... the old rule's scale is the std
    assert np.mean(old < level - 0.15) > far                  # and leaves more genes far below it
    assert old.min() < per_gene.min()


def test_a_gene_constant_so_far_neither_shrinks_the_others_nor_gets_a_zero_width():
    rng = np.random.default_rng(1)
    past = rng.normal(size=(20, 10))
    prior = np.ones(10)
    q_ref, _, _ = interval_rows(past, prior, [0.8], min_times=4)
    with_const = np.concatenate([past, np.zeros((20, 5))], axis=1)   # 5 genes forecast exactly so far
    q, scale, _ = interval_rows(with_const, np.concatenate([prior, np.full(5, 0.05)]), [0.8], min_times=4)
    assert q[0.8] == pytest.approx(q_ref[0.8])
    assert (scale[10:] > 0).all() and np.isfinite(scale).all()


def test_leave_one_out_scale_by_hand():
    """One gene, residuals 1 and 3, prior 1 (pooled ratio c^2 = (1 + 9) / 2 = 5), k = 2:
    scale^2 = (10 + 2 * 5) / (2 + 2) = 5; the residual 3 is scored by (1 + 10) / (1 + 2)."""
    r = np.array([[1.0], [3.0]])
    scale, loo, deg, k = error_scales(r, np.array([1.0]), 2.0)
    assert scale[0] == pytest.approx(math.sqrt(5.0))
    assert loo[1, 0] == pytest.approx(math.sqrt(11.0 / 3.0)) and loo[0, 0] == pytest.approx(math.sqrt(19.0 / 3.0))
    assert not deg[0] and k == 2.0


def _residuals_around_a_prior(rng, d0: float, s0: float, n_genes: int, n: int):
    """Residuals ``[n, G]`` of genes whose error variance is ``prior^2 x s0^2 x d0 / chi2(d0)`` (the
    scaled inverse chi-square prior of limma's model; ``d0 = inf``: exactly ``prior^2 x s0^2``)."""
    prior = rng.uniform(0.5, 3.0, n_genes)
    var = (s0 * prior) ** 2 * (np.ones(n_genes) if math.isinf(d0) else d0 / rng.chisquare(d0, n_genes))
    return rng.normal(size=(n, n_genes)) * np.sqrt(var), prior


@pytest.mark.parametrize("d0", [3.0, 10.0, 40.0])
def test_prior_weight_recovers_a_known_spread_of_gene_error_scales(d0):
    """Smyth's moment estimator (limma's squeezeVar) on 4,000 genes with 6 residuals each finds the
    prior's weight ``d0`` within 35 % and its centre ``s0^2`` within 10 %."""
    rng = np.random.default_rng(int(d0))
    r, prior = _residuals_around_a_prior(rng, d0, 0.7, 4000, 6)
    k, c2 = prior_weight((r ** 2).sum(axis=0), np.full(4000, 6), prior)
    assert abs(k / d0 - 1) < 0.35, k
    assert c2 == pytest.approx(0.49, rel=0.10)


def test_prior_weight_is_infinite_without_spread_beyond_sampling_noise():
    """Every gene's error scale is its prior's (times one constant): the genes' own mean squares
    differ by chance only, so the estimate leans on the prior (d0 = inf, or at least 50 residuals)
    and the scales follow the prior; with few residuals that is closer to the truth than the
    genes' own RMS."""
    rng = np.random.default_rng(3)
    r, prior = _residuals_around_a_prior(rng, math.inf, 0.5, 500, 5)
    k, c2 = prior_weight((r ** 2).sum(axis=0), np.full(500, 5), prior)
    assert k > 50 and c2 == pytest.approx(0.25, rel=0.15)
    scale, _, _, k2 = error_scales(r, prior, "auto")
    assert k2 == k
    own = np.sqrt((r ** 2).mean(axis=0))
    truth = 0.5 * prior
    assert np.mean(np.abs(np.log(scale / truth))) < 0.5 * np.mean(np.abs(np.log(own / truth)))


def test_prior_weight_edge_cases_neither_crash_nor_let_one_gene_set_the_spread():
    """A spread barely above sampling noise (the root of trigamma(x) = evar beyond any bracket) gives
    d0 = inf, not an error; one nearly constant gene (residuals 1e-9 of its prior, not all zero) is
    floored as limma floors variances (at 1e-5 of the median): it still lowers d0 (an outlier of
    the log ratios), but to ~6 of 34, not to below 1 (unfloored: every gene at its own RMS)."""
    from scipy import special

    d = 4.0
    tri = float(special.polygamma(1, d / 2))
    # two genes whose log ratios differ so that var(e) - trigamma(2) = 1e-14
    gap = math.sqrt(2 * (tri + 1e-14))
    ss = np.array([d, d * math.exp(gap)])
    k, c2 = prior_weight(ss, np.array([4, 4]), np.ones(2))
    assert math.isinf(k) and c2 > 0
    rng = np.random.default_rng(4)
    r, prior = _residuals_around_a_prior(rng, 20.0, 0.7, 400, 6)
    k_ref, _ = prior_weight((r ** 2).sum(axis=0), np.full(400, 6), prior)
    r[:, 0] = 1e-9 * prior[0]
    k_one, _ = prior_weight((r ** 2).sum(axis=0), np.full(400, 6), prior)
    assert k_ref > 20 and k_one > 3


def test_auto_prior_weight_with_too_few_genes_or_constant_genes():
    """One informative gene: no spread to estimate, the prior alone at the gene's own ratio; genes
    whose residuals are all zero do not enter the estimate."""
    r = np.array([[1.0, 0.0], [3.0, 0.0]])
    scale, loo, deg, k = error_scales(r, np.array([1.0, 2.0]), "auto")
    assert math.isinf(k) and deg.tolist() == [False, True]
    assert scale[0] == pytest.approx(math.sqrt(5.0)) and np.isfinite(loo[:, 0]).all()
    assert scale[1] == pytest.approx(2.0 * math.sqrt(5.0))  # the prior's scale, not zero


def test_too_few_earlier_times_give_no_interval():
    past = np.full((6, 5), np.nan)
    past[:3] = 1.0  # residuals on 3 target times only
    out, _, k = interval_rows(past, np.ones(5), [0.8, 0.95], min_times=4)
    assert all(math.isnan(v) for v in out.values()) and math.isnan(k)
    out, scale, _ = interval_rows(past, np.ones(5), [0.8], min_times=3)
    assert out[0.8] * scale == pytest.approx(np.ones(5))  # every residual 1: half-width 1


def test_weighted_conformal_quantile():
    s = np.arange(1.0, 11.0)
    assert conformal_quantile(s, 0.8, np.ones(10)) == conformal_quantile(s, 0.8)   # equal weights: the plain rule
    # the recent (large) scores weigh more: the quantile follows them
    w = 0.5 ** (np.arange(10)[::-1] / 2.0)
    assert conformal_quantile(s, 0.5, w) > conformal_quantile(s, 0.5)
    # by hand: weights 1, 1, 2 (max-normalised 0.5, 0.5, 1), the new point 1: cumulative shares of
    # the total 3 are 1/6, 1/3, 2/3
    s3, w3 = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0])
    assert conformal_quantile(s3, 0.3, w3) == 2.0
    assert conformal_quantile(s3, 0.6, w3) == 3.0
    assert conformal_quantile(s3, 0.7, w3) == math.inf


def _fold_stub(W: int, N: int, val: np.ndarray, origin: int):
    from types import SimpleNamespace

    idx = {"train": np.arange(0, int(val.min())), "val": val}
    return SimpleNamespace(idx=lambda s: idx[s],
                           fold=SimpleNamespace(origin=origin, split=SimpleNamespace(targets=np.arange(W))),
                           scaler=SimpleNamespace(std=np.ones(N)))


def test_a_first_fit_scores_its_own_out_of_sample_forecasts_not_its_fitted_ones():
    """No earlier fit: the residuals behind the intervals are this fit's out-of-sample forecasts of
    its validation windows where the forecaster has them (``pre``), its fitted ones only where not."""
    from step.config import RunConfig
    from step.jobs.forecast import _intervals

    rng = np.random.default_rng(0)
    W, N = 12, 30
    val = np.arange(4, 10)
    y = rng.normal(size=(W, N))
    fitted = y + rng.normal(scale=0.1, size=(W, N))     # in sample: the fit saw these targets
    pre = np.full((W, N), np.nan)
    pre[val] = y[val] + rng.normal(scale=2.0, size=(len(val), N))   # its training-only forecasts
    cfg, fd, target = RunConfig(), _fold_stub(W, N, val, origin=12), np.arange(10, 12)
    oos = np.full((W, N), np.nan)                       # no earlier fit
    sources: list = []
    store: dict = {}
    _intervals(cfg, "prequential", fd, y, oos, fitted, target, store, sources, pre)
    lo, hi = store[0.8]
    width = float(np.nanmean(hi[target] - lo[target]))
    assert sources[-1]["this_fit_out_of_sample"] == len(val) and sources[-1]["this_fit_in_sample"] == 0
    assert width > 2.0  # an 80 % interval of errors with sd 2 is about 2 x 1.28 x 2 wide
    in_sample: dict = {}
    _intervals(cfg, "prequential", fd, y, oos, fitted, target, in_sample, sources)
    assert sources[-1]["this_fit_in_sample"] == len(val)
    assert float(np.nanmean(in_sample[0.8][1][target] - in_sample[0.8][0][target])) < width / 2


def test_the_first_fit_of_a_job_reports_where_its_interval_residuals_came_from(tiny_mrna_config, tmp_path):
    """The chronological protocol has a single fit: the model's, the ridges' and the global learners'
    interval residuals are out-of-sample forecasts of the validation windows, the per-gene ETS ones
    too (a training-only fit filtered forward)."""
    from step.jobs.pipeline import run_job

    res = run_job(tiny_mrna_config(**{"split.protocol": "chronological"}), tmp_path / "runs")
    totals = res.metrics["intervals"]["residual_sources"]["totals"]
    for name in ("STEPmr", "persistence", "mean_last", "ridge_ar_gene", "ridge_ar_pooled", "global_linear",
                 "ets", "auto_ets"):
        if name in totals:
            assert totals[name]["this_fit_in_sample"] == 0, (name, totals[name])
            assert totals[name]["this_fit_out_of_sample"] > 0, (name, totals[name])
    assert "ets" in totals


def test_recency_weighting_follows_errors_that_grow_along_a_course():
    """Serially correlated residuals (AR(1), 0.5) whose scale doubles halfway through the evidence:
    the equally weighted quantile under-covers the next errors (about 0.66 at 80 %), the
    recency-weighted one (halflife 8 windows) comes back near the level."""
    rng = np.random.default_rng(0)
    V, N = 40, 50
    e = np.zeros((V, N))
    for t in range(V):
        e[t] = (0.5 * e[t - 1] if t else 0.0) + rng.normal(size=N) * math.sqrt(0.75)
    resid = e * np.where(np.arange(V) < V // 2, 1.0, 2.0)[:, None]
    new = 2.0 * rng.normal(size=(4000, N))
    cover = {}
    for hl in (0.0, 8.0):
        q, scale, _ = interval_rows(resid, np.ones(N), [0.8], 4, 4.0, hl)
        cover[hl] = float(np.mean(np.abs(new) <= q[0.8] * scale))
    assert cover[0.0] < 0.72
    assert 0.74 <= cover[8.0] <= 0.86


def test_adaptive_levels_by_hand():
    """level - rate * sum(covered - level), within [level / 2, 1)."""
    out = adaptive_levels([0.8, 0.95], {0.8: np.array([0.6, 0.7]), 0.95: np.array([1.0, 1.0])}, 0.05)
    assert out[0.8] == pytest.approx(0.8 + 0.05 * 0.3)
    assert out[0.95] == pytest.approx(0.95 - 0.05 * 0.1)
    assert adaptive_levels([0.8], {0.8: np.array([0.6, 0.7])}, 0.0) == {0.8: 0.8}
    assert adaptive_levels([0.8], {}, 0.05) == {0.8: 0.8}
    assert adaptive_levels([0.8], {0.8: np.zeros(100)}, 0.5)[0.8] < 1.0
    assert adaptive_levels([0.8], {0.8: np.ones(100)}, 0.5)[0.8] == pytest.approx(0.4)


def _rolling_coverage(resid: np.ndarray, start: int, rate: float) -> np.ndarray:
    """Per-time 80 % coverage of intervals made at each time from the residuals before it, the
    level adapted to the coverage achieved so far (``resid [T, N]``)."""
    covered: list[float] = []
    for t in range(start, resid.shape[0]):
        eff = adaptive_levels([0.8], {0.8: np.array(covered)}, rate)
        q, scale, _ = interval_rows(resid[:t], np.ones(resid.shape[1]), [0.8], 4, "auto", 8.0, eff)
        covered.append(float(np.mean(np.abs(resid[t]) <= q[0.8] * scale)))
    return np.array(covered)


def test_adaptive_levels_follow_a_shift_the_residuals_have_not_seen():
    """Errors with a common shock per time point whose scale grows 1.6-fold once the intervals
    start (as when a course's steps become longer): fixed levels under-cover the rest of the course,
    adapted ones come back towards the level; on a stationary course adaptation costs nothing."""
    rng = np.random.default_rng(1)
    T, N, start = 48, 60, 12
    shifted, stationary = [], []
    for _ in range(20):
        e = rng.normal(size=(T, N)) * 0.8 + rng.normal(size=(T, 1)) * 0.6
        grow = np.where(np.arange(T) < start, 1.0, 1.6)[:, None]
        shifted.append([_rolling_coverage(e * grow, start, r).mean() for r in (0.0, 0.05)])
        stationary.append([_rolling_coverage(e, start, r).mean() for r in (0.0, 0.05)])
    shifted, stationary = np.array(shifted).mean(0), np.array(stationary).mean(0)
    assert shifted[0] < 0.76 and shifted[1] > shifted[0] + 0.02
    assert abs(stationary[1] - 0.8) <= abs(stationary[0] - 0.8) + 0.01
    assert 0.76 <= stationary[1] <= 0.84


def test_adapted_quantiles_stay_nested_and_capped():
    """A level adapted beyond the scores takes the largest score, not an infinite interval; an 80 %
    level adapted above the 95 % one does not make the 80 % interval the wider."""
    rng = np.random.default_rng(0)
    resid = rng.normal(size=(6, 5))
    q, _, _ = interval_rows(resid, np.ones(5), [0.8, 0.95], 4, 4.0, 0.0, {0.8: 0.999999, 0.95: 0.95})
    assert np.isfinite(q[0.8]) and q[0.8] == pytest.approx(float(np.max(np.abs(resid / 1.0))), rel=0.5)
    big = rng.normal(size=(20, 30))
    plain, _, _ = interval_rows(big, np.ones(30), [0.8, 0.95], 4, 4.0, 0.0)
    q, _, _ = interval_rows(big, np.ones(30), [0.8, 0.95], 4, 4.0, 0.0, {0.8: 0.97, 0.95: 0.6})
    assert plain[0.8] < plain[0.95]                      # without adaptation the 80 % is narrower
    assert q[0.8] <= q[0.95] and q[0.95] > plain[0.8]    # adapted: nested, 95 % raised to the 80 %'s
    assert q[0.95] == pytest.approx(q[0.8])


def test_adapted_levels_read_only_intervals_whose_targets_are_known_at_the_origin():
    """``_adapted_levels``: the coverage of the forecaster's stored intervals on windows whose
    target is at or before the fit's origin, missing targets left out; intervals after the origin
    (and a level with no stored intervals) change nothing."""
    from types import SimpleNamespace

    from step.config import RunConfig
    from step.jobs.forecast import _adapted_levels

    W, N, history = 10, 5, 3
    targets = np.arange(history, history + W)                  # window w forecasts time index history + w
    fd = SimpleNamespace(fold=SimpleNamespace(origin=int(targets[5]), split=SimpleNamespace(targets=targets)))
    y = np.zeros((W, N))
    y[2, :2] = np.nan
    lo, hi = np.full((W, N), np.nan), np.full((W, N), np.nan)
    lo[2:4], hi[2:4] = -1.0, 1.0                                 # known, covered (window 2: 3 observed genes)
    lo[4:], hi[4:] = 1.0, 2.0                                    # windows 4, 5 known and missed; 6.. after the origin
    cfg = RunConfig()
    rate = cfg.evaluation.interval_adapt_rate
    out = _adapted_levels(cfg, fd, y, {0.8: (lo, hi)}, [0.8, 0.95])
    assert out[0.95] == 0.95
    assert out[0.8] == pytest.approx(0.8 - rate * ((1 - 0.8) * 2 + (0 - 0.8) * 2))
    later = {0.8: (lo.copy(), hi.copy())}
    later[0.8][0][6:], later[0.8][1][6:] = -5.0, 5.0             # only after the origin: no change
    assert _adapted_levels(cfg, fd, y, later, [0.8, 0.95]) == out
