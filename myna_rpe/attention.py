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

from myna_rpe.positional import AlibiBias, Coords, Rope, has_padding


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
    if alibi is None and has_padding(k_coords.valid):  # ALiBi's bias masks padding itself
        key_mask = torch.zeros(k_coords.valid.shape, dtype=q.dtype, device=q.device)
        key_mask = key_mask.masked_fill(~k_coords.valid, float("-inf"))[:, None, None, :]
    if torch.compiler.is_exporting():
        return _scanned_blocks(q, k, v, q_coords, k_coords, alibi, block_size or EXPORT_BLOCK, key_mask)
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


# Query block of an exported graph whose model asks for dense attention (block_size None).
EXPORT_BLOCK = 512


def _scanned_blocks(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, q_coords: Coords, k_coords: Coords,
                    alibi: AlibiBias | None, step: int, key_mask: torch.Tensor | None) -> torch.Tensor:
    """The query blocks of `blocked_attention` as a scan, for torch.export / ONNX.

    Traced, the Python loop would be unrolled for the example input's length; a scan keeps
    the number of blocks a function of the input (an ONNX Scan), and each step still holds
    only its own (heads × block × N) scores and bias, so memory stays linear in N. The
    queries are padded to whole blocks; the padded rows are computed and dropped.
    """
    from torch._higher_order_ops.scan import scan

    b, h, n, d = q.shape
    if isinstance(n, int):  # a length known while tracing (CLS alone, in the last layer): one short block
        step = min(step, n)
    k, v = k.clone(), v.clone()  # views of one qkv tensor, and a scan's inputs may not alias
    blocks = (n + step - 1) // step
    pad = blocks * step - n

    def split(x: torch.Tensor) -> torch.Tensor:  # (B, N) → (blocks, B, step)
        return F.pad(x, (0, pad)).reshape(b, blocks, step).transpose(0, 1)

    qs = F.pad(q, (0, 0, 0, pad)).reshape(b, h, blocks, step, d).permute(2, 0, 1, 3, 4)
    xs = (qs, split(q_coords.t), split(q_coords.f), split(q_coords.is_cls.to(q.dtype)))

    def body(carry: torch.Tensor, x: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        qb, t, f, is_cls = x
        bias = key_mask
        if alibi is not None:
            bias = alibi(Coords(t, f, is_cls > 0, torch.ones_like(is_cls, dtype=torch.bool)), k_coords).to(q.dtype)
        return carry + 0, F.scaled_dot_product_attention(qb, k, v, attn_mask=bias)  # + 0: a scan may not alias

    _, out = scan(body, torch.zeros((), dtype=q.dtype, device=q.device), xs)
    return out.permute(1, 2, 0, 3, 4).reshape(b, h, blocks * step, d)[:, :, :n]


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
