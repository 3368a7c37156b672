"""Positional schemes, each a small module behind one switch of `PositionalConfig`.

Every scheme reads token coordinates, never token indices: `t` is the time column and
`f` the frequency row of a patch on the original grid, kept through patchout. The CLS
token is flagged separately and gets no bias, no rotation and no absolute embedding.

Absolute (added to patch tokens before the transformer):
  * `sincos`  – 2D sinusoidal: half the channels encode t, half encode f. Extrapolates by
                formula past the trained length, but the model never saw those values.
  * `learned` – a (rows × max_time_patches) table; time columns past the table reuse the
                last column (clamped), so positions beyond the trained length all look alike.
  * `freq_embed` – a learned vector per frequency row (no time information).
Relative (inside attention):
  * ALiBi 2D – bias(i, j) = −m_h · (w_t·|t_i − t_j| + w_f·|f_i − f_j|)
  * ALiBi 1D – bias(i, j) = −m_h · |t_i − t_j|
  * RoPE 1D  – rotate q, k by t over the whole head dim
  * RoPE 2D  – axial: first half of the head dim rotated by t, second half by f
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from myna_rpe.config import ModelConfig, PositionalConfig


@dataclass
class Coords:
    """Per-token coordinates for a batch, CLS included at index 0."""

    t: torch.Tensor  # (B, N) float, time column
    f: torch.Tensor  # (B, N) float, frequency row
    is_cls: torch.Tensor  # (B, N) bool
    valid: torch.Tensor  # (B, N) bool: False for padding (never attended to)


def has_padding(valid: torch.Tensor) -> bool:
    """Whether any token is padding. Under torch.export (ONNX) the answer is not known while
    tracing, so masks are always applied there: a no-op for an input without padding."""
    return torch.compiler.is_exporting() or not bool(valid.all())


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """The standard geometric ALiBi slopes (Press et al.): 2^(-8/n), 2^(-16/n), ...

    For a head count that is not a power of two, take the slopes of the closest lower
    power of two and fill the rest with every other slope of the next power of two.
    """

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    if math.log2(n_heads).is_integer():
        return torch.tensor(power_of_two(n_heads))
    lower = 2 ** math.floor(math.log2(n_heads))
    extra = power_of_two(2 * lower)[0::2][: n_heads - lower]
    return torch.tensor(power_of_two(lower) + extra)


class AlibiBias(nn.Module):
    """Additive attention bias from |Δt| (and |Δf| in 2D), one slope per head."""

    def __init__(self, cfg: PositionalConfig, n_heads: int) -> None:
        super().__init__()
        self.two_d = cfg.alibi2d
        self.w_t = cfg.alibi_time_weight
        self.w_f = cfg.alibi_freq_weight if cfg.alibi2d else 0.0
        slopes = alibi_slopes(n_heads)
        if cfg.alibi_learnable_slopes:
            # Learn log-slopes so slopes stay positive (a negative slope would reward distance).
            self.log_slopes = nn.Parameter(slopes.log())
        else:
            self.register_buffer("log_slopes", slopes.log(), persistent=False)

    @property
    def slopes(self) -> torch.Tensor:
        return self.log_slopes.exp()

    def forward(self, q: Coords, k: Coords) -> torch.Tensor:
        """Bias (B, H, Nq, Nk) between query coords `q` and key coords `k`; −inf on padding keys.

        This runs once per layer and query block over Nq × Nk pairs, so it works in place
        on one (B, Nq, Nk) distance tensor and expands to heads only in the last step.
        """
        dist = (q.t[:, :, None] - k.t[:, None, :]).abs_()
        if self.w_t != 1.0:
            dist.mul_(self.w_t)
        if self.two_d:
            dist.add_((q.f[:, :, None] - k.f[:, None, :]).abs_(), alpha=self.w_f)
        dist.masked_fill_(q.is_cls[:, :, None] | k.is_cls[:, None, :], 0.0)
        padding = ~k.valid[:, None, :] if has_padding(k.valid) else None
        slopes_learn = self.log_slopes.requires_grad and torch.is_grad_enabled()
        if padding is not None and not slopes_learn:
            dist.masked_fill_(padding, float("inf"))  # −slope · inf = −inf: masked out
        bias = dist[:, None] * (-self.slopes.to(dist.dtype))[None, :, None, None]
        if padding is not None and slopes_learn:  # inf would make the slopes' gradient NaN
            bias = bias.masked_fill(padding[:, None], float("-inf"))
        return bias


class Rope(nn.Module):
    """Rotary embedding over t (1D) or axially over t and f (2D); CLS is not rotated."""

    def __init__(self, cfg: PositionalConfig, head_dim: int) -> None:
        super().__init__()
        self.two_d = cfg.rope == "2d"
        axis_dim = head_dim // 2 if self.two_d else head_dim
        inv_freq = cfg.rope_base ** (-torch.arange(0, axis_dim, 2, dtype=torch.float32) / axis_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def _angles(self, pos: torch.Tensor, is_cls: torch.Tensor) -> torch.Tensor:
        ang = pos[..., None].float() * self.inv_freq  # (B, N, axis_dim/2)
        return ang.masked_fill(is_cls[..., None], 0.0)

    @staticmethod
    def _rotate(x: torch.Tensor, ang: torch.Tensor) -> torch.Tensor:
        # x: (B, H, N, d) with pairs (x[2i], x[2i+1]); ang: (B, N, d/2)
        cos, sin = ang.cos()[:, None].to(x.dtype), ang.sin()[:, None].to(x.dtype)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
        return out.flatten(-2)

    def forward(self, x: torch.Tensor, c: Coords) -> torch.Tensor:
        if not self.two_d:
            return self._rotate(x, self._angles(c.t, c.is_cls))
        half = x.shape[-1] // 2
        return torch.cat(
            (
                self._rotate(x[..., :half], self._angles(c.t, c.is_cls)),
                self._rotate(x[..., half:], self._angles(c.f, c.is_cls)),
            ),
            dim=-1,
        )


def sincos_2d(t: torch.Tensor, f: torch.Tensor, dim: int) -> torch.Tensor:
    """2D sinusoidal embedding (…, dim): first half encodes t, second half f."""
    quarter = dim // 4
    omega = 1.0 / (10000.0 ** (torch.arange(quarter, dtype=torch.float32, device=t.device) / quarter))

    def enc(pos: torch.Tensor) -> torch.Tensor:
        ang = pos[..., None].float() * omega
        return torch.cat((ang.sin(), ang.cos()), dim=-1)

    emb = torch.cat((enc(t), enc(f)), dim=-1)
    if emb.shape[-1] < dim:  # dim not divisible by 4: pad the remainder with zeros
        emb = torch.nn.functional.pad(emb, (0, dim - emb.shape[-1]))
    return emb


class AbsolutePositions(nn.Module):
    """Everything that is *added* to patch tokens: sincos / learned table / frequency rows."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        pe = cfg.pe
        self.kind = pe.absolute
        self.dim = cfg.dim
        self.max_t = pe.max_time_patches
        if pe.absolute == "learned":
            self.table = nn.Parameter(torch.randn(cfg.freq_patches, pe.max_time_patches, cfg.dim) * 0.02)
        self.freq = nn.Parameter(torch.randn(cfg.freq_patches, cfg.dim) * 0.02) if pe.freq_embed else None

    @property
    def active(self) -> bool:
        return self.kind != "none" or self.freq is not None

    def forward(self, t: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """Embedding (B, N, dim) for patch coordinates t, f (B, N) long."""
        out = torch.zeros(*t.shape, self.dim, device=t.device)
        if self.kind == "sincos":
            out = out + sincos_2d(t, f, self.dim)
        elif self.kind == "learned":
            out = out + self.table[f, t.clamp(max=self.max_t - 1)]
        if self.freq is not None:
            out = out + self.freq[f]
        return out
