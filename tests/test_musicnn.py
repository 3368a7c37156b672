"""The PyTorch MusiCNN against the original TensorFlow model's outputs (tests/fixtures/musicnn_reference.npz,
written by scripts/convert_musicnn.py from the `musicnn` wheel; no TensorFlow needed here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from myna_rpe.teacher.musicnn import (
    LAYERS, PATCH_FRAMES, load_teacher, musicnn_mel, patches, teacher_outputs,
)  # fmt: skip
from myna_rpe.teacher.reference_clips import reference_clips

FIXTURE = np.load(Path(__file__).parent / "fixtures" / "musicnn_reference.npz")
MODELS = {"musicnn-msd": "MSD_musicnn", "musicnn-mtt": "MTT_musicnn"}


@pytest.fixture(scope="module")
def clips():
    return reference_clips()


def _close(mine: np.ndarray, ref: np.ndarray) -> float:
    """Largest difference relative to the layer's scale (1 for the tag probabilities)."""
    return float(np.abs(mine - ref).max() / max(1.0, np.abs(ref).max()))


@pytest.mark.parametrize("teacher", MODELS)
def test_network_equals_the_original_on_its_own_input(teacher, clips):
    model = load_teacher(teacher)
    for clip in clips:
        mel16 = FIXTURE[f"mel16/{clip}"].astype(np.float32)
        x = torch.from_numpy(np.log10(10000 * mel16 + 1))
        with torch.no_grad():
            out = model(patches(x))
        for layer in LAYERS:
            ref = FIXTURE[f"{MODELS[teacher]}/{clip}/{layer}"]
            assert out.layer(layer).shape == ref.shape
            assert _close(out.layer(layer).numpy(), ref) < 1e-5, (clip, layer)


@pytest.mark.parametrize("teacher", MODELS)
def test_wave_to_outputs_equals_the_original(teacher, clips):
    """Frontend included: the float16 rounding of the mel flips a few bins by one step (the
    original is as sensitive to its own STFT's last bits), which stays well inside 1e-4."""
    model = load_teacher(teacher)
    for clip, wave in clips.items():
        out = teacher_outputs(model, wave)
        for layer in LAYERS:
            ref = FIXTURE[f"{MODELS[teacher]}/{clip}/{layer}"]
            assert _close(out.layer(layer).numpy(), ref) < 1e-4, (clip, layer)


def test_frontend_matches_the_original_mel(clips):
    for clip, wave in clips.items():
        ref16 = FIXTURE[f"mel16/{clip}"]
        mine = musicnn_mel(wave).numpy()
        ref = np.log10(10000 * ref16.astype(np.float32) + 1)
        assert mine.shape == ref.shape == (1 + len(wave) // 256, 96)
        differ = np.abs(mine - ref) > 1e-5
        assert differ.mean() < 0.005, clip
        # where they differ, by one float16 step of the mel at most
        step = np.spacing(np.maximum(ref16[differ], np.float16(6e-5)).astype(np.float16)).astype(np.float32)
        assert np.all(np.abs(10 ** mine[differ] - 10 ** ref[differ]) <= 10000 * step * 1.01 + 1e-3)


def test_patches_are_whole_3_second_windows_and_short_waves_have_none():
    model = load_teacher("musicnn-msd")
    wave = np.zeros(int(2.9 * 16000), dtype=np.float32)
    out = teacher_outputs(model, wave)
    assert out.max_pool.shape == (0, 753) and out.taggram.shape == (0, 50)
    assert patches(torch.zeros(3 * PATCH_FRAMES - 1, 96)).shape == (2, PATCH_FRAMES, 96)


def test_unknown_teacher_is_one_clear_error():
    from myna_rpe.errors import CheckpointError

    with pytest.raises(CheckpointError, match="musicnn-msd"):
        load_teacher("musicnn-xyz")
