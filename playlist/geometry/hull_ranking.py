"""Ordering candidates by their distance to a playlist hull, solving as few as possible.

`ranked` is a best-first search: every candidate gets a cheap lower bound on its distance
(`lower_bounds`: the off-span part exactly, the in-span part from a batched Frank-Wolfe
duality bound), and only the candidate whose bound reaches the front of the queue gets an
exact solve (`PlaylistHull.measure`). A caller that stops after k acceptances pays for
about k exact solves, not one per candidate.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

import numpy as np

from playlist.geometry.hull import HullMeasure, PlaylistHull, Verdict


def lower_bounds(hull: PlaylistHull, candidates: np.ndarray, iters: int = 30) -> np.ndarray:
    """Cheap lower bound on each candidate's distance, for all candidates at once.

    distance² = off_span² + in_span², and in_span is bounded below by the larger of the
    distance to the vertices' bounding box (span coordinates) and a batched
    Frank-Wolfe duality bound (`in_span_lower_bounds`).
    """
    y, off = hull.split(candidates)
    return np.sqrt(off**2 + in_span_lower_bounds(hull, y, iters) ** 2)


def in_span_lower_bounds(hull: PlaylistHull, y: np.ndarray, iters: int = 30) -> np.ndarray:
    """Lower bounds on the in-span distance of each row of y (span coordinates).

    Runs `iters` Frank-Wolfe steps (exact line search) for every row at once, on the
    Gram matrix of the vertices. For any point x − y of the hull shifted by −y, the
    hull lies in the half-space ⟨u, ·⟩ ≥ min_j ⟨u, Y_j − y⟩, u = (x − y)/‖x − y‖, so that
    minimum is a lower bound on the distance (weak duality); the best over the steps
    is kept. Combined with the bounding-box distance.
    """
    box = np.linalg.norm(y - np.clip(y, hull.lower, hull.upper), axis=1)
    if hull.rank == 0 or len(y) == 0:
        return box
    Y, G = hull.coords, hull.gram
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


def ranked(hull: PlaylistHull, candidates: np.ndarray, key: str = "inside-first",
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
    y, off = hull.split(C)
    in_lb = in_span_lower_bounds(hull, y)
    bound = np.sqrt(off**2 + in_lb**2) / hull.scale
    extra = np.zeros(len(C)) if extra is None else np.asarray(extra, dtype=np.float64)
    bound = bound + extra
    t = hull.tolerance
    # A candidate can only be inside if neither bound part already rules it out.
    maybe_inside = (in_lb / hull.scale <= t.inside) & (off / hull.scale <= t.off_span)
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
        meas = hull.measure(C[i])
        solved[i] = meas
        true_tier = 0 if (key == "inside-first" and meas.verdict[0] is Verdict.INSIDE) else 1
        heapq.heappush(heap, (true_tier, float(meas.normalised[0] + extra[i]), 0, i))
