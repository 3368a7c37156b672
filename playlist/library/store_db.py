"""The SQLite side of the library store: connecting (read-write or read-only), the schema
and its forward migrations, transactions, meta values, and one line for every SQLite
failure. `playlist.library.store.LibraryStore` builds the track and embedding queries on it.

Schema versions (the `schema` meta value):

1. one embedding per track (`embeddings.track_id` primary key); the model's id, config and
   embedding size in meta.
2. embeddings keyed by (model id, track id), so several models live side by side; one row
   per model in `models` (id, config, embedding size, when added); meta `model_id` names
   the current (default) one. Stores of schema 1 are migrated on the first writable open,
   keeping every vector; read-only opens read them as they are.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from myna_rpe.errors import LibraryError

DB_DIRNAME = ".myna"
DB_FILENAME = "library.sqlite"
SCHEMA_VERSION = 2

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tracks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    title TEXT, artist TEXT, album TEXT, track_no INTEGER, duration REAL, isrc TEXT,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, content_hash TEXT NOT NULL,
    added_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tracks_by_hash ON tracks(content_hash);
CREATE TABLE IF NOT EXISTS errors (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    message TEXT NOT NULL, at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY, config TEXT, dim INTEGER, added_at REAL NOT NULL
);
"""

_EMBEDDINGS = """
CREATE TABLE embeddings (
    model_id TEXT NOT NULL,
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_id, track_id)
) WITHOUT ROWID;
CREATE INDEX embeddings_by_track ON embeddings(track_id);
"""

FIX_READ_ONLY = ("index a copy in a folder you can write, or keep the store elsewhere with --db PATH "
                 "(reading this store works as it is)")


