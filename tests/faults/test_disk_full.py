"""A full disk while `myna index` commits and while it writes the FAISS index: one line
naming the path and the fix (free space; nothing lost), never advice to delete the store,
and after space is freed a re-run makes the store a clean run makes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from playlist.library.indexer import IndexOptions, index_library
from playlist.library.vector_index import index_file
from tests.faults.helpers import (
    assert_same_store,
    can_mount,
    fill_disk,
    myna,
    one_line_error,
    small_tmpfs,
    store_state,
)

MOUNT = can_mount()

# Injected where no tmpfs can be mounted: the store's SQLite connection fails its Nth
# COMMIT with SQLite's own disk-full error.
_FULL_AT_COMMIT = """
import sqlite3, playlist.library.store_db as store
class Full:
    commits = 0
    def __init__(self, conn): self.conn = conn
    def __getattr__(self, name): return getattr(self.conn, name)
    def execute(self, sql, *args):
        if sql == "COMMIT":
            Full.commits += 1
            if Full.commits >= {n}:
                raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql, *args)
_connect = sqlite3.connect
store.sqlite3 = type("m", (), {{**vars(sqlite3), "connect": staticmethod(lambda *a, **k: Full(_connect(*a, **k)))}})
"""

# An ENOSPC from fsync, where a full disk surfaces for a file written through the page cache.
_FULL_AT_FSYNC = """
import errno, os
def fsync(fd): raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
os.fsync = fsync
"""


def _assert_disk_full(result, path_fragment: str | Path) -> None:
    line = one_line_error(result, path_fragment, "disk is full", "free some space")
    assert "unreadable" not in line and "delete" not in line


@pytest.mark.parametrize("leave_kib", [0, 40, 160] if MOUNT else [1, 3, 5])
def test_disk_full_during_commits(leave_kib: int, lib: Path, checkpoint: Path, embedder, clean_state: dict,
                                  tmp_path: Path) -> None:
    """With a tmpfs: the store on a disk with `leave_kib` KiB free (at open, early commits,
    later commits). Without: the `leave_kib`-th commit fails."""
    if MOUNT:
        with small_tmpfs(tmp_path / "disk", 512) as disk:
            filler = fill_disk(disk, leave_kib)
            result = myna("index", lib, "-c", checkpoint, "--workers", "0", "--db", disk / "store")
            _assert_disk_full(result, disk / "store")
            filler.unlink()
            index_library(lib, embedder, db_dir=disk / "store", options=IndexOptions(workers=0))
            assert_same_store(store_state(disk / "store"), clean_state)
    else:
        result = myna("index", lib, "-c", checkpoint, "--workers", "0", prelude=_FULL_AT_COMMIT.format(n=leave_kib))
        _assert_disk_full(result, lib / ".myna")
        index_library(lib, embedder, options=IndexOptions(workers=0))
        assert_same_store(store_state(lib / ".myna"), clean_state)


def test_disk_full_while_writing_the_index(lib: Path, checkpoint: Path, embedder, clean_state: dict) -> None:
    result = myna("index", lib, "-c", checkpoint, "--workers", "0", prelude=_FULL_AT_FSYNC)
    _assert_disk_full(result, index_file(lib / ".myna", embedder.model_id))
    assert sorted(os.listdir(lib / ".myna")) == ["library.sqlite", "lock"]  # no temp file left behind
    assert_same_store(store_state(lib / ".myna"), clean_state)  # every embedding was committed
    rebuilt = myna("index", lib, "--rebuild-index", prelude=_FULL_AT_FSYNC)
    _assert_disk_full(rebuilt, index_file(lib / ".myna", embedder.model_id))
    index_library(lib, embedder, options=IndexOptions(workers=0))  # space again: the index is written
    assert index_file(lib / ".myna", embedder.model_id).is_file()


@pytest.mark.skipif(not MOUNT, reason="needs root and mount for a small tmpfs")
def test_reading_a_store_on_a_full_disk_works(lib: Path, embedder, tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", 512) as disk:
        index_library(lib, embedder, db_dir=disk / "store", options=IndexOptions(workers=0))
        index_file(disk / "store", embedder.model_id).unlink()  # a reader must rebuild it, and cannot save it
        fill_disk(disk, 0)
        result = myna("similar", "Ärtist - Söng", "-n", "2", "--db", disk / "store")
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        status = myna("index", "--status", "--db", disk / "store")
        assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
        shutil.rmtree(disk / "store")
