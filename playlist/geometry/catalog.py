"""What the playlist operations need from a library, as a small interface.

The operations (extend, expand, transition, fill) work on a `Catalog`: track ids,
L2-normalised vectors, a nearest-neighbour search and per-track metadata. Two
implementations: `ArrayCatalog` over plain arrays (tests, benchmarks) and
`LibraryCatalog`, a thin adapter over an opened `playlist.library.Library`.
`resolve_playlist` maps m3u entries to track ids, with a reason for each miss.
"""

from __future__ import annotations

import shlex
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from myna_rpe.audio import AUDIO_EXTENSIONS
from myna_rpe.errors import LibraryError
from playlist.m3u import PlaylistEntry
from playlist.library.vector_index import build_index, search


@dataclass(frozen=True)
class TrackMeta:
    """The metadata the operations use (the store's `Track` has the same fields)."""

    id: int
    path: Path
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    duration: float | None = None

    @property
    def label(self) -> str:
        if self.title and self.artist:
            return f"{self.artist} - {self.title}"
        return self.title or self.path.name


class Catalog(Protocol):
    dim: int

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(cosine scores (q, k), ids (q, k)) of the k nearest tracks; id -1 where none."""
        ...

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """(len(ids), dim) float64 unit vectors, in the order of `ids`."""
        ...

    def recording_vectors(self, ids: Sequence[int]) -> np.ndarray:
        """Unit vectors that tell recordings apart, in the order of `ids`: the model's own, before
        any library space (which stretches the quiet directions a codec or level change moves)."""
        ...

    def meta(self, ids: Sequence[int]) -> dict[int, TrackMeta]: ...

    def all_ids(self) -> np.ndarray: ...


class ArrayCatalog:
    """A catalog over in-memory arrays, searched with an exact FAISS inner-product index."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray, tracks: Sequence[TrackMeta] | None = None,
                 recording: np.ndarray | None = None):
        """`recording`: the model's own vectors where `vectors` are in a library's space (the same
        rows; the encoder's part alone where the library keeps sound statistics beside it)."""
        X = np.asarray(vectors, dtype=np.float32)
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        R = X if recording is None else np.asarray(recording, dtype=np.float32)
        if len(R) != len(X):
            raise ValueError(f"{len(R)} recording vectors for {len(X)} vectors")
        self.R = R / np.maximum(np.linalg.norm(R, axis=1, keepdims=True), 1e-12)
        self.ids = np.asarray(ids, dtype=np.int64)
        self.X = X
        self.dim = X.shape[1]
        self.row = {int(i): r for r, i in enumerate(self.ids)}
        self.tracks = {t.id: t for t in tracks} if tracks is not None else {}
        self.index = build_index(self.ids, X)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        Q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        Q = Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-12)
        return search(self.index, Q, k)

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        return self.X[[self.row[int(i)] for i in ids]].astype(np.float64)

    def recording_vectors(self, ids: Sequence[int]) -> np.ndarray:
        return self.R[[self.row[int(i)] for i in ids]].astype(np.float64)

    def meta(self, ids: Sequence[int]) -> dict[int, TrackMeta]:
        return {int(i): self.tracks.get(int(i)) or TrackMeta(id=int(i), path=Path(f"track-{int(i)}"))
                for i in ids}

    def all_ids(self) -> np.ndarray:
        return self.ids


