"""Multi-head self-attention computed in query blocks.

A full track is ~10^4 tokens; a dense (heads × N × N) bias for it is gigabytes. Here
each block of queries builds only its own (heads × block × N) bias and calls
`scaled_dot_product_attention`, so memory grows linearly with N. `block_size=None`
(or a block ≥ N) gives the dense computation, which tests and benchmarks compare against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from myna_rpe.positional import AlibiBias, Coords, Rope


def _slice(c: Coords, start: int, stop: int) -> Coords:
    return Coords(c.t[:, start:stop], c.f[:, start:stop], c.is_cls[:, start:stop], c.valid[:, start:stop])


def blocked_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    q_coords: Coords,
    k_coords: Coords,
    alibi: AlibiBias | None,
    block_size: int | None,
) -> torch.Tensor:
    """softmax(q·kᵀ/√d + bias)·v over (B, H, N, d) tensors in query blocks; padding keys get −inf."""
    n_q = q.shape[2]
    key_mask = None
    if alibi is None and not bool(k_coords.valid.all()):  # ALiBi's bias masks padding itself
        key_mask = torch.zeros(k_coords.valid.shape, dtype=q.dtype, device=q.device)
        key_mask = key_mask.masked_fill(~k_coords.valid, float("-inf"))[:, None, None, :]
    if alibi is None and key_mask is None:
        # No per-pair bias: the fused kernel is already linear in memory.
        return F.scaled_dot_product_attention(q, k, v)
    step = n_q if block_size is None else max(1, block_size)
    out = []
    for start in range(0, n_q, step):
        stop = min(n_q, start + step)
        bias = key_mask
        if alibi is not None:
            bias = alibi(_slice(q_coords, start, stop), k_coords).to(q.dtype)
        out.append(F.scaled_dot_product_attention(q[:, :, start:stop], k, v, attn_mask=bias))
    return torch.cat(out, dim=2) if len(out) > 1 else out[0]


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: torch.Tensor,
        coords: Coords,
        alibi: AlibiBias | None,
        rope: Rope | None,
        block_size: int | None,
        cls_only: bool = False,
    ) -> torch.Tensor:
        """Attend from every token (or only from CLS, for the last layer) to every token."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if rope is not None:
            q, k = rope(q, coords), rope(k, coords)
        q_coords = coords
        if cls_only:
            q, q_coords = q[:, :, :1], _slice(coords, 0, 1)
        out = blocked_attention(q, k, v, q_coords, coords, alibi, block_size)
        return self.proj(out.transpose(1, 2).reshape(b, q.shape[2], d))
