"""Extend a playlist with library tracks that fit it; check single tracks against it.

Strategies for `extend`:
- "hull" (default): tracks nearest the playlist's hull, inside ones first, then by
  normalised distance. A FAISS short list (the k nearest tracks to each playlist track
  and to the centroid) is ranked exactly by `hull_ranking.ranked`, which solves lazily,
  so roughly as many QPs are solved as tracks are examined.
- "centroid": tracks by cosine to the playlist's mean direction (the usual baseline).
- "random": uniformly random library tracks (a floor for benchmarks); uses the seed.
Every strategy goes through the same `Selector` (no repeats, duplicates, caps).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from playlist.geometry.catalog import Catalog, TrackMeta
from playlist.geometry.hull import HullTolerance, PlaylistHull
from playlist.geometry.hull_ranking import ranked
from playlist.geometry.region import Outcome, Pick, make_picks, playlist_hull, shortlist
from playlist.geometry.selection import SelectionRules, Selector

STRATEGIES = ("hull", "centroid", "random")


def extend(catalog: Catalog, playlist_ids: Sequence[int], n: int, strategy: str = "hull",
           rules: SelectionRules | None = None, tolerance: HullTolerance | None = None,
           per_query: int | None = None, seed: int = 0) -> Outcome:
    """Choose up to `n` new tracks for the playlist. `per_query` is the FAISS short-list
    depth per query vector (default max(4n, 50)); fewer than n picks means the short list
    ran out under the rules."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    rules = rules or SelectionRules()
    hull = playlist_hull(catalog, playlist_ids, tolerance)
    selector = Selector(rules, catalog, playlist_ids)
    k = per_query or max(4 * n, 50)
    exclude = {int(i) for i in playlist_ids}
    picked: list[int] = []
    vectors: list[np.ndarray] = []
    for cid, vec in _candidates(catalog, hull.points, hull, strategy, k, exclude, seed):
        if len(picked) >= n:
            break
        if selector.offer(catalog.meta([cid])[cid]):
            picked.append(cid)
            vectors.append(vec)
    meta = catalog.meta(picked)
    picks = make_picks(hull, picked, meta, np.array(vectors) if vectors else np.zeros((0, hull.dim)))
    return Outcome(picks=picks, hull=hull, refused=selector.refused)


def _candidates(catalog: Catalog, X: np.ndarray, hull: PlaylistHull, strategy: str, k: int, exclude: set[int],
                seed: int) -> Iterator[tuple[int, np.ndarray]]:
    """Candidate (id, vector) pairs in the strategy's order of preference."""
    if strategy == "random":
        rng = np.random.default_rng(seed)
        pool = np.array([i for i in catalog.all_ids() if int(i) not in exclude], dtype=np.int64)
        order = rng.permutation(pool)
        for start in range(0, len(order), 256):  # fetch vectors in chunks, only as needed
            ids = order[start:start + 256]
            yield from zip((int(i) for i in ids), catalog.vectors(ids))
        return
    centroid = X.mean(axis=0)
    if strategy == "centroid":
        ids = shortlist(catalog, centroid[None], k + len(exclude), exclude)
        C = catalog.vectors(ids)
        order = np.lexsort((ids, -(C @ centroid)))  # by cosine to the mean direction, ties by id
        yield from ((int(ids[r]), C[r]) for r in order)
        return
    ids = shortlist(catalog, np.vstack([X, centroid]), k, exclude)
    if len(ids) == 0:
        return
    C = catalog.vectors(ids)
    for row, _ in ranked(hull, C):
        yield int(ids[row]), C[row]


def check(catalog: Catalog, playlist_ids: Sequence[int], track_ids: Sequence[int],
          tolerance: HullTolerance | None = None,
          outside: Sequence[tuple[TrackMeta, np.ndarray]] = ()) -> Outcome:
    """Verdict and normalised distances of given tracks against the playlist's hull.

    `outside`: files that are not in the catalog, each as (its meta, with an id of its own
    that no catalog track has, and its vector from the catalog's model); their picks follow."""
    hull = playlist_hull(catalog, playlist_ids, tolerance)
    ids = [int(i) for i in track_ids]
    meta = catalog.meta(ids) if ids else {}
    meta.update({m.id: m for m, _ in outside})
    vectors = [catalog.vectors(ids)] if ids else []
    vectors += [np.asarray(v, dtype=np.float64)[None, :] for _, v in outside]
    order = ids + [m.id for m, _ in outside]
    picks: list[Pick] = make_picks(hull, order, meta, np.concatenate(vectors)) if order else []
    return Outcome(picks=picks, hull=hull)
