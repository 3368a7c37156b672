"""Large libraries: the `auto` index turns approximate above a size, with parameters from
the size, and a search through it short-lists and re-ranks exactly (issue 17, item 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from playlist.geometry.catalog import LibraryCatalog
from playlist.geometry.extend import extend
from playlist.library import Library, vector_index
from playlist.library.store import l2_normalise
from playlist.library.vector_index import AutoIvf, IndexSpec, build_index, index_kind, rerank, search
from playlist.synthetic import SyntheticSpec
from tests.library_helpers import synthetic_store

SPEC = SyntheticSpec(dim=32, genres=6, styles_per_genre=4, artists_per_style=6, tracks_per_artist=12)  # 1728


def test_auto_parameters_follow_the_size() -> None:
    assert AutoIvf.for_size(100_000) == AutoIvf(nlist=256, nprobe=16, train=12_288)
    assert AutoIvf.for_size(1_000_000) == AutoIvf(nlist=1024, nprobe=64, train=49_152)
    assert AutoIvf.for_size(10_000_000).nlist == 4096 and AutoIvf.for_size(10**9).nlist == 8192
    small = AutoIvf.for_size(3000)
    assert small.nlist == 64 and small.train == 3000  # at least 39 training points per cell


def test_auto_is_flat_below_the_threshold_and_ivf_above(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    X = l2_normalise(rng.standard_normal((3000, 16)))
    ids = np.arange(1, 3001, dtype=np.int64)
    assert index_kind(build_index(ids, X, IndexSpec())) == "flat"  # the default is auto
    monkeypatch.setattr(vector_index, "AUTO_APPROX_FROM", 2000)
    index = build_index(ids, X, IndexSpec())
    assert index_kind(index) == "ivf-sq8" and index.ntotal == 3000
    assert search(index, X[:3], 1)[1][:, 0].tolist() == [1, 2, 3]


def test_rerank_is_the_exact_top_k_of_the_short_list() -> None:
    rng = np.random.default_rng(1)
    X = l2_normalise(rng.standard_normal((50, 8)))
    ids = np.arange(100, 150, dtype=np.int64)
    Q = l2_normalise(rng.standard_normal((3, 8)))
    candidates = np.array([rng.choice(ids, 20, replace=False) for _ in Q])
    candidates[0, -3:] = -1  # fewer than asked: the -1 slots are ignored

    def vectors(wanted):
        rows = [int(i) - 100 for i in wanted]
        return np.array(wanted, dtype=np.int64), X[rows]

    scores, got = rerank(Q, candidates, vectors, 5)
    for q in range(3):
        cand = candidates[q][candidates[q] >= 0]
        exact = X[cand - 100] @ Q[q]
        order = np.argsort(-exact)[:5]
        assert got[q].tolist() == cand[order].tolist()
        np.testing.assert_allclose(scores[q], exact[order], rtol=0, atol=1e-6)


def test_a_library_above_the_threshold_searches_approximately_and_matches_flat(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = synthetic_store(tmp_path / "music", SPEC)
    monkeypatch.setattr(vector_index, "AUTO_APPROX_FROM", 1000)
    db = tmp_path / "music" / ".myna"
    queries = lib.vectors[::97]
    with Library.open(db, spec=IndexSpec(kind="flat")) as flat:
        want_scores, want = flat.search(queries, 10)
        flat_picks = [p.id for p in extend(LibraryCatalog(flat), [1, 2, 3, 500, 501], 10).picks]
    with Library.open(db, spec=IndexSpec(kind="auto")) as auto:
        assert index_kind(auto.index) == "ivf-sq8"  # 1728 tracks ≥ the (lowered) threshold
        scores, got = auto.search(queries, 10)
        picks = [p.id for p in extend(LibraryCatalog(auto), [1, 2, 3, 500, 501], 10).picks]
        _, X = auto.vectors(got[0].tolist())  # the library's space, which the index searches
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got.tolist(), want.tolist())])
    assert recall >= 0.95
    exact = X @ l2_normalise(queries[:1])[0]  # the returned scores are exact cosines, re-ranked
    np.testing.assert_allclose(scores[0], np.sort(exact)[::-1], rtol=0, atol=1e-5)
    assert picks == flat_picks
