"""Sound statistics of a whole track, read from the log-mel the encoder reads.

A library searches the encoder's vector beside these (playlist/library/track_vectors.py):
timbre as MFCC statistics and tonality as a pitch-class profile. Measured on the 13 held-out
games (docs/default_model.md, "Sound statistics beside the model's vector"), the pair keeps
same-game retrieval, raises playlist continuation for every trained model, and carries the
key information the contrastive encoder loses. Computed from the log-mel already made for the
encoder, so they cost no second decode or STFT:

- 20 MFCCs (type-II orthonormal DCT of the log-mel) with their first and second differences,
  mean and standard deviation over time: 120 values;
- chroma: the mel bands' power folded onto the 12 pitch classes (each band's triangle shared
  among the semitones it covers, bands centred 250 Hz - 4 kHz, where 128 mel bands at 16 kHz
  are narrower than a semitone's spacing or close to it), each frame scaled to a maximum of 1,
  mean and standard deviation over time: 24 values.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.fft import dct

from myna_rpe.config import FrontendConfig

ID = "mfcc120-melchroma24-v1"  # recorded with a library's model: a change here re-embeds libraries
DIM = 144
N_MFCC = 20
CHROMA_BAND = (250.0, 4000.0)  # Hz, band centres


def _array(mel) -> np.ndarray:
    return np.asarray(mel.detach().cpu().numpy() if hasattr(mel, "detach") else mel, dtype=np.float64)


def mfcc_stats_of_mel(mel, n_mfcc: int = N_MFCC) -> np.ndarray:
    """MFCCs and their differences, mean and std over time, from a normalised log-mel (n_mels, T)."""
    mel = _array(mel)
    mfcc = dct(mel, type=2, norm="ortho", axis=0)[:n_mfcc]
    rows = [mfcc]
    for _ in range(2):
        prev = rows[-1]
        rows.append(np.gradient(prev, axis=1) if prev.shape[1] > 1 else np.zeros_like(prev))
    stacked = np.concatenate(rows, axis=0)
    return np.concatenate([stacked.mean(axis=1), stacked.std(axis=1)]).astype(np.float32)


@lru_cache(maxsize=4)
def chroma_weights(frontend: FrontendConfig) -> np.ndarray:
    """(12, n_mels): how much of each mel band's power goes to each pitch class (row 0 = C)."""
    import torch

    from myna_rpe.frontend import mel_filterbank

    fb = mel_filterbank(frontend, dtype=torch.float64).numpy()
    freqs = np.linspace(0.0, frontend.sample_rate / 2, frontend.n_fft // 2 + 1)
    weights = np.zeros((12, fb.shape[0]))
    lo, hi = CHROMA_BAND
    for band, row in enumerate(fb):
        if not lo <= freqs[row.argmax()] <= hi:
            continue
        covered = (row > 0) & (freqs > 0)
        classes = np.round(69 + 12 * np.log2(freqs[covered] / 440.0)).astype(int) % 12
        np.add.at(weights[:, band], classes, row[covered])
        weights[:, band] /= weights[:, band].sum()
    return weights


def chroma_stats_of_mel(mel, frontend: FrontendConfig) -> np.ndarray:
    """Pitch-class profile mean and std over time (24 values) from a normalised log-mel."""
    power = 10.0 ** ((_array(mel) * frontend.db_std + frontend.db_mean) / 10.0)
    chroma = chroma_weights(frontend) @ power
    chroma /= np.maximum(chroma.max(axis=0, keepdims=True), 1e-12)
    return np.concatenate([chroma.mean(axis=1), chroma.std(axis=1)]).astype(np.float32)


def track_stats(mel, frontend: FrontendConfig) -> np.ndarray:
    """(DIM,) float32 statistics of one track's normalised log-mel (n_mels, T)."""
    return np.concatenate([mfcc_stats_of_mel(mel), chroma_stats_of_mel(mel, frontend)])


REFERENCE = Path(__file__).parent / "data" / "track_stats" / "reference.json"


@lru_cache(maxsize=1)
def reference() -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of the statistics over the bundled model's training tracks
    (scripts/track_stats_reference.py): a fixed standardisation, so stored values have sane sizes."""
    doc = json.loads(REFERENCE.read_text())
    if doc.get("id") != ID or len(doc["mean"]) != DIM or len(doc["std"]) != DIM:
        raise RuntimeError(f"{REFERENCE} holds statistics {doc.get('id')!r}, not {ID!r}: run scripts/track_stats_reference.py")
    return np.asarray(doc["mean"], np.float32), np.maximum(np.asarray(doc["std"], np.float32), 1e-6)
