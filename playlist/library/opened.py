"""`Library`: an indexed library opened for searching (the store plus its FAISS index).

    with Library.open(db_dir) as lib:           # db_dir = LIBRARY/.myna or --db PATH
        scores, ids = lib.search(vectors, k=10)  # cosine; ids are store track ids (-1 = none)
        for track, score in lib.similar(track_id, n=10): ...
        lib.store                                # the LibraryStore (tracks, tags, embeddings)

    Library.open(db_dir, model="3f2a")           # another model's set (an id or a prefix)

One model's embeddings are searched, with that model's own index file. The index is
trusted only if the store's meta says it was built from the current generation of
embeddings with that model and has the expected size; otherwise it is rebuilt from the
store (and saved when no `myna index` holds the lock). Through an approximate index a
search short-lists and re-ranks exactly (`vector_index.rerank`).

Searches run in the library's similarity space (`playlist.library.space`): the index holds
the vectors in that space, `Library.vectors` gives them, and a vector from outside the
store (a file embedded now, a streamed song) enters through `Library.to_space`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import faiss
import numpy as np

from myna_rpe.errors import LibraryError, MynaError
from playlist.library.lock import LibraryLock
from playlist.library.space import Space
from playlist.library.sqlite_guard import damaged
from playlist.library.store import LibraryStore, Track, l2_normalise
from playlist.library.store_db import DB_FILENAME
from playlist.library.track_vectors import stats_dim
from playlist.library.vector_index import (
    RERANK_FACTOR,
    IndexSpec,
    build_index,
    configure_search,
    index_file,
    index_kind,
    is_exact,
    read_index,
    rerank,
    search,
    write_index_atomic,
)


def stored_spec(store: LibraryStore) -> IndexSpec:
    """The index type chosen at the last `myna index` (auto if never chosen). A damaged choice
    is named to a reader; a writer (`myna index`) replaces it with auto, and records that."""
    try:
        return IndexSpec(**(store.get_meta("index_spec", dict) or {}))
    except (TypeError, ValueError, LibraryError):
        if not store.readonly:
            return IndexSpec()
        raise damaged(store.db_dir / DB_FILENAME, "meta value 'index_spec' is not an index type",
                      fix="run `myna index LIBRARY` once (with --index-type to choose one)") from None


def index_path(store: LibraryStore) -> Path:
    return index_file(store.db_dir, store.model_id)


def _state_key(store: LibraryStore) -> str:
    return f"index_state:{store.model_id}"


def index_state(store: LibraryStore) -> dict | None:
    """What the saved index of the store's model was built from: generation, requested
    kind, built kind, size."""
    return store.get_meta(_state_key(store), dict)


def index_is_fresh(store: LibraryStore, spec: IndexSpec) -> bool:
    """Whether the saved index file is the one built from the store as it is now, judged from
    the stamp and the file's size (`load_index` also checks its checksum)."""
    state = index_state(store) or {}
    try:
        size = index_path(store).stat().st_size
    except OSError:
        return False
    return (state.get("generation") == store.generation and state.get("kind") == spec.kind
            and state.get("bytes") == size)


def rebuild_index(store: LibraryStore, spec: IndexSpec, save: bool = True) -> tuple[faiss.Index, Space]:
    """Fit the library's space to every embedding of the store's model and build the index
    of them in it; with `save`, write it atomically and record what it was built from (the
    space with it). The caller holds the lock when saving."""
    generation = store.generation
    ids, X = store.embeddings()
    space = Space.fit(X, stats_dim(store.model_config))
    index = build_index(ids, space.apply(X) if len(X) else X, spec)
    if save:
        checksum = write_index_atomic(index, index_path(store))
        store.set_meta("index_spec", asdict(spec))
        store.set_meta(_state_key(store), {"generation": generation, "kind": spec.kind, "built": index_kind(index),
                                           "n": int(index.ntotal), "dim": int(index.d), "crc32": checksum,
                                           "bytes": index_path(store).stat().st_size, "space": space.to_json()})
    return index, space


def drop_index(store: LibraryStore, model_id: str) -> None:
    """Remove a dropped model's index file (its meta stamp goes with the model)."""
    index_file(store.db_dir, model_id).unlink(missing_ok=True)