class LibraryCatalog:
    """Adapter: a `playlist.library.Library` (store + FAISS index) seen as a Catalog."""

    def __init__(self, library) -> None:  # playlist.library.Library; typed loosely to keep imports light
        self.library = library
        self.store = library.store
        self.dim = self.store.dim or 0
        self._cache: dict[int, np.ndarray] = {}
        self._raw: dict[int, np.ndarray] = {}

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.library.search(np.asarray(queries, dtype=np.float32), k)

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        return self._cached(self._cache, ids, self.library.vectors)

    def recording_vectors(self, ids: Sequence[int]) -> np.ndarray:
        return self._cached(self._raw, ids, self._encoder_rows)  # before the space

    def _encoder_rows(self, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        from playlist.library.track_vectors import encoder_part, stats_dim

        got, X = self.store.embeddings(ids)
        return got, encoder_part(X, stats_dim(self.store.model_config))

    def _cached(self, cache: dict[int, np.ndarray], ids: Sequence[int], fetch) -> np.ndarray:
        """Rows of `ids` from `cache`, fetching the missing ones with `fetch(ids) -> (ids, rows)`."""
        missing = [int(i) for i in ids if int(i) not in cache]
        if missing:
            got, X = fetch(missing)
            cache.update({int(i): x.astype(np.float64) for i, x in zip(got, X)})
        return np.stack([cache[int(i)] for i in ids]) if len(ids) else np.zeros((0, self.dim))

    def meta(self, ids: Sequence[int]) -> dict[int, TrackMeta]:
        tracks = self.store.tracks_by_id(ids)
        return {i: TrackMeta(id=t.id, path=t.path, title=t.title, artist=t.artist, album=t.album,
                             duration=t.duration) for i, t in tracks.items()}

    def all_ids(self) -> np.ndarray:
        return np.array(sorted(self.store.embedded_ids()), dtype=np.int64)


def library_scale(catalog: Catalog, sample: int = 256, seed: int = 0) -> float:
    """Median distance from a track to its nearest other track, over a random sample.

    The fallback scale for a playlist with a single distinct track (whose own scale is undefined).
    """
    ids = catalog.all_ids()
    if len(ids) < 2:
        return 1.0
    rng = np.random.default_rng(seed)
    picked = rng.choice(ids, size=min(sample, len(ids)), replace=False)
    scores, found = catalog.search(catalog.vectors(picked), 2)
    # The first hit is the track itself (or an identical copy, which also counts as a neighbour).
    cos = np.where(found[:, 1] >= 0, scores[:, 1], np.nan)
    dist = np.sqrt(np.maximum(2.0 - 2.0 * cos.astype(np.float64), 0.0))
    med = float(np.nanmedian(dist)) if np.isfinite(dist).any() else 1.0
    return med if med > 0 else 1.0


@dataclass(frozen=True)
class Skipped:
    """A playlist entry that could not be used, and why."""

    entry: PlaylistEntry
    reason: str


PLAYLIST_SUFFIXES = (".m3u", ".m3u8", ".pls", ".xspf")


def resolve_playlist(entries: Sequence[PlaylistEntry], store, embedded: set[int]) -> tuple[list[int], list[Skipped]]:
    """Map entries to store track ids (in playlist order, first occurrence kept).

    A local path is looked up exactly. A path the store does not know (a playlist written
    on another machine, a Windows path, a moved library) falls back to the longest tail
    of its path components (up to 4: ".../Artist/Album/01 Song.mp3") that names exactly
    one library file. URLs and lines that are no path are never matched by their tail.
    Everything else is reported with the reason.
    """
    ids: list[int] = []
    skipped: list[Skipped] = []
    by_tail: dict[tuple[str, ...], list[int]] | None = None
    errors: dict[str, str] | None = None
    for entry in entries:
        track = store.track_by_path(entry.path) if entry.path is not None else None
        if track is None and (entry.path is not None or entry.foreign):
            if by_tail is None:
                by_tail = _tail_index(store)
            track = _match_tail(entry, by_tail, store)
        if track is None:
            if errors is None:
                errors = {e.rel_path: e.message for e in store.errors()}
            skipped.append(Skipped(entry, _why_not_found(entry, store, errors)))
        elif track.id not in embedded:
            skipped.append(Skipped(entry, "indexed but not embedded with the current model (run `myna index`)"))
        elif track.id not in ids:
            ids.append(track.id)
    return ids, skipped


def _why_not_found(entry: PlaylistEntry, store, errors: dict[str, str]) -> str:
    if entry.path is None:
        return entry.note or "not a local file"
    if entry.path.suffix.lower() in PLAYLIST_SUFFIXES:
        return "a playlist inside the playlist (only nested .m3u/.m3u8 playlists are followed)"
    try:
        if stat.S_ISDIR(entry.path.stat().st_mode):
            return "a folder, not a track"
    except (FileNotFoundError, NotADirectoryError):
        return "file not found"
    except OSError as exc:  # a symlink loop, a name too long, no permission...
        return f"cannot be opened ({exc.strerror})"
    try:
        rel = store.rel_path(entry.path)
    except LibraryError:
        return f"outside the library ({store.root}): only its tracks can be used"
    if rel in errors:
        return f"could not be indexed: {errors[rel]}"
    if entry.path.suffix.lower() not in AUDIO_EXTENSIONS:
        return "not an audio file"
    return f"not indexed yet (run `myna index {shlex.quote(str(store.root))}`)"


_TAIL = 4


def _tail_index(store) -> dict[tuple[str, ...], list[int]]:
    index: dict[tuple[str, ...], list[int]] = {}
    for t in store.tracks():
        parts = tuple(p.casefold() for p in t.rel_path.split("/"))
        for k in range(1, min(_TAIL, len(parts)) + 1):
            index.setdefault(parts[-k:], []).append(t.id)
    return index


def _match_tail(entry: PlaylistEntry, by_tail: dict[tuple[str, ...], list[int]], store):
    """The single library track whose path ends like the entry's, longest tail first."""
    location = entry.path.as_posix() if entry.path is not None else entry.location.replace("\\", "/")
    parts = tuple(p.casefold() for p in location.split("/") if p and not p.endswith(":"))
    for k in range(min(_TAIL, len(parts)), 0, -1):
        hits = by_tail.get(parts[-k:], [])
        if len(hits) == 1:
            return store.track(hits[0])
        if len(hits) > 1:
            return None  # ambiguous; a shorter tail would only be more so
    return None
