"""Graph edge weights on a hand-made 3-gene example, and the TemporalGraphs checks."""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from step.config import GraphConfig
from step.data.course import GeneTimeCourse
from step.errors import InputError
from step.graph.graphs import TemporalGraphs, build_graphs, edge_features, structural_adjacency

E1 = math.e - 1.0  # log1p(E1) = 1


def three_genes() -> GeneTimeCourse:
    """Genes a, b, c; pairs (a,b), (a,c), (b,c); c has no compartment and no insulation."""
    X = np.array([[1.0, 2.0, 4.0],
                  [0.0, 0.0, np.nan]])
    return GeneTimeCourse(
        genes=["a", "b", "c"], display=["a", "b", "c"], times=np.array([0.0, 1.0]), X=X,
        pairs=np.array([[0, 1], [0, 2], [1, 2]]),
        hic=np.array([E1, math.e**2 - 1.0, 0.0]),  # log1p -> 1, 2, 0 -> min-max 0.5, 1, 0
        chromosome=["chr1"] * 3, bin=np.array([1.0, 2.0, 3.0]),
        compartment=np.array(["A", "A", ""]),
        insulation=np.array([0.5, 0.5, np.nan]),
        tad_distance=np.array([0.0, 1.0, 3.0]),
    )


CFG = GraphConfig(w_hic=0.4, w_compartment=0.15, w_tad=0.15, w_insulation=0.1, w_expression=0.2)


def test_edge_features_exact():
    f = edge_features(three_genes())
    np.testing.assert_allclose(f["hic_norm"], [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(f["same_compartment"], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(f["tad_sim"], [1 / 2, 1 / 4, 1 / 3])
    np.testing.assert_allclose(f["insulation_sim"], [1.0, np.nan, np.nan])
    assert list(f["gene1"]) == ["a", "a", "b"] and list(f["gene2"]) == ["b", "c", "c"]


def test_build_graphs_exact_weights(caplog):
    course = three_genes()
    with caplog.at_level(logging.INFO, logger="step.graph.graphs"):
        g = build_graphs(course, CFG, course.X)
    # t0: expr_sim = 1/2, 1/4, 1/3; t1: 1, NaN -> 0, NaN -> 0
    expected = np.array([
        [0.4 * 0.5 + 0.15 + 0.15 / 2 + 0.1 + 0.2 / 2, 0.4 + 0.15 / 4 + 0.2 / 4, 0.15 / 3 + 0.2 / 3],
        [0.4 * 0.5 + 0.15 + 0.15 / 2 + 0.1 + 0.2, 0.4 + 0.15 / 4, 0.15 / 3],
    ])
    np.testing.assert_allclose(g.weights, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(expected[0], [0.625, 0.4875, 0.35 / 3])
    assert g.weights.shape == (2, 3) and g.edges.tolist() == [[0, 1], [0, 2], [1, 2]]
    # the missing features are logged with the gene they belong to
    text = caplog.text
    assert "insulation score missing for 1 gene(s)" in text and ": c" in text
    assert "expression missing" in text


def test_adjacency_and_dense_mean():
    course = three_genes()
    g = build_graphs(course, CFG, course.X)
    a0 = g.adjacency(0)
    assert a0.shape == (3, 3) and (a0 != a0.T).nnz == 0
    assert a0[0, 1] == pytest.approx(0.625) and a0[2, 1] == pytest.approx(0.35 / 3)
    m = g.dense_mean([0, 1])
    np.testing.assert_allclose(m, (a0.toarray() + g.adjacency(1).toarray()) / 2)
    np.testing.assert_allclose(np.diag(m), 0.0)


def test_structural_adjacency_has_no_expression_term():
    course = three_genes()
    s = structural_adjacency(course, CFG)
    g = build_graphs(course, GraphConfig(**{**CFG.__dict__, "w_expression": 0.0}), course.X)
    np.testing.assert_allclose(s, g.dense_mean([0]))
    assert s[0, 1] == pytest.approx(0.525)


def test_working_scale_is_used_not_course_X():
    course = three_genes()
    X = np.log1p(np.nan_to_num(course.X))
    g = build_graphs(course, GraphConfig(0, 0, 0, 0, 1.0), X)
    np.testing.assert_allclose(g.weights[0, 0], 1 / (1 + abs(np.log1p(1) - np.log1p(2))))


def test_bad_inputs():
    course = three_genes()
    with pytest.raises(InputError, match="w_tad"):
        build_graphs(course, GraphConfig(w_tad=-1.0), course.X)
    with pytest.raises(ValueError, match="shape"):
        build_graphs(course, CFG, course.X[:1])
    with pytest.raises(ValueError, match="i < j"):
        TemporalGraphs(np.arange(1.0), 3, np.array([[1, 0]]), np.ones((1, 1)))
    with pytest.raises(ValueError, match="weights"):
        TemporalGraphs(np.arange(2.0), 3, np.array([[0, 1]]), np.ones((1, 1)))
    with pytest.raises(ValueError, match=">= 0"):
        TemporalGraphs(np.arange(1.0), 3, np.array([[0, 1]]), -np.ones((1, 1)))
