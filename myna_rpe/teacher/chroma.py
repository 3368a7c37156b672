"""A tonal teacher: the pitch-class profile (chroma) of each 3-s patch.

MusiCNN is key-blind (issue 24), and contrastive training loses key too; a student that also
predicts each view's chroma has to keep, linearly, the pitch classes a key is read from.
Computed from the audio, not learned: a 4096-point STFT at 16 kHz (3.9 Hz per bin), the power
of the bins from 55 Hz to 4.2 kHz summed into the 12 pitch classes (A4 = 440 Hz), each frame
scaled so that its strongest class is 1, then averaged over the patch. Patches are MusiCNN's
(`musicnn.PATCH_SECONDS`, non-overlapping, the tail dropped), so `targets.view_target` reads
both teachers the same way.
"""

from __future__ import annotations

import numpy as np

from myna_rpe.teacher.musicnn import HOP, PATCH_FRAMES, SAMPLE_RATE

N_FFT = 4096
FRAME_HOP = 1024
F_MIN, F_MAX = 55.0, 4200.0
DIM = 12


def _class_of_bins() -> tuple[np.ndarray, np.ndarray]:
    """(bins used, their pitch class 0 = C ... 11 = B)."""
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    bins = np.flatnonzero((freqs >= F_MIN) & (freqs <= F_MAX))
    midi = 69 + 12 * np.log2(freqs[bins] / 440.0)
    return bins, np.round(midi).astype(int) % 12


def patch_chroma(wave: np.ndarray, stride: int = 1) -> np.ndarray:
    """(P, 12) float32 chroma of the 16-kHz mono `wave`'s 3-s patches 0, stride, 2·stride, ...
    (P = 0 for a wave under 3 s); a silent patch is all zeros."""
    wave = np.asarray(wave, dtype=np.float32)
    patch = PATCH_FRAMES * HOP
    count = (1 + len(wave) // HOP) // PATCH_FRAMES
    bins, classes = _class_of_bins()
    window = np.hanning(N_FFT).astype(np.float32)
    out = np.zeros((len(range(0, count, stride)), DIM), np.float32)
    for row, k in enumerate(range(0, count, stride)):
        piece = wave[k * patch:(k + 1) * patch]
        piece = np.pad(piece, (0, max(0, N_FFT - len(piece))))
        starts = np.arange(0, len(piece) - N_FFT + 1, FRAME_HOP)
        frames = piece[starts[:, None] + np.arange(N_FFT)] * window
        power = np.abs(np.fft.rfft(frames, axis=1))[:, bins] ** 2
        chroma = np.zeros((len(starts), DIM))
        np.add.at(chroma.T, classes, power.T)
        peak = chroma.max(axis=1, keepdims=True)
        chroma = np.divide(chroma, peak, out=np.zeros_like(chroma), where=peak > 1e-10)
        out[row] = chroma.mean(axis=0)
    return out
