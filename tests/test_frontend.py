"""The plain-torch log-mel frontend against librosa, an independent implementation."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from myna_rpe.config import FrontendConfig
from myna_rpe.frontend import LogMel, frames_for, log_mel, mel_filterbank, silence_value
from myna_rpe.synth import TrackSpec, synth_track

DEFAULT = FrontendConfig()
OTHER = FrontendConfig(
    sample_rate=22050, n_mels=64, n_fft=1024, hop_length=256, f_min=60.0, f_max=8000.0, top_db=None
)


def music(cfg: FrontendConfig, seconds: float = 3.0) -> np.ndarray:
    spec = TrackSpec(tonic=4, mode="minor", tempo_bpm=128.0, timbre="bright", loudness_db=-18.0, seed=11)
    return synth_track(spec, seconds, cfg.sample_rate)


def librosa_db(wave: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    power = librosa.feature.melspectrogram(
        y=wave,
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        n_mels=cfg.n_mels,
        fmin=cfg.f_min,
        fmax=cfg.f_max,
        window="hann",
        center=True,
        pad_mode="reflect",
        power=2.0,
    )
    return librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=cfg.top_db)


def ours_db(wave: np.ndarray, cfg: FrontendConfig, dtype: torch.dtype) -> np.ndarray:
    x = torch.from_numpy(wave).to(dtype)
    with torch.no_grad():
        out = LogMel(cfg)(x)[0].double().numpy()
    return out * cfg.db_std + cfg.db_mean


@pytest.mark.parametrize("cfg", [DEFAULT, OTHER], ids=["default", "other"])
def test_filterbank_matches_librosa(cfg):
    ours = mel_filterbank(cfg).numpy()
    ref = librosa.filters.mel(
        sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.f_min, fmax=cfg.f_max
    )
    assert ours.shape == ref.shape == (cfg.n_mels, cfg.n_fft // 2 + 1)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("cfg", [DEFAULT, OTHER], ids=["default", "other"])
def test_log_mel_matches_librosa(cfg):
    wave = music(cfg)
    ref = librosa_db(wave.astype(np.float64), cfg)
    # float64: the same formula to rounding (librosa's filterbank is stored in float32).
    exact = ours_db(wave, cfg, torch.float64)
    assert exact.shape == ref.shape == (cfg.n_mels, frames_for(len(wave), cfg))
    assert np.abs(exact - ref).max() < 1e-4
    # float32 (what runs in practice): FFT rounding is relative to the loudest bin, so the
    # error grows with depth below the peak: < 0.005 dB within 80 dB of it (everything that
    # survives top_db=80), < 0.05 dB down to 110 dB below (seen only with top_db=None).
    single = ours_db(wave, cfg, torch.float32)
    err = np.abs(single - ref)
    depth = ref.max() - ref
    assert err[depth <= 80].max() < 5e-3
    assert err.max() < 5e-2
    assert err.mean() < 1e-4


def test_top_db_clips_per_item_and_batch_equals_single():
    cfg = DEFAULT
    loud = music(cfg, 2.0)
    quiet = 0.01 * music(cfg, 2.0)[::-1].copy()
    batch = torch.from_numpy(np.stack([loud, quiet]))
    out = LogMel(cfg)(batch)
    assert out.shape == (2, cfg.n_mels, frames_for(len(loud), cfg))
    for i, w in enumerate((loud, quiet)):
        single = LogMel(cfg)(torch.from_numpy(w))
        torch.testing.assert_close(out[i : i + 1], single, rtol=0, atol=1e-5)
        db = out[i] * cfg.db_std + cfg.db_mean
        assert float(db.max() - db.min()) <= cfg.top_db + 1e-3  # clipped relative to its own max


def test_log_mel_convenience_and_normalisation():
    wave = music(DEFAULT, 1.0)
    out = log_mel(wave, DEFAULT)
    assert out.dtype == torch.float32 and out.shape == (128, frames_for(16000, DEFAULT)) == (128, 32)
    expect = (torch.from_numpy(librosa_db(wave.astype(np.float64), DEFAULT)).float() + 30.0) / 20.0
    torch.testing.assert_close(out, expect, rtol=0, atol=5e-3 / 20)


def test_silence_and_short_inputs():
    cfg = DEFAULT
    silent = log_mel(np.zeros(8000, np.float32), cfg)
    assert torch.all(silent == silence_value(cfg))
    assert silence_value(cfg) == pytest.approx((-100.0 - cfg.db_mean) / cfg.db_std)
    # Shorter than n_fft // 2 samples: no reflect padding possible, zero padding instead.
    short = log_mel(0.1 * np.ones(300, np.float32), cfg)
    assert short.shape == (128, frames_for(300, cfg)) == (128, 1)
    assert torch.isfinite(short).all()
    with pytest.raises(ValueError):
        LogMel(cfg)(torch.zeros(0))


def test_frames_for_counts_centred_frames():
    for n in (1, 511, 512, 513, 16000, 48000):
        assert frames_for(n, DEFAULT) == 1 + n // 512
        assert LogMel(DEFAULT)(torch.zeros(n)).shape[-1] == frames_for(n, DEFAULT)


def test_filterbank_is_not_saved_in_the_state_dict():
    assert LogMel(DEFAULT).state_dict() == {}