class StoreDatabase:
    """An open `library.sqlite`: connection, schema, transactions and meta values."""

    def __init__(self, conn: sqlite3.Connection, db_dir: Path, readonly: bool) -> None:
        self._conn = conn
        self.db_dir = db_dir
        self.readonly = readonly
        self.schema = SCHEMA_VERSION

    @classmethod
    def connect(cls, db_dir: Path, create: bool, readonly: bool) -> sqlite3.Connection:
        db_path = db_dir / DB_FILENAME
        if not db_path.is_file() and (readonly or not create):
            raise LibraryError("no library index here", path=db_dir,
                               fix="run `myna index LIBRARY` first (or pass the right --db)")
        try:
            if readonly:
                return _connect_readonly(db_path)
            db_dir.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(db_path, isolation_level=None, timeout=30.0)
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (not a power cut) and avoids an fsync per commit.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            return conn
        except sqlite3.Error as exc:
            raise _sqlite_error(exc, db_path) from None
        except OSError as exc:  # creating the .myna folder
            raise LibraryError(f"cannot create the store folder ({exc.strerror})", path=db_dir,
                               fix=FIX_READ_ONLY) from None

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ schema

    def _prepare_schema(self) -> None:
        """Create a new store, or check an old one and migrate it forward (writable opens)."""
        version = self.get_meta("schema") if self._has_table("meta") else None
        if version is not None and int(version) > SCHEMA_VERSION:
            raise LibraryError(f"the store was written by a newer myna (schema {version})",
                               path=self.db_dir, fix="upgrade myna-rpe")
        if self.readonly:
            self.schema = int(version or 1)
            return
        if version is not None and int(version) == SCHEMA_VERSION:
            return  # up to date: no write, no lock
        with self.transaction():
            fresh = not self._has_table("tracks")
            self._script(_TABLES)
            if fresh or not self._has_table("embeddings"):
                self._script(_EMBEDDINGS)
            elif int(version or 1) < 2:
                self._migrate_to_2()
            if version is None or int(version) != SCHEMA_VERSION:
                self.set_meta("schema", SCHEMA_VERSION)

    def _script(self, sql: str) -> None:
        # statement by statement: `executescript` would commit the open transaction first
        for statement in sql.split(";"):
            if statement.strip():
                self._conn.execute(statement)

    def _has_table(self, name: str) -> bool:
        return self._conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                                  (name,)).fetchone() is not None

    def _migrate_to_2(self) -> None:
        """Schema 1 -> 2: re-key the embeddings by model and move the model's meta into `models`."""
        self._conn.execute("ALTER TABLE embeddings RENAME TO embeddings_v1")
        self._script(_EMBEDDINGS)
        self._conn.execute("INSERT INTO embeddings(model_id, track_id, vector) "
                           "SELECT model_id, track_id, vector FROM embeddings_v1")
        self._conn.execute("DROP TABLE embeddings_v1")
        model = self.get_meta("model_id")
        if model is not None:
            self._conn.execute("INSERT OR IGNORE INTO models(id, config, dim, added_at) VALUES (?,?,?,?)",
                               (model, json.dumps(self.get_meta("model_config")), self.get_meta("dim"),
                                time.time()))
        self._conn.execute("DELETE FROM meta WHERE key IN ('model_config', 'dim')")
        # the index file of schema 1 has no model in its name: rebuilt once from the store
        self._conn.execute("DELETE FROM meta WHERE key = 'index_state'")

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all (a killed run loses only this)."""
        with self._sqlite_errors():
            if self._conn.in_transaction:  # nested: part of the outer one
                yield
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self._conn.in_transaction:  # SQLite may have rolled back itself (disk full)
                    try:
                        self._conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # nothing was committed either way
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _sqlite_errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise _sqlite_error(exc, self.db_dir / DB_FILENAME) from None

    # ------------------------------------------------------------------ meta

    def get_meta(self, key: str) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self._sqlite_errors():
            self._conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                               "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, json.dumps(value)))

    def delete_meta(self, key: str) -> None:
        with self._sqlite_errors():
            self._conn.execute("DELETE FROM meta WHERE key = ?", (key,))

    @property
    def generation(self) -> int:
        """Bumped by every change to the set of embeddings; the FAISS index records the
        generation it was built from, so a stale index is detected."""
        return int(self.get_meta("generation") or 0)

    def _bump(self) -> None:
        self.set_meta("generation", self.generation + 1)


def _connect_readonly(db_path: Path) -> sqlite3.Connection:
    """A connection that never writes. `mode=ro` still reads a running writer's WAL, but needs
    to create the -shm file if it is missing; where it cannot (a read-only folder, a full
    disk) and no -wal file exists, the main file is complete on its own and is opened
    `immutable`."""
    uri = db_path.as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=30.0)
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        if not os.access(db_path, os.R_OK):
            raise
        wal = Path(f"{db_path}-wal")
        if wal.exists() and wal.stat().st_size > 0:  # (an empty one holds no changes)
            if getattr(exc, "sqlite_errorname", "") != "SQLITE_CANTOPEN":
                raise
            raise LibraryError("the store is read-only here and holds changes not yet merged into its main file "
                               f"({DB_FILENAME}-wal)", path=db_path,
                               fix="run `myna index LIBRARY` once as its owner, or copy the .myna folder "
                                   "somewhere writable and pass --db") from None
    conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
    conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    return conn


def _nearly_full(folder: Path) -> bool:
    """SQLite reports some writes that hit a full disk (its -shm file) as a plain I/O error."""
    try:
        return shutil.disk_usage(folder).free < (1 << 20)
    except OSError:
        return False


def _sqlite_error(exc: sqlite3.Error, db_path: Path) -> LibraryError:
    """One line for a failure SQLite reports, with a fix that never deletes anything."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_FULL") or "disk is full" in str(exc) or (
            name.startswith("SQLITE_IOERR") and _nearly_full(db_path.parent)):
        return LibraryError("the disk is full", path=db_path,
                            fix="free some space and run `myna index` again: nothing committed is lost, "
                                "and the run resumes where it stopped")
    if name.startswith("SQLITE_READONLY"):
        return LibraryError("the store is read-only", path=db_path, fix=FIX_READ_ONLY)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return LibraryError("the store is busy (another process holds a lock on it)", path=db_path,
                            fix="wait for the other process to finish, then run again")
    if name.startswith("SQLITE_CANTOPEN"):
        return LibraryError("cannot open the store", path=db_path,
                            fix="check that the folder exists and that you may read it")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return LibraryError(f"the store is damaged ({exc})", path=db_path,
                            fix="move the .myna folder aside (e.g. to .myna.damaged) and run `myna index` "
                                "to build a new one; your music files are not touched")
    return LibraryError(f"the store failed ({exc})", path=db_path,
                        fix="check the disk and run the command again; nothing committed is lost")
