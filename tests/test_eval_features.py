"""Feature extractors (encoder whole / chunks, MFCC), the embedding cache, undecodable tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from myna_rpe.budget import DENSE, TokenBudget
from myna_rpe.config import EncoderConfig, FrontendConfig, ModelConfig
from myna_rpe.evaluation.datasets import EvalDataset, Track
from myna_rpe.evaluation.features import EmbeddingCache, EncoderFeatures, MfccFeatures, chunk_average, extract, mfcc_stats
from myna_rpe.synth import synth_track
from tests.test_eval_fixtures import SR, render


def test_chunk_average_drops_remainder_and_keeps_short_tracks() -> None:
    seen: list[list[int]] = []

    def fake_embed(pieces: list[np.ndarray]) -> np.ndarray:
        seen.append([len(p) for p in pieces])
        return np.stack([np.full(2, p[0]) for p in pieces])

    wave = np.repeat(np.arange(5, dtype=np.float32), 100)[:450]  # chunks of 100 start at 0,1,2,3; 50 left over
    assert chunk_average(fake_embed, wave, 100) == pytest.approx([1.5, 1.5])
    assert seen[-1] == [100, 100, 100, 100]
    chunk_average(fake_embed, wave[:60], 100)
    assert seen[-1] == [60]  # shorter than one chunk: the whole track


def test_encoder_protocols_match_the_embedder(tmp_path: Path) -> None:
    from myna_rpe.audio import load_audio
    from myna_rpe.embed import Embedder

    emb = Embedder.random(EncoderConfig(model=ModelConfig.from_preset("tiny", "alibi2d")), seed=0)
    path = render(tmp_path / "t.wav", 2.2)
    wave = load_audio(path, SR)
    whole = EncoderFeatures(emb, "whole")
    budget = EncoderFeatures(emb, "budget")
    chunks = EncoderFeatures(emb, "chunks", chunk_seconds=1.0)
    assert len({whole.id, budget.id, chunks.id}) == 3 and emb.model_id in budget.id
    assert emb.with_budget(DENSE).model_id in whole.id  # the dense pass, whatever the embedder's budget
    assert whole(path) == pytest.approx(emb.embed_waveform(wave), abs=1e-5)
    assert budget(path) == pytest.approx(whole(path), abs=1e-6)  # 2.2 s is within the budget: the dense pass
    small = EncoderFeatures(emb.with_budget(TokenBudget(tokens=16)), "budget")
    assert not np.allclose(small(path), whole(path), atol=1e-4)  # 72 patches read from 16
    # two full 1 s chunks, the last 0.2 s dropped, embedded as one batch and averaged
    assert chunks(path) == pytest.approx(emb.embed_batch([wave[:SR], wave[SR : 2 * SR]]).mean(axis=0), abs=1e-5)
    assert not np.allclose(whole(path), chunks(path))


def test_mfcc_is_dct_of_the_project_log_mel() -> None:
    import librosa

    from myna_rpe.frontend import log_mel

    cfg = FrontendConfig()
    wave = synth_track(3, 1.5, SR)
    feats = mfcc_stats(wave, cfg)
    assert feats.shape == (120,) and feats.dtype == np.float32
    reference = librosa.feature.mfcc(S=log_mel(wave, cfg).numpy(), n_mfcc=20)  # DCT-II, orthonormal
    assert feats[:20] == pytest.approx(reference.mean(axis=1), rel=1e-4, abs=1e-4)
    assert feats[60:80] == pytest.approx(reference.std(axis=1), rel=1e-4, abs=1e-4)
    louder = mfcc_stats(wave * 4, cfg)
    assert louder[0] > feats[0]  # c0 follows level


def test_cache_roundtrip_and_corrupt_entry(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    vec = np.arange(4, dtype=np.float32)
    cache.put("model-x", "gtzan", "blues/blues.00000.wav", vec)
    assert cache.get("model-x", "gtzan", "blues/blues.00000.wav") == pytest.approx(vec)
    assert cache.get("model-y", "gtzan", "blues/blues.00000.wav") is None
    cache.path("model-x", "gtzan", "blues/blues.00000.wav").write_bytes(b"not numpy")
    assert cache.get("model-x", "gtzan", "blues/blues.00000.wav") is None


def test_undecodable_tracks_are_skipped_and_listed(tmp_path: Path) -> None:
    tracks = {}
    for split in ("train", "valid", "test"):
        good = [tmp_path / f"{split}{i}.wav" for i in range(2)]
        for i, p in enumerate(good):
            render(p, 0.5, seed=i)
        bad = tmp_path / f"{split}_bad.mp3"
        bad.write_bytes(b"\x00" * 64)
        tracks[split] = [Track(p.name, p, "blues") for p in (good[0], bad, good[1])]
    ds = EvalDataset("toy", "multiclass", ["blues"], tracks, "toy")
    feats = extract(ds, MfccFeatures(), EmbeddingCache(tmp_path / "cache"))
    assert feats.kept == {"train": [0, 2], "valid": [0, 2], "test": [0, 2]}
    assert feats.X["train"].shape == (2, 120) and len(feats.failed) == 3 and feats.computed == 6
    again = extract(ds, MfccFeatures(), EmbeddingCache(tmp_path / "cache"))
    assert again.computed == 0 and again.X["test"] == pytest.approx(feats.X["test"])
