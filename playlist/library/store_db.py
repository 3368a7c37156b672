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
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from myna_rpe.errors import LibraryError
from playlist.library.sqlite_guard import FIX_NO_STORE_HERE, FIX_READ_ONLY, GuardedConnection, damaged, guard, sqlite_error

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

_REQUIRED_TABLES = ("meta", "tracks", "errors", "models", "embeddings")
# Meta values that only record derived state (the index, the last run): a writable open
# drops them when damaged, and what they described is rebuilt.
_DERIVED_META = {"generation": int, "index_spec": dict, "last_run": dict}
_DERIVED_PREFIX = "index_state:"


class StoreDatabase:
    """An open `library.sqlite`: connection, schema, transactions and meta values."""

    def __init__(self, conn: GuardedConnection, db_dir: Path, readonly: bool) -> None:
        self._conn = conn
        self.db_dir = db_dir
        self.readonly = readonly
        self.schema = SCHEMA_VERSION

    @classmethod
    def connect(cls, db_dir: Path, create: bool, readonly: bool) -> GuardedConnection:
        db_path = db_dir / DB_FILENAME
        if not db_path.is_file() and (readonly or not create):
            raise LibraryError("no library index here", path=db_dir,
                               fix="run `myna index LIBRARY` first (or pass the right --db)")
        try:
            if readonly:
                return GuardedConnection(_connect_readonly(db_path), db_path)
            db_dir.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(db_path, isolation_level=None, timeout=30.0)
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (not a power cut) and avoids an fsync per commit.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            return GuardedConnection(conn, db_path)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, db_path) from None
        except OSError as exc:  # creating the .myna folder
            raise LibraryError(f"cannot create the store folder ({exc.strerror})", path=db_dir,
                               fix=FIX_NO_STORE_HERE) from None

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ schema

    def _prepare_schema(self) -> None:
        """Create a new store, or check an old one and migrate it forward (writable opens).
        A store without tables (an empty file: a first run that died before its schema) is
        built by a writable open and refused by a read-only one; a store missing some of its
        tables is damaged, except `errors`, which only records failures and is made again."""
        tables = {name for name in _REQUIRED_TABLES if self._has_table(name)}
        version = self.get_meta("schema", int) if "meta" in tables else None
        if version is not None and version > SCHEMA_VERSION:
            raise LibraryError(f"the store was written by a newer myna (schema {version})",
                               path=self.db_dir, fix="upgrade myna-rpe")
        if tables:
            expected = set(_REQUIRED_TABLES) - ({"models"} if (version or 1) < 2 else set())
            lost = sorted(expected - tables - (set() if self.readonly else {"errors"}))
            if lost:
                raise damaged(self.db_dir / DB_FILENAME, f"table{'s' if len(lost) > 1 else ''} "
                                                         f"{', '.join(lost)} missing")
        if self.readonly:
            if not tables:
                raise LibraryError("the store is empty (a first `myna index` did not finish)",
                                   path=self.db_dir / DB_FILENAME, fix="run `myna index LIBRARY` to build it")
            self.schema = version or 1
            return
        if tables and "meta" in tables:
            self._drop_damaged_derived_meta()
        if version == SCHEMA_VERSION and "errors" in tables:
            return  # up to date: no write, no lock
        with self.transaction():
            fresh = not self._has_table("tracks")
            self._script(_TABLES)
            if fresh or not self._has_table("embeddings"):
                self._script(_EMBEDDINGS)
            elif (version or 1) < 2:
                self._migrate_to_2()
            if version != SCHEMA_VERSION:
                self.set_meta("schema", SCHEMA_VERSION)

    def _drop_damaged_derived_meta(self) -> None:
        """Repair: a derived meta value that cannot be read goes, with every index stamp (so
        the index is rebuilt from the store)."""
        rows = self._conn.execute("SELECT key, value FROM meta WHERE key IN (?, ?, ?) OR key LIKE ?",
                                  (*_DERIVED_META, _DERIVED_PREFIX + "%")).fetchall()
        if all(_readable(value, _DERIVED_META.get(key, dict)) for key, value in rows):
            return
        with self.transaction():
            self._conn.execute("DELETE FROM meta WHERE key IN (?, ?, ?) OR key LIKE ?",
                               (*_DERIVED_META, _DERIVED_PREFIX + "%"))

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
        with guard(self.db_dir / DB_FILENAME):
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
                    except LibraryError:
                        pass  # nothing was committed either way
                raise
            self._conn.execute("COMMIT")

    # ------------------------------------------------------------------ meta

    def get_meta(self, key: str, kind: type | tuple[type, ...] | None = None) -> Any:
        """The meta value `key` (None if unset); a value that is not JSON, or not of `kind`
        (e.g. `int`, `str`, `dict`), is damage."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        if not _readable(row[0], kind):
            derived = key in _DERIVED_META or key.startswith(_DERIVED_PREFIX)
            raise damaged(self.db_dir / DB_FILENAME, f"meta value {key!r} is not a {_kind_name(kind or object)}",
                          fix="run `myna index LIBRARY` once: it rebuilds what this value records" if derived else None)
        return json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        self._conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                           "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, json.dumps(value)))

    def delete_meta(self, key: str) -> None:
        self._conn.execute("DELETE FROM meta WHERE key = ?", (key,))

    @property
    def generation(self) -> int:
        """Bumped by every change to the set of embeddings; the FAISS index records the
        generation it was built from, so a stale index is detected."""
        return self.get_meta("generation", int) or 0

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


def _readable(text: Any, kind: type | tuple[type, ...] | None) -> bool:
    """Whether a stored meta value is JSON (and of `kind`, when given; null always is)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return False
    return value is None or kind is None or (isinstance(value, kind) and not isinstance(value, bool))


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({"int": "whole number", "str": "text", "dict": "JSON object", "list": "list",
                        "float": "number", "object": "JSON value"}.get(k.__name__, k.__name__)
                        for k in kinds)
