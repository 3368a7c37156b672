"""Waveform -> normalised log-mel spectrogram, in plain torch.

    power  = |STFT(wave)|^2            hann window (periodic), n_fft, hop, centred, reflect pad
    mel    = M @ power                 M: Slaney mel scale, Slaney area normalisation
    dB     = 10 log10(max(mel, 1e-10))
    dB     = max(dB, max(dB) - top_db)  per item, when top_db is set
    out    = (dB - db_mean) / db_std

This is the convention of librosa's `melspectrogram(..., pad_mode="reflect")` followed by
`power_to_db(ref=1.0, amin=1e-10, top_db=...)`, which the tests check against. A wave of
S samples gives T = 1 + S // hop_length frames.

Short inputs: reflect padding needs more than n_fft // 2 samples, so shorter waves are
zero-padded instead (same frame count). The encoder pads clips shorter than one 16-frame
patch (~0.5 s at the defaults) with `silence_value(cfg)` up to one patch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from myna_rpe.config import FrontendConfig

AMIN = 1e-10  # power floor before the log: digital silence is -100 dB


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear (200/3 Hz per mel) below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    lin = f / f_sp
    log = min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log, lin)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    lin = m * f_sp
    log = min_log_hz * np.exp(logstep * (np.maximum(m, min_log_mel) - min_log_mel))
    return np.where(m >= min_log_mel, log, lin)


def mel_filterbank(cfg: FrontendConfig, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangles spaced evenly on the mel scale, each of unit area
    in Hz (height 2 / bandwidth), so a band's output does not grow with its width."""
    f_max = cfg.f_max if cfg.f_max is not None else cfg.sample_rate / 2
    if not 0 <= cfg.f_min < f_max <= cfg.sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2, got {cfg.f_min}, {f_max}")
    bins = np.linspace(0.0, cfg.sample_rate / 2, cfg.n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(cfg.f_min), hz_to_mel(f_max), cfg.n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lo) / (mid - lo)
    falling = (hi - bins) / (hi - mid)
    weights = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (hi - lo))
    return torch.from_numpy(weights).to(dtype)


def frames_for(num_samples: int, cfg: FrontendConfig) -> int:
    """Number of frames LogMel makes from `num_samples` samples (centred STFT)."""
    return 1 + num_samples // cfg.hop_length


def silence_value(cfg: FrontendConfig) -> float:
    """The normalised value of digital silence (power 0 -> -100 dB), used for padding."""
    return (10.0 * math.log10(AMIN) - cfg.db_mean) / cfg.db_std


