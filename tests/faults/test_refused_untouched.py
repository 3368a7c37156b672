"""Refused means untouched: a catalogue import is all or nothing, and a folder that cannot be
read now keeps its tracks (a recorded error, not a deletion)."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from myna_rpe.errors import LibraryError
from playlist.library import scan
from playlist.library.catalog_import import import_catalog
from playlist.library.catalog_shards import CatalogMeta, ShardWriter, write_meta
from playlist.library.indexer import IndexOptions, index_library
from playlist.library.store import LibraryStore
from tests.faults.helpers import assert_same_store, store_state


@pytest.fixture
def indexed(lib: Path, embedder) -> Path:
    index_library(lib, embedder, options=IndexOptions(workers=0))
    return lib


def _shards(lib: Path, out: Path, dim: int, spoil=None) -> Path:
    """A catalogue of the library's good files (model "catalog-m"), two rows per shard;
    `spoil(rows)` may damage the rows before they are written."""
    files, _ = scan.walk_library(lib)
    rng = np.random.default_rng(0)
    rows = [{"path": f.rel_path, "fingerprint": scan.content_hash(f.path, f.size), "model_id": "catalog-m",
             "duration": 1.0, "size": f.size, "mtime_ns": f.mtime_ns,
             "vector": rng.normal(size=dim).astype(np.float32), "error": None}
            for f in files if f.size > 100 and "broken" not in f.rel_path]
    assert len(rows) >= 4
    if spoil is not None:
        spoil(rows)
    out.mkdir()
    write_meta(out, CatalogMeta("catalog-m", {}, dim, str(lib)))
    writer = ShardWriter(out, dim, rows_per_shard=2)
    writer.add(rows)
    writer.close()
    return out


def _dim(lib: Path) -> int:
    with LibraryStore.open(lib / ".myna", readonly=True) as store:
        return store.dim


def test_an_import_refused_on_its_second_shard_changes_nothing(indexed: Path, tmp_path: Path) -> None:
    before = store_state(indexed / ".myna")

    def nan_in_second_shard(rows):
        rows[3]["vector"] = np.full_like(rows[3]["vector"], np.nan)

    shards = _shards(indexed, tmp_path / "shards", _dim(indexed), nan_in_second_shard)
    with pytest.raises(LibraryError, match="part-.*00001.parquet: the vector of .* is not finite"):
        import_catalog(indexed, shards)
    assert_same_store(store_state(indexed / ".myna"), before)
    with LibraryStore.open(indexed / ".myna", readonly=True) as store:
        assert [m.model_id for m in store.models()] == [before["model"]]


def test_an_import_that_fails_while_merging_commits_nothing(indexed: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    before = store_state(indexed / ".myna")
    shards = _shards(indexed, tmp_path / "shards", _dim(indexed))
    calls = []
    real = LibraryStore.add_track

    def fail_on_the_third(self, info, vector):
        calls.append(info.rel_path)
        if len(calls) == 3:  # in the second shard, after the first one's rows were added
            raise LibraryError("the disk is full", path=self.db_dir)
        return real(self, info, vector)

    monkeypatch.setattr(LibraryStore, "add_track", fail_on_the_third)
    with pytest.raises(LibraryError, match="the disk is full"):
        import_catalog(indexed, shards)
    monkeypatch.undo()
    assert_same_store(store_state(indexed / ".myna"), before)
    with LibraryStore.open(indexed / ".myna", readonly=True) as store:
        assert [m.model_id for m in store.models()] == [before["model"]]


def test_a_shard_with_a_column_of_another_type_is_refused_before_writing(lib: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    shards = _shards(lib, tmp_path / "shards", 8)
    first = sorted(shards.glob("part-*.parquet"))[0]
    table = pq.read_table(first)
    table = table.set_column(table.schema.get_field_index("duration"), "duration",
                             pa.array(["long"] * table.num_rows))
    pq.write_table(table, first)
    with pytest.raises(LibraryError, match="column of type string 'duration' where double belongs"):
        import_catalog(lib, shards)
    assert not (lib / ".myna").exists()


def test_a_folder_that_cannot_be_read_now_keeps_its_tracks(indexed: Path, embedder,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    before = store_state(indexed / ".myna")
    locked = indexed / "Band"
    real_walk = os.walk

    def walk(top, onerror=None, followlinks=False):  # as os.walk does for a folder without read permission
        for folder, dirs, names in real_walk(top, followlinks=followlinks):
            if Path(folder) == locked:
                onerror(PermissionError(errno.EACCES, "Permission denied", str(locked)))
                dirs[:] = []
                continue
            if Path(folder).is_relative_to(locked):
                continue
            yield folder, dirs, names

    monkeypatch.setattr(scan.os, "walk", walk)
    report = index_library(indexed, embedder, options=IndexOptions(workers=0))
    assert report.removed == 0
    during = store_state(indexed / ".myna")
    assert_same_store({**during, "errors": before["errors"]}, before)
    assert "cannot read this folder" in during["errors"]["Band/"]
    monkeypatch.undo()
    report = index_library(indexed, embedder, options=IndexOptions(workers=0))
    assert (report.removed, report.embedded) == (0, 0)  # readable again: nothing to redo
    assert_same_store(store_state(indexed / ".myna"), before)


def test_a_folder_that_is_really_gone_still_loses_its_tracks(indexed: Path, embedder) -> None:
    before = store_state(indexed / ".myna")
    shutil.rmtree(indexed / "Band")
    report = index_library(indexed, embedder, options=IndexOptions(workers=0))
    gone = [rel for rel in before["tracks"] if rel.startswith("Band/")]
    assert gone and report.removed == len(gone)


def test_a_library_whose_files_all_vanished_keeps_its_tracks_until_prune(indexed: Path, embedder,
                                                                        tmp_path: Path) -> None:
    """An unmounted drive shows an empty mount point: the run refuses rather than forgetting
    every embedding; `--prune` (the user saying the files are really gone) removes them."""
    before = store_state(indexed / ".myna")
    away = tmp_path / "away"
    away.mkdir()
    for entry in indexed.iterdir():
        if entry.name != ".myna":
            shutil.move(entry, away / entry.name)
    n = len(before["tracks"])
    with pytest.raises(LibraryError, match=rf"{n} of the store's {n} tracks are missing from the folder; "
                                           rf"nothing was changed — is a drive unmounted.*--prune"):
        index_library(indexed, embedder, options=IndexOptions(workers=0))
    assert_same_store(store_state(indexed / ".myna"), before)
    for entry in away.iterdir():  # mounted again: nothing to redo
        shutil.move(entry, indexed / entry.name)
    report = index_library(indexed, embedder, options=IndexOptions(workers=0))
    assert (report.removed, report.embedded) == (0, 0)
    for entry in indexed.iterdir():
        if entry.name != ".myna":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    report = index_library(indexed, embedder, options=IndexOptions(workers=0, prune=True))
    assert report.removed == n and store_state(indexed / ".myna")["tracks"] == {}


@pytest.mark.parametrize(("missing", "stored", "refused"), [
    (0, 0, False), (1, 1, True), (3, 3, True), (2, 3, False),  # all of a small library: refused
    (9, 10, False), (10, 20, True), (10, 21, False), (50, 100, True), (49, 100, False)])
def test_mass_removal_rule(missing: int, stored: int, refused: bool) -> None:
    from playlist.library.indexer import _refuse_mass_removal

    if refused:
        with pytest.raises(LibraryError, match="--prune"):
            _refuse_mass_removal(Path("/music"), missing, stored)
    else:
        _refuse_mass_removal(Path("/music"), missing, stored)
