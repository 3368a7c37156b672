"""What the web page asks of the library, answered on one thread that owns it.

SQLite connections belong to the thread that opened them, so the `Library` is opened,
used and closed on a single worker thread; the ASGI handlers hand it work with
`await service.call(fn, ...)`. Work that may take long and needs no SQLite (a t-SNE map of
a large library, its k-means clusters) runs on its own thread (`map_of`), so it never holds
up the verbs, and says which stage it is in (`progress`); every
other request is bounded (playlists by `playlist.m3u`'s limits, verbs by `MAX_TRACKS`). A snapshot of every embedded track (id, tags, file path)
is taken at start: the page's list, the map and the audio endpoint read it without the
worker (restart `myna serve` to see tracks indexed since).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from myna_rpe.errors import PlaylistError
from playlist.geometry.catalog import LibraryCatalog, TrackMeta, resolve_playlist
from playlist.geometry.expand import expand
from playlist.geometry.extend import check, extend
from playlist.geometry.fill import fill
from playlist.m3u import PlaylistEntry, read_playlist, write_m3u8
from playlist.geometry.region import Outcome
from playlist.geometry.selection import SelectionRules
from playlist.geometry.transition import transition
from playlist.web.clusters import cluster_names, kmeans_labels
from playlist.web import projection
from playlist.web.projection import METHODS, ProjectionCache

T = TypeVar("T")
OPERATIONS = ("check", "extend", "expand", "fill", "transition")
MAX_TRACKS = 500  # the most tracks one operation may add


@dataclass(frozen=True)
class OpRequest:
    op: str
    ids: list[int]                 # the playlist
    n: int = 10
    target: tuple[int, ...] = ()   # transition: the playlist to arrive at
    tracks: tuple[int, ...] = ()   # check: the tracks to judge
    max_per_artist: int | None = None
    max_per_album: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class LibraryMap:
    xy: np.ndarray          # (n, 2) float32, rows in the order of `service.ids`
    cluster: np.ndarray     # (n,) int32 k-means cluster of each track
    names: list[str]        # a name per cluster


class LibraryService:
    def __init__(self, db_dir: Path) -> None:
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="myna-library")
        self._map_lock = threading.Lock()
        self._progress: tuple[str, float] | None = None  # the map's stage now, since when
        self._library = None
        self.db_dir = db_dir
        self._worker.submit(self._open).result()  # errors (no store, locked...) surface here

    def _open(self) -> None:
        from playlist.library import Library

        self._library = Library.open(self.db_dir)
        store = self._library.store
        self.catalog = LibraryCatalog(self._library)
        self.ids = np.array(sorted(store.embedded_ids()), dtype=np.int64)
        tracks = store.tracks_by_id(self.ids.tolist())
        self.tracks: dict[int, TrackMeta] = {
            i: TrackMeta(id=t.id, path=t.path, title=t.title, artist=t.artist, album=t.album, duration=t.duration)
            for i, t in tracks.items()}
        self.stamps: dict[int, tuple[int, int]] = {i: (t.size, t.mtime_ns) for i, t in tracks.items()}
        self.root = store.root
        self.model_id = store.model_id
        self.generation = store.generation
        self.maps = ProjectionCache(store.db_dir / "maps", store.model_id, store.generation, self.ids)

    def refresh(self) -> bool:
        """On the worker: take a new snapshot if `myna index` changed the store since the last
        one (its FAISS index and tracks would no longer agree with the store). True if it did."""
        store = self._library.store
        if store.generation == self.generation and store.current_model == self.model_id:
            return False
        self._library.close()
        self._open()
        return True

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    def call_now(self, fn: Callable[..., T], *args: Any) -> T:
        """`call` from outside the event loop (the CLI, before serving)."""
        return self._worker.submit(fn, *args).result()

    def close(self) -> None:
        def shut() -> None:
            if self._library is not None:
                self._library.close()

        self._worker.submit(shut).result()
        self._worker.shutdown()

    # ------------------------------------------------------------ work for the worker thread

    def progress(self) -> dict | None:
        """The stage of the map being computed and its seconds so far; None when none is."""
        now = self._progress
        return None if now is None else {"stage": now[0], "seconds": round(time.monotonic() - now[1], 1)}

    def _report(self, stage: str) -> None:
        self._progress = (stage, self._progress[1] if self._progress else time.monotonic())

    def _compute_map(self, method: str) -> LibraryMap:
        """On the map's thread: the cached map and clusters, else computed from the vectors
        (read on the library's thread, only when something is to be computed)."""
        read: list[np.ndarray] = []

        def vectors() -> np.ndarray:
            if not read:
                read.append(self.call_now(lambda: self.catalog.vectors(self.ids)) if len(self.ids)
                            else np.zeros((0, 2)))
            return read[0]

        def clusters() -> np.ndarray:
            self._report(f"k-means clusters of {len(self.ids):,} tracks")
            return kmeans_labels(vectors())

        try:
            xy = self.maps.get(method, lambda: projection.project(vectors(), method, report=self._report))
            cluster = self.maps.get("clusters", clusters)
        finally:
            self._progress = None
        return LibraryMap(xy, cluster, cluster_names(cluster, [self.tracks[int(i)] for i in self.ids]))

    async def map_of(self, method: str) -> LibraryMap:
        """The library's 2-D map and clusters, computed on a daemon thread of its own (one map
        at a time; a server stopped meanwhile does not wait for it)."""
        if method not in METHODS:
            raise PlaylistError(f"unknown map {method!r}", fix=f"choose one of {', '.join(METHODS)}")
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()

        def project() -> None:
            try:
                with self._map_lock:
                    outcome = (self._compute_map(method), None)
            except Exception as exc:  # handed to the request that waits for it
                outcome = (None, exc)
            try:
                loop.call_soon_threadsafe(_settle, done, *outcome)
            except RuntimeError:  # the server stopped meanwhile: nobody waits
                pass

        threading.Thread(target=project, name="myna-map", daemon=True).start()
        return await done

    def resolve(self, name: str, data: bytes) -> tuple[list[int], list[tuple[int, str, str]]]:
        """(track ids, skipped (line, entry, reason)) of an uploaded m3u's bytes (read as
        `read_playlist` reads files: UTF-8, or cp1252 / latin-1 for .m3u). Its relative paths
        name no folder here, so they are matched by their tail (`resolve_playlist`)."""
        suffix = ".m3u" if name.lower().endswith(".m3u") else ".m3u8"
        with tempfile.TemporaryDirectory(prefix="myna-upload-") as folder:
            file = Path(folder) / f"upload{suffix}"
            file.write_bytes(data)
            return self.resolve_file(file)

    def resolve_file(self, file: Path) -> tuple[list[int], list[tuple[int, str, str]]]:
        """(track ids, skipped (line, entry, reason)) of an m3u file."""
        playlist = read_playlist(file)
        ids, skipped = resolve_playlist(playlist.entries, self._library.store, set(int(i) for i in self.ids))
        rows = sorted([(s.entry.line or 0, s.entry.location, s.reason) for s in skipped]
                      + [(w.line, w.text, w.reason) for w in playlist.warnings])
        return ids, rows

    def run(self, req: OpRequest) -> Outcome:
        rules = SelectionRules(max_per_artist=req.max_per_artist, max_per_album=req.max_per_album)
        if req.op == "extend":
            return extend(self.catalog, req.ids, req.n, rules=rules, seed=req.seed)
        if req.op == "expand":
            return expand(self.catalog, req.ids, req.n, rules=rules, seed=req.seed)
        if req.op == "fill":
            return fill(self.catalog, req.ids, req.n, rules=rules, seed=req.seed)
        if req.op == "transition":
            return transition(self.catalog, req.ids, list(req.target), req.n, rules=rules)
        return check(self.catalog, req.ids, list(req.tracks))

    def m3u8(self, ids: Sequence[int]) -> bytes:
        """The playlist as UTF-8 m3u8 with absolute paths (the browser saves it anywhere)."""
        entries = [PlaylistEntry.of_track(self.tracks[int(i)]) for i in ids]
        with tempfile.TemporaryDirectory(prefix="myna-save-") as folder:
            return write_m3u8(Path(folder) / "playlist.m3u8", entries, absolute=True).read_bytes()


def _settle(future: asyncio.Future, result: Any, error: Exception | None) -> None:
    if future.done():  # the request went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
