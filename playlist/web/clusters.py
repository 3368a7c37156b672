"""Groups of the library for colouring the map: k-means over the embeddings (seeded), each
cluster named by the most common artist (else album) tag of its tracks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from playlist.geometry.catalog import TrackMeta

MAX_CLUSTERS = 24
FIT_SAMPLE = 20_000  # k-means is fitted on at most this many tracks, then every track is assigned


def cluster_count(n: int) -> int:
    """About one cluster per 40 tracks, from 2 (where there are 2 tracks) to MAX_CLUSTERS."""
    return int(min(MAX_CLUSTERS, max(min(2, n), round(n / 40))))


def kmeans_labels(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n,) int32 cluster of each row of X; clusters numbered by size, largest first."""
    from sklearn.cluster import KMeans

    n = len(X)
    k = cluster_count(n)
    if k < 2:
        return np.zeros(n, dtype=np.int32)
    fit = X if n <= FIT_SAMPLE else X[np.sort(np.random.default_rng(seed).choice(n, FIT_SAMPLE, replace=False))]
    model = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(fit.astype(np.float32))
    raw = model.predict(X.astype(np.float32))
    order = np.argsort(-np.bincount(raw, minlength=k), kind="stable")  # relabel: 0 = largest
    rank = np.empty(k, dtype=np.int32)
    rank[order] = np.arange(k, dtype=np.int32)
    return rank[raw]


def cluster_names(labels: np.ndarray, tracks: Sequence[TrackMeta]) -> list[str]:
    """A name per cluster: its most common artist (or album, where artists are missing);
    a name already taken gets its cluster's most common album added; no tags: "cluster N"."""
    names: list[str] = []
    for c in range(int(labels.max()) + 1 if len(labels) else 0):
        members = [tracks[i] for i in np.flatnonzero(labels == c)]
        artist = _most_common(t.artist for t in members)
        album = _most_common(t.album for t in members)
        name = artist or album or f"cluster {c + 1}"
        if name in names and album and album != name:
            name = f"{name} · {album}"
        while name in names:
            name = f"{name} ({c + 1})"
        names.append(name)
    return names


def _most_common(values) -> str | None:
    counts = Counter(v for v in values if v)
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0] if counts else None
