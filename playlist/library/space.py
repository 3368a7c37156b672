"""The library's similarity space: the model's vectors centred on the library and half-whitened.

A contrastive encoder's vectors share a common direction and a few dominant axes; cosine on
them is decided mostly by those, so every track of one library looks alike. Searching in the
library's own space — the mean of its vectors removed, each principal axis scaled by
variance^(-1/4) (half of full whitening, which would blow up noise axes) — lets the axes that
tell this library's tracks apart count. Measured on the 13 held-out games with 14 trained
models (docs/default_model.md, "The library's similarity space"): playlist continuation rose
for every model, same-game retrieval held or rose.

The mean and covariance are shrunk towards "no change" by `PSEUDO_TRACKS` tracks' worth, so a
library of a few dozen tracks gets a mild version and a single track none. The space is
derived data: fitted from the store's vectors when the FAISS index is built and saved with
the index's stamp (`playlist.library.opened`).

Rows that carry sound statistics after the encoder's vector (`playlist.library.track_vectors`)
are first joined: the statistics standardised on the library (their mean and spread shrunk
towards the reference's 0 and 1 the same way), scaled to norm `STATS_WEIGHT` beside the unit
encoder vector, the whole row normalised. Standardising on the library is what helps: on the
held-out games the same statistics standardised by the training tracks alone added nothing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace

import numpy as np

from playlist.library.track_vectors import split

PSEUDO_TRACKS = 8
EXPONENT = 0.5  # axes scaled by variance^(-EXPONENT/2): 0 = centring only, 1 = full whitening
STATS_WEIGHT = 0.5  # the statistics' norm beside the unit encoder vector (docs/default_model.md)
VERSION = 2  # stamped with the index: a change here rebuilds every saved index
_BLOCK = 65536  # rows at a time, to bound the memory of large libraries


@dataclass(frozen=True)
class Space:
    mean: np.ndarray  # (dim,) float32
    basis: np.ndarray  # (dim, dim) float32, symmetric: scales each principal axis
    stats_mean: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # (statistics,)
    stats_scale: np.ndarray = field(default_factory=lambda: np.ones(0, np.float32))

    @classmethod
    def identity(cls, dim: int, n_stats: int = 0) -> Space:
        return cls(np.zeros(dim, np.float32), np.eye(dim, dtype=np.float32),
                   np.zeros(n_stats, np.float32), np.ones(n_stats, np.float32))

    @classmethod
    def fit(cls, X: np.ndarray, n_stats: int = 0) -> Space:
        """The space of a library whose stored rows are the rows of `X`, the last `n_stats`
        values of each its sound statistics (`track_vectors`)."""
        X = np.asarray(X, dtype=np.float32)
        n, dim = X.shape
        stats_mean, stats_scale = _library_stats(X, n_stats)
        plain = replace(cls.identity(dim), stats_mean=stats_mean, stats_scale=stats_scale)
        if n < 2:
            return plain
        total, gram = np.zeros(dim), np.zeros((dim, dim))
        for start in range(0, n, _BLOCK):  # in blocks: 10^6 tracks never become a float64 copy
            block = plain.join(X[start:start + _BLOCK]).astype(np.float64)
            total += block.sum(axis=0)
            gram += block.T @ block
        mean = total / n
        cov = (gram - n * np.outer(mean, mean)) / (n - 1)
        prior = np.trace(cov) / dim
        if prior <= 0:  # every vector the same
            return plain
        w = n / (n + PSEUDO_TRACKS)
        cov = w * cov + (1 - w) * prior * np.eye(dim)
        values, axes = np.linalg.eigh(cov)
        values = np.maximum(values, 1e-6 * values.max())
        # rotated back (as ZCA whitening is), so that a space with little to learn stays near
        # the identity; the overall scale is kept near 1
        basis = (axes / values ** (EXPONENT / 2)) @ axes.T * prior ** (EXPONENT / 2)
        return cls((w * mean).astype(np.float32), basis.astype(np.float32), plain.stats_mean, plain.stats_scale)

    def join(self, X: np.ndarray) -> np.ndarray:
        """Stored rows with statistics as one unit vector each: the unit encoder vector beside the
        library-standardised statistics at norm STATS_WEIGHT, the row normalised. Rows without
        statistics are returned as they are."""
        if not len(self.stats_mean):
            return np.atleast_2d(np.asarray(X, dtype=np.float32))
        Z, S = split(X, len(self.stats_mean))
        S = (S - self.stats_mean) / self.stats_scale
        S *= STATS_WEIGHT / np.maximum(np.linalg.norm(S, axis=1, keepdims=True), 1e-12)
        return np.concatenate([Z, S], axis=1).astype(np.float32) / np.float32(np.sqrt(1 + STATS_WEIGHT ** 2))

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Stored rows of `X` (the model's vectors) in this space, L2-normalised (inner product = cosine)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float32))
        out = np.empty(X.shape, np.float32)
        for start in range(0, len(X), _BLOCK):
            block = self.join(X[start:start + _BLOCK])
            block = block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
            Y = (block - self.mean) @ self.basis
            out[start:start + _BLOCK] = Y / np.maximum(np.linalg.norm(Y, axis=1, keepdims=True), 1e-12)
        return out

    def to_json(self) -> dict:
        encode = lambda a: base64.b64encode(a.astype("<f4").tobytes()).decode()  # noqa: E731
        return {"version": VERSION, "dim": int(len(self.mean)), "mean": encode(self.mean), "basis": encode(self.basis),
                "stats_mean": encode(self.stats_mean), "stats_scale": encode(self.stats_scale)}

    @classmethod
    def from_json(cls, value: object, dim: int) -> Space | None:
        """The saved space, or None if it is missing, of another version or damaged (then rebuilt)."""
        try:
            if value["version"] != VERSION or value["dim"] != dim:
                return None
            mean, basis, stats_mean, stats_scale = (np.frombuffer(base64.b64decode(value[key], validate=True), "<f4")
                                                    for key in ("mean", "basis", "stats_mean", "stats_scale"))
        except (KeyError, TypeError, ValueError):
            return None
        if (mean.shape != (dim,) or basis.shape != (dim * dim,) or stats_mean.shape != stats_scale.shape
                or not all(np.isfinite(a).all() for a in (mean, basis, stats_mean, stats_scale))
                or not (stats_scale > 0).all()):
            return None
        return cls(mean.astype(np.float32), basis.reshape(dim, dim).astype(np.float32),
                   stats_mean.astype(np.float32), stats_scale.astype(np.float32))


def _library_stats(X: np.ndarray, n_stats: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) of the statistics over the library, shrunk towards the reference's (0, 1)
    by PSEUDO_TRACKS tracks' worth, as the space's mean and covariance are."""
    n = len(X)
    if n == 0 or n_stats == 0:
        return np.zeros(n_stats, np.float32), np.ones(n_stats, np.float32)
    total, squares = np.zeros(n_stats), np.zeros(n_stats)
    for start in range(0, n, _BLOCK):
        S = split(X[start:start + _BLOCK], n_stats)[1].astype(np.float64)
        total += S.sum(axis=0)
        squares += (S * S).sum(axis=0)
    w = n / (n + PSEUDO_TRACKS)
    mean = w * total / n
    var = w * np.maximum(squares / n - (total / n) ** 2, 0.0) + (1 - w)
    return mean.astype(np.float32), np.sqrt(np.maximum(var, 1e-6)).astype(np.float32)
