"""Training objectives: symmetric NT-Xent (InfoNCE), a K-Means loss and a convex-hull loss.

All three work on L2-normalised vectors, so every term is bounded. The exact formulas
are in docs/training.md; the short versions are in each docstring.

Distributed training passes the local views *and* the views gathered from every rank
(with gradient); a single process passes the same tensors for both.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def nt_xent(
    local_a: torch.Tensor,
    local_b: torch.Tensor,
    temperature: float,
    all_a: torch.Tensor | None = None,
    all_b: torch.Tensor | None = None,
    offset: int = 0,
    groups: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric NT-Xent over 2N views with cosine similarity.

    View i of the first set is positive with view i of the second; the other 2N - 2
    views are negatives. With u = normalised views, s_ij = u_i·u_j / τ:
        ℓ_i = −s_{i,p(i)} + log Σ_{j≠i} exp(s_ij),   loss = mean_i ℓ_i.
    `all_a`/`all_b` hold every rank's views (G rows each); the local rows sit at
    `offset` in them. Rows are the local views, columns all 2G views, so each rank's
    loss is the mean over its own rows and DDP's gradient average gives the global mean.
    `groups` (G,), when given, names each item's group (album positives): views of other
    items of the row's group are left out of its denominator, neither positive nor negative.
    """
    if all_a is None or all_b is None:
        all_a, all_b = local_a, local_b
    n, g = local_a.shape[0], all_a.shape[0]
    rows = F.normalize(torch.cat((local_a, local_b)), dim=-1)
    cols = F.normalize(torch.cat((all_a, all_b)), dim=-1)
    logits = rows @ cols.T / temperature  # (2n, 2g)
    idx = torch.arange(n, device=rows.device) + offset
    self_col = torch.cat((idx, idx + g))
    positive = torch.cat((idx + g, idx))
    col = torch.arange(2 * g, device=rows.device)[None, :]
    drop = col == self_col[:, None]
    if groups is not None:
        col_group = torch.cat((groups, groups)).to(rows.device)
        row_group = torch.cat((groups[idx.cpu()], groups[idx.cpu()])).to(rows.device)
        drop |= (col_group[None, :] == row_group[:, None]) & (col != positive[:, None])
    logits = logits.masked_fill(drop, float("-inf"))
    return F.cross_entropy(logits.float(), positive)


