"""The indexing pipeline on a generated library: first run, incremental runs, moves,
model changes, a killed run, and a concurrent run."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from myna_rpe.config import FrontendConfig
from myna_rpe.embed import Embedder
from myna_rpe.errors import LibraryError
from playlist.library.indexer import (
    IndexOptions,
    LazyEmbedder,
    _Decoder,
    _Job,
    index_library,
    make_batches,
    prepare_file,
)
from playlist.library import Library
from playlist.library.lock import LibraryLock
from playlist.library.scan import FileStat
from playlist.library.store import LibraryStore
from playlist.library.tags import Tags
from playlist.library.vector_index import IndexSpec, index_file, index_kind, read_index
from tests.library_helpers import (
    GOOD_FILES,
    make_test_library,
    save_tiny_checkpoint,
    write_track,
)

INLINE = IndexOptions(workers=0, batch_size=4)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_library(tmp_path_factory.mktemp("template") / "lib").root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", seed=0)


@pytest.fixture(scope="module")
def embedder(checkpoint: Path) -> Embedder:
    return Embedder.load(checkpoint)


@pytest.fixture
def lib(template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    shutil.copytree(template, root)
    return root


def assert_consistent(root: Path, model_id: str) -> None:
    """Every track has exactly one current-model embedding, the FAISS index holds exactly
    the store's ids, and every good file of the folder is a track."""
    with LibraryStore.open(root / ".myna") as store:
        assert store.model_id == model_id
        tracks = store.tracks()
        ids, X = store.embeddings()
        assert sorted(t.id for t in tracks) == ids.tolist()
        assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
        assert all(t.path.is_file() for t in tracks)
        index = read_index(index_file(root / ".myna", model_id))
        assert index.ntotal == len(ids)
        assert sorted(faiss_ids(index)) == ids.tolist()


def faiss_ids(index) -> list[int]:
    import faiss

    return faiss.vector_to_array(index.id_map).tolist()


def test_first_run_indexes_good_files_and_records_bad_ones(lib: Path, embedder: Embedder) -> None:
    report = index_library(lib, embedder, options=INLINE)
    assert report.files == len(GOOD_FILES) + 3
    assert report.embedded == len(GOOD_FILES)
    assert report.failed == 3 and report.index_rebuilt
    with LibraryStore.open(lib / ".myna") as store:
        assert sorted(t.rel_path for t in store.tracks()) == sorted(g[0] for g in GOOD_FILES)
        errors = {e.rel_path: e.message for e in store.errors()}
        assert set(errors) == {"broken/corrupt.mp3", "broken/empty.flac", "broken/not audio.ogg"}
        assert "empty" in errors["broken/empty.flac"]
        song = store.track_by_path(lib / "Ärtist/Älbum/01 Söng.mp3")
        assert (song.title, song.artist, song.album, song.track_no, song.isrc) == \
            ("Söng", "Ärtist", "Älbum", 1, "USRC17607839")
        assert song.duration == pytest.approx(3.0, abs=0.1)
        assert store.track_by_path("日本/曲.mp3").artist == "歌手"
        # A stored vector is the file's own embedding (batching and padding change nothing).
        _, X = store.embeddings([song.id])
        alone = embedder.embed_file(song.path)
        assert np.allclose(X[0], alone / np.linalg.norm(alone), atol=1e-4)
    assert_consistent(lib, embedder.model_id)


def test_second_run_without_changes_embeds_nothing(lib: Path, embedder: Embedder) -> None:
    index_library(lib, embedder, options=INLINE)
    with LibraryStore.open(lib / ".myna") as store:
        generation = store.generation
    report = index_library(lib, embedder, options=INLINE)
    assert (report.embedded, report.unchanged, report.known_errors, report.failed) == (0, len(GOOD_FILES), 3, 0)
    assert not report.index_rebuilt
    with LibraryStore.open(lib / ".myna") as store:
        assert store.generation == generation


