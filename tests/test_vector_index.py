"""FAISS index: exact cosine for flat, high recall for HNSW/IVF, ids kept, atomic files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from myna_rpe.errors import LibraryError
from playlist.library.store import l2_normalise
from playlist.library.vector_index import (
    IndexSpec,
    build_index,
    configure_search,
    index_kind,
    read_index,
    search,
    write_index_atomic,
)


def random_set(n: int, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.choice(10 * n, size=n, replace=False).astype(np.int64) + 1
    return ids, l2_normalise(rng.standard_normal((n, dim)))


def brute_force(ids, X, Q, k):
    S = Q @ X.T
    order = np.argsort(-S, axis=1)[:, :k]
    return np.take_along_axis(S, order, 1), ids[order]


def test_flat_is_exact_cosine_with_store_ids() -> None:
    ids, X = random_set(500)
    Q = l2_normalise(np.random.default_rng(1).standard_normal((20, 32)))
    scores, got = search(build_index(ids, X), Q, 10)
    want_scores, want_ids = brute_force(ids, X, Q, 10)
    assert np.array_equal(got, want_ids)
    assert np.allclose(scores, want_scores, atol=1e-5)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_have_high_recall(kind: str) -> None:
    ids, X = random_set(2000, dim=16)
    Q = X[:50] + 0.05 * np.random.default_rng(2).standard_normal((50, 16)).astype(np.float32)
    index = build_index(ids, X, IndexSpec(kind=kind))
    assert index_kind(index) == kind
    _, got = search(index, l2_normalise(Q), 10)
    _, want = brute_force(ids, X, l2_normalise(Q), 10)
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)])
    assert recall > 0.9


def test_k_beyond_the_index_size_gives_every_vector_once() -> None:
    ids, X = random_set(3)
    scores, got = search(build_index(ids, X), X[:1], 5)
    assert got.shape == scores.shape == (1, 3)  # never more columns than vectors
    assert got[0, 0] == ids[0] and sorted(got[0]) == sorted(ids) and np.isfinite(scores).all()
    empty = build_index(np.zeros(0, np.int64), np.zeros((0, 8), np.float32))
    assert search(empty, np.ones((1, 8)), 3)[1].shape == (1, 0)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_write_is_atomic_and_round_trips(tmp_path: Path, kind: str) -> None:
    ids, X = random_set(300)
    path = tmp_path / "index.faiss"
    path.write_bytes(b"old index")
    write_index_atomic(build_index(ids, X, IndexSpec(kind=kind)), path)
    assert [p.name for p in tmp_path.iterdir()] == ["index.faiss"]  # no temp file left
    loaded = read_index(path)
    configure_search(loaded, IndexSpec(kind=kind))
    assert loaded.ntotal == 300 and index_kind(loaded) == kind
    _, got = search(loaded, X[:5], 1)
    assert got[:, 0].tolist() == ids[:5].tolist()


def test_unreadable_index_is_a_library_error(tmp_path: Path) -> None:
    path = tmp_path / "index.faiss"
    path.write_bytes(b"not faiss")
    with pytest.raises(LibraryError, match="rebuild-index"):
        read_index(path)


def test_unknown_index_type_is_refused() -> None:
    with pytest.raises(LibraryError, match="flat, hnsw, ivf"):
        IndexSpec(kind="annoy")
