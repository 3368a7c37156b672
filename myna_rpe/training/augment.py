"""Augmentation of training views, on the normalised log-mel the encoder reads.

Each view of a pair gets its own draw, so the contrastive loss teaches the encoder to
ignore what changes between them (level, colouring, a noise floor, small pitch moves)
and to keep what a track's two chunks share. All of it works on the cached log-mels, so
it costs nothing at decode time:

  * gain  – the whole view louder or softer: a constant in dB, uniform in ±gain_db;
  * EQ    – a smooth colouring: a tilt across the mel axis plus one bell, each up to
            ±eq_db, as a bass or treble shelf and a resonance would add;
  * noise – a noise floor mixed in the power domain (so it fills the quiet bins, not the
            loud ones) at an SNR drawn from [noise_snr_db, noise_snr_db + 20] below the
            view's loudest bin, with exponential (chi-square, 2 d.o.f.) power per bin as
            the spectrum of white noise has;
  * pitch – the mel axis moved by up to ±pitch_bins bins (about a semitone per bin in the
            middle of the 128-bin scale), the vacated bins filled with silence.

Frames past an item's length stay the padding value. Draws come from a generator the
caller seeds per step, so a resumed run augments exactly as the uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from myna_rpe.config import FrontendConfig
from myna_rpe.frontend import silence_value


@dataclass(frozen=True)
class Augment:
    gain_db: float = 0.0
    eq_db: float = 0.0
    noise_snr_db: float | None = None  # None = no noise
    pitch_bins: int = 0

    @property
    def active(self) -> bool:
        return bool(self.gain_db or self.eq_db or self.noise_snr_db is not None or self.pitch_bins)


def augment_views(views: torch.Tensor, lengths: torch.Tensor, aug: Augment, frontend: FrontendConfig,
                  generator: torch.Generator, pad_value: float) -> torch.Tensor:
    """(B, n_mels, L) normalised log-mels -> augmented copies (one draw per item); frames
    past `lengths` are set to `pad_value`."""
    if not aug.active:
        return views
    b, n_mels, length = views.shape
    std, mean = frontend.db_std, frontend.db_mean
    db = views.double() * std + mean  # to dB

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1

    if aug.gain_db:
        db = db + (uniform(b) * aug.gain_db)[:, None, None]
    if aug.eq_db:
        axis = torch.linspace(-1.0, 1.0, n_mels, dtype=torch.float64)
        tilt = uniform(b)[:, None] * aug.eq_db * axis[None, :]
        centre = uniform(b)[:, None]
        width = 0.1 + 0.3 * (uniform(b)[:, None] + 1) / 2
        bell = uniform(b)[:, None] * aug.eq_db * torch.exp(-0.5 * ((axis[None, :] - centre) / width) ** 2)
        db = db + (tilt + bell)[:, :, None]
    if aug.noise_snr_db is not None:
        snr = aug.noise_snr_db + 20.0 * (uniform(b) + 1) / 2
        peak = db.amax(dim=(1, 2))
        level = 10.0 ** ((peak - snr) / 10.0)  # noise power per bin
        noise = -torch.log(torch.rand(db.shape, generator=generator, dtype=torch.float64).clamp_min(1e-12))
        db = 10.0 * torch.log10(10.0 ** (db / 10.0) + noise * level[:, None, None])
    out = ((db - mean) / std).to(views.dtype)
    if aug.pitch_bins:
        silence = silence_value(frontend)
        shifts = torch.randint(-aug.pitch_bins, aug.pitch_bins + 1, (b,), generator=generator)
        for i, k in enumerate(shifts.tolist()):
            if k > 0:  # up: the lowest k bins are vacated
                out[i] = torch.roll(out[i], k, dims=0)
                out[i, :k] = silence
            elif k < 0:
                out[i] = torch.roll(out[i], k, dims=0)
                out[i, k:] = silence
    pad = torch.arange(length)[None, None, :] >= lengths[:, None, None]
    return out.masked_fill(pad, pad_value)


__all__ = ["Augment", "augment_views"]
