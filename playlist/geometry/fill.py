"""Build a new playlist that fills out a target playlist's hull, vertices and interior.

The target hull is represented by sample points Q: its own tracks (the vertices and
any interior tracks) plus random convex combinations of a few of them (Dirichlet weights
over random subsets, which lands on faces as well as in the interior). Candidates are
library tracks within `max_distance` scales of the hull (exact QP on a FAISS short list).
Greedy k-centre coverage then repeats: find the sample point farthest from everything
picked so far, pick the admissible candidate nearest to it. The first sample served is
the target track farthest from the centroid, so the extremes are covered first.

Reported: `coverage_radius` (the largest distance from a sample point to its nearest
pick, in target scales) and `hull_coverage` (the fraction of sample points within the
"near" tolerance of the new playlist's hull).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from playlist.geometry.catalog import Catalog
from playlist.geometry.hull import HullTolerance, PlaylistHull
from playlist.geometry.region import Outcome, make_picks, playlist_hull, shortlist
from playlist.geometry.selection import SelectionRules, Selector


def hull_samples(X: np.ndarray, count: int, rng: np.random.Generator, max_support: int = 4) -> np.ndarray:
    """The rows of X plus `count` random convex combinations of 2..max_support rows."""
    if len(X) < 2:
        return X.copy()
    samples = [X]
    for _ in range(count):
        k = int(rng.integers(2, min(max_support, len(X)) + 1))
        rows = rng.choice(len(X), size=k, replace=False)
        samples.append(rng.dirichlet(np.ones(k)) @ X[rows][None])
    return np.vstack(samples)


def fill(catalog: Catalog, target_ids: Sequence[int], n: int, samples: int = 256, max_distance: float = 1.0,
         per_query: int | None = None, rules: SelectionRules | None = None,
         tolerance: HullTolerance | None = None, seed: int = 0) -> Outcome:
    """Up to `n` library tracks (none of the target's) covering the target's hull."""
    rng = np.random.default_rng(seed)
    hull = playlist_hull(catalog, target_ids, tolerance)
    Q = hull_samples(hull.points, samples, rng)
    exclude = {int(i) for i in target_ids}
    k = per_query or max(2 * n // max(len(hull.points), 1), 10)
    query_rows = rng.choice(len(Q), size=min(len(Q), 4 * n + len(hull.points)), replace=False)
    ids = shortlist(catalog, np.vstack([hull.points, Q[query_rows]]), k, exclude)
    if len(ids) == 0:
        return Outcome(picks=[], hull=hull)
    C = catalog.vectors(ids)
    meas = hull.measure(C)
    usable = meas.normalised <= max_distance
    if usable.sum() < n:  # too few tracks near the hull: take the nearest ones instead
        usable = np.zeros(len(ids), dtype=bool)
        usable[np.argsort(meas.normalised, kind="stable")[:max(n * 3, 1)]] = True
    selector = Selector(rules or SelectionRules(), catalog, exclude)
    meta = catalog.meta(ids.tolist())
    free = np.flatnonzero(usable).tolist()
    cover = np.full(len(Q), np.inf)
    focus = int(np.argmax(np.linalg.norm(hull.points - hull.center, axis=1)))
    picked: list[int] = []
    rows: list[int] = []
    while len(picked) < n and free:
        dist = np.linalg.norm(C[free] - Q[focus], axis=1)
        chosen, refused = None, set()
        for j in np.argsort(dist, kind="stable"):
            r = free[j]
            if selector.offer(meta[int(ids[r])]):
                chosen = r
                break
            refused.add(r)  # refusals are final: duplicates and caps only accumulate
        free = [r for r in free if r != chosen and r not in refused]
        if chosen is None:
            break
        picked.append(int(ids[chosen]))
        rows.append(chosen)
        cover = np.minimum(cover, np.linalg.norm(Q - C[chosen], axis=1))
        focus = int(np.argmax(cover))
    P = C[rows] if rows else np.zeros((0, hull.dim))
    info = {"samples": float(len(Q)), "candidates": float(len(ids))}
    if rows:
        info["coverage_radius"] = float(cover.max() / hull.scale)
        info["hull_coverage"] = hull_coverage(hull, P, Q)
    return Outcome(picks=make_picks(hull, picked, meta, P), hull=hull, refused=selector.refused, info=info)


def hull_coverage(target: PlaylistHull, picks: np.ndarray, Q: np.ndarray) -> float:
    """Fraction of the target's sample points within the near tolerance of conv(picks)."""
    made = PlaylistHull(picks, scale=target.scale, tolerance=target.tolerance)
    return float(np.mean(made.measure(Q).normalised <= target.tolerance.near))