def test_move_rename_delete_add_embeds_only_the_new_file(lib: Path, embedder: Embedder) -> None:
    index_library(lib, embedder, options=INLINE)
    with LibraryStore.open(lib / ".myna") as store:
        before = {t.rel_path: t.id for t in store.tracks()}
        ids_before, X_before = store.embeddings()
    (lib / "Moved/Here").mkdir(parents=True)
    os.replace(lib / "Ärtist/Älbum/02 Other.flac", lib / "Moved/Here/renamed Other.flac")  # move + rename
    os.replace(lib / "Compilation/a.ogg", lib / "Compilation/a renamed.ogg")  # rename in place
    (lib / "Compilation/b.m4a").unlink()  # delete
    write_track(lib / "New/brand new.flac", seed=999, seconds=2.0)  # add
    shutil.copy2(lib / "loose one.flac", lib / "Compilation/copy of loose.flac")  # duplicate content
    os.utime(lib / "Compilation/c.mp3")  # touched, same content

    report = index_library(lib, embedder, options=INLINE)
    assert report.embedded == 1
    assert (report.moved, report.copied, report.removed, report.touched) == (2, 1, 1, 1)
    with LibraryStore.open(lib / ".myna") as store:
        after = {t.rel_path: t.id for t in store.tracks()}
        assert after["Moved/Here/renamed Other.flac"] == before["Ärtist/Älbum/02 Other.flac"]
        assert after["Compilation/a renamed.ogg"] == before["Compilation/a.ogg"]
        assert after["Compilation/c.mp3"] == before["Compilation/c.mp3"]
        assert "Compilation/b.m4a" not in after
        assert before["Compilation/b.m4a"] not in set(after.values())
        # Moved tracks kept their vectors; the copy got the original's vector.
        _, X_moved = store.embeddings([after["Moved/Here/renamed Other.flac"]])
        assert np.array_equal(X_moved[0], X_before[ids_before.tolist().index(before["Ärtist/Älbum/02 Other.flac"])])
        _, pair = store.embeddings([after["loose one.flac"], after["Compilation/copy of loose.flac"]])
        assert np.array_equal(pair[0], pair[1])
    assert index_library(lib, embedder, options=INLINE).embedded == 0
    assert_consistent(lib, embedder.model_id)


def test_changed_content_is_reembedded_under_the_same_id(lib: Path, embedder: Embedder) -> None:
    index_library(lib, embedder, options=INLINE)
    target = lib / "Compilation/c.mp3"
    with LibraryStore.open(lib / ".myna") as store:
        old = store.track_by_path(target)
        _, X_old = store.embeddings([old.id])
    write_track(target, seed=4242, seconds=3.0)
    report = index_library(lib, embedder, options=INLINE)
    assert report.embedded == 1
    with LibraryStore.open(lib / ".myna") as store:
        new = store.track_by_path(target)
        _, X_new = store.embeddings([new.id])
    assert new.id == old.id and new.content_hash != old.content_hash
    assert not np.allclose(X_new, X_old)


def test_fixed_file_leaves_the_errors_and_broken_file_leaves_the_tracks(lib: Path, embedder: Embedder) -> None:
    index_library(lib, embedder, options=INLINE)
    write_track(lib / "broken/corrupt.mp3", seed=5, seconds=2.0)  # repaired
    (lib / "loose one.flac").write_bytes(b"fLaC" + b"\x00" * 300)  # now corrupt
    report = index_library(lib, embedder, options=INLINE)
    assert (report.embedded, report.failed) == (1, 1)
    with LibraryStore.open(lib / ".myna") as store:
        errors = {e.rel_path for e in store.errors()}
        assert "broken/corrupt.mp3" not in errors and "loose one.flac" in errors
        assert store.track_by_path("broken/corrupt.mp3") is not None
        assert store.track_by_path("loose one.flac") is None
    assert_consistent(lib, embedder.model_id)


