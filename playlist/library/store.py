"""The library store: one SQLite file that is the source of truth for an indexed music folder.

Layout (default, beside the library)::

    LIBRARY/.myna/library.sqlite   tracks, tags, embeddings (float32 blobs), errors, meta
    LIBRARY/.myna/index.faiss      FAISS index built from the store (see vector_index.py)
    LIBRARY/.myna/lock             held (flock) by a running `myna index`

Public API (read side, used by the playlist tools)::

    with LibraryStore.open(db_dir) as store:     # db_dir = LIBRARY/.myna or --db PATH
        store.model_id                           # the model whose embeddings this store reads
        store.models()                           # list[ModelSet]: every model with embeddings here
        store.tracks()                           # list[Track], ordered by id
        store.track(42)                          # Track | None
        store.track_by_path("a/b.mp3")           # absolute, relative to the root, or cwd-relative
        store.find("beatles - help")             # list[Track]: path or "artist - title" substring
        ids, X = store.embeddings()              # int64 (n,), float32 (n, dim), rows L2-normalised

    with Library.open(db_dir) as lib:            # playlist.library.opened: the store + its FAISS index
        scores, ids = lib.search(vectors, k)     # cosine; ids are track ids, -1 where fewer than k

Track ids are SQLite AUTOINCREMENT keys: never reused, kept when a file is moved or
re-embedded, and used as the FAISS ids, so an id means the same track everywhere.
Paths are stored relative to the library root (POSIX separators), so moving the whole
folder keeps the store valid; `Track.path` is absolute.

Embeddings are keyed by the id of the model that made them, and a store holds one set
per model (`models()`); indexing with another checkpoint adds a set and keeps the others.
A `LibraryStore` reads one set only, chosen when it is opened (`model=`, an id or a unique
prefix of one; default: the current model, the one indexed last), so two models never mix
in one search. Connection, schema and migrations are in `store_db.py`, the model sets
in `model_sets.py`.
Writers (the indexer) hold the lock file; SQLite runs in WAL mode, so readers (`myna
similar`, `--status`) work while an index run is in progress. Readers open the store with
`readonly=True`: they never write to it, so they also work on another user's library or on
read-only media. Every SQLite failure becomes one `LibraryError` (see `sqlite_guard`);
none of its advice deletes anything.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from myna_rpe.errors import LibraryError
from myna_rpe.fileio import expand_user
from playlist.library.model_sets import ModelSets
from playlist.library.sqlite_guard import damaged
from playlist.library.store_db import DB_DIRNAME, DB_FILENAME


@dataclass(frozen=True)
class Track:
    """One audio file of the library, with its tags. `path` is absolute."""

    id: int
    path: Path
    rel_path: str
    title: str | None
    artist: str | None
    album: str | None
    track_no: int | None
    duration: float | None  # seconds, from the decoded audio
    isrc: str | None
    size: int
    mtime_ns: int
    content_hash: str
    added_at: float
    updated_at: float

    @property
    def mtime(self) -> float:
        return self.mtime_ns / 1e9

    @property
    def label(self) -> str:
        """"Artist - Title" where tags exist, else the file name."""
        if self.title and self.artist:
            return f"{self.artist} - {self.title}"
        return self.title or self.path.name


@dataclass(frozen=True)
class TrackInfo:
    """What the indexer writes for a file: location, fingerprint and tags."""

    rel_path: str
    size: int
    mtime_ns: int
    content_hash: str
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    track_no: int | None = None
    duration: float | None = None
    isrc: str | None = None


@dataclass(frozen=True)
class ErrorRecord:
    rel_path: str
    size: int
    mtime_ns: int
    message: str
    at: float


_TRACK_COLUMNS = ("id, path, title, artist, album, track_no, duration, isrc, size, mtime_ns, "
                  "content_hash, added_at, updated_at")


def default_db_dir(library: Path) -> Path:
    return Path(library) / DB_DIRNAME


def find_db_dir(start: Path) -> Path | None:
    """The nearest `.myna/library.sqlite` at or above `start` (a file or a folder)."""
    start = Path(start).resolve()
    for folder in [start, *start.parents]:
        if (folder / DB_DIRNAME / DB_FILENAME).is_file():
            return folder / DB_DIRNAME
    return None


class LibraryStore(ModelSets):
    """SQLite-backed store of tracks and embeddings. Open with `LibraryStore.open`."""

    def __init__(self, conn, db_dir: Path, readonly: bool) -> None:
        super().__init__(conn, db_dir, readonly)
        self.root = Path(".")

    @classmethod
    def open(cls, db_dir: str | Path, root: str | Path | None = None, create: bool = False,
             readonly: bool = False, model: str | None = None) -> LibraryStore:
        """Open the store in `db_dir`. `root` is the library folder; by default the parent
        of a `.myna` folder, or the root recorded when the store was created. With
        `readonly`, nothing is ever written (not even the -wal/-shm files where the folder
        is read-only). `model` chooses the embedding set read (default: the current one)."""
        db_dir = expand_user(db_dir).absolute()
        store = cls(cls.connect(db_dir, create, readonly), db_dir, readonly)
        try:
            store._prepare_schema()
            store.root = store._resolve_root(root)
            store._model = store.current_model if model is None else store.resolve_model(model)
        except BaseException:
            store.close()
            raise
        return store

    def _resolve_root(self, root: str | Path | None) -> Path:
        if root is not None:
            resolved = expand_user(root).resolve()
        elif self.db_dir.name == DB_DIRNAME:
            resolved = self.db_dir.parent.resolve()
        elif self.get_meta("root", str) is not None:
            resolved = Path(self.get_meta("root", str))
        else:
            raise LibraryError("this store does not know its library folder", path=self.db_dir,
                               fix="pass the library folder to `myna index`")
        if self.db_dir.name != DB_DIRNAME and self.get_meta("root", str) != str(resolved) and not self.readonly:
            self.set_meta("root", str(resolved))
        return resolved

    def __enter__(self) -> LibraryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ paths

    def rel_path(self, path: str | Path) -> str:
        """The stored (root-relative, POSIX) form of a path inside the library."""
        p = Path(path)
        if p.is_absolute():
            try:
                p = p.resolve().relative_to(self.root)
            except ValueError:
                raise LibraryError("this file is not inside the library", path=path,
                                   fix=f"the library folder is {self.root}") from None
        return p.as_posix()

    # ------------------------------------------------------------------ reading tracks

    def _track(self, row: Sequence[Any]) -> Track:
        return Track(id=row[0], path=self.root / row[1], rel_path=row[1], title=row[2], artist=row[3],
                     album=row[4], track_no=row[5], duration=row[6], isrc=row[7], size=row[8],
                     mtime_ns=row[9], content_hash=row[10], added_at=row[11], updated_at=row[12])

    def tracks(self) -> list[Track]:
        rows = self._conn.execute(f"SELECT {_TRACK_COLUMNS} FROM tracks ORDER BY id")
        return [self._track(r) for r in rows]

    def track(self, track_id: int) -> Track | None:
        row = self._conn.execute(f"SELECT {_TRACK_COLUMNS} FROM tracks WHERE id = ?", (int(track_id),)).fetchone()
        return None if row is None else self._track(row)

    def tracks_by_id(self, ids: Iterable[int]) -> dict[int, Track]:
        wanted = [int(i) for i in ids]
        out: dict[int, Track] = {}
        for start in range(0, len(wanted), 500):  # stay under SQLite's bound-parameter limit
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._conn.execute(f"SELECT {_TRACK_COLUMNS} FROM tracks WHERE id IN ({marks})", chunk):
                out[row[0]] = self._track(row)
        return out

    def track_by_path(self, path: str | Path) -> Track | None:
        """Look a file up by absolute path, root-relative path, or a path relative to the cwd."""
        candidates = []
        p = expand_user(path)
        if p.is_absolute() or p.exists():
            try:
                candidates.append(self.rel_path(p.absolute()))
            except LibraryError:
                pass
        if not p.is_absolute():
            candidates.append(p.as_posix())
        for rel in candidates:
            if (track := self.track_at(rel)) is not None:
                return track
        return None

    def track_at(self, rel_path: str) -> Track | None:
        """The track stored under exactly this root-relative path."""
        row = self._conn.execute(f"SELECT {_TRACK_COLUMNS} FROM tracks WHERE path = ?", (rel_path,)).fetchone()
        return None if row is None else self._track(row)

    def find(self, query: str) -> list[Track]:
        """Tracks matching `query`: an exact path first, else a case-insensitive substring of
        the relative path or of "artist - title". Exact label matches sort first."""
        exact = self.track_by_path(query)
        if exact is not None:
            return [exact]
        q = query.casefold()
        hits = [t for t in self.tracks()
                if q in t.rel_path.casefold() or q in f"{t.artist or ''} - {t.title or ''}".casefold()]
        hits.sort(key=lambda t: (t.label.casefold() != q, t.id))
        return hits

    def tracks_with_hash(self, content_hash: str) -> list[Track]:
        rows = self._conn.execute(f"SELECT {_TRACK_COLUMNS} FROM tracks WHERE content_hash = ? ORDER BY id",
                                  (content_hash,))
        return [self._track(r) for r in rows]

    def count_tracks(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM tracks").fetchone()[0]

    # ------------------------------------------------------------------ embeddings

    def embeddings(self, ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64 (n,), X float32 (n, dim)) for the current model, rows L2-normalised,
        ordered by id. `ids` restricts to those tracks (missing ones are left out)."""
        model = self.model_id
        if ids is None:
            rows = self._conn.execute("SELECT track_id, vector FROM embeddings WHERE model_id = ? "
                                      "ORDER BY track_id", (model,)).fetchall()
        else:
            wanted = sorted({int(i) for i in ids})
            rows = []
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows += self._conn.execute(f"SELECT track_id, vector FROM embeddings WHERE model_id = ? "
                                           f"AND track_id IN ({marks}) ORDER BY track_id",
                                           (model, *chunk)).fetchall()
        out_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return out_ids, np.zeros((0, self.dim or 0), dtype=np.float32)
        size = 4 * (self.dim or 0)
        bad = next((r[0] for r in rows if not isinstance(r[1], bytes) or len(r[1]) != size or not size), None)
        if bad is not None:
            raise damaged(self.db_dir / DB_FILENAME, f"the embedding of track {bad} is not {self.dim} numbers")
        X = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1).astype(np.float32)
        finite = np.isfinite(X).all(axis=1)
        if not finite.all():
            raise damaged(self.db_dir / DB_FILENAME, f"the embedding of track {out_ids[~finite][0]} is not finite")
        return out_ids, l2_normalise(X)

    # ------------------------------------------------------------------ writing (the indexer)

    def add_track(self, info: TrackInfo, vector: np.ndarray) -> int:
        """Insert a new track with its embedding, or replace the file's row at that path
        (keeping its id). Call inside `transaction()`; returns the track id."""
        now = time.time()
        row = self._conn.execute("SELECT id, content_hash FROM tracks WHERE path = ?", (info.rel_path,)).fetchone()
        values = (info.title, info.artist, info.album, info.track_no, info.duration, info.isrc,
                  info.size, info.mtime_ns, info.content_hash)
        if row is None:
            cur = self._conn.execute(
                "INSERT INTO tracks(path, title, artist, album, track_no, duration, isrc, size, mtime_ns, "
                "content_hash, added_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (info.rel_path, *values, now, now))
            track_id = int(cur.lastrowid)
        else:
            track_id = int(row[0])
            if row[1] != info.content_hash:  # new content: the other models' vectors describe the old one
                self._conn.execute("DELETE FROM embeddings WHERE track_id = ? AND model_id != ?",
                                   (track_id, self.model_id))
            self._conn.execute(
                "UPDATE tracks SET title=?, artist=?, album=?, track_no=?, duration=?, isrc=?, size=?, "
                "mtime_ns=?, content_hash=?, updated_at=? WHERE id=?", (*values, now, track_id))
        self._put_embedding(track_id, vector)
        self._conn.execute("DELETE FROM errors WHERE path = ?", (info.rel_path,))
        return track_id

    def _put_embedding(self, track_id: int, vector: np.ndarray) -> None:
        model = self.model_id
        if model is None:
            raise LibraryError("no model set on the store", path=self.db_dir, fix="this is a bug: call set_model first")
        vec = np.ascontiguousarray(vector, dtype="<f4").reshape(-1)
        if not np.isfinite(vec).all():
            raise LibraryError(f"the embedding of track {track_id} is not finite (NaN or infinity)",
                               path=self.db_dir, fix="the model gives broken vectors: use another checkpoint")
        dim = self.dim
        if dim is not None and dim != vec.size and self.count_embeddings():
            raise LibraryError(f"embedding size {vec.size} differs from the store's {dim}", path=self.db_dir)
        if dim != vec.size:
            self._conn.execute("UPDATE models SET dim = ? WHERE id = ?", (int(vec.size), model))
        self._conn.execute("INSERT INTO embeddings(model_id, track_id, vector) VALUES (?,?,?) "
                           "ON CONFLICT(model_id, track_id) DO UPDATE SET vector=excluded.vector",
                           (model, track_id, vec.tobytes()))
        self._bump()

    def copy_track(self, source_id: int, info: TrackInfo) -> int:
        """A new file with the same content as track `source_id`: new row, same embeddings
        (of every model that has one)."""
        row = self._conn.execute("SELECT vector FROM embeddings WHERE track_id = ? AND model_id = ?",
                                 (source_id, self.model_id)).fetchone()
        if row is None:
            raise LibraryError(f"track {source_id} has no embedding to copy", path=self.db_dir)
        track_id = self.add_track(info, np.frombuffer(row[0], dtype="<f4"))
        self._conn.execute("INSERT OR IGNORE INTO embeddings(model_id, track_id, vector) "
                           "SELECT model_id, ?, vector FROM embeddings WHERE track_id = ?", (track_id, source_id))
        return track_id

    def move_track(self, track_id: int, rel_path: str, size: int, mtime_ns: int) -> None:
        """The file of `track_id` now lives at `rel_path` (same content): keep id and embedding."""
        self._conn.execute("UPDATE tracks SET path=?, size=?, mtime_ns=?, updated_at=? WHERE id=?",
                           (rel_path, size, mtime_ns, time.time(), track_id))
        self._conn.execute("DELETE FROM errors WHERE path = ?", (rel_path,))

    def touch_track(self, track_id: int, size: int, mtime_ns: int) -> None:
        """Same content, new size/mtime stamp (e.g. `touch`): remember it so the fast check passes."""
        self._conn.execute("UPDATE tracks SET size=?, mtime_ns=? WHERE id=?", (size, mtime_ns, track_id))

    def delete_tracks(self, ids: Iterable[int]) -> int:
        n = 0
        for track_id in ids:
            n += self._conn.execute("DELETE FROM tracks WHERE id = ?", (int(track_id),)).rowcount
        if n:
            self._bump()
        return n

    # ------------------------------------------------------------------ errors

    def record_error(self, rel_path: str, size: int, mtime_ns: int, message: str) -> None:
        self._conn.execute("INSERT INTO errors(path, size, mtime_ns, message, at) VALUES (?,?,?,?,?) "
                           "ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns, "
                           "message=excluded.message, at=excluded.at",
                           (rel_path, size, mtime_ns, message, time.time()))

    def errors(self) -> list[ErrorRecord]:
        rows = self._conn.execute("SELECT path, size, mtime_ns, message, at FROM errors ORDER BY path")
        return [ErrorRecord(*r) for r in rows]

    def delete_errors(self, rel_paths: Iterable[str]) -> None:
        for rel in rel_paths:
            self._conn.execute("DELETE FROM errors WHERE path = ?", (rel,))


def l2_normalise(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), so inner product = cosine."""
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=-1, keepdims=True)
    return X / np.maximum(norms, 1e-12)
