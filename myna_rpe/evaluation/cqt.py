"""A pitch-keeping hand-crafted baseline: constant-Q spectrum and chroma statistics.

MFCCs summarise the spectral envelope and throw the pitch away, so on NSynth and
TinySOL pitch they are a weak reference; the hand-crafted features that papers find hard
to beat there keep a log-frequency axis. This is that baseline, in numpy:

- constant-Q magnitudes (Brown 1991; the spectral-kernel form of Brown & Puckette 1992):
  one bin per semitone from C1 (MIDI 24, 32.7 Hz) to B7 (MIDI 107), each bin a
  Hann-windowed complex exponential of Q = 1/(2^(1/12) - 1) cycles, applied in the
  frequency domain to frames of 16,384 samples every `hop` samples;
- chroma: the constant-Q energy folded onto the 12 pitch classes, each frame scaled to
  a maximum of 1 (as chroma_cqt does in librosa);
- statistics: mean and standard deviation over time of log(1e-4 + |CQT|) and of the
  chroma: 2 x 84 + 2 x 12 = 192 values.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

MIDI_LO, N_BINS = 24, 84
Q = 1.0 / (2.0 ** (1.0 / 12.0) - 1.0)
FRAME = 16384


def bin_frequencies() -> np.ndarray:
    return 440.0 * 2.0 ** ((np.arange(MIDI_LO, MIDI_LO + N_BINS) - 69) / 12.0)


@lru_cache(maxsize=4)
def spectral_kernel(sample_rate: int):
    """Sparse (N_BINS, FFT bins) complex: conj(FFT of each bin's temporal kernel) / FRAME, with
    each bin's entries below 1e-3 of its peak set to zero (the spectral kernel is narrow: a
    few hundred non-zeros per bin instead of thousands)."""
    from scipy.sparse import csr_matrix

    kernels = np.zeros((N_BINS, FRAME), dtype=np.complex128)
    for k, f in enumerate(bin_frequencies()):
        n = min(FRAME, int(np.ceil(Q * sample_rate / f)))
        t = np.arange(n)
        start = (FRAME - n) // 2  # centred, so every bin looks at the same instant
        kernels[k, start : start + n] = np.hanning(n) / n * np.exp(2j * np.pi * Q * t / n)
    # The kernels are analytic (energy at +f only), so the half spectrum of a real frame suffices;
    # FFT bins where every kernel is negligible (above B7's band) are dropped from the product.
    half = np.conj(np.fft.fft(kernels, axis=1))[:, : FRAME // 2 + 1] / FRAME
    magnitude = np.abs(half)
    half[magnitude < 1e-3 * magnitude.max(axis=1, keepdims=True)] = 0
    return csr_matrix(half.astype(np.complex64))


def cqt_magnitude(wave: np.ndarray, sample_rate: int, hop: int = 512) -> np.ndarray:
    """(N_BINS, frames) constant-Q magnitudes; frames centred every `hop` samples."""
    wave = np.asarray(wave, dtype=np.float32)
    if len(wave) == 0:
        return np.zeros((N_BINS, 1), dtype=np.float32)
    padded = np.pad(wave, (FRAME // 2, FRAME // 2))
    starts = np.arange(0, len(wave), hop)
    kernel = spectral_kernel(sample_rate)
    out = np.empty((N_BINS, len(starts)), dtype=np.float32)
    for b in range(0, len(starts), 64):  # 64 frames at a time bound the memory
        idx = starts[b : b + 64, None] + np.arange(FRAME)[None, :]
        spectrum = np.fft.rfft(padded[idx], axis=1).astype(np.complex64)
        out[:, b : b + 64] = np.abs(kernel @ spectrum.T)
    return out


def chroma(cqt: np.ndarray) -> np.ndarray:
    """(12, frames) energy per pitch class (row 0 = C), each frame scaled to max 1."""
    energy = cqt.astype(np.float64) ** 2
    classes = (np.arange(MIDI_LO, MIDI_LO + N_BINS)) % 12
    folded = np.stack([energy[classes == c].sum(axis=0) for c in range(12)])
    return folded / np.maximum(folded.max(axis=0, keepdims=True), 1e-12)


def cqt_stats(wave: np.ndarray, sample_rate: int, hop: int = 512) -> np.ndarray:
    mag = cqt_magnitude(wave, sample_rate, hop)
    log_cqt = np.log(1e-4 + mag.astype(np.float64))
    ch = chroma(mag)
    return np.concatenate([log_cqt.mean(1), log_cqt.std(1), ch.mean(1), ch.std(1)]).astype(np.float32)


@dataclass(frozen=True)
class CqtFeatures:
    """`--model cqt`: constant-Q and chroma statistics (192 values)."""

    sample_rate: int = 16000
    hop: int = 512

    @property
    def id(self) -> str:
        digest = hashlib.sha1(f"{self.sample_rate}-{self.hop}-{MIDI_LO}-{N_BINS}-{FRAME}".encode()).hexdigest()[:8]
        return f"cqt{N_BINS}-chroma-{digest}"

    def __call__(self, path: Path) -> np.ndarray:
        from myna_rpe.audio import load_audio

        return self.from_wave(load_audio(path, self.sample_rate))

    def from_wave(self, wave: np.ndarray) -> np.ndarray:
        return cqt_stats(wave, self.sample_rate, self.hop)
