"""The retrieval benchmark's metrics: AP from a similarity matrix and paired differences."""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_retrieval import cosine_matrix, paired_differences, retrieval_scores, summarise  # noqa: E402

LABELS = ["a"] * 4 + ["b"] * 4 + ["c"] * 4


def _clustered(noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 8) * 3
    return np.stack([centres["abc".index(l)] + noise * rng.standard_normal(8) for l in LABELS])


def test_perfect_clusters_score_one_and_chance_is_exact():
    s = retrieval_scores(cosine_matrix(_clustered(0.01, 0)), LABELS, [f"v{i}" for i in range(12)])
    assert np.allclose(s["ap"], 1.0)
    # 3 relevant among 11 candidates: P@5 chance is 3/11
    assert np.allclose(s["chance_p_at_k"], 3 / 11)
    assert list(s["query"]) == list(range(12))


def test_other_versions_are_not_candidates():
    variants = [f"v{i}" for i in range(12)]
    variants[1] = variants[0]  # track 1 is another version of track 0
    s = retrieval_scores(cosine_matrix(_clustered(0.01, 0)), LABELS, variants)
    assert np.allclose(s["chance_p_at_k"][:2], 2 / 10)


def _row(label, sim, s):
    return {"model": label, "level": "game", "similarity": sim, **summarise(s)}


def test_paired_differences_zero_for_the_same_ranking_and_positive_for_a_better_one():
    keys = [f"t{i}" for i in range(12)]
    variants = list(keys)
    good = retrieval_scores(cosine_matrix(_clustered(0.3, 1)), LABELS, variants)
    bad = retrieval_scores(cosine_matrix(_clustered(3.0, 2)), LABELS, variants)
    index = {k: i for i, k in enumerate(keys)}
    per_query = {("model", "game", "cosine"): (index, good), ("twin", "game", "cosine"): (index, good),
                 ("peer", "game", "cosine"): (index, bad)}
    results = [_row("model", "cosine", good), _row("twin", "cosine", good), _row("peer", "cosine", bad)]
    diffs = {d["other"]: d for d in paired_differences(results, per_query, SimpleNamespace(checkpoint=["x"]))}
    assert diffs["twin"]["map"] == 0 and diffs["twin"]["map_ci"] == [0.0, 0.0]
    assert diffs["peer"]["map"] > 0 and diffs["peer"]["map_ci"][0] > 0
    assert diffs["peer"]["map"] == pytest.approx(results[0]["map_games"] - results[2]["map_games"])
