"""Positive pairs: two random chunks of the same track; the batch's other tracks are negatives.

Sampling is a pure function of (seed, step): step s of epoch e = s // steps_per_epoch
takes the next slice of epoch e's permutation of the tracks (no track twice in a batch,
so no false negatives from repeats), then draws one chunk length for the whole batch
and two independent start frames per track. Resuming at step s therefore needs only s,
and the same global batch is split across ranks whatever the world size.

Chunk length: fixed (frames, or seconds rounded to whole patches), or variable, drawn
log-uniformly per batch from [min, max] seconds so short phrases and long sections are
equally likely on a log scale. A track shorter than the chunk gives its whole length to
both views (padded, with `lengths` so the encoder masks the padding); the two views
then differ only by patchout. Tracks below `min_track_seconds` never reach the sampler.

Whole-track batches (`whole_p` > 0): with that chance a step's chunk length becomes the
longest track of its batch (capped at `whole_max_frames`), so every view is a whole track
(the cap's worth of a longer one), which is what inference embeds; the chance is drawn
from a stream of its own, so whole_p = 0 gives exactly the plain batches.

Album positives (`album_p` > 0, with a group per track, e.g. its folder): each pair's
second view comes, with that chance, from another track of the same group, drawn from a
stream of its own so that album_p = 0 gives exactly the same-track batches. The loss is then
told the groups (`PairBatch.groups`) and never counts a same-group track as a negative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from myna_rpe.errors import DatasetError


@dataclass(frozen=True)
class ChunkSpec:
    """Chunk length in frames: `frames` fixed, or [min_frames, max_frames] variable."""

    frames: int | None = None
    min_frames: int | None = None
    max_frames: int | None = None
    multiple: int = 16  # variable lengths are rounded to whole patches

    @classmethod
    def from_settings(
        cls,
        frames_per_second: float,
        patch_size: int,
        chunk_seconds: float = 3.0,
        chunk_frames: int | None = None,
        min_seconds: float | None = None,
        max_seconds: float | None = None,
    ) -> "ChunkSpec":
        def to_frames(seconds: float) -> int:
            return max(patch_size, round(seconds * frames_per_second / patch_size) * patch_size)

        if min_seconds is not None and max_seconds is not None:
            return cls(min_frames=to_frames(min_seconds), max_frames=to_frames(max_seconds), multiple=patch_size)
        return cls(frames=chunk_frames or to_frames(chunk_seconds), multiple=patch_size)

    @property
    def variable(self) -> bool:
        return self.frames is None

    @property
    def longest(self) -> int:
        return self.frames if self.frames is not None else int(self.max_frames)

    def draw(self, rng: np.random.Generator) -> int:
        if self.frames is not None:
            return self.frames
        lo, hi = math.log(self.min_frames), math.log(self.max_frames)
        raw = math.exp(rng.uniform(lo, hi))
        snapped = round(raw / self.multiple) * self.multiple
        return int(min(self.max_frames, max(self.min_frames, snapped)))


@dataclass(frozen=True)
class PairBatch:
    tracks: np.ndarray  # (B,) indices into the sampler's track list
    length: int  # chunk length of this batch, frames
    starts_a: np.ndarray  # (B,) first frame of view a
    starts_b: np.ndarray  # ... of view b, in track `partners`
    lengths: np.ndarray  # (B,) valid frames per item of view a (< length for short tracks)
    partners: np.ndarray  # (B,) track of view b: the same track, or one of its album
    lengths_b: np.ndarray
    groups: np.ndarray | None = None  # (global B,) group of every item on all ranks; None = no album positives
    whole: bool = False  # every view is a whole track (up to the cap)


class PairSampler:
    def __init__(
        self, frames: Sequence[int], batch_size: int, chunk: ChunkSpec, seed: int, world: int = 1, rank: int = 0,
        groups: Sequence[int] | None = None, album_p: float = 0.0, whole_p: float = 0.0,
        whole_max_frames: int | None = None,
    ) -> None:
        self.whole_p, self.whole_max_frames = whole_p, whole_max_frames
        self.frames = np.asarray(frames, dtype=np.int64)
        self.album_p = album_p if groups is not None else 0.0
        self.groups = np.asarray(groups, dtype=np.int64) if groups is not None else None
        if self.groups is not None:
            self._members = {int(g): np.flatnonzero(self.groups == g) for g in np.unique(self.groups)}
        self.batch_size, self.chunk, self.seed = batch_size, chunk, seed
        self.world, self.rank = world, rank
        self.global_batch = batch_size * world
        if len(self.frames) < self.global_batch:
            raise DatasetError(
                f"{len(self.frames)} usable tracks, but one step needs {self.global_batch} different tracks "
                f"({batch_size} per process × {world})",
                fix="add tracks or lower --batch-size",
            )
        self.steps_per_epoch = len(self.frames) // self.global_batch
        self._perm: tuple[int, np.ndarray] | None = None

    def _permutation(self, epoch: int) -> np.ndarray:
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng([self.seed, epoch, 0]).permutation(len(self.frames)))
        return self._perm[1]

    def position(self, step: int) -> dict[str, int]:
        return {"step": step, "epoch": step // self.steps_per_epoch, "batch_in_epoch": step % self.steps_per_epoch}

    def batch(self, step: int) -> PairBatch:
        """This rank's share of the global batch of `step`."""
        epoch, i = divmod(step, self.steps_per_epoch)
        g = self.global_batch
        chosen = self._permutation(epoch)[i * g : (i + 1) * g]
        rng = np.random.default_rng([self.seed, step, 1])
        length = self.chunk.draw(rng)
        whole = self.whole_p > 0 and np.random.default_rng([self.seed, step, 3]).random() < self.whole_p
        n = self.frames[chosen]
        u_a, u_b = rng.random(g), rng.random(g)
        partners = chosen.copy()
        if self.album_p > 0:
            partners = self._album_partners(chosen, np.random.default_rng([self.seed, step, 2]))
        n_b = self.frames[partners]
        if whole:  # a track longer than the cap gives a random stretch of the cap's length
            length = int(max(n.max(), n_b.max()))
            if self.whole_max_frames:
                length = min(length, self.whole_max_frames)
        starts_a = (u_a * (np.maximum(n - length, 0) + 1)).astype(np.int64)  # possible starts per track
        starts_b = (u_b * (np.maximum(n_b - length, 0) + 1)).astype(np.int64)
        mine = slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        return PairBatch(
            tracks=chosen[mine], length=length, starts_a=starts_a[mine], starts_b=starts_b[mine],
            lengths=np.minimum(n, length)[mine], partners=partners[mine], lengths_b=np.minimum(n_b, length)[mine],
            groups=self.groups[chosen] if self.album_p > 0 else None, whole=whole,
        )

    def _album_partners(self, chosen: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        swap = rng.random(len(chosen)) < self.album_p
        picks = rng.random(len(chosen))
        out = chosen.copy()
        for i, t in enumerate(chosen):
            others = self._members[int(self.groups[t])]
            others = others[others != t]
            if swap[i] and len(others):
                out[i] = others[int(picks[i] * len(others))]
        return out


def collate(read, shas: Sequence[str], batch: PairBatch, pad_value: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(views_a, views_b, lengths): two (B, n_mels, L) float32 tensors and the valid frames
    of both, (2B,): view a's then view b's.

    `read(sha, start, length)` returns an (n_mels, ≤ length) array (MelCache.read).
    """
    views = []
    for tracks, starts, lengths in ((batch.tracks, batch.starts_a, batch.lengths),
                                    (batch.partners, batch.starts_b, batch.lengths_b)):
        items = []
        for t, s, n in zip(tracks, starts, lengths):
            x = read(shas[int(t)], int(s), int(n))
            if x.shape[1] < batch.length:
                x = np.pad(x, ((0, 0), (0, batch.length - x.shape[1])), constant_values=pad_value)
            items.append(x)
        views.append(torch.from_numpy(np.stack(items)))
    return views[0], views[1], torch.from_numpy(np.concatenate((batch.lengths, batch.lengths_b)))
