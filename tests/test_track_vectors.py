"""Sound statistics beside the encoder's vector (myna_rpe/track_stats.py, playlist/library/track_vectors.py)
and their place in the library's space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from myna_rpe import track_stats
from myna_rpe.config import FrontendConfig
from myna_rpe.evaluation.features import mfcc_stats
from myna_rpe.frontend import log_mel
from playlist.library.space import PSEUDO_TRACKS, STATS_WEIGHT, Space
from playlist.library.store import l2_normalise
from playlist.library.track_vectors import TrackEmbedder, encoder_part, model_record, split, stats_dim, track_model_id
from tests.conftest import sine
from tests.library_helpers import tiny_embedder
from tests.test_space import same_group_at_1

SR = 16000
A, C, E, G = 9, 0, 4, 7  # pitch classes


def chroma_means(wave: np.ndarray) -> np.ndarray:
    return track_stats.track_stats(log_mel(wave, FrontendConfig()), FrontendConfig())[120:132]


def test_the_chroma_part_finds_the_pitch_classes_of_a_chord() -> None:
    a440 = chroma_means(sine(440.0, 4.0, SR))
    assert a440.argmax() == A and a440[A] == 1.0 and np.sort(a440)[-2] < 0.5
    # C major (C5, E5, G5): its three classes above every other
    chord = sum(sine(f, 4.0, SR, 0.2) for f in (523.25, 659.26, 783.99))
    profile = chroma_means(chord)
    assert set(np.argsort(profile)[-3:]) == {C, E, G}, profile.round(2)
    # the same chord a whole tone up (D, F#, A) moves with it
    up = chroma_means(sum(sine(f * 2 ** (2 / 12), 4.0, SR, 0.2) for f in (523.25, 659.26, 783.99)))
    assert set(np.argsort(up)[-3:]) == {(C + 2) % 12, (E + 2) % 12, (G + 2) % 12}


def test_the_mfcc_part_is_the_mfcc_baseline_and_the_sizes_add_up() -> None:
    wave = sine(300.0, 3.0, SR) + 0.05 * np.random.default_rng(0).normal(size=3 * SR).astype(np.float32)
    stats = track_stats.track_stats(log_mel(wave, FrontendConfig()), FrontendConfig())
    assert stats.shape == (track_stats.DIM,) and stats.dtype == np.float32 and np.isfinite(stats).all()
    assert np.allclose(stats[:120], mfcc_stats(wave, FrontendConfig()), atol=1e-5)
    mean, std = track_stats.reference()
    assert mean.shape == std.shape == (track_stats.DIM,) and (std > 0).all()


def test_a_track_row_is_the_unit_encoder_vector_beside_standardised_statistics(tmp_path: Path) -> None:
    embedder = tiny_embedder()
    rows_of = TrackEmbedder(embedder)
    waves = [sine(220.0 * (k + 1), 3.0 + k, SR) for k in range(3)]
    mels = [embedder.mels(w) for w in waves]
    rows = rows_of.embed_mels(mels)
    assert rows.shape == (3, embedder.dim + track_stats.DIM) == (3, rows_of.dim)
    Z = embedder.embed_mels(mels)
    mean, std = track_stats.reference()
    stats = np.stack([(track_stats.track_stats(m, embedder.config.frontend) - mean) / std for m in mels])
    # stored rows are L2-normalised: the encoder part's norm gives the scale back
    got_z, got_stats = split(l2_normalise(rows), track_stats.DIM)
    assert np.allclose(got_z, l2_normalise(Z), atol=1e-5) and np.allclose(got_stats, stats, atol=1e-4)
    assert np.allclose(encoder_part(l2_normalise(rows), track_stats.DIM), l2_normalise(Z), atol=1e-5)
    # a new model id (libraries re-embed once), recorded with the statistics' size
    assert rows_of.model_id == track_model_id(embedder.model_id) != embedder.model_id
    assert stats_dim(model_record(rows_of)) == track_stats.DIM and stats_dim(model_record(embedder)) == 0
    assert rows_of.embed_mels([]).shape == (0, rows_of.dim)


def grouped_rows(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stored rows whose encoder part says nothing about four groups and whose statistics tell
    them apart only after a loud shared offset and a loud meaningless value are taken out."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), 25)
    Z = l2_normalise(rng.normal(size=(100, 8)))
    S = np.zeros((100, 6))
    S[:, 0] = 40.0 + rng.normal(scale=20.0, size=100)  # what every track shares, and a loud axis
    S[np.arange(100), 1 + labels] = 1.0
    S[:, 1:] += rng.normal(scale=0.2, size=(100, 5))
    return l2_normalise(np.concatenate([Z, S], axis=1)), labels


def test_the_space_standardises_the_statistics_on_the_library_and_joins_them() -> None:
    X, labels = grouped_rows()
    plain = Space.fit(encoder_part(X, 6))
    joined = Space.fit(X, n_stats=6)
    encoder_only = same_group_at_1(plain.apply(encoder_part(X, 6)), labels)  # 0.28: the encoder part is noise
    unstandardised = same_group_at_1(Space.identity(14, n_stats=6).apply(X), labels)  # 0.29: the loud value rules
    found = same_group_at_1(joined.apply(X), labels)  # 0.78
    assert encoder_only < 0.45 and unstandardised < 0.45 and found > 0.7, (encoder_only, unstandardised, found)
    # the joined row: the unit encoder vector and the statistics at STATS_WEIGHT, normalised together
    J = joined.join(X)
    assert np.allclose(np.linalg.norm(J, axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(J[:, 8:], axis=1) / np.linalg.norm(J[:, :8], axis=1), STATS_WEIGHT, atol=1e-5)
    # a row from outside the store, at any scale, lands where the same stored row does
    assert np.allclose(joined.apply(X[:1] * 7.0), joined.apply(X)[:1], atol=1e-5)
    # shrunk by PSEUDO_TRACKS tracks' worth towards the reference (0, 1): a library of one track
    # keeps its row as the reference standardisation gives it, and the identity
    one = Space.fit(X[:1], n_stats=6)
    _, S = split(X[:1], 6)
    assert np.allclose(one.stats_mean, S[0] / (1 + PSEUDO_TRACKS), atol=1e-5)
    assert np.allclose(one.stats_scale, np.sqrt(PSEUDO_TRACKS / (1 + PSEUDO_TRACKS)))
    assert np.allclose(one.join(X[:1]), Space.identity(14, n_stats=6).join(X[:1]), atol=1e-5)
    assert np.array_equal(one.basis, np.eye(14))


def test_a_space_with_statistics_survives_its_json_and_refuses_damage() -> None:
    X, _ = grouped_rows()
    space = Space.fit(X, n_stats=6)
    back = Space.from_json(space.to_json(), 14)
    assert back is not None and np.array_equal(back.stats_mean, space.stats_mean)
    assert np.allclose(back.apply(X), space.apply(X))
    damaged = dict(space.to_json(), stats_scale=Space.fit(X[:1], n_stats=5).to_json()["stats_scale"])
    assert Space.from_json(damaged, 14) is None  # the statistics' sizes disagree
    assert Space.from_json({k: v for k, v in space.to_json().items() if k != "stats_mean"}, 14) is None


def test_a_library_from_before_the_statistics_keeps_working_and_is_embedded_again_once(tmp_path: Path) -> None:
    from myna_rpe.embed import Embedder
    from playlist.library import Library
    from playlist.library.indexer import IndexOptions, index_library
    from playlist.library.outside import embed_outside
    from tests.library_helpers import GOOD_FILES, make_test_library, save_tiny_checkpoint

    lib = make_test_library(tmp_path / "lib").root
    checkpoint = save_tiny_checkpoint(tmp_path / "ckpt")
    plain = Embedder.load(checkpoint)
    index_library(lib, plain, options=IndexOptions(workers=0))  # as `myna index` did before the statistics
    song = lib / GOOD_FILES[0][0]

    def outside_equals_stored(n_stats: int) -> None:
        with Library.open(lib / ".myna") as library:
            assert stats_dim(library.store.model_config) == n_stats
            _, X = library.vectors([library.store.track_by_path(song).id])
            # a file from outside is embedded as the library's set was: the same vector as the stored track
            assert np.allclose(embed_outside(library, song, checkpoint), X[0], atol=1e-4)

    outside_equals_stored(0)
    report = index_library(lib, TrackEmbedder(plain), options=IndexOptions(workers=0))
    assert report.model_changed and report.embedded == len(GOOD_FILES) and report.kept_models == [plain.model_id]
    outside_equals_stored(track_stats.DIM)
    again = index_library(lib, TrackEmbedder(plain), options=IndexOptions(workers=0))
    assert again.embedded == 0 and again.unchanged == len(GOOD_FILES)
