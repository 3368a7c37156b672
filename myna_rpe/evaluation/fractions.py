"""Label fractions: train a probe on a stratified, nested, seeded share of the train split.

CLMR (Spijkervet & Burgoyne 2021) reports what 1 % and 10 % of the labels achieve; here
any fractions, each repeated over several draws and reported as mean ± sd. Only the
train split shrinks: valid (model selection) and test stay whole.

Stratified: each stratum keeps round(f · n) of its n train examples, at least one, so a
class present in train stays present. Strata: the class (single-label); the rarest tag
the example carries, counted over train, or "no tag" (multi-label); the quintile of the
first target (regression). Nested: draw r shuffles each stratum once, with its own seed,
and every fraction takes a prefix of that order, so the 1 % set lies inside the 10 % set.
"""

from __future__ import annotations

import numpy as np

from myna_rpe.evaluation.datasets import Task


def strata(task: Task, y: np.ndarray) -> np.ndarray:
    if task == "multiclass":
        return np.asarray(y, dtype=np.int64)
    if task == "multilabel":
        counts = y.sum(axis=0).astype(np.float64)
        rarity = np.where(y > 0, counts[None, :], np.inf)
        return np.where(np.isfinite(rarity.min(axis=1)), rarity.argmin(axis=1), -1)
    first = np.asarray(y, dtype=np.float64).reshape(len(y), -1)[:, 0]
    edges = np.quantile(first, [0.2, 0.4, 0.6, 0.8])
    return np.searchsorted(edges, first, side="right")


def nested_subsets(groups: np.ndarray, fractions: list[float], seed: int, draw: int) -> dict[float, np.ndarray]:
    """fraction -> sorted row indices into the train split, for one draw."""
    for f in fractions:
        if not 0 < f <= 1:
            raise ValueError(f"label fractions must be in (0, 1], got {f}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, draw]))
    orders = {g: rng.permutation(np.flatnonzero(groups == g)) for g in np.unique(groups)}
    out = {}
    for f in fractions:
        picked = [order[: max(1, int(round(f * len(order))))] for order in orders.values()]
        out[f] = np.sort(np.concatenate(picked))
    return out
