"""The SQLite library store: tracks, embeddings per model, errors, lookups, transactions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from myna_rpe.errors import LibraryError
from playlist.library.store import LibraryStore, TrackInfo, find_db_dir


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


def test_a_second_model_adds_a_set_and_keeps_the_first(store: LibraryStore) -> None:
    with store.transaction():
        a = store.add_track(info("a.mp3"), np.array([1.0, 0.0, 0.0]))
    assert store.set_model("model-a", {"dim": 3}) == 1  # same model: its one embedding is there
    assert store.set_model("model-b", {"dim": 3}, 3) == 0
    assert store.model_id == store.current_model == "model-b"
    assert store.count_tracks() == 1 and store.count_embeddings() == 0
    ids, X = store.embeddings()
    assert len(ids) == 0 and X.shape == (0, 3)
    with store.transaction():
        store.add_track(info("a.mp3"), np.array([0.0, 1.0, 0.0]))  # same content, model b's vector
    sets = {m.model_id: (m.count, m.dim, m.current) for m in store.models()}
    assert sets == {"model-a": (1, 3, False), "model-b": (1, 3, True)}
    with LibraryStore.open(store.db_dir, readonly=True, model="model-a") as old:
        assert np.allclose(old.embeddings()[1], [[1.0, 0.0, 0.0]]) and old.model_id == "model-a"
    with LibraryStore.open(store.db_dir, readonly=True) as current:
        assert np.allclose(current.embeddings([a])[1], [[0.0, 1.0, 0.0]])


def test_new_content_drops_the_other_models_vectors_and_copies_take_all(store: LibraryStore) -> None:
    with store.transaction():
        a = store.add_track(info("a.mp3", "H"), np.ones(3))
    store.set_model("model-b", None, 3)
    with store.transaction():
        store.add_track(info("a.mp3", "H"), np.ones(3))
        c = store.copy_track(a, info("copy.mp3", "H"))
    with LibraryStore.open(store.db_dir, readonly=True, model="model-a") as old:
        assert old.embeddings()[0].tolist() == [a, c]
    with store.transaction():
        store.add_track(info("a.mp3", "H2"), np.ones(3))  # re-encoded: model a's vector is stale
    with LibraryStore.open(store.db_dir, readonly=True, model="model-a") as old:
        assert old.embeddings()[0].tolist() == [c]


def test_models_are_chosen_by_prefix_and_dropped(store: LibraryStore) -> None:
    with store.transaction():
        store.add_track(info("a.mp3"), np.ones(3))
    store.set_model("model-b", None, 3)
    with store.transaction():
        store.add_track(info("a.mp3"), np.ones(3))
    assert store.resolve_model("model-a") == "model-a"
    with pytest.raises(LibraryError, match="matches 2 models"):
        store.resolve_model("model")
    with pytest.raises(LibraryError, match="no embeddings of model 'x'.*myna index --status"):
        LibraryStore.open(store.db_dir, model="x")
    generation = store.generation
    assert store.drop_model("model-b") == 1
    assert store.generation > generation
    assert store.current_model == store.model_id == "model-a"
    assert [m.model_id for m in store.models()] == ["model-a"] and store.count_embeddings() == 1


_SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tracks (id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL UNIQUE, title TEXT, artist TEXT,
    album TEXT, track_no INTEGER, duration REAL, isrc TEXT, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    content_hash TEXT NOT NULL, added_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX tracks_by_hash ON tracks(content_hash);
CREATE TABLE embeddings (track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL, vector BLOB NOT NULL);
CREATE TABLE errors (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    message TEXT NOT NULL, at REAL NOT NULL);
INSERT INTO meta VALUES ('schema', '1'), ('model_id', '"old"'), ('model_config', '{"dim": 2}'), ('dim', '2'),
    ('generation', '7'), ('index_state', '{"generation": 7, "model_id": "old", "kind": "flat", "n": 2}');
"""


def test_a_schema_1_store_is_read_as_it_is_and_migrated_keeping_every_vector(tmp_path: Path) -> None:
    db = tmp_path / "lib" / ".myna"
    db.mkdir(parents=True)
    vectors = np.array([[3.0, 4.0], [1.0, 0.0]], dtype="<f4")
    with sqlite3.connect(db / "library.sqlite") as conn:
        conn.executescript(_SCHEMA_1)
        for i, v in enumerate(vectors, 1):
            conn.execute("INSERT INTO tracks VALUES (?, ?, NULL, NULL, NULL, NULL, NULL, NULL, 1, 1, ?, 0, 0)",
                         (i, f"{i}.mp3", f"h{i}"))
            conn.execute("INSERT INTO embeddings VALUES (?, 'old', ?)", (i, v.tobytes()))
    with LibraryStore.open(db, readonly=True) as old:  # a reader never writes: schema 1 as it is
        assert old.schema == 1 and old.dim == 2 and [m.model_id for m in old.models()] == ["old"]
        ids, X = old.embeddings()
    assert ids.tolist() == [1, 2] and np.allclose(X, [[0.6, 0.8], [1.0, 0.0]])
    with LibraryStore.open(db) as store:  # the first writable open migrates
        assert store.get_meta("schema") == 2 and store.generation == 7
        assert [(m.model_id, m.config, m.dim, m.count, m.current) for m in store.models()] == [
            ("old", {"dim": 2}, 2, 2, True)]
        assert store.get_meta("dim") is None and store.get_meta("index_state") is None
        ids2, X2 = store.embeddings()
        assert ids2.tolist() == [1, 2] and np.array_equal(X2, X)
        store.set_model("new", None, 2)
        with store.transaction():
            store.add_track(info("1.mp3", "h1"), np.ones(2))  # a second set beside the migrated one
    with LibraryStore.open(db, readonly=True, model="old") as again:
        assert np.array_equal(again.embeddings()[1], X)


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
