"""A read-only store (another user's library, read-only media): the readers work and write
nothing; `myna index` says so in one line."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from playlist.library.indexer import IndexOptions, index_library
from playlist.library.vector_index import index_file
from tests.faults.helpers import can_mount, myna, one_line_error, read_only_view


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.blake2b(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.skipif(os.geteuid() == 0 and not can_mount(), reason="root ignores chmod; needs a bind mount")
def test_readers_work_on_a_read_only_store_and_index_says_one_line(lib: Path, embedder, checkpoint: Path,
                                                                   tmp_path: Path) -> None:
    index_library(lib, embedder, options=IndexOptions(workers=0))
    index_file(lib / ".myna", embedder.model_id).unlink()  # readers must rebuild it in memory
    (tmp_path / "list.m3u8").write_text("#EXTM3U\nlib/Ärtist/Älbum/01 Söng.mp3\nlib/Compilation/a.ogg\n")
    before = _snapshot(lib / ".myna")
    with read_only_view(lib, tmp_path / "ro") as ro:
        m3u = tmp_path / "ro.m3u8"
        m3u.write_text((tmp_path / "list.m3u8").read_text().replace("lib/", "ro/"))
        for args in (["similar", "Ärtist - Söng", "-n", "2", "--library", ro],
                     ["index", ro, "--status"], ["index", ro, "--errors"],
                     ["playlist", "extend", m3u, "-n", "2", "--db", ro / ".myna", "--out", tmp_path / "out.m3u8"]):
            result = myna(*args)
            assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stderr)
        assert "broken/empty.flac" in myna("index", ro, "--errors").stdout
        for args in (["index", ro, "-c", checkpoint, "--workers", "0"], ["index", ro, "--rebuild-index"]):
            one_line_error(myna(*args), ro / ".myna", "read-only", "--db")
    assert _snapshot(lib / ".myna") == before  # nothing was written, not even -wal/-shm


@pytest.mark.skipif(os.geteuid() == 0 and not can_mount(), reason="root ignores chmod; needs a bind mount")
def test_a_read_only_library_without_a_store_says_where_else_to_keep_one(lib: Path, checkpoint: Path,
                                                                         tmp_path: Path) -> None:
    with read_only_view(lib, tmp_path / "ro") as ro:
        result = myna("index", ro, "-c", checkpoint, "--workers", "0")
        one_line_error(result, ro / ".myna", "cannot create the store here: ", "--db PATH")
        assert "read-only file system" in result.stderr or "permission denied" in result.stderr, result.stderr
        assert "reading this store" not in result.stderr  # there is none to read
        elsewhere = myna("index", ro, "-c", checkpoint, "--workers", "0", "--db", tmp_path / "store")
        assert elsewhere.returncode == 0, elsewhere.stderr
    assert not (lib / ".myna").exists()
