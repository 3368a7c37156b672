"""Hull geometry against closed forms, brute force, Qhull (in 2-3 D) and its own LP."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.spatial import ConvexHull, Delaunay

from playlist.geometry.hull import HullTolerance, PlaylistHull, Verdict
from playlist.geometry.hull_ranking import in_span_lower_bounds, lower_bounds, ranked
from playlist.geometry.simplex import lp_membership, min_norm_point


def cube(d: int) -> np.ndarray:
    return np.array(list(itertools.product([0.0, 1.0], repeat=d)))


def simplex_projection(p: np.ndarray) -> np.ndarray:
    """Closed-form Euclidean projection onto the standard simplex (sort and threshold)."""
    u = np.sort(p)[::-1]
    css = np.cumsum(u) - 1.0
    k = np.arange(1, len(p) + 1)
    rho = np.nonzero(u - css / k > 0)[0][-1]
    return np.maximum(p - css[rho] / (rho + 1), 0.0)


def segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    t = np.clip((p - a) @ (b - a) / ((b - a) @ (b - a)), 0.0, 1.0)
    return float(np.linalg.norm(p - (a + t * (b - a))))


def check_optimality(vertices: np.ndarray, p: np.ndarray, q: np.ndarray, eps: float = 1e-9) -> None:
    """q is the projection of p iff ⟨p − q, x_i − q⟩ ≤ 0 for every vertex x_i."""
    assert np.max((vertices - q) @ (p - q)) <= eps


@pytest.mark.parametrize("d", [2, 3, 6])
def test_cube_distance_is_clipping(d: int) -> None:
    rng = np.random.default_rng(d)
    V = cube(d)
    for p in rng.uniform(-1.0, 2.0, size=(40, d)):
        res = min_norm_point(V, p)
        expected = np.clip(p, 0.0, 1.0)
        assert res.distance == pytest.approx(np.linalg.norm(p - expected), abs=1e-9)
        np.testing.assert_allclose(res.point, expected, atol=1e-8)
        assert res.weights.min() >= 0 and res.weights.sum() == pytest.approx(1.0)
        check_optimality(V, p, res.point)


def test_2d_polygon_matches_qhull_and_brute_force() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(15, 2))
    hull = ConvexHull(X)
    tri = Delaunay(X)
    edges = [(X[a], X[b]) for a, b in hull.simplices]
    ph = PlaylistHull(X)
    P = rng.uniform(-3, 3, size=(200, 2))
    meas = ph.measure(P)
    inside_qhull = tri.find_simplex(P) >= 0
    for i, p in enumerate(P):
        brute = 0.0 if inside_qhull[i] else min(segment_distance(p, a, b) for a, b in edges)
        assert meas.distance[i] == pytest.approx(brute, abs=1e-9)
    np.testing.assert_array_equal(meas.distance <= 1e-9, inside_qhull)
    np.testing.assert_array_equal(ph.contains(P), inside_qhull)
    assert ph.full_dimensional and np.all(meas.off_span == 0)


def test_3d_membership_matches_delaunay_and_lp_agrees_with_qp() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 3))
    P = rng.normal(scale=1.2, size=(150, 3))
    inside_qhull = Delaunay(X).find_simplex(P) >= 0
    assert 20 < inside_qhull.sum() < 130
    for p, inside in zip(P, inside_qhull):
        residual, lam = lp_membership(X, p)
        qp = min_norm_point(X, p)
        assert (residual <= 1e-9) == inside == (qp.distance <= 1e-9)
        # ‖·‖₂ ≤ ‖·‖₁ ≤ √d‖·‖₂: the L1-optimal point is feasible for the QP and vice versa.
        assert qp.distance <= residual + 1e-9
        assert residual <= np.sqrt(3) * qp.distance + 1e-9
        assert lam.min() >= -1e-12 and lam.sum() == pytest.approx(1.0)


def test_standard_simplex_in_128d_decomposes_distance() -> None:
    d = 128
    rng = np.random.default_rng(3)
    V = np.eye(d)
    ph = PlaylistHull(V)
    assert ph.rank == d - 1 and not ph.full_dimensional
    P = np.concatenate([rng.dirichlet(np.full(d, 0.3), size=5),          # inside
                        rng.normal(scale=0.1, size=(10, d)),              # mostly outside
                        rng.dirichlet(np.ones(d), size=5) + 0.01])        # shifted off the span
    meas = ph.measure(P)
    for i, p in enumerate(P):
        q = simplex_projection(p)
        assert meas.distance[i] == pytest.approx(np.linalg.norm(p - q), abs=1e-9)
        np.testing.assert_allclose(meas.nearest[i], q, atol=1e-8)
        # Off-span part: distance to the hyperplane Σx = 1.
        assert meas.off_span[i] == pytest.approx(abs(p.sum() - 1) / np.sqrt(d), abs=1e-9)
        assert meas.distance[i] ** 2 == pytest.approx(meas.in_span[i] ** 2 + meas.off_span[i] ** 2, abs=1e-12)
        check_optimality(V, p, meas.nearest[i])
    assert all(v is Verdict.INSIDE for v in meas.verdict[:5])
    assert np.all(meas.distance[:5] <= 1e-9)
    # Shifted points are exactly above an interior point: in-span zero, off-span = shift·√d.
    np.testing.assert_allclose(meas.in_span[15:], 0.0, atol=1e-9)
    np.testing.assert_allclose(meas.off_span[15:], 0.01 * np.sqrt(d), atol=1e-9)


def test_random_playlist_in_128d_matches_independent_solver() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(12, 128))
    ph = PlaylistHull(X)
    assert ph.rank == 11
    for trial in range(4):
        p = rng.normal(size=128) if trial % 2 else X.T @ rng.dirichlet(np.ones(12)) + 0.05 * rng.normal(size=128)
        meas = ph.measure(p)
        # Independent: SLSQP on the simplex-constrained least squares.
        fun = lambda lam: float(np.sum((lam @ X - p) ** 2))  # noqa: E731
        jac = lambda lam: 2 * X @ (lam @ X - p)  # noqa: E731
        ref = minimize(fun, np.full(12, 1 / 12), jac=jac, method="SLSQP", bounds=[(0, 1)] * 12,
                       constraints=[{"type": "eq", "fun": lambda lam: lam.sum() - 1}],
                       options={"ftol": 1e-15, "maxiter": 1000})
        assert meas.distance[0] == pytest.approx(np.sqrt(ref.fun), rel=1e-6)
        assert meas.distance[0] <= np.sqrt(ref.fun) + 1e-9  # never worse than the reference
        check_optimality(X, p, meas.nearest[0])
        # The nearest point is in the hull: the LP finds it with zero residual.
        assert lp_membership(X, meas.nearest[0])[0] <= 1e-7
        assert meas.gap[0] <= 1e-9


def test_distance_zero_iff_inside_in_high_dimension() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(10, 64))
    ph = PlaylistHull(X)
    inside = rng.dirichlet(np.ones(10), size=20) @ X
    beyond = ph.center + 1.5 * (inside - ph.center)   # scaled past the boundary, still in the span
    meas_in, meas_out = ph.measure(inside), ph.measure(beyond)
    assert np.all(meas_in.distance <= 1e-9) and np.all(ph.contains(inside))
    assert not ph.contains(beyond).any()
    outside = meas_out.distance > 1e-6
    assert outside.sum() >= 15  # most points scaled by 1.5 leave the simplex
    np.testing.assert_allclose(meas_out.off_span, 0.0, atol=1e-9)
    np.testing.assert_array_equal(ph.contains(beyond), ~outside)


def test_scale_uses_distinct_tracks_and_falls_back() -> None:
    X = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    ph = PlaylistHull(X)
    # Distinct points: NN distances 1, 1, 3 → median 1 (the duplicate does not make it 0).
    assert ph.scale == pytest.approx(1.0) and ph.scale_source == "playlist"
    one = PlaylistHull(np.array([[1.0, 2.0, 3.0]]), fallback_scale=0.5)
    assert one.scale == 0.5 and one.scale_source == "fallback" and one.rank == 0
    meas = one.measure(np.array([[1.0, 2.0, 3.2], [1.0, 2.0, 4.0]]))
    np.testing.assert_allclose(meas.distance, [0.2, 1.0])
    assert meas.verdict == [Verdict.INSIDE, Verdict.OUTSIDE]
    dup = PlaylistHull(np.array([[1.0, 1.0], [1.0, 1.0]]), fallback_scale=2.0)
    assert dup.rank == 0 and dup.scale_source == "fallback"
    # Two copies of one track whose stored vectors differ by float32 rounding are one track too.
    a, b = np.random.default_rng(0).normal(size=(2, 272)).astype(np.float32)
    copy = a + np.float32(2e-7) * np.abs(a) * (np.arange(272) % 3 == 0)
    assert np.any(copy != a)
    near = PlaylistHull(np.stack([a, copy, b]))
    assert len(near.distinct) == 2 and near.rank == 1
    assert near.scale == pytest.approx(float(np.linalg.norm(a.astype(np.float64) - b)))
    with pytest.raises(ValueError):
        PlaylistHull(np.zeros((0, 3)))


def test_verdict_thresholds() -> None:
    ph = PlaylistHull(np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]]))  # a segment, scale 2
    meas = ph.measure(np.array([[1.0, 0.0, 0.5], [1.0, 0.0, 1.5], [3.0, 0.0, 0.0], [1.0, 0.0, 3.0]]))
    np.testing.assert_allclose(meas.off_span_norm, [0.25, 0.75, 0.0, 1.5])
    np.testing.assert_allclose(meas.in_span_norm, [0.0, 0.0, 0.5, 0.0])
    assert meas.verdict == [Verdict.INSIDE, Verdict.NEAR, Verdict.NEAR, Verdict.OUTSIDE]
    strict = PlaylistHull(ph.points, tolerance=HullTolerance(off_span=0.1, near=0.4))
    assert strict.measure(np.array([[1.0, 0.0, 0.5]])).verdict == [Verdict.NEAR]


def test_ranked_is_lazy_and_in_order() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(8, 32))
    ph = PlaylistHull(X)
    C = np.concatenate([rng.dirichlet(np.ones(8), size=5) @ X, rng.normal(scale=2, size=(60, 32))])
    full = ph.measure(C)
    order = [i for i, _ in ranked(ph, C, key="distance")]
    assert sorted(order) == list(range(len(C)))
    np.testing.assert_allclose(full.normalised[order], np.sort(full.normalised), atol=1e-12)
    first = [i for i, _ in itertools.islice(ranked(ph, C), 5)]
    assert set(first) == set(range(5))  # the five interior points come first
    lb = lower_bounds(ph, C)
    assert np.all(lb <= full.distance + 1e-12)


def test_batched_lower_bounds_are_valid_and_useful() -> None:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(20, 128))
    ph = PlaylistHull(X)
    C = np.concatenate([rng.dirichlet(np.ones(20), size=50) @ X + 0.3 * rng.normal(size=(50, 128)),
                        rng.normal(scale=1.5, size=(150, 128))])
    meas = ph.measure(C)
    lb = lower_bounds(ph, C)
    assert np.all(lb <= meas.distance + 1e-12)
    y, _ = ph.split(C)
    in_lb = in_span_lower_bounds(ph, y)
    far = meas.in_span > 0.1 * ph.scale
    # The duality bound is far tighter than the bounding box for points off in the span.
    assert np.median(in_lb[far] / meas.in_span[far]) > 0.8
    # Inside points are never pushed out of the "inside" tier by the bound.
    inside = rng.dirichlet(np.ones(20), size=10) @ X
    assert np.all(in_span_lower_bounds(ph, ph.split(inside)[0]) <= 1e-9)
