"""One line for every SQLite failure of the library store.

`GuardedConnection` wraps the store's `sqlite3.Connection`: every statement, and every row
read from its cursor, turns a `sqlite3.Error` into a `LibraryError` that names the store
and a fix that never deletes anything (`sqlite_error`). A store whose file is damaged
(a corrupt page, a dropped table or column) says so wherever it is first touched.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from myna_rpe.errors import LibraryError

FIX_READ_ONLY = ("index a copy in a folder you can write, or keep the store elsewhere with --db PATH "
                 "(reading this store works as it is)")
FIX_NO_STORE_HERE = "keep the store elsewhere with --db PATH, or index a copy in a folder you can write"
FIX_DAMAGED = ("move the .myna folder aside (e.g. to .myna.damaged; `sqlite3 library.sqlite .recover` can "
               "save its rows) and run `myna index` to build a new one; your music files are not touched")


def damaged(db_path: Path, what: str, fix: str | None = None) -> LibraryError:
    return LibraryError(f"the store is damaged ({what})", path=db_path, fix=fix or FIX_DAMAGED)


class GuardedCursor:
    """The rows of one statement, read under the guard."""

    def __init__(self, cursor: sqlite3.Cursor, db_path: Path) -> None:
        self._cursor = cursor
        self._db_path = db_path

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    def fetchone(self) -> Any:
        with guard(self._db_path):
            return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        with guard(self._db_path):
            return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class GuardedConnection:
    """The store's connection: `execute` and the rows it returns raise `LibraryError`."""

    def __init__(self, conn: sqlite3.Connection, db_path: Path) -> None:
        self._conn = conn
        self.db_path = db_path

    def execute(self, sql: str, parameters: Any = ()) -> GuardedCursor:
        with guard(self.db_path):
            return GuardedCursor(self._conn.execute(sql, parameters), self.db_path)

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def close(self) -> None:
        self._conn.close()


@contextmanager
def guard(db_path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise sqlite_error(exc, db_path) from None


def _nearly_full(folder: Path) -> bool:
    """SQLite reports some writes that hit a full disk (its -shm file) as a plain I/O error."""
    try:
        return shutil.disk_usage(folder).free < (1 << 20)
    except OSError:
        return False


def sqlite_error(exc: sqlite3.Error, db_path: Path) -> LibraryError:
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
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or str(exc).startswith(("no such table",
                                                                                    "no such column")):
        return damaged(db_path, str(exc))
    return LibraryError(f"the store failed ({exc})", path=db_path,
                        fix="check the disk and run the command again; nothing committed is lost")
