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

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

import numpy as np
from scipy.optimize import linprog

# Relative thresholds for Wolfe's algorithm (in units of the largest squared vertex norm).
_GAP_TOL = 1e-12   # stop when the Frank-Wolfe gap is this small: the face is optimal
_ZERO_WEIGHT = 1e-12  # weights below this leave the active set
_RANK_TOL = 1e-9   # singular values below this × the largest do not span a direction
_DUPLICATE_TOL = 1e-9  # vertices closer than this × the playlist's diameter are one point


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
class MinNormResult:
    """Nearest point of conv(vertices) to p: weights λ, the point, its distance, and gap.

    `gap` = max_i ⟨p − q, x_i − q⟩ over the vertices x_i; the optimality condition is
    gap ≤ 0, and the nearest point is off by at most sqrt(2·max(gap, 0)).
    """

    weights: np.ndarray
    point: np.ndarray
    distance: float
    gap: float


def min_norm_point(vertices: np.ndarray, p: np.ndarray, max_iter: int | None = None,
                   assume_distinct: bool = False) -> MinNormResult:
    """Exact Euclidean projection of p onto conv(vertices) by Wolfe's algorithm (1976).

    Works on the Gram matrix of the shifted vertices P_i = x_i − p, so its cost depends on
    the number of vertices, not on the dimension. Duplicate vertices are allowed (they
    would make the active set affinely dependent, so they are merged first unless the
    caller has already done so).
    """
    V = np.asarray(vertices, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    keep = np.arange(len(V)) if assume_distinct else distinct_rows(V)
    P = V[keep] - p
    M = P @ P.T
    n = len(keep)
    scale2 = max(float(M.diagonal().max()), np.finfo(float).tiny)
    max_iter = max_iter or 50 * n + 100

    first = int(np.argmin(M.diagonal()))
    active = [first]
    lam = np.zeros(n)
    lam[first] = 1.0
    for _ in range(max_iter):
        g = M[:, active] @ lam[active]          # ⟨x, P_j⟩ for every vertex j
        xx = float(lam[active] @ g[active])     # ‖x‖²
        j = int(np.argmin(g))
        if xx - g[j] <= _GAP_TOL * scale2 or j in active:
            break
        active.append(j)
        # Minor cycle: move toward the affine minimiser of the active set, dropping
        # vertices whose weight would turn negative, until it lies inside the simplex.
        while True:
            alpha = _affine_minimiser(M[np.ix_(active, active)])
            if alpha.min() > _ZERO_WEIGHT:
                lam[:] = 0.0
                lam[active] = alpha
                break
            w = lam[active]
            blocked = alpha <= _ZERO_WEIGHT
            step = w[blocked] - alpha[blocked]
            ratios = np.where(step > 0, w[blocked] / np.where(step > 0, step, 1.0), 0.0)
            theta = float(ratios.min())
            w = (1.0 - theta) * w + theta * alpha
            survivors = [a for a, wa in zip(active, w) if wa > _ZERO_WEIGHT]
            lam[:] = 0.0
            lam[survivors] = w[w > _ZERO_WEIGHT]
            lam /= lam.sum()
            active = survivors
    weights = np.zeros(len(V))
    weights[keep] = lam
    point = weights @ V
    x = point - p
    gap = float(x @ x - (P @ x).min())
    return MinNormResult(weights=weights, point=point, distance=float(np.linalg.norm(x)), gap=gap)


def _affine_minimiser(gram: np.ndarray) -> np.ndarray:
    """argmin αᵀGα subject to Σα = 1: the nearest point to 0 of the active set's affine hull."""
    k = gram.shape[0]
    kkt = np.zeros((k + 1, k + 1))
    kkt[:k, :k] = gram
    kkt[:k, k] = 1.0
    kkt[k, :k] = 1.0
    rhs = np.zeros(k + 1)
    rhs[k] = 1.0
    try:
        sol = np.linalg.solve(kkt, rhs)
    except np.linalg.LinAlgError:
        sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    return sol[:k]


def distinct_rows(V: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each distinct row (within a relative tolerance)."""
    if len(V) == 1:
        return np.array([0])
    diameter = float(np.ptp(V, axis=0).max()) if V.size else 0.0
    tol = _DUPLICATE_TOL * max(diameter, 1.0)
    keep: list[int] = []
    for i in range(len(V)):
        if not keep or np.min(np.linalg.norm(V[keep] - V[i], axis=1)) > tol:
            keep.append(i)
    return np.array(keep)


def lp_membership(vertices: np.ndarray, p: np.ndarray) -> tuple[float, np.ndarray]:
    """min ‖Xᵀλ − p‖₁ over the simplex, by HiGHS. Zero (to solver tolerance) iff p ∈ conv(X).

    Returns (residual, λ). The L1 residual bounds the Euclidean distance from above.
    """
    V = np.asarray(vertices, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    n, d = V.shape
    # Variables: λ (n), s⁺ (d), s⁻ (d); Xᵀλ + s⁺ − s⁻ = p, Σλ = 1.
    c = np.concatenate([np.zeros(n), np.ones(2 * d)])
    a_eq = np.zeros((d + 1, n + 2 * d))
    a_eq[:d, :n] = V.T
    a_eq[:d, n:n + d] = np.eye(d)
    a_eq[:d, n + d:] = -np.eye(d)
    a_eq[d, :n] = 1.0
    b_eq = np.concatenate([p, [1.0]])
    res = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if res.status != 0:  # the LP is always feasible and bounded; anything else is a solver bug
        raise RuntimeError(f"HiGHS failed on the membership LP: {res.message}")
    return float(res.fun), res.x[:n]


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
        self._gram = self.coords @ self.coords.T
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

    def lower_bounds(self, candidates: np.ndarray, iters: int = 30) -> np.ndarray:
        """Cheap lower bound on each candidate's distance, for all candidates at once.

        distance² = off_span² + in_span², and in_span is bounded below by the larger of the
        distance to the vertices' bounding box (span coordinates) and a batched
        Frank-Wolfe duality bound (`_in_span_lower_bounds`).
        """
        y, off = self.split(candidates)
        return np.sqrt(off**2 + self._in_span_lower_bounds(y, iters) ** 2)

    def _in_span_lower_bounds(self, y: np.ndarray, iters: int = 30) -> np.ndarray:
        """Lower bounds on the in-span distance of each row of y (span coordinates).

        Runs `iters` Frank-Wolfe steps (exact line search) for every row at once, on the
        Gram matrix of the vertices. For any point x − y of the hull shifted by −y, the
        hull lies in the half-space ⟨u, ·⟩ ≥ min_j ⟨u, Y_j − y⟩, u = (x − y)/‖x − y‖, so that
        minimum is a lower bound on the distance (weak duality); the best over the steps
        is kept. Combined with the bounding-box distance.
        """
        box = np.linalg.norm(y - np.clip(y, self.lower, self.upper), axis=1)
        if self.rank == 0 or len(y) == 0:
            return box
        Y, G = self.coords, self._gram
        m = len(y)
        rows = np.arange(m)
        b = y @ Y.T                                   # ⟨y, Y_j⟩
        yy = (y * y).sum(axis=1)
        j = np.argmin(G.diagonal()[None, :] - 2 * b, axis=1)   # nearest vertex: the start
        lam = np.zeros((m, len(Y)))
        lam[rows, j] = 1.0
        Gl = G[j].copy()                              # ⟨z, Y_j⟩ for the current hull point z
        zy = b[rows, j]
        best = np.zeros(m)
        for _ in range(iters):
            zz = (lam * Gl).sum(axis=1)
            xx = np.maximum(zz - 2 * zy + yy, 0.0)    # ‖z − y‖²
            s = Gl - b - zy[:, None] + yy[:, None]    # ⟨z − y, Y_j − y⟩
            j = np.argmin(s, axis=1)
            smin = s[rows, j]
            norm = np.sqrt(xx)
            best = np.maximum(best, np.where(norm > 0, smin / np.where(norm > 0, norm, 1.0), 0.0))
            denom = zz - 2 * Gl[rows, j] + G[j, j]
            gamma = np.clip((xx - smin) / np.where(denom > 0, denom, 1.0), 0.0, 1.0)
            lam *= (1 - gamma)[:, None]
            lam[rows, j] += gamma
            Gl = (1 - gamma)[:, None] * Gl + gamma[:, None] * G[j]
            zy = (1 - gamma) * zy + gamma * b[rows, j]
        # Rounding in the Gram form is relative to the sizes involved: stay safely below.
        slack = 1e-9 * (np.sqrt(yy) + np.sqrt(G.diagonal().max()))
        return np.maximum(box, np.maximum(best - slack, 0.0))

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

    def ranked(self, candidates: np.ndarray, key: str = "inside-first",
               extra: np.ndarray | None = None) -> Iterator[tuple[int, HullMeasure]]:
        """Yield (row, measure of that row) in increasing hull distance, solving lazily.

        Best-first search on the cheap lower bounds (`lower_bounds`): a candidate is solved only when its
        bound reaches the front of the queue, so a caller that stops after k acceptances
        pays for roughly k exact solves, not len(candidates).
        key "inside-first": inside candidates first (by distance), then the rest by distance;
        key "distance": by total distance only.
        extra: a known non-negative cost per candidate added to its normalised distance
        (e.g. a step-size penalty); the order is then by normalised distance + extra.
        """
        C = np.atleast_2d(np.asarray(candidates, dtype=np.float64))
        y, off = self.split(C)
        box = np.linalg.norm(y - np.clip(y, self.lower, self.upper), axis=1)
        in_lb = self._in_span_lower_bounds(y)
        bound = np.sqrt(off**2 + in_lb**2) / self.scale
        extra = np.zeros(len(C)) if extra is None else np.asarray(extra, dtype=np.float64)
        bound = bound + extra
        t = self.tolerance
        # A candidate can only be inside if neither bound part already rules it out.
        maybe_inside = (in_lb / self.scale <= t.inside) & (off / self.scale <= t.off_span)
        # Entries (tier, key, pending, row): at equal keys a solved entry pops before a bound.
        heap: list[tuple[int, float, int, int]] = []
        for i in range(len(C)):
            tier = 0 if (key == "inside-first" and maybe_inside[i]) else 1
            heap.append((tier, float(bound[i]), 1, i))
        heapq.heapify(heap)
        solved: dict[int, HullMeasure] = {}
        while heap:
            tier, _, pending, i = heapq.heappop(heap)
            if not pending:
                yield i, solved.pop(i)
                continue
            meas = self.measure(C[i])
            solved[i] = meas
            true_tier = 0 if (key == "inside-first" and meas.verdict[0] is Verdict.INSIDE) else 1
            heapq.heappush(heap, (true_tier, float(meas.normalised[0] + extra[i]), 0, i))


def _nearest_neighbour_distances(X: np.ndarray) -> np.ndarray | None:
    """Each row's distance to its nearest other row; None when there is only one row."""
    if len(X) < 2:
        return None
    sq = (X**2).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0.0)
    np.fill_diagonal(d2, np.inf)
    return np.sqrt(d2.min(axis=1))
