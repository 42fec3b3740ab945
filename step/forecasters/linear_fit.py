"""The choice of the models' linear start on evidence, among the moving average and the partially
pooled ridges of :mod:`step.forecasters.linear_candidates` (the linear family).

:func:`choose_linear_start` picks the candidate on *evidence*: ``prequential``
(each window ``k`` of the fit's past forecast by the candidate refitted on the
windows before ``k`` only: out-of-sample errors of every earlier origin) or
``validation`` (fitted on the training windows, scored on the validation
windows; the paper protocol, whose windows are in random order). With
``selection="se"`` the best candidate replaces the moving average only if it
beats it by more than ``z`` standard errors of the paired per-window difference.
"""
from __future__ import annotations

import logging

import numpy as np

from step.forecasters.linear_candidates import (Candidate, LinearStart, _design, _Stats, blend_fit,
                                                partial_pooled_fit, pooled_fit)

log = logging.getLogger(__name__)

__all__ = ["choose_linear_start", "clearly_better", "consistently_better", "switch_rule", "recency_weights", "wmean"]


def recency_weights(windows: np.ndarray, halflife: float) -> np.ndarray:
    """Weights ``[V]`` of evidence windows: ``0.5 ** (age / halflife)``, age counted in windows back
    from the most recent one (``halflife <= 0``: all 1). Discounted (forgetting-factor) prequential
    evidence, so that a change of regime in a long course is not outvoted by its early windows."""
    w = np.asarray(windows, dtype=float)
    if halflife <= 0 or not len(w):
        return np.ones(len(w))
    return 0.5 ** ((w.max() - w) / float(halflife))