def test_a_second_checkpoint_adds_a_set_beside_the_first_and_never_mixes(lib: Path, embedder: Embedder,
                                                                         tmp_path: Path) -> None:
    index_library(lib, embedder, options=INLINE)
    with LibraryStore.open(lib / ".myna") as store:
        first_ids, first_X = store.embeddings()
    other = Embedder.load(save_tiny_checkpoint(tmp_path / "other", seed=1))
    assert other.model_id != embedder.model_id
    notes: list[str] = []

    class Hook:
        def phase(self, name: str, total: int) -> None: ...
        def advance(self, n: int = 1) -> None: ...
        def note(self, message: str) -> None:
            notes.append(message)

    report = index_library(lib, other, options=INLINE, progress=Hook())
    assert report.model_changed and report.kept_models == [embedder.model_id]
    assert report.embedded == len(GOOD_FILES) and report.previous_model == embedder.model_id
    assert len(notes) == 1 and "kept the embeddings of " + embedder.model_id in notes[0]
    assert_consistent(lib, other.model_id)
    with sqlite3.connect(lib / ".myna" / "library.sqlite") as db:
        counts = dict(db.execute("SELECT model_id, COUNT(*) FROM embeddings GROUP BY model_id").fetchall())
    assert counts == {embedder.model_id: len(GOOD_FILES), other.model_id: len(GOOD_FILES)}
    with Library.open(lib / ".myna", model=embedder.model_id[:8]) as old:  # a prefix names the set
        ids, X = old.store.embeddings()
        assert ids.tolist() == first_ids.tolist() and np.array_equal(X, first_X)
        hits = old.search(old.vectors(first_ids[:1])[1], 1)[1][0].tolist()
        assert hits == [int(first_ids[0])]  # searched in its own index, with its own vectors

    def must_not_load():
        raise AssertionError("the first model's set is complete: nothing to load")

    back = index_library(lib, LazyEmbedder(must_not_load, embedder.model_id), options=INLINE)
    assert back.model_changed and back.embedded == 0 and back.kept_models == [other.model_id]
    assert_consistent(lib, embedder.model_id)


def test_worker_processes_give_the_same_result_as_inline(lib: Path, embedder: Embedder, tmp_path: Path) -> None:
    index_library(lib, embedder, db_dir=tmp_path / "inline", options=INLINE)
    report = index_library(lib, embedder, db_dir=tmp_path / "pool",
                           options=IndexOptions(workers=2, batch_size=3, prefetch_batches=1))
    assert (report.embedded, report.failed) == (len(GOOD_FILES), 3)
    with LibraryStore.open(tmp_path / "inline") as a, LibraryStore.open(tmp_path / "pool") as b:
        pa = {t.rel_path: t.id for t in a.tracks()}
        pb = {t.rel_path: t.id for t in b.tracks()}
        assert set(pa) == set(pb)
        for rel, track_id in pa.items():
            _, xa = a.embeddings([track_id])
            _, xb = b.embeddings([pb[rel]])
            assert np.allclose(xa, xb, atol=1e-5)
    assert not (lib / ".myna").exists()  # --db elsewhere leaves the library folder untouched


def test_concurrent_run_is_refused(lib: Path, embedder: Embedder) -> None:
    with LibraryLock(lib / ".myna"), pytest.raises(LibraryError, match="another `myna index`"):
        index_library(lib, embedder, options=INLINE)
    assert index_library(lib, embedder, options=INLINE).embedded == len(GOOD_FILES)


_SLOW_RUN = """
import sys, time
from myna_rpe.embed import Embedder
from playlist.library.indexer import IndexOptions, index_library

class Slow:  # the real model, slowed so the test can kill the run between commits
    def __init__(self, inner):
        self.inner, self.model_id, self.config, self.dim = inner, inner.model_id, inner.config, inner.dim
    def embed_mels(self, mels):
        time.sleep(0.4)
        return self.inner.embed_mels(mels)

index_library(sys.argv[1], Slow(Embedder.load(sys.argv[2])), options=IndexOptions(workers=1, batch_size=2))
"""