class LogMel(nn.Module):
    """wave (S,) or (B, S) float tensor -> (B, n_mels, T) normalised log-mel.

    Computes in the input's floating dtype (float32 normally; float64 works too).
    The window and filterbank are derived from the config, so they are not saved
    in checkpoints (non-persistent buffers).
    """

    def __init__(self, cfg: FrontendConfig):
        super().__init__()
        self.cfg = cfg
        # Built in float64 and cast per call: a float32 cosine window alone moves quiet
        # bins by ~1e-4 dB against a float64 reference.
        window = torch.hann_window(cfg.n_fft, periodic=True, dtype=torch.float64)
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("fb", mel_filterbank(cfg, dtype=torch.float64), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.dim() == 1:
            wave = wave.unsqueeze(0)
        if wave.dim() != 2 or wave.shape[-1] == 0:
            raise ValueError(f"expected a (S,) or (B, S) wave with S > 0, got {tuple(wave.shape)}")
        if not wave.is_floating_point():
            wave = wave.float()
        pad = self.cfg.n_fft // 2
        mode = "reflect" if wave.shape[-1] > pad else "constant"
        x = torch.nn.functional.pad(wave.unsqueeze(1), (pad, pad), mode=mode).squeeze(1)
        return self.normalise(self.decibels(x))

    def decibels(self, padded: torch.Tensor) -> torch.Tensor:
        """(B, S + n_fft) already padded wave -> (B, n_mels, 1 + S // hop) mel power in dB."""
        cfg = self.cfg
        spec = torch.stft(
            padded,
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            window=self.window.to(padded.dtype),
            center=False,
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()  # (B, F, T)
        mel = torch.matmul(self.fb.to(padded.dtype), power)  # (B, n_mels, T)
        return 10.0 * torch.log10(torch.clamp(mel, min=AMIN))

    def normalise(self, db: torch.Tensor) -> torch.Tensor:
        """The top_db floor (per item, over all of it) and the fixed standardisation."""
        cfg = self.cfg
        if cfg.top_db is not None:
            floor = db.amax(dim=(1, 2), keepdim=True) - cfg.top_db
            db = torch.maximum(db, floor)
        return (db - cfg.db_mean) / cfg.db_std


def log_mel_stream(pieces: Iterable[np.ndarray], cfg: FrontendConfig, block_frames: int = 2048) -> tuple[torch.Tensor, int]:
    """(log-mel (n_mels, T), samples) of a wave given as consecutive pieces.

    Equals `log_mel(np.concatenate(pieces), cfg)` (to float rounding) while holding only
    about `block_frames` frames of wave and STFT at a time, plus the log-mel itself: a
    60-min file needs ~60 MB here instead of ~3 GB for the whole wave and its spectrum.
    """
    frontend = _cached_logmel(cfg)
    pad, hop = cfg.n_fft // 2, cfg.hop_length
    need = (block_frames - 1) * hop + cfg.n_fft  # padded samples for one block of frames
    pending: list[np.ndarray] = []
    pending_len = 0
    head: np.ndarray | None = None  # the wave's first samples until streaming starts
    blocks: list[torch.Tensor] = []
    last = np.zeros(0, dtype=np.float32)  # the wave's final samples, for the reflected tail
    total = 0

    def run(buf: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            return frontend.decibels(torch.from_numpy(buf)[None])[0]

    for piece in pieces:
        piece = np.asarray(piece, dtype=np.float32).reshape(-1)
        if not len(piece):
            continue
        total += len(piece)
        last = np.concatenate((last[-(pad + 1):], piece[-(pad + 1):]))
        pending.append(piece)
        pending_len += len(piece)
        if head is None:
            if pending_len < need + pad:  # too short to know yet; short waves take the plain path
                continue
            wave = np.concatenate(pending)
            head = wave[1 : pad + 1][::-1]  # reflect padding, as in LogMel.forward
            pending, pending_len = [head, wave], len(head) + len(wave)
        if pending_len >= need:
            buf = np.concatenate(pending)
            n = 1 + (len(buf) - cfg.n_fft) // hop
            blocks.append(run(buf[: (n - 1) * hop + cfg.n_fft]))
            rest = buf[n * hop :]
            pending, pending_len = [rest], len(rest)
    if total == 0:
        raise ValueError("expected a wave with S > 0 samples, got none")
    if head is None:
        return log_mel(np.concatenate(pending), cfg), total
    tail = last[-(pad + 1) : -1][::-1]
    buf = np.concatenate([*pending, tail])
    if len(buf) >= cfg.n_fft:
        blocks.append(run(buf))
    db = torch.cat(blocks, dim=-1)
    with torch.no_grad():
        return frontend.normalise(db[None])[0], total


def log_mel(wave: np.ndarray, cfg: FrontendConfig) -> torch.Tensor:
    """Convenience: a numpy wave (S,) -> (n_mels, T) normalised log-mel tensor (float32)."""
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    with torch.no_grad():
        return _cached_logmel(cfg)(x)[0]


@functools.lru_cache(maxsize=4)
def _cached_logmel(cfg: FrontendConfig) -> LogMel:
    return LogMel(cfg)


__all__ = ["LogMel", "log_mel", "log_mel_stream", "mel_filterbank", "frames_for", "silence_value", "hz_to_mel", "mel_to_hz"]
