"""One contract for every registered forecaster (step/forecasters/registry.py): shapes, the windows its fit
saw, no look-ahead, determinism, constant genes; and the model's start choosing a global learner
where it wins on evidence."""
from __future__ import annotations

from step.auto import resolve_auto

import numpy as np
import pytest

import step.forecasters.model_forecaster  # noqa: F401  (registers STEPmr and STEPmi)
from step.forecasters.registry import REGISTRY, FitData, GlobalCache, JobContext, enabled_names, fit_all
from step.forecasters.linear_fit import choose_linear_start, consistently_better
from step.data.windows import Scaler, make_windows

T, N, L = 22, 12, 3
LEARNERS = sorted(n for n, c in REGISTRY.items() if c.kind != "model")
MODELS = sorted(n for n, c in REGISTRY.items() if c.kind == "model")
TRAIN, VAL = np.arange(0, 11), np.arange(11, 14)   # windows; the origin is window 13's target


def _course(seed: int = 0, constant: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.cumsum(rng.normal(size=(T, N)), axis=0) * 0.3 + rng.normal(size=N) * 2
    if constant:
        X[:, 0] = 1.5
    return X


def _fit(Xw: np.ndarray, name: str):
    scaler = Scaler.fit(Xw, np.arange(0, TRAIN.max() + L + 1))
    Z = scaler.transform(Xw)
    inputs, targets, _ = make_windows(Z, L)
    nb = np.roll(inputs, 1, axis=2)
    fit = np.sort(np.concatenate([TRAIN, VAL]))
    d = FitData(inputs, targets, nb, Z, scaler, np.arange(L, T), TRAIN, VAL, fit)
    ctx = JobContext([0.1, 1.0, 10.0], ("ANN",), 3, 0, Xw, L, GlobalCache(Xw, L, 3, 0), None)
    f = REGISTRY[name](ctx).fit(d)
    return f, d


@pytest.mark.parametrize("name", LEARNERS)
def test_contract(name):
    Xw = _course()
    f, d = _fit(Xw, name)
    W = d.inputs.shape[0]
    P = f.predict(d.inputs, d.nb, np.arange(W))
    assert P.shape == (W, N) and np.isfinite(P).all()
    # the fit saw exactly every window at or before the origin (training and validation)
    assert np.array_equal(np.sort(f.fitted_windows), np.arange(0, VAL.max() + 1))
    # deterministic
    f2, _ = _fit(Xw, name)
    assert np.array_equal(P, f2.predict(d.inputs, d.nb, np.arange(W)))
    # no look-ahead: values after the origin change nothing up to the first forecast window
    Xp = Xw.copy()
    Xp[VAL.max() + L + 1:] += 50.0
    fp, dp = _fit(Xp, name)
    k = VAL.max() + 2  # windows 0 .. VAL.max()+1: inputs and fit data all at or before the origin
    assert np.allclose(P[:k], fp.predict(dp.inputs, dp.nb, np.arange(W))[:k], atol=1e-10)
    if f.val_oos is not None:
        assert f.val_oos.shape == (len(VAL), N)


SHAREABLE = sorted(n for n, c in REGISTRY.items() if c.shareable)


def test_some_forecasters_are_shareable():
    assert {"ets", "auto_ets"} <= set(SHAREABLE)


@pytest.mark.parametrize("name", SHAREABLE)
def test_shareable_forecasters_read_no_graph_or_seed_and_predict_by_window(name):
    """What ``shareable`` promises (step.forecasters.registry.SharedFits shares such fits between an
    ablation's variants and seeds): other neighbour means, pairs and seed change nothing, and
    ``predict`` reads the window numbers only."""
    Xw = _course()
    f, d = _fit(Xw, name)
    W = d.inputs.shape[0]
    P = f.predict(d.inputs, d.nb, np.arange(W))
    rng = np.random.default_rng(3)
    d2 = FitData(d.inputs, d.targets, rng.normal(size=d.nb.shape), d.Z, d.scaler, d.target_idx, d.train, d.val, d.fit)
    ctx2 = JobContext([0.1, 1.0, 10.0], ("ANN",), 3, 99, Xw, L, GlobalCache(Xw, L, 3, 99), np.array([[0, 1], [2, 3]]))
    f2 = REGISTRY[name](ctx2).fit(d2)
    assert np.array_equal(P, f2.predict(rng.normal(size=d.inputs.shape), rng.normal(size=d.nb.shape), np.arange(W)))
    if f.val_oos is not None:
        assert np.array_equal(f.val_oos, f2.val_oos)


def test_shared_fits_give_the_same_forecasts_and_are_keyed_by_the_data(tmp_path):
    from step.forecasters.registry import SharedFits

    Xw = _course()
    _, d = _fit(Xw, "ets")
    ctx = JobContext([0.1, 1.0, 10.0], ("ANN",), 3, 0, Xw, L, GlobalCache(Xw, L, 3, 0), None)
    direct = fit_all(["ets", "auto_ets", "mean_last"], ctx, d)
    shared = SharedFits(tmp_path)
    first = fit_all(["ets", "auto_ets", "mean_last"], ctx, d, shared)
    again = fit_all(["ets", "auto_ets", "mean_last"], ctx, d, shared)
    assert (shared.misses, shared.hits) == (2, 2)  # mean_last is not shareable: never stored
    W = d.inputs.shape[0]
    for n in direct:
        for got in (first[n], again[n]):
            assert np.array_equal(direct[n].predict(d.inputs, d.nb, np.arange(W)), got.predict(d.inputs, d.nb, np.arange(W)))
            assert (direct[n].val_oos is None) == (got.val_oos is None)
            if direct[n].val_oos is not None:
                assert np.array_equal(direct[n].val_oos, got.val_oos)
            assert np.array_equal(direct[n].fitted_windows, got.fitted_windows)
        assert json_like(direct[n].info) == json_like(again[n].info)
    # other data: a miss, never the stored fit
    _, d_other = _fit(_course(5), "ets")
    fit_all(["ets"], ctx, d_other, shared)
    assert shared.misses == 3


def json_like(info: dict):
    import json

    return json.loads(json.dumps(info, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


@pytest.mark.parametrize("name", LEARNERS)
def test_constant_gene(name):
    f, d = _fit(_course(1, constant=True), name)
    P = f.predict(d.inputs, d.nb, np.arange(d.inputs.shape[0]))
    assert np.isfinite(P).all()


def test_ridge_refit_on_all_windows_differs_from_training_only_fit():
    """The ridge baselines are refitted on the validation windows too (the same data as the model)."""
    f, d = _fit(_course(2), "ridge_ar_pooled")
    assert f.val_oos is not None
    assert not np.allclose(f.val_oos, f.predict(d.inputs[VAL], d.nb[VAL], VAL))


def test_enabled_names_skips_per_gene_peer_at_scale():
    assert "auto_ets" in enabled_names(["auto_ets", "global_gbm"], 100, 5000)
    assert "auto_ets" not in enabled_names(["auto_ets", "global_gbm"], 6000, 5000)


def test_fit_all_paper_protocol_has_no_global_peers():
    Xw = _course()
    _, d = _fit(Xw, "persistence")
    rng = np.random.default_rng(0)
    d.fit = np.sort(rng.choice(d.inputs.shape[0], 10, replace=False))
    ctx = JobContext([1.0], ("ANN",), 3, 0, Xw, L, GlobalCache(Xw, L, 3, 0), None)
    out = fit_all(["persistence", "global_linear"], ctx, d)
    assert "global_linear" not in out and "persistence" in out


def test_consistently_better_sign_rule():
    assert consistently_better(np.full(8, 0.9), np.ones(8), 0.05)        # 8 of 8: p = 1/256
    assert not consistently_better(np.full(4, 0.9), np.ones(4), 0.05)    # 4 of 4: p = 1/16
    assert not consistently_better(np.r_[np.full(5, 0.9), np.full(3, 1.1)], np.ones(8), 0.05)
    assert not consistently_better(np.full(8, 0.9), np.ones(8), 0.0)


def test_start_picks_global_learner_when_it_wins():
    """Data whose next value is a shared linear function of the raw level: the external candidate
    with the right forecasts wins; with useless forecasts the start stays in the linear family."""
    rng = np.random.default_rng(3)
    W, n = 30, 20
    z = rng.normal(size=(W, L, n))
    y = 0.8 * z[:, -1] + 0.05 * rng.normal(size=(W, n))
    good = 0.8 * z[:, -1]
    s = choose_linear_start(z, None, y, np.arange(24), np.arange(24, 30), [1.0], [10.0],
                            external={"global_gbm": good}, consistent_p=0.05)
    assert s.base == "global_gbm" and np.all(s.own == 0)
    s = choose_linear_start(z, None, y, np.arange(24), np.arange(24, 30), [1.0], [10.0],
                            external={"global_gbm": good + 5.0}, consistent_p=0.05)
    assert s.base is None


# ------------------------------------------------------------------ the models under the same contract

TINY = "configs/test_tiny_mrna.yaml"


def _model_fit(name: str, cache, change=None):
    """The model ``name`` fitted at the first rolling origin of the tiny course (``change(X)`` edits
    the course first); returns (forecaster, fit data, origin time index)."""
    import dataclasses
    from pathlib import Path

    from step.config import load_config
    from step.forecasters.fold_data import fit_data, job_context
    from step.forecasters.model_forecaster import ModelContext
    from step.jobs.pipeline import features_stage, load_stage, plan_stage, standardise

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / TINY, {"embedding.cache_dir": str(cache), "model_name": name, "split.protocol": "rolling",
                                    "data.path": str(root / "tests/data/tiny_mrna.csv")})
    course = load_stage(cfg)
    if change is not None:
        course = dataclasses.replace(course, X=change(course.X.copy()))
    cfg, _ = resolve_auto(cfg, course.n_genes)
    _, folds = plan_stage(cfg, course)
    feats = features_stage(cfg, course)
    fd = standardise(cfg, feats, folds[0])
    ctx = dataclasses.replace(job_context(cfg, feats), model=ModelContext(cfg, feats, [0, 1]))
    return REGISTRY[name](ctx).fit(fit_data(fd)), fd, folds[0].origin


@pytest.mark.parametrize("name", MODELS)
def test_model_contract(name, tmp_path):
    """STEPmr and STEPmi pass the learners' contract: shapes, the windows the fit saw (every window
    whose target is at or before the origin, nothing later), determinism, no look-ahead, a
    constant gene."""
    f, fd, origin = _model_fit(name, tmp_path / "c")
    W, N = fd.targets.shape
    P = f.predict(fd.inputs, fd.nb, np.arange(W))
    assert P.shape == (W, N) and np.isfinite(P).all()
    tgt = fd.fold.split.targets
    assert np.array_equal(f.fitted_windows, np.flatnonzero(tgt <= origin))
    assert len(f.fitted_windows) < W                     # the course goes on after the origin
    g, _, _ = _model_fit(name, tmp_path / "c")
    assert np.array_equal(P, g.predict(fd.inputs, fd.nb, np.arange(W)))
    # no look-ahead: every value after the origin changed, the forecasts of every window whose
    # inputs end at or before the origin are unchanged
    later = lambda X: np.concatenate([X[:origin + 1], X[origin + 1:] * 1.7 + 3.0])  # noqa: E731
    h, fh, _ = _model_fit(name, tmp_path / "c", later)
    k = np.flatnonzero(tgt <= origin + 1)
    assert not np.allclose(fd.Z[origin + 1:], fh.Z[origin + 1:])
    assert np.allclose(P[k], h.predict(fh.inputs, fh.nb, np.arange(W))[k], atol=1e-6)
    # a seed reported without its correction forecasts its linear path on the windows after the
    # origin (before it, a global learner in the start enters with its out-of-sample forecasts)
    f.keep_correction(0, False)
    after = np.flatnonzero(tgt > origin)
    lin = f.predictor(0)(fd.inputs[after], fd.nb[after], after)
    assert np.allclose(fd.scaler.bound(lin), f.res.linear[0][after], atol=1e-5)
    # a constant gene
    const = lambda X: np.concatenate([X[:, :1] * 0 + 5.0, X[:, 1:]], axis=1)  # noqa: E731
    c, fc_, _ = _model_fit(name, tmp_path / "c", const)
    assert np.isfinite(c.predict(fc_.inputs, fc_.nb, np.arange(W))).all()


def test_the_orchestrator_names_no_model():
    """step/jobs/forecast.py reaches the model only through the registry."""
    from pathlib import Path

    src = (Path(__file__).resolve().parents[2] / "step/jobs/forecast.py").read_text()
    for name in MODELS:
        assert f'"{name}"' not in src and f"'{name}'" not in src


def test_gene_ses_gives_each_gene_its_own_weight_from_its_past_errors_only():
    """A random walk is followed closely (weight near 1), white noise around a level is smoothed
    (weight near the smallest): one weight each, chosen on that gene's errors before the forecast
    time; a change at or after time t changes no forecast of a time <= t."""
    from step.forecasters.global_learners import SES, SES_ALPHAS

    rng = np.random.default_rng(3)
    T_ = 60
    X = np.stack([np.cumsum(rng.normal(size=T_)), 5 + rng.normal(size=T_)], axis=1)   # [T, 2]
    ses = SES(X, X)
    w = np.asarray(SES_ALPHAS)[ses.gene_idx[T_]]
    assert w[0] >= 0.8 and w[1] <= 0.2
    glob = SES_ALPHAS[ses.alpha_index(T_)]
    assert w[1] < glob < w[0]  # the shared weight sits between them
    for t in (5, 30, 59):
        Xp = X.copy()
        Xp[t:] += 40.0
        other = SES(Xp, Xp)
        assert np.array_equal(other.gene_idx[t], ses.gene_idx[t])
        assert np.allclose(other.forecast_gene(t), ses.forecast_gene(t))
    # its forecast is the SES filter of that gene with that gene's weight
    a = w[0]
    lev = X[0, 0]
    for t in range(1, 40):
        lev_prev = lev
        lev = a * X[t, 0] + (1 - a) * lev
    assert np.isclose(ses.F[ses.gene_idx[T_][0], 40, 0], lev)
    assert np.isclose(lev_prev, ses.F[ses.gene_idx[T_][0], 39, 0])


@pytest.mark.parametrize("name", ["ets", "auto_ets"])
def test_per_gene_smoothers_give_out_of_sample_validation_forecasts(name):
    """A first fit's validation forecasts come from a fit on the training windows only: changing a
    validation target leaves that window's forecast unchanged (a fit that had seen it would move)."""
    Xw = _course(seed=4)
    f, d = _fit(Xw, name)
    assert f.val_oos is not None and f.val_oos.shape == (len(VAL), N)
    Xp = Xw.copy()
    k = VAL[-1] + L  # the last validation window's target time
    Xp[k] += 25.0
    fp, _ = _fit(Xp, name)
    assert np.allclose(f.val_oos[-1], fp.val_oos[-1], atol=1e-8)
    # its own fit (on every window up to the origin) did see it
    assert not np.allclose(f.predict(d.inputs, d.nb, VAL[-1:]), fp.predict(d.inputs, d.nb, VAL[-1:]), atol=1e-6)
