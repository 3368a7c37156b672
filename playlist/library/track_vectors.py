"""The vector a library keeps for a track: the encoder's vector beside the track's sound statistics.

    embedder = TrackEmbedder(Embedder.load(checkpoint, budget=budget))
    rows = embedder.embed_mels(mels)        # (n, encoder dim + 144)

A stored row is [unit(z) ; (s - reference mean) / reference std], z the encoder's vector and s
`myna_rpe.track_stats` of the same log-mel (standardised by fixed statistics of the training
tracks, so the parts have sane sizes). The store L2-normalises rows, which scales both parts
alike: the encoder part's norm gives the factor back (`split`). The library's space
(`playlist.library.space`) standardises the statistics on the library itself and joins the two
parts before it half-whitens. The encoder part alone tells recordings apart (`encoder_part`),
as before. A library indexed before the statistics existed keeps its rows (a statistics size of
0 in its record) until `myna index` re-embeds it under the new model id.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from myna_rpe import track_stats

RECORD_KEY = "track_stats"


def track_model_id(model_id: str | None) -> str | None:
    """The id a store records for `model_id`'s vectors with the statistics beside them."""
    if model_id is None:
        return None
    return hashlib.sha256(f"{model_id}+{track_stats.ID}".encode()).hexdigest()[:16]


class TrackEmbedder:
    """An `Embedder` whose rows carry the track's sound statistics after the encoder's vector."""

    def __init__(self, embedder) -> None:  # myna_rpe.embed.Embedder
        self.embedder = embedder
        self.config = embedder.config
        self.budget = embedder.budget
        self.model_id = track_model_id(embedder.model_id)

    @property
    def dim(self) -> int:
        return self.embedder.dim + track_stats.DIM

    @property
    def sample_rate(self) -> int:
        return self.embedder.sample_rate

    def record(self) -> dict:
        """What a store or a catalogue records about this model."""
        return {**model_record(self.embedder), RECORD_KEY: {"id": track_stats.ID, "dim": track_stats.DIM}}

    def embed_mels(self, mels: Sequence) -> np.ndarray:
        if not len(mels):
            return np.zeros((0, self.dim), np.float32)
        return track_rows(self.embedder.embed_mels(mels),
                          np.stack([track_stats.track_stats(m, self.config.frontend) for m in mels]))

    def embed_file(self, path: str | Path) -> np.ndarray:
        from myna_rpe.embed import file_log_mel

        mel, _ = file_log_mel(path, self.config.frontend)
        return self.embedder.finite(self.embed_mels([mel]))[0]


def track_rows(Z: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Rows as a library stores them from encoder vectors `Z` and raw statistics `S` (`track_stats`)."""
    mean, std = track_stats.reference()
    Z = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    return np.concatenate([Z, (S - mean) / std], axis=1).astype(np.float32)


def model_record(embedder) -> dict:
    """The model record of a TrackEmbedder or a plain Embedder (config, budget; statistics)."""
    if isinstance(embedder, TrackEmbedder):
        return embedder.record()
    budget = getattr(embedder, "budget", None)
    return {**embedder.config.to_dict(), **({"budget": budget.to_dict()} if budget is not None else {})}


def stats_dim(model_config: dict | None) -> int:
    """How many trailing values of the recorded model's rows are statistics (0: none, an older library)."""
    record = (model_config or {}).get(RECORD_KEY)
    return int(record["dim"]) if isinstance(record, dict) and isinstance(record.get("dim"), int) else 0


def split(X: np.ndarray, n_stats: int) -> tuple[np.ndarray, np.ndarray]:
    """(unit encoder vectors, standardised statistics) of rows `X`, whatever scale a row was
    stored at; with `n_stats` 0 the statistics are an empty (n, 0) array."""
    X = np.atleast_2d(np.asarray(X, dtype=np.float32))
    Z = X[:, :X.shape[1] - n_stats]
    scale = np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    return Z / scale, X[:, X.shape[1] - n_stats:] / scale


def encoder_part(X: np.ndarray, n_stats: int) -> np.ndarray:
    """The unit encoder vectors of rows `X`: what tells recordings apart."""
    return split(X, n_stats)[0]
