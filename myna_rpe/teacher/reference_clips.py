"""The clips on which the PyTorch MusiCNN is checked against the original (numpy only).

`scripts/convert_musicnn.py` runs the original TensorFlow model on them and commits its outputs
as `tests/fixtures/musicnn_reference.npz`; the tests rebuild the same clips and run the port.
numpy's PCG64 stream is stable across platforms and versions, so the clips are too.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
SECONDS = 6.5  # two whole 3-s patches and a dropped tail


def reference_clips() -> dict[str, np.ndarray]:
    """Four 16-kHz mono clips: chords, a drum-like pattern, noise bursts, a glide with harmonics."""
    rng = np.random.default_rng(20261205)
    n = int(SECONDS * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    clips = {}
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63, 440.0))
    clips["chords"] = 0.2 * chord * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    beat = np.zeros(n)
    for start in range(0, n, SAMPLE_RATE // 4):
        length = min(1600, n - start)
        env = np.exp(-np.arange(length) / 300.0)
        beat[start : start + length] += env * (np.sin(2 * np.pi * 60 * t[:length]) + 0.3 * rng.standard_normal(length))
    clips["beat"] = 0.5 * beat
    bursts = rng.standard_normal(n) * (np.sin(2 * np.pi * 1.3 * t) > 0.3)
    clips["bursts"] = 0.1 * bursts
    f0 = 110.0 * 2 ** (t / SECONDS * 3)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    clips["glide"] = 0.3 * sum(np.sin(k * phase) / k for k in range(1, 8))
    return {k: v.astype(np.float32) for k, v in clips.items()}