def hull_loss(z: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Convex-hull (spread) loss: minus the mean log-eigenvalue of the embeddings' covariance.

    u = normalised rows of z (M × d), Y = u − mean(u), r = min(M, d), and G the r × r
    matrix YᵀY/M (d ≤ M) or YYᵀ/M (M < d); both have the same non-zero eigenvalues λ_k.
        L_hull = −(1/r) · log det(G + εI) = −(1/r) Σ_k log(λ_k + ε)
    log det of the covariance is the log volume of the ellipsoid the points span, so
    lowering L_hull widens the hull in every direction at once. Points on the unit
    sphere have Σλ = 1 − ‖mean u‖² ≤ 1, so L_hull lies in [−log(1/r + ε), −log ε]:
    it cannot explode, and collapse (all λ = 0) costs the most.
    """
    u = F.normalize(z.float(), dim=-1)
    y = u - u.mean(dim=0, keepdim=True)
    m, d = y.shape
    gram = (y.T @ y if d <= m else y @ y.T) / m
    r = gram.shape[0]
    eye = torch.eye(r, device=z.device, dtype=gram.dtype)
    return -torch.logdet(gram + eps * eye) / r


def hull_loss_bounds(m: int, d: int, eps: float = 1e-3) -> tuple[float, float]:
    """The interval [lower, upper] that `hull_loss` of M points in d dimensions stays in."""
    r = min(m, d)
    return -math.log(1.0 / r + eps), -math.log(eps)


def spherical_kmeans(
    u: torch.Tensor, k: int, iters: int = 10, generator: torch.Generator | None = None
) -> torch.Tensor:
    """k unit centroids for unit rows `u` (k-means++ seeding, then Lloyd on the sphere)."""
    m = u.shape[0]
    if m < k:
        raise ValueError(f"k-means needs at least k={k} points, got {m}")
    first = int(torch.randint(m, (1,), generator=generator))
    centroids = [u[first]]
    for _ in range(1, k):
        c = torch.stack(centroids)
        dist = (2 - 2 * (u @ c.T)).clamp(min=0).min(dim=1).values
        probs = dist / dist.sum() if dist.sum() > 0 else torch.full_like(dist, 1.0 / m)
        centroids.append(u[int(torch.multinomial(probs.cpu(), 1, generator=generator))])
    c = torch.stack(centroids)
    for _ in range(iters):
        assign = (u @ c.T).argmax(dim=1)
        sums = torch.zeros_like(c).index_add_(0, assign, u)
        counts = torch.bincount(assign, minlength=k)
        c = torch.where(counts[:, None] > 0, F.normalize(sums, dim=-1), c)
    return c


class KMeansLoss(nn.Module):
    """Pull each embedding toward the nearest of k centroids on the unit sphere.

        L_km = mean_i ‖u_i − c_{a(i)}‖² = mean_i (2 − 2 u_i·c_{a(i)}),  a(i) = argmax_j u_i·c_j
    with u_i the normalised embedding and c the centroids held constant (no gradient),
    so the loss tightens clusters without moving centroids by backprop; L_km ∈ [0, 4].

    Centroids are a moving state (mode "ema"), shared by every step: seeded by spherical
    k-means on the first batch, then c_j ← normalise(β c_j + (1 − β) mean of the batch
    points assigned to j); a centroid with no points in a batch stays where it is. A
    song cluster then means the same thing from one batch to the next. Mode "batch"
    re-clusters every batch from scratch instead (no state; noisy for small batches).
    """

    def __init__(self, k: int, dim: int, momentum: float = 0.99, mode: str = "ema", seed: int = 0) -> None:
        super().__init__()
        if mode not in ("ema", "batch"):
            raise ValueError(f"kmeans mode must be ema or batch, not {mode!r}")
        if k < 2:
            raise ValueError(f"kmeans k must be at least 2, got {k}")
        self.k, self.momentum, self.mode, self.seed = k, momentum, mode, seed
        self.register_buffer("centroids", torch.zeros(k, dim))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def _generator(self) -> torch.Generator:
        # Seeded by call count, so resuming from a checkpoint repeats the same choices.
        return torch.Generator().manual_seed(self.seed * 1_000_003 + int(self.calls))

    @torch.no_grad()
    def update(self, all_z: torch.Tensor) -> None:
        """Move the centroids with the (globally gathered) batch; every rank sees the same."""
        u = F.normalize(all_z.detach().float(), dim=-1)
        if self.mode == "batch" or not bool(self.initialized):
            self.centroids.copy_(spherical_kmeans(u.cpu(), self.k, generator=self._generator()).to(u.device))
            self.initialized.fill_(True)
        else:
            assign = (u @ self.centroids.T).argmax(dim=1)
            sums = torch.zeros_like(self.centroids).index_add_(0, assign, u)
            counts = torch.bincount(assign, minlength=self.k)
            means = sums / counts.clamp(min=1)[:, None]
            moved = F.normalize(self.momentum * self.centroids + (1 - self.momentum) * means, dim=-1)
            self.centroids.copy_(torch.where(counts[:, None] > 0, moved, self.centroids))
        self.calls += 1

    def forward(self, z: torch.Tensor, all_z: torch.Tensor | None = None) -> torch.Tensor:
        """Update the centroids with `all_z` (default `z`), then return L_km of the rows of `z`."""
        self.update(z if all_z is None else all_z)
        u = F.normalize(z.float(), dim=-1)
        c = self.centroids.detach()
        nearest = (u @ c.T).max(dim=1).values
        return (2 - 2 * nearest).mean()
