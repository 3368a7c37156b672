"""Noise robustness: white or pink noise added to test audio at an exact SNR.

The probe is trained on clean train/valid features; only the test audio gets noise
(`runner` asks `NoisyFeatures` for the test split alone). The noise is scaled so that
10·log10(mean(x²) / mean(n²)) equals the requested SNR over the whole clip, and the
sum is not clipped (it goes to the extractor in memory, never through a file), so the
SNR holds to float32 precision. Each clip's noise is seeded from (seed, kind, SNR, file
name), so a rerun, or another machine, adds the same noise.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

KINDS = ("white", "pink")


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance white noise, or pink noise (power ∝ 1/f) shaped from it in the frequency domain."""
    white = rng.standard_normal(n)
    if kind == "white":
        return white
    if kind != "pink":
        raise ValueError(f"noise kind must be one of {', '.join(KINDS)}, not {kind!r}")
    spectrum = np.fft.rfft(white)
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = np.inf  # no DC
    pink = np.fft.irfft(spectrum / np.sqrt(f), n)
    return pink / max(float(pink.std()), 1e-12)


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """The SNR of `noisy` against `clean`, in dB, computed in float64."""
    clean = np.asarray(clean, dtype=np.float64)
    residual = np.asarray(noisy, dtype=np.float64) - clean
    return float(10 * np.log10(np.mean(clean**2) / np.mean(residual**2)))


def add_noise(wave: np.ndarray, snr: float, kind: str, rng: np.random.Generator) -> np.ndarray:
    """`wave` plus `kind` noise at `snr` dB. A silent clip comes back unchanged (its SNR is undefined)."""
    x = np.asarray(wave, dtype=np.float64)
    power = float(np.mean(x**2)) if len(x) else 0.0
    if power == 0.0:
        return np.asarray(wave, dtype=np.float32)
    n = noise(kind, len(x), rng)
    n *= np.sqrt(power / (np.mean(n**2) * 10.0 ** (snr / 10.0)))
    return (x + n).astype(np.float32)


def clip_seed(seed: int, kind: str, snr: float, name: str) -> int:
    digest = hashlib.sha1(f"{seed}|{kind}|{snr:g}|{name}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


class NoisyFeatures:
    """An extractor's features of the file with noise added first (test audio only)."""

    def __init__(self, base, kind: str, snr: float, seed: int = 0) -> None:
        if kind not in KINDS:
            raise ValueError(f"noise kind must be one of {', '.join(KINDS)}, not {kind!r}")
        self.base, self.kind, self.snr, self.seed = base, kind, float(snr), seed
        self.sample_rate = base.sample_rate
        self.id = f"{base.id}+{kind}{self.snr:g}dB-seed{seed}"

    def __call__(self, path: Path) -> np.ndarray:
        from myna_rpe.audio import load_audio

        wave = load_audio(path, self.sample_rate)
        rng = np.random.default_rng(clip_seed(self.seed, self.kind, self.snr, Path(path).name))
        return self.base.from_wave(add_noise(wave, self.snr, self.kind, rng))