def test_killed_run_resumes_complete_and_consistent(lib: Path, embedder: Embedder, checkpoint: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_RUN, str(lib), str(checkpoint)],
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    db_path = lib / ".myna" / "library.sqlite"
    committed = 0
    try:
        deadline = time.monotonic() + 60
        while committed < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            if db_path.exists():
                try:
                    with sqlite3.connect(db_path, timeout=1) as db:
                        committed = db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
                except sqlite3.OperationalError:  # schema not created yet
                    pass
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the decode worker, if still there
        except ProcessLookupError:
            pass

    with LibraryStore.open(lib / ".myna") as store:
        partial = store.count_embeddings()
        assert 3 <= partial < len(GOOD_FILES)
        assert store.count_tracks() == partial  # no track row without its embedding
    report = index_library(lib, embedder, options=INLINE)  # the lock died with the process
    assert report.embedded == len(GOOD_FILES) - partial
    assert report.unchanged == partial
    assert_consistent(lib, embedder.model_id)


def test_missing_or_corrupt_index_is_rebuilt_from_the_store(lib: Path, embedder: Embedder) -> None:
    index_library(lib, embedder, options=INLINE)
    index_path = index_file(lib / ".myna", embedder.model_id)
    with Library.open(lib / ".myna") as library:
        first = library.store.tracks()[0]
        expected = library.similar(first.id, 3)
    index_path.unlink()
    with Library.open(lib / ".myna") as library:
        assert [t.id for t, _ in library.similar(first.id, 3)] == [t.id for t, _ in expected]
    assert index_path.is_file()  # saved again
    index_path.write_bytes(b"garbage")
    with LibraryStore.open(lib / ".myna") as store:
        store.set_meta(f"index_state:{embedder.model_id}", None)  # and a stale stamp: both lead to a rebuild
    report = index_library(lib, embedder, options=INLINE)
    assert report.embedded == 0 and report.index_rebuilt
    assert_consistent(lib, embedder.model_id)


def test_hnsw_index_type_is_kept_between_runs(lib: Path, embedder: Embedder) -> None:
    index_library(lib, embedder, options=IndexOptions(workers=0, index=IndexSpec(kind="hnsw")))
    (lib / "Compilation/c.mp3").unlink()
    report = index_library(lib, embedder, options=INLINE)  # no type given: keep hnsw
    assert report.index_rebuilt
    with Library.open(lib / ".myna") as library:
        track = library.store.tracks()[0]
        assert len(library.similar(track.id, 20)) == len(GOOD_FILES) - 2
        assert index_kind(library.index) == "hnsw"


def test_batches_group_similar_durations() -> None:
    jobs = [_Job(FileStat(Path(f"/x/{i}"), f"{i}", 1000, 0), f"h{i}", Tags(duration=float(d)))
            for i, d in enumerate([200, 10, 190, 12, 205, 11, 198, 9])]
    batches = make_batches(jobs, batch_size=4, max_seconds=10_000, seed=0)
    spans = sorted([min(j.tags.duration for j in b), max(j.tags.duration for j in b)] for b in batches)
    assert spans == [[9, 12], [190, 205]]
    # The seconds cap splits long batches.
    assert all(sum(j.tags.duration for j in b) <= 400 for b in make_batches(jobs, 8, 400, seed=0))


def crash_on_marked_files(path: str, frontend: FrontendConfig):
    """A decoder that kills its worker process on files named *crash*, like a segfaulting codec."""
    if "crash" in Path(path).name:
        os._exit(3)
    return prepare_file(path, frontend)


