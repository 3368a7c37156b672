"""Synthetic tracks: deterministic, and the properties they claim are really in the audio."""

from __future__ import annotations

from dataclasses import replace

import librosa
import mutagen
import numpy as np
import pytest
import torch

from myna_rpe.audio import load_audio
from myna_rpe.config import FrontendConfig
from myna_rpe.frontend import LogMel
from myna_rpe.synth import TIMBRES, TrackSpec, make_library, synth_track

SR = 16000
BASE = TrackSpec(tonic=9, mode="minor", tempo_bpm=100.0, timbre="square", loudness_db=-20.0, seed=5)

# Krumhansl-Kessler key profiles: a standard, independent key estimator for the check.
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def estimate_key(x: np.ndarray) -> tuple[int, str]:
    chroma = librosa.feature.chroma_stft(y=x, sr=SR, n_fft=4096).sum(axis=1)
    scores = [
        (np.corrcoef(chroma, np.roll(profile, tonic))[0, 1], tonic, mode)
        for mode, profile in (("major", MAJOR), ("minor", MINOR))
        for tonic in range(12)
    ]
    return max(scores)[1:]


def estimate_beat_period(x: np.ndarray) -> float:
    """Seconds between onsets: autocorrelation of log-mel spectral flux (8 ms frames)."""
    cfg = FrontendConfig(hop_length=128, n_fft=1024, n_mels=64, top_db=None)
    mel = LogMel(cfg)(torch.from_numpy(x))[0]
    flux = torch.relu(mel.diff(dim=1)).sum(0).numpy()
    flux -= flux.mean()
    ac = np.correlate(flux, flux, "full")[len(flux) - 1 :]
    fps = SR / cfg.hop_length
    lo, hi = int(0.3 * fps), int(1.0 * fps)  # 60..200 bpm
    return (lo + int(np.argmax(ac[lo:hi]))) / fps


def test_same_spec_same_audio_and_seed_matters():
    a = synth_track(BASE, 3.0)
    np.testing.assert_array_equal(a, synth_track(BASE, 3.0))
    assert not np.allclose(a, synth_track(replace(BASE, seed=6), 3.0))
    assert a.dtype == np.float32 and a.shape == (3 * SR,)
    assert np.abs(a).max() <= 1.0


def test_int_seed_form_with_overrides():
    x = synth_track(7, 2.0, key=2, mode="major", tempo=90.0, timbre="mellow")
    spec = replace(TrackSpec.random(np.random.default_rng(7)), tonic=2, mode="major", tempo_bpm=90.0, timbre="mellow")
    np.testing.assert_array_equal(x, synth_track(spec, 2.0))


def test_loudness_is_the_rms_level():
    for db in (-30.0, -20.0, -14.0):
        x = synth_track(replace(BASE, loudness_db=db), 4.0).astype(np.float64)
        assert 20 * np.log10(np.sqrt(np.mean(x**2))) == pytest.approx(db, abs=0.2)


def test_chunks_of_one_track_differ_but_share_the_key():
    x = synth_track(BASE, 40.0)
    a, b = x[2 * SR : 12 * SR], x[26 * SR : 36 * SR]
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.5
    assert estimate_key(a) == estimate_key(b) == (BASE.tonic, BASE.mode)


def test_key_and_mode_are_recoverable_from_the_audio():
    rng = np.random.default_rng(2024)
    specs = [TrackSpec.random(rng) for _ in range(12)]
    # 12 s is 4+ bars even at 70 bpm; a 2-bar excerpt (I-vi...) can be honestly ambiguous.
    hits = sum(estimate_key(synth_track(s, 12.0)) == (s.tonic, s.mode) for s in specs)
    assert hits >= 11, hits


@pytest.mark.parametrize("bpm", (75.0, 100.0, 128.0, 150.0))
def test_tempo_is_the_onset_rate(bpm):
    x = synth_track(replace(BASE, tempo_bpm=bpm), 8.0)
    period = estimate_beat_period(x)
    beat = 60.0 / bpm
    # The strongest onset period is the beat, or the half/double beat (8th hats, kick on 1 and 3).
    assert min(abs(period / (beat * m) - 1) for m in (0.5, 1.0, 2.0)) < 0.04, (period, beat)


def test_timbres_differ_in_brightness():
    def centroid(timbre: str) -> float:
        x = synth_track(replace(BASE, timbre=timbre), 4.0)
        return float(librosa.feature.spectral_centroid(y=x, sr=SR).mean())

    c = {t: centroid(t) for t in TIMBRES}
    assert c["bright"] > c["square"] > c["mellow"] > c["sine"], c


def test_spec_validation():
    with pytest.raises(ValueError):
        replace(BASE, tonic=12)
    with pytest.raises(ValueError):
        replace(BASE, mode="dorian")
    with pytest.raises(ValueError):
        replace(BASE, timbre="kazoo")
    with pytest.raises(ValueError):
        synth_track(BASE, 0.0)


def test_make_library_writes_tagged_nested_files(tmp_path):
    items = make_library(tmp_path, 5, seed=3, duration=(1.0, 2.0))
    assert len(items) == 5
    assert [p.suffix for p, _ in items] == [".mp3", ".flac", ".ogg", ".m4a", ".mp3"]
    again = make_library(tmp_path / "again", 5, seed=3, duration=(1.0, 2.0))
    assert [s for _, s in items] == [s for _, s in again]
    for path, spec in items:
        assert path.is_file() and path.relative_to(tmp_path).parts[1] == spec.key
        x = load_audio(path)
        assert 0.9 * SR < len(x) < 2.2 * SR
        tags = mutagen.File(path, easy=True)
        assert tags["album"] == [spec.key]
        assert tags["title"][0] in path.stem
        assert tags["tracknumber"][0].isdigit()
    assert any(not p.name.isascii() for p, _ in make_library(tmp_path / "u", 12, seed=0, duration=(0.5, 0.6)))


def test_make_library_flat_untagged(tmp_path):
    items = make_library(tmp_path, 2, seed=1, formats=("wav", "opus"), duration=(0.5, 1.0), nested=False, tags=False)
    assert [p.parent for p, _ in items] == [tmp_path, tmp_path]
    assert [p.suffix for p, _ in items] == [".wav", ".opus"]
    assert all(len(load_audio(p)) > 0 for p, _ in items)


def test_session_synth_tracks_fixture(synth_tracks):
    assert len({spec.timbre for _, spec in synth_tracks}) == 4
    for path, spec in synth_tracks:
        assert len(load_audio(path)) == pytest.approx(4 * SR, rel=0.05)
