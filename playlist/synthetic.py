"""Clustered synthetic embeddings with track metadata, for tests and benchmarks.

A hierarchy like a real library: genres → styles → artists → tracks. A track's vector
is the L2-normalised sum of its genre centre, style and artist offsets, and its own
noise, so artists form tight clusters inside looser styles inside genres. Each artist
has albums of `album_size` tracks. Deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from playlist.geometry.catalog import TrackMeta


@dataclass(frozen=True)
class SyntheticSpec:
    dim: int = 32
    genres: int = 6
    styles_per_genre: int = 4
    artists_per_style: int = 6
    tracks_per_artist: int = 12
    album_size: int = 6
    style_spread: float = 0.6
    artist_spread: float = 0.45
    track_noise: float = 0.25


@dataclass
class SyntheticLibrary:
    ids: np.ndarray            # (n,) int64
    vectors: np.ndarray        # (n, dim) float32, unit rows
    tracks: list[TrackMeta]
    artist: np.ndarray         # (n,) artist index
    style: np.ndarray          # (n,) style index
    genre: np.ndarray          # (n,) genre index


def synthetic_library(spec: SyntheticSpec = SyntheticSpec(), seed: int = 0, root: Path = Path("/synthetic")) -> SyntheticLibrary:
    rng = np.random.default_rng(seed)
    d = spec.dim
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    vectors, tracks, artist_of, style_of, genre_of = [], [], [], [], []
    track_id, artist_id, style_id = 1, 0, 0
    for g in range(spec.genres):
        genre_centre = unit(rng.normal(size=d))
        for _ in range(spec.styles_per_genre):
            style_centre = genre_centre + spec.style_spread * unit(rng.normal(size=d))
            for _ in range(spec.artists_per_style):
                artist_centre = style_centre + spec.artist_spread * unit(rng.normal(size=d))
                for t in range(spec.tracks_per_artist):
                    v = artist_centre + spec.track_noise * rng.normal(size=d) / np.sqrt(d)
                    vectors.append(unit(v))
                    album = t // spec.album_size
                    tracks.append(TrackMeta(
                        id=track_id, path=root / f"artist{artist_id:04d}" / f"album{album}" / f"{t:02d}.flac",
                        title=f"Song {track_id}", artist=f"Artist {artist_id}",
                        album=f"Album {artist_id}-{album}", duration=180.0 + t))
                    artist_of.append(artist_id)
                    style_of.append(style_id)
                    genre_of.append(g)
                    track_id += 1
                artist_id += 1
            style_id += 1
    return SyntheticLibrary(ids=np.arange(1, track_id, dtype=np.int64), vectors=np.array(vectors, dtype=np.float32),
                            tracks=tracks, artist=np.array(artist_of), style=np.array(style_of),
                            genre=np.array(genre_of))
