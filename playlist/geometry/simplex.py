"""Nearest point and membership for the convex hull of a few vertices (the solvers under
`playlist.geometry.hull`).

- `min_norm_point`: the exact Euclidean projection onto conv(vertices), by Wolfe's
  minimum-norm-point algorithm, with its Frank-Wolfe duality gap as a certificate;
- `lp_membership`: min ‖Xᵀλ − p‖₁ over the simplex by HiGHS, zero iff p is in the hull.

Both take the vertices as rows, so they work in any dimension without enumerating facets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

# Relative thresholds for Wolfe's algorithm (in units of the largest squared vertex norm).
_GAP_TOL = 1e-12   # stop when the Frank-Wolfe gap is this small: the face is optimal
_ZERO_WEIGHT = 1e-12  # weights below this leave the active set
# Vertices closer than this × the playlist's diameter are one point. Library vectors are
# float32 and pass through the library's space, so two copies of one track can differ by
# ~1e-7 of the diameter; different recordings, even re-encodings of one, differ by >1e-3.
_DUPLICATE_TOL = 1e-5


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
