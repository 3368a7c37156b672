"""An ordered bridge of tracks from playlist A to playlist B.

The tracks of A and B are matched one-to-one by a minimum-cost assignment on Euclidean
distance (Hungarian algorithm; the unmatched tracks of the larger playlist are paired with
their nearest track in the other). At time t ∈ (0, 1) the matched pairs move in step,

    W_t = {(1 − t)·a_i + t·b_π(i)},

which is the displacement interpolation of A onto B. Step k of n sits at t_k = k / (n + 1);
its candidates are the `width` library tracks nearest (exact QP) to conv W_t. The path
p_1..p_n minimises, over all choices of one candidate per step (dynamic programming),

    Σ_k dist(p_k, conv W_t_k) / s  +  smoothness · Σ_k (max(‖p_k − p_k−1‖ − ℓ, 0) / s)²,

with p_0 the track of A nearest W_t1, p_n+1 the track of B nearest W_tn, s the mean of the
two playlists' scales and ℓ the mean distance a matched pair travels per step. The first
term keeps the bridge on the moving region; the squared hinge charges steps longer than
the region itself moves and, being convex, spreads an unavoidable jump (a gap in the
library) over several steps rather than deferring it. A greedy walk with a step penalty
gets stuck beside A instead: leaving always costs more than staying one more step.
No track of A or B is used and no track repeats; the rules (duplicates, caps) are
enforced by re-solving with a refused track banned from its step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from playlist.geometry.catalog import Catalog
from playlist.geometry.hull import HullTolerance, PlaylistHull
from playlist.geometry.hull_ranking import ranked
from playlist.geometry.region import Outcome, make_picks, playlist_hull, shortlist
from playlist.geometry.selection import SelectionRules, Selector


def match_playlists(A: np.ndarray, B: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (i, j) covering every row of A and of B, by minimum total distance."""
    cost = np.linalg.norm(A[:, None, :] - B[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    pairs = list(zip(rows.tolist(), cols.tolist()))
    pairs += [(i, int(np.argmin(cost[i]))) for i in sorted(set(range(len(A))) - set(rows.tolist()))]
    pairs += [(int(np.argmin(cost[:, j])), j) for j in sorted(set(range(len(B))) - set(cols.tolist()))]
    return pairs


def transition(catalog: Catalog, a_ids: Sequence[int], b_ids: Sequence[int], n: int,
               smoothness: float = 1.0, width: int = 30, per_query: int = 20,
               rules: SelectionRules | None = None, tolerance: HullTolerance | None = None) -> Outcome:
    """`n` ordered tracks leading from A to B. Each pick is measured against the hull of the
    interpolated playlist W_t of its own step (its note says which t).

    Fewer when no bridge of n exists: fewer library tracks than n are outside A and B, or
    the steps' candidates cannot give n tracks without repeating one or breaking the rules.
    Then the longest bridge found is returned (a binary search over the length), and
    `info["free_tracks"]` says how many tracks were outside A and B."""
    hull_a = playlist_hull(catalog, a_ids, tolerance)
    hull_b = playlist_hull(catalog, b_ids, tolerance)
    ends = {int(i) for i in a_ids} | {int(i) for i in b_ids}
    free = len(set(catalog.all_ids().tolist()) - ends)
    best = Outcome(picks=[], hull=hull_a, info={"free_tracks": float(free)})
    lo, hi = 0, min(n, free) + 1  # a bridge of lo tracks exists; none of hi was found
    length = hi - 1
    while lo < length:
        found = _bridge(catalog, hull_a, hull_b, ends, length, smoothness, width, per_query,
                        rules or SelectionRules(), tolerance)
        if found.picks:
            lo, best = length, found
            best.info["free_tracks"] = float(free)
        else:
            hi, best.refused = length, found.refused or best.refused
        length = (lo + hi) // 2
    return best


def _bridge(catalog: Catalog, hull_a: PlaylistHull, hull_b: PlaylistHull, ends: set[int], n: int,
            smoothness: float, width: int, per_query: int, rules: SelectionRules,
            tolerance: HullTolerance | None) -> Outcome:
    """The bridge of exactly n tracks (no picks: none was found)."""
    A, B = hull_a.points, hull_b.points
    pairs = match_playlists(A, B)
    ia, ib = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    scale = 0.5 * (hull_a.scale + hull_b.scale)
    stride = float(np.mean(np.linalg.norm(A[ia] - B[ib], axis=1))) / (n + 1)
    ends_selector = Selector(rules, catalog, ends)

    steps: list[_Step] = []
    for k in range(1, n + 1):
        t = k / (n + 1)
        W = (1 - t) * A[ia] + t * B[ib]
        hull_t = PlaylistHull(W, scale=scale, tolerance=tolerance)
        ids = shortlist(catalog, np.vstack([W, W.mean(axis=0)]), per_query, ends)
        C = catalog.vectors(ids) if len(ids) else np.zeros((0, hull_t.dim))
        meta = catalog.meta(ids.tolist())
        rows, dists = [], []
        for row, meas in ranked(hull_t, C, key="distance"):
            if ends_selector.reason_to_refuse(meta[int(ids[row])]) is None:
                rows.append(row)
                dists.append(float(meas.normalised[0]))
            if len(rows) >= width:
                break
        steps.append(_Step(t, hull_t, ids[rows], C[rows], np.array(dists), meta))
    if len(set().union(*(s.ids.tolist() for s in steps))) < n:  # no track may repeat: there are too few
        return Outcome(picks=[], hull=hull_a, refused=ends_selector.refused)
    start = A[int(np.argmin(np.linalg.norm(A - steps[0].hull.points.mean(axis=0), axis=1)))]
    end = B[int(np.argmin(np.linalg.norm(B - steps[-1].hull.points.mean(axis=0), axis=1)))]

    def hinge(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
        step = np.linalg.norm(P[:, None, :] - Q[None, :, :], axis=2)
        return smoothness * (np.maximum(step - stride, 0.0) / scale) ** 2

    banned: list[set[int]] = [set() for _ in steps]
    while True:
        path = _best_path(steps, banned, start, end, hinge)
        if path is None:
            return Outcome(picks=[], hull=hull_a, refused=ends_selector.refused)
        selector = Selector(rules, catalog, ends)
        refused_at = next((k for k, j in enumerate(path)
                           if not selector.offer(steps[k].meta[int(steps[k].ids[j])])), None)
        if refused_at is None:
            break
        banned[refused_at].add(path[refused_at])
    picks, walked, previous = [], [], start
    for step, j in zip(steps, path):
        cid = int(step.ids[j])
        picks += make_picks(step.hull, [cid], step.meta, step.C[j][None], [f"t={step.t:.2f}"])
        walked.append(float(np.linalg.norm(step.C[j] - previous)))
        previous = step.C[j]
    walked.append(float(np.linalg.norm(end - previous)))
    info = {"max_step": max(walked), "mean_step": float(np.mean(walked)), "stride": stride,
            "gap_ab": float(np.linalg.norm(A.mean(axis=0) - B.mean(axis=0)))}
    return Outcome(picks=picks, hull=hull_a, refused=selector.refused, info=info)


@dataclass
class _Step:
    t: float
    hull: PlaylistHull
    ids: np.ndarray         # candidate ids, nearest to conv W_t first
    C: np.ndarray           # their vectors
    dist: np.ndarray        # their normalised distances to conv W_t
    meta: dict


def _best_path(steps: list[_Step], banned: list[set[int]], start: np.ndarray, end: np.ndarray,
               hinge) -> list[int] | None:
    """Viterbi over the steps' candidates: one row per step, no id twice in a row."""
    cost = steps[0].dist + hinge(start[None], steps[0].C)[0]
    cost[list(banned[0])] = np.inf
    back: list[np.ndarray] = []
    for k in range(1, len(steps)):
        prev, cur = steps[k - 1], steps[k]
        total = cost[:, None] + hinge(prev.C, cur.C)
        total[prev.ids[:, None] == cur.ids[None, :]] = np.inf  # the same track twice is no step
        arg = np.argmin(total, axis=0)
        cost = total[arg, np.arange(len(cur.ids))] + cur.dist
        cost[list(banned[k])] = np.inf
        back.append(arg)
    cost = cost + hinge(steps[-1].C, end[None])[:, 0]
    j = int(np.argmin(cost))
    if not np.isfinite(cost[j]):
        return None
    path = [j]
    for arg in reversed(back):
        path.append(int(arg[path[-1]]))
    return path[::-1]
