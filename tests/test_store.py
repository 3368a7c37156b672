"""The SQLite library store: tracks, embeddings per model, errors, lookups, transactions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from myna_rpe.errors import LibraryError
from playlist.store import LibraryStore, TrackInfo, find_db_dir


def info(rel: str, h: str = "", **tags) -> TrackInfo:
    return TrackInfo(rel_path=rel, size=100, mtime_ns=1, content_hash=h or f"hash-{rel}", **tags)


@pytest.fixture
def store(tmp_path: Path):
    (tmp_path / "lib").mkdir()
    with LibraryStore.open(tmp_path / "lib" / ".myna", create=True) as s:
        s.set_model("model-a", {"dim": 3})
        yield s


def test_open_without_a_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="run `myna index"):
        LibraryStore.open(tmp_path / ".myna")


def test_wal_mode_and_root_beside_the_library(store: LibraryStore, tmp_path: Path) -> None:
    assert store.root == (tmp_path / "lib").resolve()
    with sqlite3.connect(store.db_dir / "library.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_external_db_remembers_its_library(tmp_path: Path) -> None:
    (tmp_path / "music").mkdir()
    with LibraryStore.open(tmp_path / "elsewhere", root=tmp_path / "music", create=True) as s:
        s.set_model("m", None)
        with s.transaction():
            s.add_track(info("a.mp3"), np.ones(3))
    with LibraryStore.open(tmp_path / "elsewhere") as s:
        assert s.root == (tmp_path / "music").resolve()
        assert s.tracks()[0].path == (tmp_path / "music" / "a.mp3").resolve()
    assert find_db_dir(tmp_path / "music") is None


def test_embeddings_are_normalised_float32_in_id_order(store: LibraryStore) -> None:
    with store.transaction():
        a = store.add_track(info("a.mp3"), np.array([3.0, 4.0, 0.0]))
        b = store.add_track(info("b.mp3"), np.array([0.0, 0.0, 2.0]))
    ids, X = store.embeddings()
    assert ids.dtype == np.int64 and X.dtype == np.float32
    assert ids.tolist() == [a, b]
    assert np.allclose(X, [[0.6, 0.8, 0.0], [0.0, 0.0, 1.0]])
    ids, X = store.embeddings([b, 12345])
    assert ids.tolist() == [b] and X.shape == (1, 3)


def test_replacing_a_file_keeps_its_id_and_ids_are_never_reused(store: LibraryStore) -> None:
    with store.transaction():
        a = store.add_track(info("a.mp3", title="old"), np.ones(3))
        again = store.add_track(info("a.mp3", h="new-hash", title="new"), np.full(3, 2.0))
        b = store.add_track(info("b.mp3"), np.ones(3))
    assert again == a and store.track(a).title == "new" and store.track(a).content_hash == "new-hash"
    with store.transaction():
        store.delete_tracks([b])
        c = store.add_track(info("c.mp3"), np.ones(3))
    assert c > b  # a stale FAISS id can never name a different track
    assert store.count_tracks() == 2 and store.count_embeddings() == 2


def test_deleting_a_track_deletes_its_embedding(store: LibraryStore) -> None:
    with store.transaction():
        a = store.add_track(info("a.mp3"), np.ones(3))
    generation = store.generation
    with store.transaction():
        assert store.delete_tracks([a]) == 1
    assert store.count_embeddings() == 0 and store.generation > generation


def test_move_and_copy_keep_vectors(store: LibraryStore) -> None:
    with store.transaction():
        a = store.add_track(info("a.mp3", h="H"), np.array([1.0, 2.0, 2.0]))
        store.move_track(a, "sub/moved.mp3", 100, 2)
        c = store.copy_track(a, info("copy.mp3", h="H"))
    assert store.track(a).rel_path == "sub/moved.mp3"
    _, X = store.embeddings([a, c])
    assert np.array_equal(X[0], X[1])
    assert [t.id for t in store.tracks_with_hash("H")] == [a, c]


def test_switching_model_drops_old_embeddings_only(store: LibraryStore) -> None:
    with store.transaction():
        store.add_track(info("a.mp3"), np.ones(3))
    assert store.set_model("model-a", {"dim": 3}) == 0  # same model: nothing dropped
    assert store.set_model("model-b", {"dim": 3}) == 1
    assert store.model_id == "model-b"
    assert store.count_tracks() == 1 and store.count_embeddings() == 0
    ids, X = store.embeddings()
    assert len(ids) == 0 and X.shape == (0, 3)


def test_dimension_change_within_a_model_is_refused(store: LibraryStore) -> None:
    with store.transaction():
        store.add_track(info("a.mp3"), np.ones(3))
    with pytest.raises(LibraryError, match="embedding size 4"), store.transaction():
        store.add_track(info("b.mp3"), np.ones(4))
    assert store.count_tracks() == 1  # the failed transaction left nothing behind


def test_transaction_rolls_back_on_error(store: LibraryStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.add_track(info("a.mp3"), np.ones(3))
        raise RuntimeError("killed mid-batch")
    assert store.count_tracks() == 0


def test_lookup_by_path_and_find(store: LibraryStore, tmp_path: Path) -> None:
    with store.transaction():
        a = store.add_track(info("Beatles/Help.mp3", title="Help!", artist="The Beatles"), np.ones(3))
        b = store.add_track(info("Beatles/Help Me.mp3", title="Help Me", artist="The Beatles"), np.ones(3))
        store.add_track(info("other/x.flac"), np.ones(3))
    assert store.track_by_path(tmp_path / "lib" / "Beatles/Help.mp3").id == a
    assert store.track_by_path("Beatles/Help.mp3").id == a
    assert store.track_by_path("nope.mp3") is None
    assert [t.id for t in store.find("the beatles - help")] == [a, b]
    assert [t.id for t in store.find("The Beatles - Help!")] == [a]  # exact label first
    assert [t.id for t in store.find("Help Me")] == [b]
    assert [t.rel_path for t in store.find("x.flac")] == ["other/x.flac"]
    assert store.track(a).label == "The Beatles - Help!" and store.track(a).path.name == "Help.mp3"
    with pytest.raises(LibraryError, match="not inside the library"):
        store.rel_path(tmp_path / "outside.mp3")


def test_errors_table(store: LibraryStore) -> None:
    store.record_error("bad.mp3", 10, 1, "corrupt")
    store.record_error("bad.mp3", 11, 2, "still corrupt")
    [err] = store.errors()
    assert (err.rel_path, err.size, err.message) == ("bad.mp3", 11, "still corrupt")
    with store.transaction():
        store.add_track(info("bad.mp3"), np.ones(3))  # the file was fixed
    assert store.errors() == []


def test_find_db_dir_walks_up(tmp_path: Path, store: LibraryStore) -> None:
    (tmp_path / "lib" / "a" / "b").mkdir(parents=True)
    assert find_db_dir(tmp_path / "lib" / "a" / "b") == (tmp_path / "lib" / ".myna").resolve()
