"""Hi-C feature functions against small hand-made contact matrices with known answers,
and the numpy diamond insulation against cooltools.insulation on a cooler (two routes)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from raw_data_conversion import features


def two_tads(n: int = 8, edge: int = 4, inside: float = 10.0, across: float = 1.0) -> np.ndarray:
    idx = np.arange(n) >= edge
    return np.where(idx[:, None] == idx[None, :], inside, across).astype(float)


def checkerboard(pattern: str, decay: bool = True) -> np.ndarray:
    p = np.array([c == "A" for c in pattern])
    same = p[:, None] == p[None, :]
    d = np.abs(np.subtract.outer(np.arange(len(p)), np.arange(len(p))))
    return np.where(same, 3.0, 1.0) * (100.0 / (1 + d) if decay else 1.0)


# ---------------------------------------------------------------- published definitions


def test_published_insulation_linear_matrix_known_zscores():
    n, w = 14, 2
    i = np.arange(n)
    M = (i[:, None] + i[None, :]).astype(float)  # window mean around i is 2i - 1
    got = features.published_insulation(M, w)
    core = 2 * np.arange(w, n - w) - 1.0
    want = np.zeros(n)
    want[w:n - w] = (core - core.mean()) / core.std()
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert (got[:w] == 0).all() and (got[n - w:] == 0).all()


def test_published_boundaries_and_distance():
    ins = np.array([0, 1, 2, -3, 2, 1, 1, 2, 1, -2, 1, 2, 0.5, 0], dtype=float)
    peaks = features.published_boundaries(ins, distance=5, prominence=0.1)
    assert list(peaks) == [3, 9]
    np.testing.assert_array_equal(features.boundary_distance(np.array([0, 3, 6, 13]), peaks), [3, 0, 3, 4])
    assert np.isnan(features.boundary_distance(np.array([1]), np.array([], dtype=int))).all()


def test_published_eigenvector_splits_checkerboard_and_sums_positive():
    pattern = "AABBBAABBA"
    v = features.published_eigenvector(checkerboard(pattern, decay=False))
    assert v.sum() > 0
    lab = features.labels_ab(v)
    a = np.array([c == "A" for c in pattern])
    assert len(set(lab[a])) == 1 and len(set(lab[~a])) == 1 and lab[a][0] != lab[~a][0]


# ---------------------------------------------------------------- standard definitions


def test_diamond_insulation_two_tads_known_values():
    # window 2, ignore_diags 1: the diamond of bin i is (i-1, i), (i-1, i+1), (i, i+1), clipped at the ends
    log2, n_valid = features.diamond_insulation(two_tads(), window=2, ignore_diags=1, norm_by_median=False)
    np.testing.assert_allclose(2 ** log2, [10, 10, 10, 4, 4, 10, 10, 10])
    np.testing.assert_array_equal(n_valid, [1, 3, 3, 3, 3, 3, 3, 1])


def test_diamond_insulation_bad_bin_is_left_out():
    M = two_tads()
    M[2, :] = M[:, 2] = np.nan
    log2, n_valid = features.diamond_insulation(M, window=2, ignore_diags=1, norm_by_median=False)
    assert n_valid[2] == 1 and 2 ** log2[2] == pytest.approx(10.0)  # only (1, 3) avoids bin 2
    assert n_valid[3] == 1 and 2 ** log2[3] == pytest.approx(1.0)  # only (3, 4) is valid


def test_insulation_minimum_at_the_tad_edge():
    M = two_tads(n=30, edge=13) + np.eye(30)
    log2, _ = features.diamond_insulation(M, window=4, ignore_diags=1)
    assert set(np.flatnonzero(log2 == np.nanmin(log2))) == {12, 13}


def test_insulation_boundaries_known_track():
    track = np.array([0, 0, -1, 0, 0, 0, 0, -2, 0, 0], dtype=float)
    n_valid = np.full(10, 9)
    bounds, strength = features.insulation_boundaries(track, n_valid, threshold=0.5)
    assert list(bounds) == [2, 7]
    assert strength[2] == pytest.approx(1.0) and strength[7] == pytest.approx(2.0)
    assert list(features.insulation_boundaries(track, n_valid, threshold=1.5)[0]) == [7]
    # bins with too few valid pixels take no part
    n_valid[7] = 1
    assert list(features.insulation_boundaries(track, n_valid, threshold=0.5)[0]) == [2]


def test_diamond_insulation_matches_cooltools_on_a_cooler(tmp_path):
    cooler = pytest.importorskip("cooler")
    cooltools = pytest.importorskip("cooltools")
    rng = np.random.default_rng(1)
    n, binsize = 24, 1000
    M = checkerboard("AAABBBAAABBBBAAABBBAAABB") + rng.uniform(0, 5, (n, n))
    M = np.round((M + M.T) / 2, 3)
    M[5, :] = M[:, 5] = 0.0  # an empty bin: bad
    bins = pd.DataFrame({"chrom": "chr1", "start": np.arange(n) * binsize, "end": np.arange(1, n + 1) * binsize})
    bins["weight"] = np.where(np.arange(n) == 5, np.nan, 1.0)
    i, j = np.triu_indices(n)
    keep = M[i, j] > 0
    pixels = pd.DataFrame({"bin1_id": i[keep], "bin2_id": j[keep], "count": M[i, j][keep]})
    uri = str(tmp_path / "t.cool")
    cooler.create_cooler(uri, bins, pixels, dtypes={"count": float}, ordered=True)
    clr = cooler.Cooler(uri)
    table = cooltools.insulation(clr, [4 * binsize], ignore_diags=2, clr_weight_name="weight", threshold=0)
    dense = np.where(np.isnan(bins["weight"].to_numpy())[:, None] | np.isnan(bins["weight"].to_numpy())[None, :], np.nan, M)
    log2, n_valid = features.diamond_insulation(dense, window=4, ignore_diags=2)
    np.testing.assert_allclose(log2, table[f"log2_insulation_score_{4 * binsize}"].to_numpy(), rtol=1e-9, equal_nan=True)
    np.testing.assert_array_equal(n_valid, table[f"n_valid_pixels_{4 * binsize}"].to_numpy())
    bounds, strength = features.insulation_boundaries(log2, n_valid, threshold=0)
    np.testing.assert_allclose(strength, table[f"boundary_strength_{4 * binsize}"].to_numpy(), equal_nan=True)


@pytest.mark.parametrize("correlation", [False, True])
def test_compartments_phased_by_gene_density(correlation):
    pattern = "AABBBAAABBAAABBBBAAABB"
    M = checkerboard(pattern)
    density = np.array([5.0 if c == "A" else 1.0 for c in pattern])
    vals, vecs = features.compartments(M, density, n_eigs=3, ignore_diags=1, clip_percentile=100,
                                       correlation=correlation)
    assert vecs.shape == (3, len(pattern))
    assert "".join(features.labels_ab(vecs[0])) == pattern


def test_compartments_bad_bins_are_nan():
    pattern = "AABBBAAABBAAABBBBAAABB"
    M = checkerboard(pattern)
    M[0, :] = M[:, 0] = np.nan
    density = np.array([5.0 if c == "A" else 1.0 for c in pattern])
    _, vecs = features.compartments(M, density, ignore_diags=1, clip_percentile=100)
    assert np.isnan(vecs[0][0])
    assert "".join(features.labels_ab(vecs[0])[1:]) == pattern[1:]


def test_compartments_match_cooltools_cis_eig():
    from cooltools.api.eigdecomp import cis_eig

    rng = np.random.default_rng(3)
    pattern = "AABBBAAABBAAABBBBAAABBABBBAAB"
    M = checkerboard(pattern) * rng.uniform(0.8, 1.2, (len(pattern),) * 2)
    M = (M + M.T) / 2
    M[3, :] = M[:, 3] = np.nan
    density = np.array([5.0 if c == "A" else 1.0 for c in pattern]) + rng.uniform(0, 1, len(pattern))
    ours_vals, ours = features.compartments(M, density, n_eigs=3, ignore_diags=2, clip_percentile=99.9)
    ref_vals, ref = cis_eig(M, n_eigs=3, phasing_track=density, ignore_diags=2, clip_percentile=99.9)
    np.testing.assert_allclose(ours_vals, ref_vals, rtol=1e-8)
    np.testing.assert_allclose(ours, ref, atol=1e-8, equal_nan=True)


def test_compartments_arpack_solver_matches_dense():
    """The genome-scale solver (eigsh from a fixed start) gives the dense solver's eigenvector."""
    from raw_data_conversion.features import compartments

    rng = np.random.default_rng(3)
    n = 120
    sign = np.where((np.arange(n) // 15) % 2 == 0, 1.0, -1.0)
    d = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    M = (1.0 + 0.6 * np.outer(sign, sign)) / (d + 1.0) + rng.uniform(0, 0.01, (n, n))
    M = (M + M.T) / 2
    M[5, :] = M[:, 5] = np.nan
    phasing = (sign > 0).astype(float)
    dense = compartments(M, phasing, n_eigs=2)[1]
    arpack = compartments(M, phasing, n_eigs=2, solver="arpack")[1]
    ok = np.isfinite(dense[0])
    np.testing.assert_allclose(arpack[0][ok], dense[0][ok], atol=1e-8)
    assert np.corrcoef(dense[0][ok], sign[ok])[0, 1] > 0.9
