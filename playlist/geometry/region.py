"""A playlist seen as a region of a catalog: its hull, the candidates around it, and picks.

Shared by the operations (extend, expand, transition, fill): each builds a
`PlaylistHull` from the playlist's vectors, gathers a short list of candidates with the
FAISS index, decides exactly on the short list, and returns `Pick`s measured against
the playlist's hull.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from playlist.geometry.catalog import Catalog, TrackMeta, library_scale
from playlist.geometry.hull import HullTolerance, PlaylistHull, Verdict
from playlist.geometry.simplex import distinct_rows


@dataclass(frozen=True)
class Pick:
    """One added track and how it sits relative to the reference playlist's hull."""

    id: int
    track: TrackMeta
    verdict: Verdict
    distance: float   # total distance / scale
    in_span: float    # in-span distance / scale
    off_span: float   # off-span distance / scale
    note: str = ""


@dataclass
class Outcome:
    """What an operation produced: the picks, the hull they were measured against,
    how many candidates each rule refused, and operation-specific numbers."""

    picks: list[Pick]
    hull: PlaylistHull
    refused: Counter = field(default_factory=Counter)
    info: dict[str, float] = field(default_factory=dict)


def playlist_hull(catalog: Catalog, ids: Sequence[int], tolerance: HullTolerance | None = None) -> PlaylistHull:
    """The hull of the playlist's vectors; a one-track playlist borrows the library's scale."""
    if not ids:
        raise ValueError("the playlist has no tracks in the library")
    X = catalog.vectors(ids)
    fallback = library_scale(catalog) if len(distinct_rows(X)) < 2 else 1.0
    return PlaylistHull(X, fallback_scale=fallback, tolerance=tolerance)


def shortlist(catalog: Catalog, queries: np.ndarray, k: int, exclude: set[int]) -> np.ndarray:
    """Ids of the union of the k nearest tracks to each query, minus `exclude`, sorted."""
    _, found = catalog.search(queries, k)
    ids = np.unique(found[found >= 0])
    return np.array([i for i in ids if int(i) not in exclude], dtype=np.int64)


def make_picks(hull: PlaylistHull, ids: Sequence[int], meta: dict[int, TrackMeta], vectors: np.ndarray,
               notes: Sequence[str] | None = None) -> list[Pick]:
    """Measure chosen tracks against `hull` and wrap them as Picks (in the given order)."""
    if not len(ids):
        return []
    meas = hull.measure(vectors)
    notes = notes or [""] * len(ids)
    return [Pick(id=int(i), track=meta[int(i)], verdict=meas.verdict[r], distance=float(meas.normalised[r]),
                 in_span=float(meas.in_span_norm[r]), off_span=float(meas.off_span_norm[r]), note=notes[r])
            for r, i in enumerate(ids)]
