"""Training-view augmentation on the log-mel: what each switch does, seeded, padding kept."""

from __future__ import annotations

import pytest
import torch

from myna_rpe.config import FrontendConfig
from myna_rpe.frontend import silence_value
from myna_rpe.training.augment import Augment, augment_views

CFG = FrontendConfig()
PAD = silence_value(CFG)


def views(seed: int = 0, b: int = 4, length: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(b, 128, length, generator=torch.Generator().manual_seed(seed)) * 0.3
    lengths = torch.tensor([length, length, 40, 10][:b])
    x = x.masked_fill(torch.arange(length)[None, None, :] >= lengths[:, None, None], PAD)
    return x, lengths


def run(x, lengths, aug: Augment, seed: int = 1) -> torch.Tensor:
    return augment_views(x, lengths, aug, CFG, torch.Generator().manual_seed(seed), PAD)


def test_off_is_the_identity() -> None:
    x, n = views()
    assert torch.equal(run(x, n, Augment()), x)


def test_gain_is_one_level_per_view_within_range_and_padding_stays() -> None:
    x, n = views()
    y = run(x, n, Augment(gain_db=6.0))
    for i in range(4):
        shift = (y[i, :, : n[i]] - x[i, :, : n[i]]) * CFG.db_std  # in dB
        assert torch.allclose(shift, shift.flatten()[0].expand_as(shift), atol=1e-4)
        assert 0 < abs(float(shift.flatten()[0])) <= 6.0
        assert torch.all(y[i, :, n[i]:] == PAD)
    assert len({round(float(((y[i] - x[i]) * CFG.db_std)[0, 0]), 4) for i in range(2)}) == 2  # own draw per view


def test_draws_are_seeded() -> None:
    x, n = views()
    aug = Augment(gain_db=6, eq_db=6, noise_snr_db=20, pitch_bins=2)
    assert torch.equal(run(x, n, aug, seed=3), run(x, n, aug, seed=3))
    assert not torch.equal(run(x, n, aug, seed=3), run(x, n, aug, seed=4))


def test_eq_colours_the_mel_axis_smoothly() -> None:
    x, n = views()
    d = (run(x, n, Augment(eq_db=6.0)) - x)[0, :, 0] * CFG.db_std  # one frame, across the mel axis
    assert d.abs().max() <= 12.0 + 1e-6 and d.abs().max() > 0.1
    assert (d[1:] - d[:-1]).abs().max() < 1.0  # smooth: < 1 dB between neighbouring bins


def test_noise_fills_quiet_bins_and_leaves_loud_ones() -> None:
    quiet = (-90.0 - CFG.db_mean) / CFG.db_std
    loud = (-10.0 - CFG.db_mean) / CFG.db_std
    x = torch.full((1, 128, 32), quiet)
    x[:, 60] = loud
    y = run(x, torch.tensor([32]), Augment(noise_snr_db=30.0))
    db = y * CFG.db_std + CFG.db_mean
    assert float(db[0, 60].sub(-10.0).abs().max()) < 0.1  # 30-50 dB above the floor: untouched
    floor = db[0, 0].mean()
    assert -60.0 - 2 <= float(floor) <= -40.0 + 2  # noise floor 30-50 dB below the -10 dB peak


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_pitch_moves_the_mel_axis_and_fills_with_silence(seed: int) -> None:
    x = torch.full((1, 128, 8), PAD)
    x[:, 64] = 1.0
    y = run(x, torch.tensor([8]), Augment(pitch_bins=3), seed=seed)
    row = int(y[0, :, 0].argmax())
    assert abs(row - 64) <= 3 and torch.all(y[0, row] == 1.0)
    assert int((y[0, :, 0] == 1.0).sum()) == 1
