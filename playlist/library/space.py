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
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

PSEUDO_TRACKS = 8
EXPONENT = 0.5  # axes scaled by variance^(-EXPONENT/2): 0 = centring only, 1 = full whitening
VERSION = 1  # stamped with the index: a change here rebuilds every saved index
_BLOCK = 65536  # rows at a time, to bound the memory of large libraries


@dataclass(frozen=True)
class Space:
    mean: np.ndarray  # (dim,) float32
    basis: np.ndarray  # (dim, dim) float32, symmetric: scales each principal axis

    @classmethod
    def identity(cls, dim: int) -> Space:
        return cls(np.zeros(dim, np.float32), np.eye(dim, dtype=np.float32))

    @classmethod
    def fit(cls, X: np.ndarray) -> Space:
        """The space of a library whose (L2-normalised) vectors are the rows of `X`."""
        X = np.asarray(X, dtype=np.float32)
        n, dim = X.shape
        if n < 2:
            return cls.identity(dim)
        mean = X.mean(axis=0, dtype=np.float64)
        gram = np.zeros((dim, dim))
        for start in range(0, n, _BLOCK):  # in blocks: 10^6 tracks never become a float64 copy
            block = X[start:start + _BLOCK].astype(np.float64)
            gram += block.T @ block
        cov = (gram - n * np.outer(mean, mean)) / (n - 1)
        prior = np.trace(cov) / dim
        if prior <= 0:  # every vector the same
            return cls.identity(dim)
        w = n / (n + PSEUDO_TRACKS)
        cov = w * cov + (1 - w) * prior * np.eye(dim)
        values, axes = np.linalg.eigh(cov)
        values = np.maximum(values, 1e-6 * values.max())
        # rotated back (as ZCA whitening is), so that a space with little to learn stays near
        # the identity; the overall scale is kept near 1
        basis = (axes / values ** (EXPONENT / 2)) @ axes.T * prior ** (EXPONENT / 2)
        return cls((w * mean).astype(np.float32), basis.astype(np.float32))

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Rows of `X` (the model's vectors) in this space, L2-normalised (inner product = cosine)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float32))
        out = np.empty(X.shape, np.float32)
        for start in range(0, len(X), _BLOCK):
            block = X[start:start + _BLOCK]
            block = block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
            Y = (block - self.mean) @ self.basis
            out[start:start + _BLOCK] = Y / np.maximum(np.linalg.norm(Y, axis=1, keepdims=True), 1e-12)
        return out

    def to_json(self) -> dict:
        return {"version": VERSION, "dim": int(len(self.mean)),
                "mean": base64.b64encode(self.mean.astype("<f4").tobytes()).decode(),
                "basis": base64.b64encode(self.basis.astype("<f4").tobytes()).decode()}

    @classmethod
    def from_json(cls, value: object, dim: int) -> Space | None:
        """The saved space, or None if it is missing, of another version or damaged (then rebuilt)."""
        try:
            if value["version"] != VERSION or value["dim"] != dim:
                return None
            mean = np.frombuffer(base64.b64decode(value["mean"], validate=True), "<f4")
            basis = np.frombuffer(base64.b64decode(value["basis"], validate=True), "<f4")
        except (KeyError, TypeError, ValueError):
            return None
        if mean.shape != (dim,) or basis.shape != (dim * dim,) or not (np.isfinite(mean).all() and np.isfinite(basis).all()):
            return None
        return cls(mean.astype(np.float32), basis.reshape(dim, dim).astype(np.float32))