def test_a_decoder_crash_costs_only_that_file(lib: Path) -> None:
    shutil.copy(lib / "Compilation/a.ogg", lib / "Compilation/crash.ogg")
    names = ["Compilation/a.ogg", "Compilation/crash.ogg", "Compilation/c.mp3", "日本/曲.mp3"]
    jobs = [_Job(FileStat(lib / n, n, 0, 0), "", Tags()) for n in names]
    decoder = _Decoder(workers=1, frontend=FrontendConfig(), prepare=crash_on_marked_files)
    try:
        first = decoder.results(jobs[:2], decoder.submit(jobs[:2]))
        later = decoder.results(jobs[2:], decoder.submit(jobs[2:]))  # submitted to a pool that broke
    finally:
        decoder.close()
    (ok, seconds, _), (mel, _, message) = first
    assert ok is not None and ok.shape[0] == FrontendConfig().n_mels and seconds == pytest.approx(2.0, abs=0.1)
    assert mel is None and "crashed" in message
    assert all(m is not None for m, _, _ in later)


def test_an_empty_library_gives_an_empty_index(tmp_path: Path, embedder: Embedder) -> None:
    (tmp_path / "empty").mkdir()
    report = index_library(tmp_path / "empty", embedder, options=INLINE)
    assert report.files == 0 and report.index_rebuilt
    with Library.open(tmp_path / "empty" / ".myna") as library:
        assert len(library) == 0
        assert library.search(np.ones((1, embedder.dim)), 3)[1].shape == (1, 0)  # never more columns than tracks


def test_default_worker_count_follows_cores_and_device() -> None:
    from playlist.library.indexer import default_workers

    assert [default_workers("cpu", cpus=c) for c in (1, 2, 4, 8, 16)] == [1, 2, 3, 6, 8]
    assert (default_workers("cuda", cpus=2), default_workers("cuda", cpus=32)) == (1, 8)


def _lazy(embedder: Embedder, checkpoint: Path, budget=None) -> tuple[LazyEmbedder, list[int]]:
    """A LazyEmbedder announcing the id computed from config.json alone; counts its loads."""
    from myna_rpe.checkpoint_config import checkpoint_model_id

    budget = budget or embedder.budget
    loads: list[int] = []

    def load() -> Embedder:
        loads.append(1)
        return embedder.with_budget(budget)

    return LazyEmbedder(load, checkpoint_model_id(checkpoint, budget)), loads


def test_cheap_changes_need_no_model_but_new_files_and_a_new_budget_do(lib: Path, embedder: Embedder,
                                                                       checkpoint: Path) -> None:
    from myna_rpe.budget import TokenBudget

    index_library(lib, embedder, options=INLINE)
    lazy, loads = _lazy(embedder, checkpoint)
    assert lazy.model_id == embedder.model_id  # the same id, without loading anything
    assert index_library(lib, lazy, options=INLINE).unchanged == len(GOOD_FILES) and not loads

    os.replace(lib / "Compilation/a.ogg", lib / "Compilation/a renamed.ogg")
    (lib / "Compilation/b.m4a").unlink()
    shutil.copy2(lib / "loose one.flac", lib / "Compilation/copy of loose.flac")
    os.utime(lib / "Compilation/c.mp3")
    report = index_library(lib, lazy, options=INLINE)
    assert (report.embedded, report.moved, report.copied, report.removed, report.touched) == (0, 1, 1, 1, 1)
    assert not loads  # moves, copies, deletions and touches are store work only

    write_track(lib / "New/brand new.flac", seed=999, seconds=2.0)
    assert index_library(lib, lazy, options=INLINE).embedded == 1 and len(loads) == 1

    other_budget, loads = _lazy(embedder, checkpoint, TokenBudget(tokens=8))
    assert other_budget.model_id != embedder.model_id
    report = index_library(lib, other_budget, options=INLINE)
    assert loads and report.model_changed and report.embedded == report.files - report.known_errors == 11
    assert_consistent(lib, other_budget.model_id)