def load_index(store: LibraryStore, spec: IndexSpec) -> tuple[faiss.Index, Space] | None:
    """The saved index and its space if it is fresh, the file written for this state (its
    checksum), and of the store's size and dimension; else None (the caller rebuilds it)."""
    if not index_is_fresh(store, spec):
        return None
    state = index_state(store) or {}
    checksum = state.get("crc32")
    space = Space.from_json(state.get("space"), state.get("dim"))
    if not isinstance(checksum, int) or space is None:  # saved before checksums or spaces: rebuilt once
        return None
    try:
        index = read_index(index_path(store), checksum)
    except LibraryError:
        return None
    if index.ntotal != state.get("n") or index.d != (store.dim or index.d) or index.d != state.get("dim"):
        return None
    configure_search(index, spec)
    return index, space


def _rebuild_for_reading(store: LibraryStore, spec: IndexSpec) -> tuple[faiss.Index, Space]:
    """A stale index rebuilt from the store; saved for next time where nobody is indexing and
    the store can be written, else only kept in memory (a read-only store still searches)."""
    lock = LibraryLock(store.db_dir)
    if lock.try_acquire():
        try:
            with LibraryStore.open(store.db_dir, root=store.root, model=store.model_id) as writer:
                return rebuild_index(writer, spec, save=True)
        except MynaError:  # e.g. the disk is full: searching does not need the saved copy
            pass
        finally:
            lock.release()
    return rebuild_index(store, spec, save=False)


class Library:
    def __init__(self, store: LibraryStore, index: faiss.Index, space: Space) -> None:
        self.store = store
        self.index = index
        self.space = space

    @classmethod
    def open(cls, db_dir: str | Path, root: str | Path | None = None, spec: IndexSpec | None = None,
             model: str | None = None) -> Library:
        """Open for reading: the store read-only, and its index (rebuilt if stale). `model`
        chooses the embedding set (default: the library's current model)."""
        store = LibraryStore.open(db_dir, root=root, readonly=True, model=model)
        try:
            spec = spec or stored_spec(store)
            loaded = load_index(store, spec) or _rebuild_for_reading(store, spec)
        except BaseException:
            store.close()
            raise
        return cls(store, *loaded)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def vectors(self, ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, rows) as `LibraryStore.embeddings`, the rows in the library's space."""
        got, X = self.store.embeddings(ids)
        return got, self.space.apply(X) if len(X) else X

    def to_space(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors of the library's model from outside the store (rows), in the library's space."""
        return self.space.apply(vectors)

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k cosine neighbours of each row of `vectors` (in the library's space; normalised here):
        (scores (q, k) float32, ids (q, k) int64) with k at most the library size; id -1 / score -inf
        where an approximate index finds fewer."""
        Q = l2_normalise(np.atleast_2d(vectors))
        k = min(k, len(self))  # never more columns than tracks, however large the ask
        if is_exact(self.index) or k <= 0:
            return search(self.index, Q, k)
        _, candidates = search(self.index, Q, RERANK_FACTOR * k)
        return rerank(Q, candidates, self.vectors, k)

    def similar(self, track_id: int, n: int = 10) -> list[tuple[Track, float]]:
        """The `n` tracks most similar to track `track_id` (itself excluded), best first."""
        _, X = self.vectors([track_id])
        if len(X) == 0:
            model = f"with model {self.store.model_id}" if self.store.model_id else "(the library has no model's set)"
            raise LibraryError(f"track {track_id} has no embedding {model}",
                               path=self.store.db_dir, fix="run `myna index` to finish indexing")
        return self.nearest(X[0], n, exclude={track_id})

    def nearest(self, vector: np.ndarray, n: int = 10, exclude: set[int] = frozenset()) -> list[tuple[Track, float]]:
        """The `n` tracks nearest to `vector` (in the library's space: `to_space`), best first."""
        scores, ids = self.search(vector, n + len(exclude))
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0 and int(i) not in exclude][:n]
        tracks = self.store.tracks_by_id(i for i, _ in pairs)
        return [(tracks[i], s) for i, s in pairs if i in tracks]
