"""A playlist's convex hull in embedding space: membership, distance, verdicts.

Qhull (`scipy.spatial.ConvexHull`) enumerates facets, whose number explodes past ~8
dimensions, so nothing here builds facets. Instead, for a playlist X = {x_1..x_n} ⊂ R^d:

- membership is a linear program: is there λ ≥ 0, Σλ = 1 with Xᵀλ = p?  Solved with
  HiGHS as "minimise the L1 residual ‖Xᵀλ − p‖₁" so the answer carries a size;
- distance is the QP  min_{λ ∈ simplex} ‖Xᵀλ − p‖₂, solved exactly (finite active set)
  with Wolfe's minimum-norm-point algorithm, certified by the Frank-Wolfe duality gap.

n ≤ d tracks span an affine subspace of dimension r ≤ n − 1, and a library track is
almost never *in* that subspace. So every distance is split by Pythagoras into
the part within the span (to the hull, measured inside the span) and the part off the
span (to the span itself): distance² = in_span² + off_span². Distances are divided by the
playlist's own scale (median nearest-neighbour distance between its distinct tracks),
so one tolerance means the same for a tight and a loose playlist. See docs/playlists.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
from scipy.optimize import linprog

from playlist.geometry.simplex import distinct_rows, lp_membership, min_norm_point

_RANK_TOL = 1e-9   # singular values below this × the largest do not span a direction


class Verdict(str, Enum):
    INSIDE = "inside"
    NEAR = "near"
    OUTSIDE = "outside"


@dataclass(frozen=True)
class HullTolerance:
    """Verdict thresholds, in units of the playlist's scale (see `PlaylistHull.scale`).

    inside:   in-span distance counted as zero (numerical tolerance of the solvers).
    off_span: how far off the playlist's affine span an "inside" track may lie; half a
              typical neighbour spacing, so the track would sit among the playlist's
              tracks rather than beside them.
    near:     total distance for "near": within one typical neighbour spacing of the hull,
              i.e. no farther from the hull than a playlist track is from its neighbour.
    """

    inside: float = 1e-6
    off_span: float = 0.5
    near: float = 1.0


@dataclass
class HullMeasure:
    """Distances of m candidates to a playlist hull (all arrays have m rows).

    distance  Euclidean distance to the hull; = sqrt(in_span² + off_span²)
    in_span   distance from the candidate's projection onto the span to the hull
    off_span  distance from the candidate to the playlist's affine span
    nearest   the nearest hull point (m, d); weights: λ over the playlist rows (m, n)
    gap       optimality certificate of each solve (see MinNormResult)
    normalised, in_span_norm, off_span_norm: the same divided by the playlist's scale
    verdict   Verdict per candidate
    """

    distance: np.ndarray
    in_span: np.ndarray
    off_span: np.ndarray
    nearest: np.ndarray
    weights: np.ndarray
    gap: np.ndarray
    normalised: np.ndarray
    in_span_norm: np.ndarray
    off_span_norm: np.ndarray
    verdict: list[Verdict]


class PlaylistHull:
    """The convex hull of a playlist's embeddings, measured without building facets.

    points: (n, d) the playlist's vectors (duplicates allowed).
    scale: distances are divided by it; default: median distance from each distinct
           track to its nearest distinct neighbour. With a single distinct track that is
           undefined, and `fallback_scale` is used (the library adapter passes the
           library's own median neighbour distance).
    """

    def __init__(self, points: np.ndarray, scale: float | None = None,
                 fallback_scale: float = 1.0, tolerance: HullTolerance | None = None):
        X = np.asarray(points, dtype=np.float64)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"need an (n, d) array of playlist points with n ≥ 1, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("playlist points contain NaN or infinity")
        self.points = X
        self.tolerance = tolerance or HullTolerance()
        self.distinct = distinct_rows(X)
        self.center = X[self.distinct].mean(axis=0)
        centred = X[self.distinct] - self.center
        if len(self.distinct) > 1:
            _, s, vt = np.linalg.svd(centred, full_matrices=False)
            rank = int((s > _RANK_TOL * s[0]).sum())
        else:
            vt, rank = np.zeros((0, X.shape[1])), 0
        self.basis = vt[:rank].T                      # (d, r) orthonormal basis of the span
        self.coords = centred @ self.basis            # (n_distinct, r) vertices within the span
        self.gram = self.coords @ self.coords.T       # Gram matrix of those vertices
        self.lower = self.coords.min(axis=0) if rank else np.zeros(0)
        self.upper = self.coords.max(axis=0) if rank else np.zeros(0)
        if scale is not None:
            self.scale, self.scale_source = float(scale), "given"
        else:
            nn = _nearest_neighbour_distances(X[self.distinct])
            if nn is None:
                self.scale, self.scale_source = float(fallback_scale), "fallback"
            else:
                self.scale, self.scale_source = float(np.median(nn)), "playlist"
        if not self.scale > 0:
            raise ValueError(f"hull scale must be positive, got {self.scale}")

    @property
    def dim(self) -> int:
        return self.points.shape[1]

    @property
    def rank(self) -> int:
        """Dimension of the playlist's affine span (≤ min(n − 1, d))."""
        return self.basis.shape[1]

    @property
    def full_dimensional(self) -> bool:
        return self.rank == self.dim

    def split(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates of each candidate's projection onto the span, and its off-span distance."""
        P = np.atleast_2d(np.asarray(candidates, dtype=np.float64)) - self.center
        y = P @ self.basis
        if self.full_dimensional:  # the span is all of R^d; skip the rounding noise
            return y, np.zeros(len(y))
        return y, np.linalg.norm(P - y @ self.basis.T, axis=1)

    def measure(self, candidates: np.ndarray) -> HullMeasure:
        """Exact distances of every candidate to the hull (one Wolfe solve each, in the span)."""
        C = np.atleast_2d(np.asarray(candidates, dtype=np.float64))
        if C.shape[1] != self.dim:
            raise ValueError(f"candidates have dimension {C.shape[1]}, the playlist {self.dim}")
        y, off = self.split(C)
        m, n = len(C), len(self.points)
        in_span, gap = np.zeros(m), np.zeros(m)
        weights = np.zeros((m, n))
        for i in range(m):
            if self.rank == 0:
                lam = np.array([1.0])
                in_span[i], gap[i] = 0.0, 0.0
            else:
                res = min_norm_point(self.coords, y[i], assume_distinct=True)
                lam, in_span[i], gap[i] = res.weights, res.distance, res.gap
            weights[i, self.distinct] = lam
        nearest = weights @ self.points
        distance = np.sqrt(in_span**2 + off**2)
        return HullMeasure(
            distance=distance, in_span=in_span, off_span=off, nearest=nearest, weights=weights,
            gap=gap, normalised=distance / self.scale, in_span_norm=in_span / self.scale,
            off_span_norm=off / self.scale,
            verdict=[self.verdict(a, b) for a, b in zip(in_span / self.scale, off / self.scale)],
        )

    def verdict(self, in_span_norm: float, off_span_norm: float) -> Verdict:
        """inside: in the hull within the span and close to the span; near: total distance
        within `tolerance.near`; otherwise outside (all in units of the scale)."""
        t = self.tolerance
        if in_span_norm <= t.inside and off_span_norm <= t.off_span:
            return Verdict.INSIDE
        if np.hypot(in_span_norm, off_span_norm) <= t.near:
            return Verdict.NEAR
        return Verdict.OUTSIDE

    def contains(self, candidates: np.ndarray, tol: float | None = None) -> np.ndarray:
        """Exact membership by LP within the span, for candidates on the span (off-span ≤ tol·scale).

        Candidates ruled out by the cheap screen (off the span, or outside the bounding
        box of the vertices in span coordinates) are answered without an LP.
        """
        tol = self.tolerance.inside if tol is None else tol
        y, off = self.split(candidates)
        box = np.linalg.norm(y - np.clip(y, self.lower, self.upper), axis=1)
        inside = np.zeros(len(y), dtype=bool)
        for i in np.flatnonzero((off <= tol * self.scale) & (box <= tol * self.scale)):
            if self.rank == 0:
                inside[i] = True
                continue
            residual, _ = lp_membership(self.coords, y[i])
            inside[i] = residual <= tol * self.scale
        return inside

    def boundary_along(self, direction: np.ndarray) -> float:
        """How far the hull reaches from its centroid along `direction` (span coordinates):
        max t such that centroid + t·u is in the hull, u the unit direction. An LP."""
        u = np.asarray(direction, dtype=np.float64)
        u = u / np.linalg.norm(u)
        n = len(self.coords)
        # Variables λ (n), t; maximise t subject to Yᵀλ − t·u = 0, Σλ = 1, λ ≥ 0, t ≥ 0.
        a_eq = np.zeros((self.rank + 1, n + 1))
        a_eq[:self.rank, :n] = self.coords.T
        a_eq[:self.rank, n] = -u
        a_eq[self.rank, :n] = 1.0
        b_eq = np.zeros(self.rank + 1)
        b_eq[-1] = 1.0
        cost = np.zeros(n + 1)
        cost[-1] = -1.0
        res = linprog(cost, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        if res.status != 0:  # the centroid is feasible at t = 0 and the hull is bounded
            raise RuntimeError(f"HiGHS failed on the support LP: {res.message}")
        return float(res.x[-1])


def _nearest_neighbour_distances(X: np.ndarray) -> np.ndarray | None:
    """Each row's distance to its nearest other row; None when there is only one row."""
    if len(X) < 2:
        return None
    sq = (X**2).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0.0)
    np.fill_diagonal(d2, np.inf)
    return np.sqrt(d2.min(axis=1))
