"""The Myna-style encoder: a ViT over log-mel patches with a CLS token.

Input (B, n_mels, T) log-mels → 16×16 non-overlapping patches → tokens with their
(frequency row, time column) coordinates → optional patchout (training) → CLS
prepended → pre-norm transformer blocks → the final CLS vector is the embedding.

Any T goes through the same instance: T is padded to a whole number of patches
(at least one), frames past each item's length are overwritten with `pad_value`
(the frontend's silence), and patches that start past the length are masked out of
attention, so a padded batch gives the same embeddings as running items one by one.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from myna_rpe.attention import Attention
from myna_rpe.config import ModelConfig
from myna_rpe.positional import AbsolutePositions, AlibiBias, Coords, Rope


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x, coords, alibi, rope, block_size, cls_only=False):
        h = self.attn(self.norm1(x), coords, alibi, rope, block_size, cls_only)
        x = (x[:, :1] if cls_only else x) + h
        return x + self.mlp(self.norm2(x))


class MynaEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig, pad_value: float = 0.0) -> None:
        super().__init__()
        self.cfg = cfg
        self.pad_value = pad_value
        p = cfg.patch_size
        self.patch_embed = nn.Linear(p * p, cfg.dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, cfg.dim) * 0.02)
        self.abs_pos = AbsolutePositions(cfg)
        # Shared by all layers (one slope set per head, as in ALiBi); held here so the
        # state dict has each tensor once.
        self.alibi = AlibiBias(cfg.pe, cfg.heads) if cfg.pe.has_alibi else None
        self.rope = Rope(cfg.pe, cfg.dim // cfg.heads) if cfg.pe.rope != "none" else None
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = (
            nn.Sequential(nn.Linear(cfg.dim, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, cfg.proj_dim))
            if cfg.proj_dim
            else None
        )
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    # -- tokens ---------------------------------------------------------------------

    def patchify(self, mels: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, Coords]:
        """(B, n_mels, T) → raw patches (B, N, patch²) and their grid coordinates (no CLS yet)."""
        b, n_mels, t = mels.shape
        if n_mels != self.cfg.n_mels:
            raise ValueError(f"expected {self.cfg.n_mels} mel bins, got {n_mels}")
        p = self.cfg.patch_size
        if lengths is None:
            lengths = torch.full((b,), t, device=mels.device)
        lengths = lengths.to(mels.device).clamp(min=1, max=t)
        cols = max(1, math.ceil(t / p))
        mels = nn.functional.pad(mels, (0, cols * p - t), value=self.pad_value)
        frame = torch.arange(cols * p, device=mels.device)
        mels = mels.masked_fill(frame[None, None, :] >= lengths[:, None, None], self.pad_value)
        rows = n_mels // p
        # (B, rows, p, cols, p) → (B, cols, rows, p, p): time-major token order.
        patches = mels.reshape(b, rows, p, cols, p).permute(0, 3, 1, 2, 4).reshape(b, cols * rows, p * p)
        tt = torch.arange(cols, device=mels.device).repeat_interleave(rows)
        ff = torch.arange(rows, device=mels.device).repeat(cols)
        t_idx, f_idx = tt.expand(b, -1), ff.expand(b, -1)
        valid = t_idx * p < lengths[:, None]
        return patches, Coords(t_idx.float(), f_idx.float(), torch.zeros_like(valid), valid)

    def patches_at(self, mel: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, Coords]:
        """Patches (D, K, patch²) of one log-mel (n_mels, T) at time-major patch indices
        `index` (D, K) — the order `patchify` gives — with their coordinates, read straight
        from the log-mel: a long track is never cut into all of its patches."""
        p, rows = self.cfg.patch_size, self.cfg.freq_patches
        t_idx, f_idx = index // rows, index % rows
        offsets = torch.arange(p, device=mel.device)
        frames = t_idx[..., None] * p + offsets  # (D, K, p)
        bins = f_idx[..., None] * p + offsets
        length = mel.shape[-1]
        patches = mel[bins[..., :, None], frames.clamp(max=length - 1)[..., None, :]]  # (D, K, p, p)
        patches = patches.masked_fill((frames >= length)[..., None, :], self.pad_value)  # past the end: silence
        valid = torch.ones(index.shape, dtype=torch.bool, device=mel.device)
        return patches.flatten(-2), Coords(t_idx.float(), f_idx.float(), torch.zeros_like(valid), valid)

    def embed_patches(self, patches: torch.Tensor, coords: Coords) -> torch.Tensor:
        """Linear patch embedding plus any absolute position (from each patch's own coordinates)."""
        tokens = self.patch_embed(patches)
        if self.abs_pos.active:
            tokens = tokens + self.abs_pos(coords.t.long(), coords.f.long())
        return tokens

    @staticmethod
    def patchout(
        tokens: torch.Tensor, coords: Coords, ratio: float | torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, Coords]:
        """Drop a fraction `ratio` of each item's valid patches at random; keep their coordinates."""
        b, n, _ = tokens.shape
        n_valid = coords.valid.sum(1)
        keep = (n_valid.float() * (1.0 - ratio)).round().long().clamp(min=1)
        scores = torch.rand(b, n, generator=generator, device="cpu").to(tokens.device)
        scores = scores.masked_fill(~coords.valid, 2.0)  # padding sorts last, never kept
        order = scores.argsort(dim=1)[:, : int(keep.max())]
        order = order.sort(dim=1).values  # keep the original token order
        still_valid = torch.arange(order.shape[1], device=tokens.device)[None, :] < keep[:, None]
        return MynaEncoder.select(tokens, coords, order, still_valid)

    @staticmethod
    def select(
        tokens: torch.Tensor, coords: Coords, index: torch.Tensor, still_valid: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Coords]:
        """Tokens (B, K, ·) at `index` (B, K), with their original coordinates."""
        take = lambda x: x.gather(1, index)  # noqa: E731
        valid = take(coords.valid) if still_valid is None else take(coords.valid) & still_valid
        tokens = tokens.gather(1, index[..., None].expand(-1, -1, tokens.shape[-1]))
        return tokens, Coords(take(coords.t), take(coords.f), take(coords.is_cls), valid)

    def _prepend_cls(self, tokens: torch.Tensor, coords: Coords) -> tuple[torch.Tensor, Coords]:
        b = tokens.shape[0]
        tokens = torch.cat((self.cls_token.expand(b, -1, -1), tokens), dim=1)

        def cat(first: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
            return torch.cat((first.expand(b, 1), rest), dim=1)

        zero = torch.zeros(1, 1, device=tokens.device)
        yes = torch.ones(1, 1, dtype=torch.bool, device=tokens.device)
        return tokens, Coords(cat(zero, coords.t), cat(zero, coords.f), cat(yes, coords.is_cls), cat(yes, coords.valid))

    # -- forward --------------------------------------------------------------------

    def forward(
        self,
        mels: torch.Tensor,
        lengths: torch.Tensor | None = None,
        mask_ratio: float | torch.Tensor = 0.0,
        generator: torch.Generator | None = None,
        block_size: int | None | str = "config",
    ) -> torch.Tensor:
        """CLS embeddings (B, dim). `lengths` are valid frames per item (None = all T).

        `mask_ratio` > 0 applies patchout (training); a (B,) tensor gives each item its own. `block_size` overrides the config's
        query block (None = dense attention; for tests and benchmarks).
        """
        patches, coords = self.patchify(mels, lengths)
        if torch.is_tensor(mask_ratio) or mask_ratio > 0:  # before the embedding: dropped patches cost nothing
            patches, coords = self.patchout(patches, coords, mask_ratio, generator)
        return self.encode(patches, coords, block_size)

    def encode(self, patches: torch.Tensor, coords: Coords, block_size: int | None | str = "config") -> torch.Tensor:
        """CLS embeddings (B, dim) of raw patches (B, N, patch²) at their grid coordinates."""
        # Only CLS is read out, so the last layer updates CLS alone.
        return self.norm(self._transform(patches, coords, block_size, cls_only_last=True)[:, 0])

    def encode_tokens(self, patches: torch.Tensor, coords: Coords, block_size: int | None | str = "config") -> torch.Tensor:
        """Every token's final vector (B, 1 + N, dim), CLS first: here the last layer updates
        all tokens (the same weights `encode` applies to CLS alone)."""
        return self.norm(self._transform(patches, coords, block_size, cls_only_last=False))

    def _transform(self, patches: torch.Tensor, coords: Coords, block_size: int | None | str,
                   cls_only_last: bool) -> torch.Tensor:
        if block_size == "config":
            block_size = self.cfg.attn_block_size
        x, coords = self._prepend_cls(self.embed_patches(patches, coords), coords)
        last = len(self.blocks) - 1
        for i, blk in enumerate(self.blocks):
            x = blk(x, coords, self.alibi, self.rope, block_size, cls_only=cls_only_last and i == last)
        return x

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """Projection head for contrastive training (not part of the embedding)."""
        if self.head is None:
            raise ValueError("this model was built without a projection head (proj_dim=None)")
        return self.head(z)
