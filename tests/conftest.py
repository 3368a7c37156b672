"""Shared fixtures: small real audio files written through the project's own encoder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

# No test reaches the Hugging Face hub: huggingface_hub reads this once, when first imported,
# and every CLI subprocess inherits it. Hub tests use a cache they fill themselves (tests/test_hub.py).
os.environ["HF_HUB_OFFLINE"] = "1"

from myna_rpe.audio import write_audio  # noqa: E402
from myna_rpe.synth import TrackSpec, synth_track  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_global_rngs():
    """Every test starts from the same global random state (model initialisation, a bare
    torch.randn), so a test's outcome never depends on which tests ran before it."""
    import random

    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session", autouse=True)
def _no_real_user_config(tmp_path_factory: pytest.TempPathFactory):
    """No test, nor a module or session fixture running before the per-test folder below,
    ever reads or writes the real ~/.config/myna (`myna config`, Spotify tokens)."""
    saved = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg_config_session"))
    yield
    if saved is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = saved


@pytest.fixture(autouse=True)
def _private_user_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test (and every CLI subprocess it starts) gets an empty user config folder of its own."""
    folder = tmp_path_factory.mktemp("xdg_config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    return folder


def sine(freq: float, seconds: float, sample_rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def tone_file(tmp_path: Path) -> Callable[..., Path]:
    """Factory: tone_file(freq=440.0, fmt="wav", seconds=1.0, sample_rate=16000, name=None)
    writes a sine of `freq` Hz as a real `fmt` file under tmp_path and returns its path."""

    def make(
        freq: float = 440.0,
        fmt: str = "wav",
        seconds: float = 1.0,
        sample_rate: int = 16000,
        name: str | None = None,
        amplitude: float = 0.5,
    ) -> Path:
        path = tmp_path / (name or f"tone_{freq:g}hz_{sample_rate}.{fmt}")
        return write_audio(path, sine(freq, seconds, sample_rate, amplitude), sample_rate)

    return make


# Four tracks that differ in every learnable property, 4 s each, in four formats.
SYNTH_SPECS = (
    TrackSpec(tonic=0, mode="major", tempo_bpm=120.0, timbre="bright", loudness_db=-16.0, seed=1),
    TrackSpec(tonic=9, mode="minor", tempo_bpm=90.0, timbre="mellow", loudness_db=-22.0, seed=2),
    TrackSpec(tonic=7, mode="major", tempo_bpm=150.0, timbre="square", loudness_db=-18.0, seed=3),
    TrackSpec(tonic=2, mode="minor", tempo_bpm=75.0, timbre="sine", loudness_db=-20.0, seed=4),
)


@pytest.fixture(scope="session")
def synth_tracks(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, TrackSpec]]:
    """(path, spec) for SYNTH_SPECS written once per session as mp3, flac, ogg and m4a."""
    root = tmp_path_factory.mktemp("synth_tracks")
    out = []
    for spec, fmt in zip(SYNTH_SPECS, ("mp3", "flac", "ogg", "m4a")):
        path = root / f"{spec.key.replace(' ', '_')}_{spec.timbre}.{fmt}"
        out.append((write_audio(path, synth_track(spec, 4.0), 16000), spec))
    return out
