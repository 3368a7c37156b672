"""2-D maps of a library's embeddings (PCA, t-SNE), cached on disk per model.

PCA is linear, so the outline of a playlist's projected points is exactly the image of
its hull; t-SNE keeps neighbourhoods rather than shapes, so there the outline is only a
guide. Both are computed on every embedded track. The cache key is the store's model and
embedding generation, so a re-index or another model gets a new map; the cache lives in
the store folder (`maps/`), or only in memory where that folder cannot be written.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from myna_rpe.errors import MynaError
from myna_rpe.fileio import atomic_write

METHODS = ("pca", "tsne")


def project(X: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """(n, 2) float32 coordinates of the rows of X."""
    from sklearn.decomposition import PCA

    n = len(X)
    if n < 3:
        return np.zeros((n, 2), dtype=np.float32) if n < 2 else np.array([[0, 0], [1, 0]], dtype=np.float32)
    if method == "pca" or n < 6:  # t-SNE needs a few more points than its perplexity
        return PCA(n_components=2, random_state=seed).fit_transform(X).astype(np.float32)
    if method != "tsne":
        raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(METHODS)}")
    from sklearn.manifold import TSNE

    tsne = TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3), init="pca", learning_rate="auto",
                random_state=seed)
    return tsne.fit_transform(X).astype(np.float32)


class ProjectionCache:
    """Maps for one store snapshot: computed once per method, kept in `folder` if possible."""

    def __init__(self, folder: Path, model_id: str | None, generation: int, ids: np.ndarray) -> None:
        self.folder = folder
        digest = hashlib.sha256(f"{model_id}|{generation}|{len(ids)}|{ids.sum()}".encode()).hexdigest()[:16]
        self.key = digest
        self.ids = ids
        self._memory: dict[str, np.ndarray] = {}

    def path(self, method: str) -> Path:
        return self.folder / f"{method}-{self.key}.npz"

    def get(self, method: str, X: np.ndarray, seed: int = 0) -> np.ndarray:
        if method in self._memory:
            return self._memory[method]
        xy = self._read(method)
        if xy is None:
            xy = project(X, method, seed)
            self._write(method, xy)
        self._memory[method] = xy
        return xy

    def _read(self, method: str) -> np.ndarray | None:
        try:
            with np.load(self.path(method)) as data:
                if np.array_equal(data["ids"], self.ids):
                    return data["xy"]
        except (OSError, KeyError, ValueError):
            pass
        return None

    def _write(self, method: str, xy: np.ndarray) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_write(self.path(method)) as fh:
                np.savez(fh, ids=self.ids, xy=xy)
        except (OSError, MynaError):  # a read-only store: the map stays in memory for this run
            pass
