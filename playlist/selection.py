"""Which candidate tracks may join a playlist: no repeats, no duplicate recordings, caps.

A candidate is refused when it is already in the playlist or picked, when it is the same
recording as one of those (same normalised title and artist, see
`playlist.track_matching`, or an embedding at cosine ≥ `duplicate_cosine`, i.e. the same
audio in another file), or when it would exceed `max_per_artist` / `max_per_album`
among the *added* tracks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from playlist.catalog import TrackMeta
from playlist.track_matching import fold, title_key


@dataclass(frozen=True)
class SelectionRules:
    max_per_artist: int | None = None
    max_per_album: int | None = None
    duplicate_cosine: float = 0.995


def recording_key(track: TrackMeta) -> tuple[str, str] | None:
    """(normalised title, folded artist) when the track has a title tag, else None: file
    names alone ("01.mp3") say too little to call two files the same recording."""
    if not track.title:
        return None
    return title_key(track.title), fold(track.artist or "")


class Selector:
    """Accepts candidates one at a time and remembers what it accepted."""

    def __init__(self, rules: SelectionRules, existing: Iterable[TrackMeta], existing_vectors: np.ndarray):
        self.rules = rules
        self.taken: set[int] = set()
        self.keys: set[tuple[str, str]] = set()
        self.vectors: list[np.ndarray] = list(np.atleast_2d(existing_vectors))
        self.artists: Counter[str] = Counter()
        self.albums: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        for track in existing:
            self.taken.add(track.id)
            key = recording_key(track)
            if key is not None:
                self.keys.add(key)

    def reason_to_refuse(self, track: TrackMeta, vector: np.ndarray) -> str | None:
        if track.id in self.taken:
            return "already in the playlist"
        key = recording_key(track)
        if key is not None and key in self.keys:
            return "duplicate recording (same title and artist)"
        if self.vectors and float(np.max(np.stack(self.vectors) @ vector)) >= self.rules.duplicate_cosine:
            return "duplicate recording (near-identical audio)"
        artist = fold(track.artist or "")
        if self.rules.max_per_artist is not None and artist and self.artists[artist] >= self.rules.max_per_artist:
            return "artist cap"
        album = fold(track.album or "")
        if self.rules.max_per_album is not None and album and self.albums[album] >= self.rules.max_per_album:
            return "album cap"
        return None

    def offer(self, track: TrackMeta, vector: np.ndarray) -> bool:
        """Accept the track if allowed (and remember it); count the reason if not."""
        reason = self.reason_to_refuse(track, vector)
        if reason is not None:
            self.refused[reason] += 1
            return False
        self.taken.add(track.id)
        key = recording_key(track)
        if key is not None:
            self.keys.add(key)
        self.vectors.append(np.asarray(vector, dtype=np.float64))
        if track.artist:
            self.artists[fold(track.artist)] += 1
        if track.album:
            self.albums[fold(track.album)] += 1
        return True
