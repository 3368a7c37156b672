"""2-D maps of a library's embeddings (PCA, t-SNE), cached on disk per model.

PCA is linear, so the outline of a playlist's projected points is exactly the image of
its hull; t-SNE keeps neighbourhoods rather than shapes, so there the outline is only a
guide. t-SNE scales: the vectors are first reduced by PCA to `PCA_DIMS`, t-SNE runs on at
most `TSNE_SAMPLE` tracks (a seeded sample), and every other track is placed at the
distance-weighted mean of its `NEIGHBOURS` nearest sampled tracks (in the reduced space),
so a first map of 10^5 tracks costs about what one of `TSNE_SAMPLE` does.

Maps are computed on every embedded track. The cache key is the store's model and
embedding generation, so a re-index or another model gets a new map; the cache lives in
the store folder (`maps/`), or only in memory where that folder cannot be written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from myna_rpe.errors import MynaError
from myna_rpe.fileio import atomic_write
from playlist.library.space import VERSION as SPACE_VERSION

METHODS = ("pca", "tsne")
PCA_DIMS = 50        # t-SNE's input: the vectors reduced to this many principal components
TSNE_SAMPLE = 2500   # t-SNE runs on at most this many tracks
TSNE_ITER = 750
NEIGHBOURS = 8       # tracks beyond the sample sit among this many sampled neighbours

Report = Callable[[str], None]


def _quiet(stage: str) -> None:
    pass


def project(X: np.ndarray, method: str, seed: int = 0, report: Report = _quiet) -> np.ndarray:
    """(n, 2) float32 coordinates of the rows of X; `report` hears each stage as it starts."""
    from sklearn.decomposition import PCA

    n = len(X)
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(METHODS)}")
    if n < 3:
        return np.zeros((n, 2), dtype=np.float32) if n < 2 else np.array([[0, 0], [1, 0]], dtype=np.float32)
    if method == "pca" or n < 6:  # t-SNE needs a few more points than its perplexity
        report(f"PCA of {n:,} tracks")
        return PCA(n_components=2, random_state=seed).fit_transform(X).astype(np.float32)
    report(f"PCA of {n:,} tracks to {min(PCA_DIMS, X.shape[1], n)} dimensions")
    Z = PCA(n_components=min(PCA_DIMS, X.shape[1], n), random_state=seed).fit_transform(X).astype(np.float32)
    if n <= TSNE_SAMPLE:
        report(f"t-SNE of {n:,} tracks")
        return _tsne(Z, seed)
    sample = np.sort(np.random.default_rng(seed).choice(n, TSNE_SAMPLE, replace=False))
    report(f"t-SNE of a sample of {TSNE_SAMPLE:,} of {n:,} tracks")
    xy = np.empty((n, 2), dtype=np.float32)
    xy[sample] = _tsne(Z[sample], seed)
    report(f"placing the other {n - TSNE_SAMPLE:,} tracks among their neighbours")
    rest = np.setdiff1d(np.arange(n), sample)
    xy[rest] = _place(Z[sample], xy[sample], Z[rest])
    return xy


def _tsne(Z: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    n = len(Z)
    tsne = TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3), init="pca", learning_rate="auto",
                max_iter=TSNE_ITER, random_state=seed)
    return tsne.fit_transform(Z).astype(np.float32)


def _place(base: np.ndarray, base_xy: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Each query at the inverse-distance-weighted mean of its nearest base points' positions."""
    import faiss

    index = faiss.IndexFlatL2(base.shape[1])
    index.add(np.ascontiguousarray(base, dtype=np.float32))
    d2, nn = index.search(np.ascontiguousarray(queries, dtype=np.float32), min(NEIGHBOURS, len(base)))
    w = 1.0 / (np.sqrt(np.maximum(d2, 0)) + 1e-6)
    w /= w.sum(axis=1, keepdims=True)
    return np.einsum("qk,qkc->qc", w, base_xy[nn]).astype(np.float32)


class ProjectionCache:
    """Arrays for one store snapshot (maps, clusters): computed once per name, kept in
    `folder` if possible."""

    def __init__(self, folder: Path, model_id: str | None, generation: int, ids: np.ndarray) -> None:
        self.folder = folder
        # the vectors are in the library's space: a new space version is a new map
        key = f"{model_id}|{generation}|{len(ids)}|{ids.sum()}|space{SPACE_VERSION}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.key = digest
        self.ids = ids
        self._memory: dict[str, np.ndarray] = {}

    def path(self, name: str) -> Path:
        return self.folder / f"{name}-{self.key}.npz"

    def get(self, name: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        if name in self._memory:
            return self._memory[name]
        value = self._read(name)
        if value is None:
            value = compute()
            self._write(name, value)
        self._memory[name] = value
        return value

    def _read(self, name: str) -> np.ndarray | None:
        try:
            with np.load(self.path(name)) as data:
                if np.array_equal(data["ids"], self.ids):
                    return data["value"]
        except (OSError, KeyError, ValueError):
            pass
        return None

    def _write(self, name: str, value: np.ndarray) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_write(self.path(name)) as fh:
                np.savez(fh, ids=self.ids, value=value)
        except (OSError, MynaError):  # a read-only store: the value stays in memory for this run
            pass
