"""The library's similarity space (playlist/library/space.py) and its life beside the FAISS index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from playlist.library import Library
from playlist.library.opened import _state_key, index_state
from playlist.library.space import PSEUDO_TRACKS, Space
from playlist.library.store import LibraryStore, l2_normalise
from playlist.synthetic import SyntheticSpec
from tests.library_helpers import synthetic_store

SPEC = SyntheticSpec(dim=16, genres=3, styles_per_genre=2, artists_per_style=3, tracks_per_artist=6)  # 108 tracks


def shared_direction_library(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Vectors as a contrastive encoder gives them: one direction every track shares, one loud
    axis that varies at random, and four groups told apart only on quiet axes."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), 25)
    X = np.zeros((100, 12))
    X[:, 0] = 5.0                                   # the shared direction
    X[:, 1] = rng.normal(scale=5.0, size=100)       # loud, meaningless
    X[np.arange(100), 2 + labels] = 0.4             # the groups, on quiet axes
    X[:, 2:] += rng.normal(scale=0.1, size=(100, 10))
    return l2_normalise(X), labels


def same_group_at_1(X: np.ndarray, labels: np.ndarray) -> float:
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    return float(np.mean(labels[S.argmax(axis=1)] == labels))


def test_the_space_lets_the_quiet_axes_that_separate_tracks_count() -> None:
    X, labels = shared_direction_library()
    space = Space.fit(X)
    Y = space.apply(X)
    assert np.allclose(np.linalg.norm(Y, axis=1), 1.0, atol=1e-5)
    raw, fitted = same_group_at_1(X, labels), same_group_at_1(Y, labels)
    assert raw < 0.8 and fitted > raw + 0.1, (raw, fitted)  # 0.78 -> 0.91


def test_a_tiny_library_is_left_almost_as_it_is() -> None:
    X, _ = shared_direction_library()
    one = Space.fit(X[:1])
    assert np.array_equal(one.mean, np.zeros(12)) and np.array_equal(one.basis, np.eye(12))
    same = Space.fit(np.repeat(X[:1], 5, axis=0))  # every vector alike: nothing to learn
    assert np.array_equal(same.basis, np.eye(12))
    # the shrinkage: a few tracks move the vectors less than many
    moved = [np.mean(np.sum(Space.fit(X[:n]).apply(X) * X, axis=1)) for n in (3, 100)]
    assert moved[0] > moved[1], moved
    assert np.allclose(Space.fit(X[:3]).mean, X[:3].mean(axis=0) * 3 / (3 + PSEUDO_TRACKS), atol=1e-6)


def test_the_space_survives_its_json_and_refuses_damage() -> None:
    X, _ = shared_direction_library()
    space = Space.fit(X)
    back = Space.from_json(space.to_json(), 12)
    assert np.array_equal(back.mean, space.mean) and np.array_equal(back.basis, space.basis)
    saved = space.to_json()
    assert Space.from_json(saved, 16) is None  # another dimension
    assert Space.from_json({**saved, "version": 0}, 12) is None
    assert Space.from_json({**saved, "basis": "not base64!"}, 12) is None
    assert Space.from_json({**saved, "mean": saved["mean"][:8]}, 12) is None
    assert Space.from_json(None, 12) is None and Space.from_json([1, 2], 12) is None


def test_searches_run_in_the_space_saved_with_the_index(tmp_path: Path) -> None:
    synthetic_store(tmp_path / "music", SPEC)
    db = tmp_path / "music" / ".myna"
    with LibraryStore.open(db) as store:
        ids, raw = store.embeddings()
    with Library.open(db) as lib:
        space = Space.fit(raw)
        got, Y = lib.vectors()
        assert np.array_equal(got, ids) and np.allclose(Y, space.apply(raw), atol=1e-6)
        # `similar` ranks by cosine in the space, exactly
        expect = np.argsort(-(Y @ Y[4]), kind="stable")
        expect = [int(ids[i]) for i in expect if ids[i] != ids[4]][:5]
        assert [t.id for t, _ in lib.similar(int(ids[4]), 5)] == expect
        # a vector from outside the store enters through to_space
        assert np.allclose(lib.to_space(raw[4] * 3.0)[0], Y[4], atol=1e-6)
        state = index_state(lib.store)
        assert state is not None and "space" in state


@pytest.mark.parametrize("damage", ["missing", "other version"])
def test_an_index_saved_without_its_space_is_rebuilt(tmp_path: Path, damage: str) -> None:
    """Indexes written before the space (or with another version of it) are not trusted."""
    synthetic_store(tmp_path / "music", SPEC)
    db = tmp_path / "music" / ".myna"
    with Library.open(db) as lib:
        _, want = lib.vectors()
    with LibraryStore.open(db) as store:
        state = index_state(store)
        if damage == "missing":
            del state["space"]
        else:
            state["space"]["version"] = -1
        store.set_meta(_state_key(store), state)
    with Library.open(db) as lib:
        _, got = lib.vectors()
        scores, found = lib.search(got[:1], 1)
        assert np.allclose(got, want) and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    with LibraryStore.open(db, readonly=True) as store:
        assert Space.from_json(index_state(store)["space"], store.dim) is not None  # saved again
