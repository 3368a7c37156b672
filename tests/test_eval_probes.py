"""Probes: selection on valid only, label alignment, target units, metrics from scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from myna_rpe.evaluation.metrics import accuracy, regression, tagging
from myna_rpe.evaluation.probes import GRIDS, Split, run_probes
from tests.eval_note_fixtures import one_thread  # noqa: F401 (autouse: tiny products run 3-10x faster in one thread)

QUICK = GRIDS["quick"]


def blobs(n: int, seed: int, classes: tuple[int, ...] = (0, 1, 2)) -> Split:
    rng = np.random.default_rng(seed)
    y = rng.choice(classes, size=n)
    centres = np.random.default_rng(99).normal(scale=3.0, size=(24, 8))
    return Split((centres[y] + rng.normal(size=(n, 8))).astype(np.float32), y)


def test_selection_never_looks_at_test() -> None:
    train, valid, test = blobs(90, 0), blobs(45, 1), blobs(45, 2)
    shuffled = Split(test.X, np.random.default_rng(3).permutation(test.y))
    a = run_probes("multiclass", 3, train, valid, test, accuracy, "accuracy", QUICK)
    b = run_probes("multiclass", 3, train, valid, shuffled, accuracy, "accuracy", QUICK)
    for ra, rb in zip(a, b):
        assert ra.params == rb.params and ra.valid == rb.valid and ra.grid == rb.grid
    assert a[0].test["accuracy"] > 0.9 and b[0].test["accuracy"] < 0.8


def test_classes_missing_from_train_keep_their_columns() -> None:
    # 24 keys, train and test drawn from keys 5, 9 and 17 only: probabilities must line up with label ids
    classes = (5, 9, 17)
    train, valid, test = blobs(90, 0, classes), blobs(45, 1, classes), blobs(45, 2, classes)
    for r in run_probes("multiclass", 24, train, valid, test, accuracy, "accuracy", QUICK):
        assert r.test["accuracy"] > 0.9, r.probe


def test_regression_predictions_are_in_target_units() -> None:
    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        X = rng.normal(size=(n, 6)).astype(np.float32)
        y = np.stack([500.0 + 40.0 * X[:, 0], -3.0 + 0.01 * X[:, 1]], axis=1)  # far from zero mean, unit scale
        return Split(X, y + rng.normal(scale=[4.0, 0.001], size=y.shape))

    for r in run_probes("regression", 2, split(120), split(40), split(40), regression(["a", "b"]), "r2", QUICK):
        assert r.test["r2_a"] > 0.8 and r.test["r2_b"] > 0.8, r.probe


def test_multilabel_probe_and_seeded_mlp() -> None:
    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        X = rng.normal(size=(n, 10)).astype(np.float32)
        return Split(X, np.stack([X[:, 0] > 0, X[:, 1] > 0.5, X[:, 2] + X[:, 3] > 0], axis=1).astype(np.int64))

    train, valid, test = split(150), split(60), split(60)
    a = run_probes("multilabel", 3, train, valid, test, tagging, "roc_auc", QUICK, seed=1)
    b = run_probes("multilabel", 3, train, valid, test, tagging, "roc_auc", QUICK, seed=1)
    assert a[0].test["roc_auc"] > 0.9 and a[1].test["roc_auc"] > 0.8
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]


def test_tagging_metric_is_sklearn_macro_over_defined_tags() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(30, 4))
    y[:, 3] = 0  # a tag without positives has no AUC
    probs = rng.uniform(size=(30, 4))
    out = tagging(y, probs)
    assert out["tags_scored"] == 3
    assert out["roc_auc"] == pytest.approx(roc_auc_score(y[:, :3], probs[:, :3], average="macro"))
    assert out["pr_auc"] == pytest.approx(average_precision_score(y[:, :3], probs[:, :3], average="macro"))


def test_report_is_strict_json_with_null_for_undefined_metrics(tmp_path) -> None:
    import json

    from myna_rpe.evaluation.runner import write_report

    out = write_report({"datasets": {"mtat": {"test": {"roc_auc": float("nan"), "pr_auc": np.float64(0.5)}}}}, tmp_path / "r.json")
    assert json.loads(out.read_text()) == {"datasets": {"mtat": {"test": {"roc_auc": None, "pr_auc": 0.5}}}}
