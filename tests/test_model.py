"""The encoder: positional schemes follow their formulas, attention is exact, any length runs."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from myna_rpe import attention as attention_mod
from myna_rpe.config import PE_PRESETS, ModelConfig, PositionalConfig
from myna_rpe.model import MynaEncoder
from myna_rpe.positional import AlibiBias, Coords, Rope, alibi_slopes

RELATIVE = ["alibi2d", "alibi1d", "rope2d", "rope1d", "none"]


def coords(t, f, cls_first=True):
    t = torch.tensor([t], dtype=torch.float32)
    f = torch.tensor([f], dtype=torch.float32)
    is_cls = torch.zeros_like(t, dtype=torch.bool)
    if cls_first:
        is_cls[:, 0] = True
    return Coords(t, f, is_cls, torch.ones_like(is_cls))


def tiny(pe: str, **kw) -> MynaEncoder:
    torch.manual_seed(0)
    return MynaEncoder(ModelConfig.from_preset("tiny", pe, **kw)).eval()


def test_standard_alibi_slopes():
    assert torch.allclose(alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)]))
    assert torch.allclose(alibi_slopes(4), torch.tensor([2.0 ** -(2 * (i + 1)) for i in range(4)]))
    six = alibi_slopes(6)  # not a power of two: the 4-head slopes then every other 8-head slope
    assert torch.allclose(six, torch.tensor([1 / 4, 1 / 16, 1 / 64, 1 / 256, 1 / 2, 1 / 8]))


@pytest.mark.parametrize("two_d", [True, False])
def test_alibi_bias_equals_formula(two_d):
    cfg = PositionalConfig(alibi2d=two_d, alibi1d=not two_d, alibi_time_weight=1.5, alibi_freq_weight=0.5)
    heads = 4
    alibi = AlibiBias(cfg, heads)
    t = [0, 3, 0, 7, 2]
    f = [0, 1, 6, 2, 2]
    c = coords(t, f)
    bias = alibi(c, c)[0]
    m = alibi_slopes(heads)
    for h, i, j in itertools.product(range(heads), range(5), range(5)):
        if i == 0 or j == 0:
            expected = 0.0  # CLS gets no bias
        else:
            dist = 1.5 * abs(t[i] - t[j]) + (0.5 * abs(f[i] - f[j]) if two_d else 0.0)
            expected = -m[h].item() * dist
        assert bias[h, i, j].item() == pytest.approx(expected, abs=1e-6)


def test_alibi_is_symmetric_in_distance_and_learnable_slopes_stay_positive():
    alibi = AlibiBias(PositionalConfig(alibi2d=True, alibi_learnable_slopes=True), 4)
    assert any(p.requires_grad for p in alibi.parameters())
    with torch.no_grad():
        alibi.log_slopes.fill_(-50.0)
    assert (alibi.slopes > 0).all()
    c = coords([0, 1, 5], [0, 4, 2])
    b = alibi(c, c)
    assert torch.allclose(b, b.transpose(-1, -2))


@pytest.mark.parametrize("mode", ["1d", "2d"])
def test_rope_scores_depend_only_on_coordinate_differences(mode):
    rope = Rope(PositionalConfig(rope=mode), head_dim=16)
    torch.manual_seed(1)
    q, k = torch.randn(1, 2, 6, 16), torch.randn(1, 2, 6, 16)
    t = [0, 0, 1, 4, 9, 2]
    f = [0, 3, 1, 0, 5, 7]

    def scores(dt, df):
        c = coords([x + dt if i else 0 for i, x in enumerate(t)], [x + df if i else 0 for i, x in enumerate(f)])
        return rope(q, c) @ rope(k, c).transpose(-1, -2)

    base = scores(0, 0)
    shifted = scores(13, 5)
    assert torch.allclose(base[..., 1:, 1:], shifted[..., 1:, 1:], atol=1e-4)
    # A non-uniform change (moving one token) must change its scores, or the test proves nothing.
    c = coords([0, 0, 1, 4, 20, 2], f)
    moved = rope(q, c) @ rope(k, c).transpose(-1, -2)
    assert not torch.allclose(base[..., 4, 1:], moved[..., 4, 1:], atol=1e-3)


def test_rope_leaves_cls_unrotated():
    rope = Rope(PositionalConfig(rope="2d"), head_dim=16)
    x = torch.randn(1, 2, 3, 16)
    c = coords([0, 5, 9], [0, 2, 3])
    assert torch.equal(rope(x, c)[:, :, 0], x[:, :, 0])
    assert not torch.allclose(rope(x, c)[:, :, 1], x[:, :, 1])


def test_rope_2d_shift_in_frequency_only_affects_nothing_relative():
    rope = Rope(PositionalConfig(rope="2d"), head_dim=8)
    q, k = torch.randn(1, 1, 4, 8), torch.randn(1, 1, 4, 8)
    a = coords([0, 1, 2, 3], [0, 1, 1, 2])
    b = coords([0, 1, 2, 3], [0, 4, 4, 5])
    sa = rope(q, a) @ rope(k, a).transpose(-1, -2)
    sb = rope(q, b) @ rope(k, b).transpose(-1, -2)
    assert torch.allclose(sa[..., 1:, 1:], sb[..., 1:, 1:], atol=1e-5)


def test_patch_grid_coordinates_and_patchout_keeps_original_positions():
    model = tiny("alibi2d")
    mels = torch.randn(2, 128, 16 * 10)
    tokens, c = model.patchify(mels, None)
    assert tokens.shape[1] == 8 * 10
    # Each patch is the 16×16 block of the spectrogram at its (row, column).
    for n in (0, 9, 79):
        f, t = int(c.f[0, n]), int(c.t[0, n])
        assert torch.equal(tokens[0, n], mels[0, 16 * f : 16 * f + 16, 16 * t : 16 * t + 16].reshape(-1))
    # Token order is time-major: token n sits at time column n // 8, frequency row n % 8.
    n = torch.arange(80, dtype=torch.float32)
    assert torch.equal(c.t[0], n // 8) and torch.equal(c.f[0], n % 8)
    g = torch.Generator().manual_seed(3)
    kept, kc = model.patchout(tokens, c, 0.75, g)
    assert kept.shape[1] == 20 and kc.valid.all()
    for b in range(2):
        for i in range(20):
            original = int(kc.t[b, i] * 8 + kc.f[b, i])
            assert torch.equal(kept[b, i], tokens[b, original])
    # Different items drop different tokens.
    assert not torch.equal(kc.t[0] * 8 + kc.f[0], kc.t[1] * 8 + kc.f[1])


def test_patchout_only_keeps_real_tokens_of_padded_items():
    model = tiny("alibi2d")
    tokens, c = model.patchify(torch.randn(2, 128, 160), torch.tensor([160, 40]))
    kept, kc = model.patchout(tokens, c, 0.5, torch.Generator().manual_seed(0))
    assert int(kc.valid[1].sum()) == 12  # 3 real columns × 8 rows, half kept
    assert (kc.t[1][kc.valid[1]] < 3).all()


@pytest.mark.parametrize("pe", list(PE_PRESETS))
def test_blocked_attention_equals_dense(pe):
    model = tiny(pe)
    x = torch.randn(2, 128, 16 * 9 + 5)
    lengths = torch.tensor([x.shape[-1], 70])
    with torch.no_grad():
        dense = model(x, lengths, block_size=None)
        for block in (1, 7, 32):
            assert torch.allclose(model(x, lengths, block_size=block), dense, atol=1e-5)


def test_blocked_attention_never_builds_a_full_bias(monkeypatch):
    seen = []
    real = F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kw):
        if attn_mask is not None:
            seen.append(attn_mask.shape[-2] * attn_mask.shape[-1])
        return real(q, k, v, attn_mask=attn_mask, **kw)

    monkeypatch.setattr(attention_mod.F, "scaled_dot_product_attention", spy)
    model = tiny("alibi2d", attn_block_size=16)
    n_tokens = 8 * 40 + 1
    with torch.no_grad():
        model(torch.randn(1, 128, 16 * 40))
    assert seen and max(seen) <= 16 * n_tokens


@pytest.mark.parametrize("pe", list(PE_PRESETS))
def test_padded_batch_equals_one_by_one(pe):
    model = tiny(pe)
    torch.manual_seed(2)
    items = [torch.randn(128, n) for n in (200, 37, 5, 96)]
    batch = torch.full((4, 128, 200), model.pad_value)
    for i, m in enumerate(items):
        batch[i, :, : m.shape[-1]] = m
    with torch.no_grad():
        together = model(batch, torch.tensor([m.shape[-1] for m in items]))
        alone = torch.cat([model(m[None]) for m in items])
    assert torch.allclose(together, alone, atol=1e-5)


@pytest.mark.parametrize("pe", RELATIVE + ["sincos", "learned"])
def test_inputs_far_longer_than_training_run(pe):
    # 4x the learned table length (the longest a model of this config could have seen).
    model = tiny(pe)
    frames = 16 * model.cfg.pe.max_time_patches * 4
    with torch.no_grad():
        z = model(torch.randn(1, 128, frames))
        one_patch = model(torch.randn(1, 128, 3))  # shorter than one patch: padded
    assert torch.isfinite(z).all() and z.shape == (1, 64)
    assert torch.isfinite(one_patch).all()


def test_cls_is_the_embedding_and_patchout_is_seeded():
    model = tiny("alibi2d")
    x = torch.randn(2, 128, 96)
    a = model(x, mask_ratio=0.9, generator=torch.Generator().manual_seed(5))
    b = model(x, mask_ratio=0.9, generator=torch.Generator().manual_seed(5))
    c = model(x, mask_ratio=0.9, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert model.project(a).shape == (2, 128)


def test_relative_only_model_is_invariant_to_time_shift_of_content():
    """With a relative scheme, the same content embedded twice gives the same vector,
    and a model without any positional scheme is permutation invariant over patches."""
    model = tiny("none")
    x = torch.randn(1, 128, 64)
    shuffled = torch.cat([x[..., 32:], x[..., :32]], dim=-1)  # swap whole time columns
    with torch.no_grad():
        assert torch.allclose(model(x), model(shuffled), atol=1e-5)
    model = tiny("alibi2d")
    with torch.no_grad():
        assert not torch.allclose(model(x), model(shuffled), atol=1e-4)


def test_learnable_slopes_get_finite_gradients_through_padding():
    torch.manual_seed(0)
    cfg = ModelConfig(dim=64, depth=2, heads=4, pe=PositionalConfig(alibi2d=True, alibi_learnable_slopes=True))
    model = MynaEncoder(cfg)
    g = torch.Generator().manual_seed(0)
    z = model(torch.randn(2, 128, 64, generator=g), torch.tensor([64, 20]))
    # The padded item only, projected on a fixed direction. (z.sum() would not do: the sum of
    # a LayerNorm output is constant, so its gradient is zero up to rounding.)
    (z[1] @ torch.randn(z.shape[-1], generator=g)).backward()
    grad = model.alibi.log_slopes.grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 1e-4  # rounding noise is ~1e-9
