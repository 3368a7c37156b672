"""Which candidate tracks may join a playlist: no repeats, no duplicate recordings, caps.

A candidate is refused when it is already in the playlist or picked, when it is the same
recording as one of those, or when it would exceed `max_per_artist` / `max_per_album`
among the *added* tracks. The same recording: an embedding at cosine ≥ `duplicate_cosine`
(the same audio in another file), or the same normalised title and artist (see
`playlist.track_matching`) *and* a duration within `duplicate_seconds` *and* a cosine ≥
`tag_duplicate_cosine` to that track (another rip or a remaster); cosines of the model's own
vectors (`Catalog.recording_vectors`), whatever space the search uses. Tags alone are never
enough: a soundtrack whose files all carry one multi-valued TITLE would otherwise be one track.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from playlist.geometry.catalog import Catalog, TrackMeta
from playlist.track_matching import fold, title_key


@dataclass(frozen=True)
class SelectionRules:
    max_per_artist: int | None = None
    max_per_album: int | None = None
    # Cosines of the model's own vectors (Catalog.recording_vectors, not the library's space),
    # measured by benchmarks/bench_duplicates.py on re-encoded real music: copies (MP3, Vorbis,
    # Opus, AAC, 3 dB quieter, 0.5 s lead-in) score a median 0.99-1.0 with their originals (3 dB
    # quieter: 0.96-0.97); different tracks of one soundtrack reach 0.975, and 0.925 where their
    # durations are within 3 s. Audio alone must be near-identical: a lower bar refuses whole
    # neighbourhoods of a tight library.
    duplicate_cosine: float = 0.99
    tag_duplicate_cosine: float = 0.95
    duplicate_seconds: float = 3.0


def recording_key(track: TrackMeta) -> tuple[str, str] | None:
    """(normalised title, folded artist) when the track has a title tag, else None: file
    names alone ("01.mp3") say too little to call two files the same recording."""
    if not track.title:
        return None
    return title_key(track.title), fold(track.artist or "")


class Selector:
    """Accepts candidates one at a time and remembers what it accepted."""

    def __init__(self, rules: SelectionRules, catalog: Catalog, existing: Iterable[int]) -> None:
        """`existing`: ids of the catalog's tracks already taken (the playlist)."""
        self.rules = rules
        self.catalog = catalog
        self.taken: set[int] = set()
        self.vectors: list[np.ndarray] = []
        # recording key -> (duration, vector) of each taken track with that title and artist
        self.keys: dict[tuple[str, str], list[tuple[float | None, np.ndarray]]] = {}
        self.artists: Counter[str] = Counter()
        self.albums: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        meta = catalog.meta(sorted({int(i) for i in existing}))
        if meta:
            for track, vector in zip(meta.values(), catalog.recording_vectors(list(meta))):
                self.taken.add(track.id)
                self._remember(track, vector)
                self.vectors.append(vector)

    def _remember(self, track: TrackMeta, vector: np.ndarray) -> None:
        key = recording_key(track)
        if key is not None:
            self.keys.setdefault(key, []).append((track.duration, vector))

    def _same_tags_and_audio(self, track: TrackMeta, vector: np.ndarray) -> bool:
        key = recording_key(track)
        for duration, other in self.keys.get(key, []) if key is not None else []:
            close = track.duration is None or duration is None or abs(track.duration - duration) <= \
                self.rules.duplicate_seconds
            if not close:
                continue
            if float(other @ vector) >= self.rules.tag_duplicate_cosine:
                return True
        return False

    def reason_to_refuse(self, track: TrackMeta) -> str | None:
        return self._reason(track, self._vector(track))

    def _reason(self, track: TrackMeta, vector: np.ndarray) -> str | None:
        if track.id in self.taken:
            return "already in the playlist"
        if self._same_tags_and_audio(track, vector):
            return "duplicate recording (same title, artist and duration, similar audio)"
        if self.vectors and float(np.max(np.stack(self.vectors) @ vector)) >= self.rules.duplicate_cosine:
            return "duplicate recording (near-identical audio)"
        artist = fold(track.artist or "")
        if self.rules.max_per_artist is not None and artist and self.artists[artist] >= self.rules.max_per_artist:
            return "artist cap"
        album = fold(track.album or "")
        if self.rules.max_per_album is not None and album and self.albums[album] >= self.rules.max_per_album:
            return "album cap"
        return None

    def _vector(self, track: TrackMeta) -> np.ndarray:
        return self.catalog.recording_vectors([track.id])[0]

    def offer(self, track: TrackMeta) -> bool:
        """Accept the track if allowed (and remember it); count the reason if not."""
        vector = self._vector(track)
        reason = self._reason(track, vector)
        if reason is not None:
            self.refused[reason] += 1
            return False
        self.taken.add(track.id)
        self._remember(track, vector)
        self.vectors.append(vector)
        if track.artist:
            self.artists[fold(track.artist)] += 1
        if track.album:
            self.albums[fold(track.album)] += 1
        return True