def wmean(x: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Weighted mean over the finite entries of ``x`` (NaN if none)."""
    x = np.asarray(x, dtype=float)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)
    ok = np.isfinite(x)
    return float(np.sum(w[ok] * x[ok]) / np.sum(w[ok])) if ok.any() and w[ok].sum() > 0 else np.nan


def clearly_better(err_new: np.ndarray, err_ref: np.ndarray, z: float = 2.0,
                   weights: np.ndarray | None = None, relative: bool = False) -> bool:
    """Standard-error rule on paired per-window errors ``[V]``: ``err_new`` wins only if its
    (weighted) mean is lower by more than ``z`` standard errors of the paired difference (never
    with < 2 windows). With ``weights``, the standard error uses the weighted variance and the
    effective number of windows ``(sum w)^2 / sum w^2``. ``relative``: the differences are of
    log errors (``log err_new - log err_ref`` per window), so that the rule asks for a consistent
    gain across windows rather than one won on the few windows whose errors are largest."""
    a, b = np.asarray(err_new, dtype=float), np.asarray(err_ref, dtype=float)
    if relative:
        eps = 1e-12 + 1e-9 * float(np.nanmean(np.abs(b))) if np.isfinite(b).any() else 1e-12
        with np.errstate(invalid="ignore", divide="ignore"):
            a, b = np.log(a + eps), np.log(b + eps)
    d = a - b
    w = np.ones(len(d)) if weights is None else np.asarray(weights, dtype=float)
    ok = np.isfinite(d)
    d, w = d[ok], w[ok]
    if len(d) < 2:
        return False
    if weights is None:
        return bool(d.mean() + z * d.std(ddof=1) / np.sqrt(len(d)) < 0)
    m = float(np.sum(w * d) / np.sum(w))
    n_eff = float(np.sum(w) ** 2 / np.sum(w ** 2))
    if n_eff < 2:
        return False
    var = float(np.sum(w * (d - m) ** 2) / np.sum(w)) * n_eff / (n_eff - 1)
    return bool(m + z * np.sqrt(var / n_eff) < 0)


def consistently_better(err_new: np.ndarray, err_ref: np.ndarray, p: float = 0.05) -> bool:
    """Sign rule on paired per-window errors ``[V]``: ``err_new`` wins when it is lower in so many
    windows that a one-sided sign test (ties dropped) gives a p-value below ``p``, and its mean is
    lower too. Insensitive to the size of the few largest errors, so a small gain that holds in
    (nearly) every window is followed; under a null of exchangeable errors it switches in at most
    ``p`` of cases. ``p <= 0``: never."""
    from scipy.stats import binom

    a, b = np.asarray(err_new, dtype=float), np.asarray(err_ref, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b) & (a != b)
    if p <= 0 or ok.sum() < 2 or not np.mean(a[ok]) < np.mean(b[ok]):
        return False
    wins, n = int((a[ok] < b[ok]).sum()), int(ok.sum())
    return bool(binom.sf(wins - 1, n, 0.5) < p)


def switch_rule(err_new: np.ndarray, err_ref: np.ndarray, weights: np.ndarray, selection: str, z: float,
                relative: bool, consistent_p: float) -> str:
    """Which rule lets per-window errors ``err_new [V]`` replace the simpler choice's ``err_ref [V]``:
    ``"best"`` (``selection`` other than "se": the caller compares the means), ``"se"``
    (:func:`clearly_better` by ``z`` standard errors), ``"consistent"`` (:func:`consistently_better`
    at ``consistent_p``), or ``""`` (none: keep the simpler choice)."""
    if selection != "se":
        return "best"
    if clearly_better(err_new, err_ref, z, weights, relative):
        return "se"
    return "consistent" if consistently_better(err_new, err_ref, consistent_p) else ""


# --------------------------------------------------------------------------- the choice

def _candidates(graph_ok: bool, poolings: list[float]) -> tuple[list[bool], list[float]]:
    sets = [False, True] if graph_ok else [False]
    pool = sorted({float(p) for p in poolings} | {0.0, float("inf")})
    return sets, pool


def choose_linear_start(inputs: np.ndarray, nb: np.ndarray | None, targets: np.ndarray,
                        train: np.ndarray, val: np.ndarray, alphas: list[float],
                        poolings: list[float], evidence: str = "prequential", min_train: int = 3,
                        selection: str = "se", z: float = 2.0, halflife: float = 0.0,
                        relative: bool = True, external: dict[str, np.ndarray] | None = None,
                        scale: np.ndarray | None = None, consistent_p: float = 0.0,
                        start_rule: str = "select", blend_min: int = 3,
                        equal_shares: tuple[float, ...] = (0.0,)) -> LinearStart:
    """Choose the linear path's start among the moving average and the partially pooled ridges.

    Parameters
    ----------
    inputs : ``[W, L, N]`` standardised lags; nb : ``[W, L, N]`` neighbour means or None;
        targets : ``[W, N]`` (NaN = missing).
    train, val : window numbers of the fit (targets at or before its origin). The chosen
        candidate is fitted on ``train`` and ``val`` (prequential) or on ``train`` (validation).
    alphas : per-gene and pooled ridge strengths tried; poolings : pooling strengths tried
        (0 and inf are always included).
    evidence : "prequential" (every window of ``train``/``val`` from the ``min_train``-th on,
        forecast by candidates fitted on the windows before it) or "validation" (fitted on
        ``train``, scored on ``val``).

    The strengths are chosen in stages on the same evidence: the per-gene ``alpha_gene``
    (pooling 0) and the pooled ``alpha_pool`` (pooling inf) per feature set, then the pooling
    strength between them, then the feature set (own lags, or own + neighbour lags). Evidence
    windows are weighted by :func:`recency_weights` (``halflife``, prequential only); the
    standard-error rule compares log errors per window when ``relative``.

    external : ``{name: [W, N]}`` forecasts of other starts (the global learners), each window
        forecast out of sample (by a fit on the windows before it; NaN where none): candidates
        on the same evidence windows. One that wins is the start as a fixed offset
        (``LinearStart.base``; its linear weights are zero).
    scale : ``[N]`` per-gene scale of the errors (the scaler's std: errors in the working scale,
        that of the reported metrics); None = standardised errors.
    consistent_p : the best candidate also replaces the moving average when
        :func:`consistently_better` at this level (0 = the standard-error rule alone).
    start_rule : "select" (one candidate: the best, if it passes ``selection`` against the moving
        average) or "blend" (prequential evidence only): the moving average, the best linear
        candidate and every external forecaster combined with simplex weights fitted on the
        evidence (:func:`blend_fit`), kept only if its leave-one-window-out evidence error (weights
        refitted without the window, scored on it) is below the moving average's on at least
        ``blend_min`` windows; else the moving average.
    equal_shares : amounts ``s`` by which the blend's weights may be shrunk towards equal shares of
        its candidates, ``(1 - s) w + s / K`` (the forecast-combination rule that equal weights are
        hard to beat when the weights are estimated from few windows); 0 (the fitted weights) is
        always among them. An amount above 0 must beat the fitted weights on the
        leave-one-window-out evidence by the switching rule (``selection``: "se" with ``z``,
        ``relative`` and ``consistent_p``; "best": a lower mean); of those that do, the one with the
        lowest error is used (ties: the smallest). ``(0.0,)``: the fitted weights.
    """
    W, L, N = inputs.shape
    sets, pools = _candidates(nb is not None, poolings)
    ev = _Evidence(inputs, nb, targets, train, val, sets, evidence, min_train, scale)
    if len(ev.ev_arr) < 2 or len(train) < 2:
        log.info("linear start: %d evidence window(s); staying at the moving average", len(ev.ev_arr))
        return _moving_average(L, N, evidence, len(ev.ev_arr))
    wts = recency_weights(ev.ev_arr, halflife if evidence == "prequential" else 0.0)
    ma = inputs.mean(axis=1)
    ma_err = np.array([ev.cell_err(ma[k] - ev.last[k], k) for k in ev.ev_arr])
    scores: dict[str, float] = {"moving_average": wmean(ma_err, wts)}
    best_linear = _best_linear(ev, sets, pools, alphas, wts, scores)
    best = _best_external(ev, external, wts, scores, best_linear)
    if start_rule == "blend" and evidence == "prequential":
        return _blend_start(inputs, targets, ev.ev_arr, wts, ev.sc, ma, ma_err, scores, best_linear[1],
                            {k: F for k, F in (external or {}).items() if np.isfinite(F[ev.ev_arr]).any()},
                            ev.linear_preds, ev.refit, blend_min, evidence, equal_shares,
                            (selection, z, relative, consistent_p))
    return _selected_start(ev, best, ma_err, wts, scores, selection, z, relative, consistent_p, external, W)


class _Evidence:
    """The evidence windows of a linear-start choice (:func:`choose_linear_start`) and the
    candidates' fits and errors on them."""

    def __init__(self, inputs: np.ndarray, nb: np.ndarray | None, targets: np.ndarray, train: np.ndarray,
                 val: np.ndarray, sets: list[bool], evidence: str, min_train: int, scale: np.ndarray | None):
        """``inputs [W, L, N]``, ``nb [W, L, N]`` or None, ``targets [W, N]``, ``scale [N]`` or None."""
        W, L, N = inputs.shape
        self.L, self.N, self.evidence = L, N, evidence
        self.last = inputs[:, -1, :]                                     # [W, N]
        self.resid = targets - self.last                                 # [W, N]
        self.targets = targets
        self.designs = {g: _design(inputs, nb, g) for g in sets}         # [W, N, F+1] each
        self.past = np.sort(np.concatenate([np.asarray(train), np.asarray(val)])).astype(int)
        self.train = np.asarray(train, dtype=int)
        self.sc = np.ones(N) if scale is None else np.asarray(scale, dtype=float)
        # (graph, alpha_gene, alpha_pool, pooling) -> per-evidence-window errors
        if evidence == "prequential":
            ev = [k for i, k in enumerate(self.past) if i >= min_train]
        else:
            ev = list(np.asarray(val, dtype=int))
        self.ev_arr = np.array(ev, dtype=int)

    def cell_err(self, pred_resid: np.ndarray, k: int) -> float:
        """Scaled MSE over the observed genes of window ``k`` of a residual forecast ``pred_resid [N]``."""
        e = ((self.last[k] + pred_resid - self.targets[k]) * self.sc) ** 2
        return float(np.nanmean(e)) if np.isfinite(e).any() else np.nan

    def stats_sequence(self, g: bool):
        """Yield (k, stats of the windows before k) for every evidence window k."""
        X = self.designs[g]
        st = _Stats(self.N, X.shape[2])
        if self.evidence == "prequential":
            past = self.past
            j = 0
            for k in self.ev_arr:
                while j < len(past) and past[j] < k:
                    st.add(X[past[j]], self.resid[past[j]])
                    j += 1
                yield k, st
        else:
            for t in self.train:
                st.add(X[t], self.resid[t])
            for k in self.ev_arr:
                yield k, st

    def errors(self, g: bool, combos: list[tuple[float, float, float]]) -> dict[tuple, np.ndarray]:
        """Errors ``[V]`` on the evidence windows of each ``(alpha_gene, alpha_pool, pooling)`` of feature set ``g``."""
        X = self.designs[g]
        out = {c: np.full(len(self.ev_arr), np.nan) for c in combos}
        for i, (k, st) in enumerate(self.stats_sequence(g)):
            pooled_cache: dict[float, np.ndarray] = {}
            for (ag, ap, tau) in combos:
                if ap not in pooled_cache:
                    pooled_cache[ap] = pooled_fit(st.S, st.s, ap)
                th = partial_pooled_fit(st.S, st.s, st.cnt, ag, pooled_cache[ap], tau)
                out[(ag, ap, tau)][i] = self.cell_err(np.einsum("nf,nf->n", X[k], th), k)
        return out

    def refit(self, cand: Candidate) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The linear candidate refitted as its evidence was: prequential -> on every window before
        the origin (training and validation), as each evidence window was forecast from all windows
        before it; validation -> on the training windows. (own [N, L], neighbour [N, L], bias [N])."""
        L, N = self.L, self.N
        X = self.designs[cand.graph]
        st = _Stats(N, X.shape[2])
        for t in (self.past if self.evidence == "prequential" else self.train):
            st.add(X[t], self.resid[t])
        th = partial_pooled_fit(st.S, st.s, st.cnt, cand.alpha_gene, pooled_fit(st.S, st.s, cand.alpha_pool),
                                cand.pooling)
        own = th[:, :L].copy()
        own[:, -1] += 1.0  # the persistence anchor
        return own, (th[:, L:2 * L].copy() if cand.graph else np.zeros((N, L))), th[:, -1].copy()

    def linear_preds(self, cand: Candidate) -> np.ndarray:
        """Prequential forecasts ``[V, N]`` of one linear candidate (:func:`_linear_preds`)."""
        return _linear_preds(self.designs[cand.graph], self.stats_sequence(cand.graph), cand, self.last, self.N,
                             len(self.ev_arr))


def _best_linear(ev: _Evidence, sets: list[bool], pools: list[float], alphas: list[float], wts: np.ndarray,
                 scores: dict[str, float]) -> tuple[float, Candidate, np.ndarray]:
    """The best partially pooled ridge ``(score, candidate, errors [V])``, its strengths chosen in
    stages per feature set; every candidate's score (``wts [V]``-weighted) goes to ``scores``."""
    best: tuple[float, Candidate, np.ndarray] | None = None
    a0 = float(alphas[0])
    for g in sets:
        # stage 1: per-gene alpha (pooling 0) and pooled alpha (pooling inf)
        e_gene = ev.errors(g, [(a, a0, 0.0) for a in alphas])
        ag = min(alphas, key=lambda a: (wmean(e_gene[(a, a0, 0.0)], wts), -a))
        e_pool = ev.errors(g, [(a0, a, float("inf")) for a in alphas])
        ap = min(alphas, key=lambda a: (wmean(e_pool[(a0, a, float("inf"))], wts), -a))
        # stage 2: the pooling strength between them
        e_path = ev.errors(g, [(ag, ap, t) for t in pools if 0 < t < np.inf])
        e_path[(ag, ap, 0.0)] = e_gene[(ag, a0, 0.0)]
        e_path[(ag, ap, float("inf"))] = e_pool[(a0, ap, float("inf"))]
        for (a_g, a_p, tau), e in e_path.items():
            cand = Candidate(g, a_g, a_p, tau)
            m = wmean(e, wts)
            scores[cand.label()] = m
            if best is None or m < best[0] - 1e-15:
                best = (m, cand, e)
    return best


def _best_external(ev: _Evidence, external: dict[str, np.ndarray] | None, wts: np.ndarray,
                   scores: dict[str, float], best_linear) -> tuple[float, Candidate, np.ndarray]:
    """The best of ``best_linear`` and the external forecasts (``{name: [W, N]}``), each scored into ``scores``."""
    best = best_linear
    for name, F in (external or {}).items():
        e = np.array([ev.cell_err(F[k] - ev.last[k], k) for k in ev.ev_arr])
        cand = Candidate(base=name)
        scores[name] = wmean(e, wts)
        if np.isfinite(e).all() and scores[name] < best[0] - 1e-15:
            best = (scores[name], cand, e)
    assert best is not None and best_linear is not None
    return best


def _selected_start(ev: _Evidence, best: tuple[float, Candidate, np.ndarray], ma_err: np.ndarray,
                    wts: np.ndarray, scores: dict[str, float], selection: str, z: float, relative: bool,
                    consistent_p: float, external: dict[str, np.ndarray] | None, W: int) -> LinearStart:
    """``start_rule: select``: the best candidate if it passes ``selection`` against the moving
    average (errors ``ma_err [V]``), else the moving average."""
    L, N, evidence, ev_arr = ev.L, ev.N, ev.evidence, ev.ev_arr
    m, cand, e = best
    rule = switch_rule(e, ma_err, wts, selection, z, relative, consistent_p)
    if not rule or not m < scores["moving_average"]:
        log.info("linear start: best candidate %s (evidence MSE %.5f) is not better than the moving "
                 "average (%.5f) by %g standard errors nor consistently on %d %s window(s); staying at the "
                 "moving average", cand.label(), m, scores["moving_average"], z, len(ev_arr), evidence)
        out = _moving_average(L, N, evidence, len(ev_arr))
        out.scores = scores
        return out
    oos = np.full((W, N), np.nan)
    if cand.base is not None:
        log.info("linear start: %s (evidence MSE %.5f vs moving average %.5f, %d %s window(s), rule %s)",
                 cand.label(), m, scores["moving_average"], len(ev_arr), evidence, rule)
        oos[ev_arr] = external[cand.base][ev_arr]
        return LinearStart(cand, np.zeros((N, L)), np.zeros((N, L)), np.zeros(N), evidence, len(ev_arr),
                           scores, rule, oos=oos)
    own, neighbour, bias = ev.refit(cand)
    log.info("linear start: %s (evidence MSE %.5f vs moving average %.5f, %d %s window(s))",
             cand.label(), m, scores["moving_average"], len(ev_arr), evidence)
    oos[ev_arr] = ev.linear_preds(cand)
    return LinearStart(cand, own, neighbour, bias, evidence, len(ev_arr), scores, rule, oos=oos)


def _linear_preds(X: np.ndarray, seq, cand: Candidate, last: np.ndarray, N: int, V: int) -> np.ndarray:
    """Prequential forecasts ``[V, N]`` (standardised) of one linear candidate on the evidence
    windows: window ``k`` from the fit on the windows before it (``seq``: ``stats_sequence``)."""
    out = np.full((V, N), np.nan)
    for i, (k, st) in enumerate(seq):
        th = partial_pooled_fit(st.S, st.s, st.cnt, cand.alpha_gene, pooled_fit(st.S, st.s, cand.alpha_pool),
                                cand.pooling)
        out[i] = last[k] + np.einsum("nf,nf->n", X[k], th)
    return out


def _blend_start(inputs, targets, ev_arr, wts, sc, ma, ma_err, scores, lin_cand, external, lin_preds, refit,
                 blend_min: int, evidence: str, equal_shares: tuple[float, ...] = (0.0,),
                 rule: tuple[str, float, bool, float] = ("se", 2.0, True, 0.0)) -> LinearStart:
    """``start_rule: blend`` (:func:`choose_linear_start`). Candidates: the moving average, the best
    linear candidate (if it is not the moving average) and the external forecasters; their
    prequential forecasts ``[K, V, N]`` on the evidence windows are blended with simplex weights
    (:func:`blend_fit`; cells weighted like the evidence score: each window by its recency weight
    over its observed genes, each gene by its working-scale variance). The blend is kept only if
    its leave-one-window-out error beats the moving average's on the same windows. The weights are
    shrunk towards equal shares by the amount of ``equal_shares`` with the lowest
    leave-one-window-out error (each window's weights fitted without it, then shrunk) among those
    that beat the fitted weights by the start's own switching rule (``rule``: ``(selection, z,
    relative, consistent_p)`` of :func:`switch_rule`; "best" also needs a lower mean): a gain of
    noise size on a few windows keeps the fitted weights."""
    W, L, N = inputs.shape
    V = len(ev_arr)
    names, P = ["moving_average"], [ma[ev_arr]]
    if not lin_cand.is_moving_average and lin_cand.base is None:
        names.append(lin_cand.label())
        P.append(lin_preds(lin_cand))
    for name, F in external.items():
        names.append(name)
        P.append(F[ev_arr])
    P = np.stack(P)                                              # [K, V, N]
    # the windows every candidate forecast (a global learner refitted in blocks at genome scale has
    # no out-of-sample forecast of the first windows)
    okw = np.isfinite(P).all(axis=(0, 2))
    if not okw.all():
        log.info("linear start: %d of %d evidence windows lack a candidate's forecast; the blend is "
                 "weighted on the other %d", int((~okw).sum()), V, int(okw.sum()))
        P, ev_arr, ma_err = P[:, okw], ev_arr[okw], np.asarray(ma_err)[okw]
        wts = np.asarray(wts)[okw]
        V = int(okw.sum())
    y = targets[ev_arr]                                          # [V, N]
    obs = np.isfinite(y)
    wv = np.asarray(wts, dtype=float) / np.maximum(obs.sum(1), 1)
    cell_w = wv[:, None] * (sc[None, :] ** 2) * obs              # [V, N]

    def window_err(pred: np.ndarray, i: int) -> float:
        e = ((pred - y[i]) * sc) ** 2
        return float(np.nanmean(e)) if np.isfinite(e).any() else np.nan

    ma_only = _moving_average(L, N, evidence, V)
    ma_only.scores = scores
    if V < max(int(blend_min), 2) or len(names) < 2:
        log.info("linear start: %d evidence window(s) (< selection.blend_min_windows %d) or no candidate "
                 "besides the moving average; staying at the moving average", V, blend_min)
        return ma_only
    K = P.shape[0]
    equal = np.full(K, 1.0 / K)
    shares = sorted({float(s) for s in equal_shares} | {0.0})  # the fitted weights are always a choice
    lowo = {s: np.full(V, np.nan) for s in shares}
    held = {s: np.full((V, N), np.nan) for s in shares}  # each window's blend, weights fitted without it
    for i in range(V):
        keep = np.arange(V) != i
        wi = blend_fit(P[:, keep], y[keep], cell_w[keep])
        for s in shares:
            held[s][i] = np.tensordot((1.0 - s) * wi + s * equal, P[:, i], axes=1)
            lowo[s][i] = window_err(held[s][i], i)
    def beats(s: float) -> bool:  # the start's own rule for leaving the fitted weights
        if s == 0.0:
            return True
        how = switch_rule(lowo[s], lowo[0.0], wts, *rule)
        return how != "" and (how != "best" or wmean(lowo[s], wts) < wmean(lowo[0.0], wts))
    share = min((s for s in shares if beats(s)), key=lambda s: (wmean(lowo[s], wts), s))  # ties: less shrinkage
    oos = np.full((W, N), np.nan)
    oos[ev_arr] = held[share]
    w = (1.0 - share) * blend_fit(P, y, cell_w) + share * equal
    if len(shares) > 1:  # each amount's leave-one-window-out error, for the record
        scores.update({f"blend_lowo_equal{s:g}": wmean(lowo[s], wts) for s in shares})
    scores["blend_lowo"] = wmean(lowo[share], wts)
    scores["blend"] = wmean(np.array([window_err(np.tensordot(w, P[:, i], axes=1), i) for i in range(V)]), wts)
    weights = {n: round(float(v), 6) for n, v in zip(names, w) if v > 1e-6}
    if not scores["blend_lowo"] < wmean(ma_err, wts) or w[0] > 1 - 1e-6:
        log.info("linear start: the blend %s (leave-one-window-out evidence MSE %.5f) does not beat the moving "
                 "average (%.5f) on %d prequential window(s); staying at the moving average",
                 weights, scores["blend_lowo"], scores["moving_average"], V)
        return ma_only
    own = np.full((N, L), w[0] / L)
    neighbour, bias = np.zeros((N, L)), np.zeros(N)
    k = 1
    cand = Candidate()
    if names[1:2] and names[1] == lin_cand.label():
        k = 2
        if w[1] > 1e-6:
            o, nb_, b = refit(lin_cand)
            own, neighbour, bias = own + w[1] * o, w[1] * nb_, w[1] * b
            cand = lin_cand
    bases = {n: float(v) for n, v in zip(names[k:], w[k:]) if v > 1e-6}
    if cand.is_moving_average and bases:  # the record's single-candidate label: the heaviest learner
        cand = Candidate(base=max(bases, key=bases.get))
    log.info("linear start: blend %s (shrunk by %g towards equal shares; leave-one-window-out evidence MSE %.5f, "
             "in-sample %.5f, vs moving average %.5f, %d prequential window(s))", weights, share,
             scores["blend_lowo"], scores["blend"], scores["moving_average"], V)
    return LinearStart(cand, own, neighbour, bias, evidence, V, scores, "blend", bases=bases, weights=weights,
                       oos=oos, equal_share=share)


def _moving_average(L: int, N: int, evidence: str, n_ev: int) -> LinearStart:
    return LinearStart(Candidate(), np.full((N, L), 1.0 / L), np.zeros((N, L)), np.zeros(N),
                       evidence, n_ev, {})
