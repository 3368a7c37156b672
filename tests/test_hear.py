"""myna_rpe.hear against a checker written from the HEAR 2021 common-API spec
(hearbenchmark.com/hear-api.html): names, attributes, shapes, dtypes, timestamps in ms at
regular intervals centred within the clip, plus batch = one by one, determinism, silence
and short inputs."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from myna_rpe import hear
from myna_rpe.checkpoint import build_model, save_checkpoint
from myna_rpe.config import EncoderConfig, ModelConfig

HEAR_RATES = (16000, 22050, 32000, 44100, 48000)


def white_noise(n_sounds: int, seconds: float, sample_rate: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n_sounds, int(seconds * sample_rate)), generator=g) * 2 - 1


def check_model(module: types.ModuleType, model) -> None:
    for name in ("load_model", "get_scene_embeddings", "get_timestamp_embeddings"):
        assert callable(getattr(module, name, None)), f"the API needs {name}"
    assert isinstance(model, torch.nn.Module)
    assert model.sample_rate in HEAR_RATES
    for name in ("scene_embedding_size", "timestamp_embedding_size"):
        assert type(getattr(model, name)) is int, f"{name} must be an int"


def check_scene(module, model, n_sounds: int, seconds: float) -> torch.Tensor:
    audio = white_noise(n_sounds, seconds, model.sample_rate)
    emb = module.get_scene_embeddings(audio, model)
    assert isinstance(emb, torch.Tensor) and emb.dtype == torch.float32
    assert emb.shape == (n_sounds, model.scene_embedding_size)
    assert torch.isfinite(emb).all()
    return emb


def check_timestamps(module, model, n_sounds: int, seconds: float) -> tuple[torch.Tensor, torch.Tensor]:
    audio = white_noise(n_sounds, seconds, model.sample_rate)
    emb, ts = module.get_timestamp_embeddings(audio, model)
    assert isinstance(emb, torch.Tensor) and emb.dtype == torch.float32
    assert emb.ndim == 3 and ts.ndim == 2
    assert emb.shape[0] == n_sounds and emb.shape[:2] == ts.shape
    assert emb.shape[2] == model.timestamp_embedding_size
    assert torch.isfinite(emb).all()
    ts = ts.double().numpy()
    duration_ms = 1000.0 * audio.shape[1] / model.sample_rate
    assert (ts >= 0).all() and (ts <= duration_ms).all(), "timestamps lie within the clip"
    assert (ts == ts[:1]).all(), "every sound of a batch has the same timestamps"
    if ts.shape[1] > 1:
        diff = np.diff(ts, axis=1)
        assert (diff > 0).all(), "timestamps increase"
        assert np.abs(diff - diff.mean()).max() <= 1.0, "timestamps at regular intervals (within 1 ms)"
        hop = diff.mean()
        assert ts[:, 0].max() <= hop, "the first embedding is centred in the first hop"
        assert ts[:, -1].min() >= duration_ms - 2 * hop, "the last embedding reaches the end of the clip"
    return emb, torch.from_numpy(ts)


@pytest.fixture(scope="module")
def model():
    return hear.load_model()


def test_bundled_model_follows_the_spec(model):
    check_model(hear, model)
    for seconds in (1.07, 1.98, 4.0):  # lengths that do not fall on a whole column
        check_timestamps(hear, model, 2, seconds)
    check_scene(hear, model, 4, 2.74)


def test_timestamps_are_column_centres(model):
    _, ts = check_timestamps(hear, model, 1, 4.0)
    assert model.timestamp_hop_ms == pytest.approx(512.0)
    np.testing.assert_allclose(ts[0].numpy(), 240.0 + 512.0 * np.arange(ts.shape[1]), atol=1e-3)
    assert ts.shape[1] == 8  # centres 240 … 3824 ms lie within 4 s; the 9th (4336 ms) does not


def test_batch_equals_one_by_one_and_is_deterministic(model):
    audio = white_noise(3, 2.0, model.sample_rate, seed=1)
    scene = hear.get_scene_embeddings(audio, model)
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    for i in range(3):
        one = audio[i : i + 1]
        torch.testing.assert_close(hear.get_scene_embeddings(one, model)[0], scene[i], atol=1e-5, rtol=1e-5)
        e, t = hear.get_timestamp_embeddings(one, model)
        torch.testing.assert_close(e[0], emb[i], atol=1e-5, rtol=1e-5)
        assert torch.equal(t[0], ts[i])
    assert torch.equal(hear.get_scene_embeddings(audio, model), scene)
    assert torch.equal(hear.get_timestamp_embeddings(audio, model)[0], emb)


def test_scene_embedding_is_the_embedders_vector(model):
    audio = white_noise(2, 3.0, model.sample_rate, seed=2)
    scene = hear.get_scene_embeddings(audio, model)
    for i in range(2):
        np.testing.assert_allclose(scene[i].numpy(), model.embedder().embed_waveform(audio[i].numpy()), atol=1e-5)


def test_silence_and_short_inputs(model):
    silence = torch.zeros(2, model.sample_rate)
    assert torch.isfinite(hear.get_scene_embeddings(silence, model)).all()
    emb, ts = hear.get_timestamp_embeddings(silence, model)
    assert torch.isfinite(emb).all()
    for samples in (1, 100, 1600, 5000):  # down to one sample: still one embedding inside the clip
        audio = white_noise(2, samples / model.sample_rate, model.sample_rate)
        assert audio.shape[1] == samples
        emb, ts = hear.get_timestamp_embeddings(audio, model)
        assert emb.shape == (2, 1, model.timestamp_embedding_size)
        assert 0 <= float(ts[0, 0]) <= 1000.0 * samples / model.sample_rate
        assert hear.get_scene_embeddings(audio, model).shape == (2, model.scene_embedding_size)
    with pytest.raises(ValueError, match="n_samples > 0"):
        hear.get_scene_embeddings(torch.zeros(1, 0), model)


def test_long_clip_scene_goes_through_the_budget(model):
    # 90 s ≈ 1,400 patches, over the default 1,024-token budget: still one vector per sound.
    audio = white_noise(1, 90.0, model.sample_rate, seed=3) * 0.1
    check_scene(hear, model, 1, 90.0)
    assert model.embedder().budget.applies(model.embedder()._patches(model.frontend(audio).shape[-1]))


def test_checkpoint_path_and_numpy_audio(tmp_path):
    cfg = EncoderConfig(model=ModelConfig.from_preset("tiny", "rope2d"))
    path = save_checkpoint(tmp_path / "ckpt", build_model(cfg), cfg)
    tiny = hear.load_model(str(path))
    check_model(hear, tiny)
    assert tiny.scene_embedding_size == 64
    audio = white_noise(2, 1.5, tiny.sample_rate).numpy()
    assert hear.get_scene_embeddings(audio, tiny).shape == (2, 64)
    check_timestamps(hear, tiny, 2, 1.5)
