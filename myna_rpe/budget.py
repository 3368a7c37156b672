"""Token budget: a flat cost per track, whatever its length.

Attention is quadratic in tokens, and a whole track is many of them (~15.6 per second at
the default frontend: 4 min ≈ 3,750, 60 min ≈ 56,000). A track with more patches than
`TokenBudget.tokens` is embedded from that many patches spread over its whole length,
each keeping its original (time, frequency) coordinates — patchout at inference, the
operation the encoder was trained under. A track within the budget gets the dense pass.

The draw is a function of the track's content (its frame count and a coarse digest of
its log-mel, see `content_seed`), so a file always maps to the same vector: in any
batch, on any run, and whether its log-mel came from a worker or this process.

Two ways to spread the patches (`spread`):
  * "stratified" – the track's patches, in time-major order, are cut into `tokens` equal
    runs and one patch is drawn from each run: every stretch of the track is read, and
    the frequency rows are covered evenly across it;
  * "random"     – `tokens` patches drawn uniformly without replacement (as training's
    patchout does), so a stretch can be skipped by chance.
`draws` > 1 averages the embeddings of that many independent draws (a track then costs
`draws` passes of `tokens` patches).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the budget is read by commands that must not import torch (a no-op `myna index`)
    import torch

SPREADS = ("stratified", "random")


@dataclass(frozen=True)
class TokenBudget:
    tokens: int | None = 1024  # patches per pass (CLS not counted); None = always dense
    draws: int = 1  # independent draws averaged per track
    spread: str = "stratified"  # "stratified" | "random"

    def __post_init__(self) -> None:
        if self.tokens is not None and (isinstance(self.tokens, bool) or not isinstance(self.tokens, int)
                                        or self.tokens < 1):
            raise ValueError(f"token budget must be a whole number >= 1 (or none), got {self.tokens!r}")
        if isinstance(self.draws, bool) or not isinstance(self.draws, int) or self.draws < 1:
            raise ValueError(f"draws must be a whole number >= 1, got {self.draws!r}")
        if self.spread not in SPREADS:
            raise ValueError(f"spread must be one of {', '.join(SPREADS)}, not {self.spread!r}")

    @property
    def dense(self) -> bool:
        return self.tokens is None

    def applies(self, n_patches: int) -> bool:
        """Whether a track of `n_patches` valid patches is embedded from a draw."""
        return self.tokens is not None and n_patches > self.tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        if self.tokens is None:
            return "dense"
        return f"{self.tokens} tokens × {self.draws} draw{'s' if self.draws > 1 else ''}, {self.spread}"


DENSE = TokenBudget(tokens=None)


def content_seed(mel: torch.Tensor) -> int:
    """A seed from a log-mel (n_mels, T): its frame count and the mean of every 8th frame,
    rounded to 0.01.

    Both survive the last-bit differences between log-mels computed with other thread
    counts or block sizes (an exact hash of the values would not), so the same audio
    always gets the same draw; every 8th frame keeps this cheap for an hour of audio.
    """
    frames = int(mel.shape[-1])
    level = round(float(mel[:, ::8].mean()), 2) if mel.numel() else 0.0
    digest = hashlib.sha256(f"{frames}:{level:.2f}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def choose_patches(n_patches: int, budget: TokenBudget, seed: int, draw: int = 0) -> np.ndarray:
    """Sorted indices (budget.tokens,) into a track's `n_patches` valid patches (time-major)."""
    k = budget.tokens
    if k is None or n_patches <= k:
        return np.arange(n_patches)
    rng = np.random.Generator(np.random.PCG64([seed, draw]))
    if budget.spread == "random":
        return np.sort(rng.choice(n_patches, size=k, replace=False))
    edges = (np.arange(k + 1) * n_patches) // k  # k runs of floor/ceil(n/k) patches each
    return edges[:-1] + (rng.random(k) * (edges[1:] - edges[:-1])).astype(np.int64)


__all__ = ["TokenBudget", "DENSE", "SPREADS", "content_seed", "choose_patches"]
