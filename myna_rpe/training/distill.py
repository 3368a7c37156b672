"""Distillation targets for a batch of views, and the loss that compares the student's prediction to them.

Each view (a span of a track's mel frames) gets the teacher's mean over the 3-s patches it covers
(`myna_rpe.teacher.targets.view_target`). Targets are standardised per dimension with the mean
and standard deviation of the teacher's patch vectors over all training tracks, so no dimension
(nor the common direction all pooled ReLU features share) dominates the loss. With several
teachers (`TeacherSet`) the student's linear head predicts their targets side by side, and each
teacher's slice is scored on its own, with its own weight.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from myna_rpe.teacher.targets import TeacherCache, view_target


class DistillTargets:
    def __init__(self, cache: TeacherCache, layer: str, shas: Sequence[str], frame_seconds: float) -> None:
        self.cache, self.layer, self.shas, self.frame_seconds = cache, layer, list(shas), frame_seconds
        self.vectors = [cache.vectors(sha, layer) for sha in self.shas]
        stacked = np.concatenate([v for v in self.vectors if len(v)] or [np.zeros((1, 1), np.float32)])
        self.mean = stacked.mean(axis=0)
        self.std = np.maximum(stacked.std(axis=0), 1e-3 * max(float(stacked.std()), 1e-6))
        self.dim = stacked.shape[1]

    def view(self, track: int, start: int, frames: int) -> np.ndarray | None:
        t0 = start * self.frame_seconds
        v = view_target(self.vectors[track], t0, t0 + frames * self.frame_seconds, self.cache.stride)
        return None if v is None else (v - self.mean) / self.std

    def batch(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(2B, D) standardised targets in the order of the batch's views (a's, then b's) and a
        (2B,) mask of the views that have one (a track under 3 s has no teacher patch)."""
        rows, valid = [], []
        for tracks, starts, lengths in ((batch.tracks, batch.starts_a, batch.lengths),
                                        (batch.partners, batch.starts_b, batch.lengths_b)):
            for t, s, n in zip(tracks, starts, lengths):
                v = self.view(int(t), int(s), int(n))
                valid.append(v is not None)
                rows.append(v if v is not None else np.zeros(self.dim, np.float32))
        return torch.from_numpy(np.stack(rows).astype(np.float32)), torch.tensor(valid)


def distill_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean over the valid views of 1 − cosine (kind "cosine") or of the squared error per dimension ("mse")."""
    if kind == "cosine":
        per_view = 1.0 - F.cosine_similarity(pred, target, dim=1)
    else:
        per_view = (pred - target).square().mean(dim=1)
    weights = valid.to(per_view.dtype)
    return (per_view * weights).sum() / weights.sum().clamp(min=1.0)


class TeacherSet:
    """The teachers of a run, each with its targets and weight; the head's output is their
    targets side by side, in this order."""

    def __init__(self, members: Sequence[tuple[DistillTargets, float]]) -> None:
        self.members = list(members)
        self.dim = sum(t.dim for t, _ in self.members)

    def loss(self, pred: torch.Tensor, batch, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(Σ weight · loss, to add to the objective; the teachers' mean unweighted loss, to log)."""
        total = pred.new_zeros(())
        parts = []
        start = 0
        for targets, weight in self.members:
            target, valid = targets.batch(batch)
            part = distill_loss(pred[:, start:start + targets.dim], target.to(pred.device), valid.to(pred.device), kind)
            total = total + weight * part
            parts.append(part)
            start += targets.dim
        return total, torch.stack(parts).mean()
