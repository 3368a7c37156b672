"""Grow a playlist outward: tracks just beyond its hull, spread around the boundary.

For D directions u in the playlist's span (first the directions from the centroid through
each playlist track, then random ones; each group ordered greedily by largest minimum
angle, so consecutive directions point different ways), an LP gives how far the hull
reaches from the centroid c along u: t*(u). The target just past the boundary is

    target(u) = c + (t*(u) + margin · scale) · u,

and each target takes the nearest admissible library track that lies outside the
hull (verdict not "inside") and within `max_distance` scales of it. Targets are served
round-robin, so the picks spread around the boundary instead of piling up on one side.
A one-track playlist has no span: its directions are random in the full space.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from playlist.geometry.catalog import Catalog
from playlist.geometry.hull import HullTolerance, PlaylistHull, Verdict
from playlist.geometry.region import Outcome, make_picks, playlist_hull, shortlist
from playlist.geometry.selection import SelectionRules, Selector


def spread_order(U: np.ndarray, count: int) -> np.ndarray:
    """Indices of `count` rows of U (unit vectors) chosen greedily for the largest minimum angle."""
    chosen = [0]
    closest = U @ U[0]
    for _ in range(min(count, len(U)) - 1):
        nxt = int(np.argmin(closest))
        chosen.append(nxt)
        closest = np.maximum(closest, U @ U[nxt])
    return np.array(chosen)


def _unit(V: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(V, axis=1, keepdims=True)
    return V[norms[:, 0] > 0] / norms[norms[:, 0] > 0]


def boundary_targets(hull: PlaylistHull, count: int, margin: float, rng: np.random.Generator) -> np.ndarray:
    """Points `margin` scales beyond the hull's boundary, (≤ count, d).

    Directions from the centroid through each playlist track come first (so every part
    of the playlist is grown), spread by largest minimum angle; random directions in the
    span fill up to `count`.
    """
    if hull.rank == 0:
        U = _unit(rng.normal(size=(8 * count, hull.dim)))
        return hull.center + margin * hull.scale * U[spread_order(U, count)]
    through = _unit(hull.coords)
    through = through[spread_order(through, count)]
    extra = _unit(rng.normal(size=(8 * count, hull.rank)))
    extra = extra[spread_order(extra, max(count - len(through), 0))] if count > len(through) else extra[:0]
    U_span = np.vstack([through, extra])
    reach = np.array([hull.boundary_along(u) for u in U_span])
    return hull.center + ((reach + margin * hull.scale)[:, None] * U_span) @ hull.basis.T


def expand(catalog: Catalog, playlist_ids: Sequence[int], n: int, margin: float = 0.5,
           max_distance: float = 2.0, directions: int | None = None, per_target: int = 20,
           rules: SelectionRules | None = None, tolerance: HullTolerance | None = None,
           seed: int = 0) -> Outcome:
    """Up to `n` tracks outside the playlist's hull, at most `max_distance` scales from it."""
    rng = np.random.default_rng(seed)
    hull = playlist_hull(catalog, playlist_ids, tolerance)
    selector = Selector(rules or SelectionRules(), catalog, playlist_ids)
    targets = boundary_targets(hull, directions or max(2 * n, 8), margin, rng)
    exclude = {int(i) for i in playlist_ids}
    ids = shortlist(catalog, targets, per_target + len(exclude), exclude)  # the playlist itself is excluded
    if len(ids) == 0:
        return Outcome(picks=[], hull=hull, refused=selector.refused)
    C = catalog.vectors(ids)
    meas = hull.measure(C)
    usable = np.array([v is not Verdict.INSIDE for v in meas.verdict]) & (meas.normalised <= max_distance)
    # Each target's admissible candidates, nearest first.
    d2 = ((targets[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    queues = [[int(r) for r in np.argsort(row, kind="stable") if usable[r]] for row in d2]
    meta = catalog.meta(ids.tolist())
    picked: list[int] = []
    notes: list[str] = []
    rows: list[int] = []
    while len(picked) < n and any(queues):
        for t, queue in enumerate(queues):
            while queue and len(picked) < n:
                r = queue.pop(0)
                if int(ids[r]) in picked:
                    continue
                if selector.offer(meta[int(ids[r])]):
                    picked.append(int(ids[r]))
                    rows.append(r)
                    notes.append(f"direction {t + 1}")
                    break
    picks = make_picks(hull, picked, meta, C[rows] if rows else np.zeros((0, hull.dim)), notes)
    return Outcome(picks=picks, hull=hull, refused=selector.refused,
                   info={"directions": float(len(targets)), "candidates": float(len(ids)),
                         "usable": float(usable.sum())})
