"""Task metrics, all from scikit-learn or mir_eval. Each returns a dict; `primary` picks the probe.

Outputs are what a probe predicts: class probabilities (N, C) over the dataset's
labels, tag probabilities (N, L), or regression values (N, T) in the targets' units.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, r2_score, roc_auc_score

from myna_rpe.evaluation.datasets import EvalDataset
from myna_rpe.evaluation.keys import weighted_score

Metric = Callable[[np.ndarray, np.ndarray], dict[str, float]]


def accuracy(y: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    return {"accuracy": float(accuracy_score(y, probs.argmax(axis=1)))}


def key_scores(labels: list[str]) -> Metric:
    """Accuracy and the mean MIREX weighted score (mir_eval.key.weighted_score per track)."""

    def score(y: np.ndarray, probs: np.ndarray) -> dict[str, float]:
        pred = probs.argmax(axis=1)
        mirex = np.mean([weighted_score(labels[r], labels[e]) for r, e in zip(y, pred)])
        return {"mirex": float(mirex), "accuracy": float(accuracy_score(y, pred))}

    return score


def pitch_scores(labels: list[str]) -> Metric:
    """Accuracy over MIDI pitches and chroma accuracy (right pitch class, any octave), as HEAR 2021's
    nsynth_pitch reports (pitch_acc, chroma_acc). Labels are MIDI numbers as strings."""
    midi = np.array([int(label) for label in labels])

    def score(y: np.ndarray, probs: np.ndarray) -> dict[str, float]:
        pred = probs.argmax(axis=1)
        return {"accuracy": float(accuracy_score(y, pred)), "chroma_accuracy": float(np.mean(midi[y] % 12 == midi[pred] % 12))}

    return score


def tagging(y: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Macro ROC-AUC and PR-AUC (average precision) over the tags with both classes present.

    On the real MagnaTagATune test split every top-50 tag has positives; on a small or
    partial copy a tag without positives has no AUC, so it is left out and counted.
    """
    defined = (y.min(axis=0) == 0) & (y.max(axis=0) == 1)
    if not defined.any():
        return {"roc_auc": float("nan"), "pr_auc": float("nan"), "tags_scored": 0.0}
    y, probs = y[:, defined], probs[:, defined]
    return {
        "roc_auc": float(roc_auc_score(y, probs, average="macro")),
        "pr_auc": float(average_precision_score(y, probs, average="macro")),
        "tags_scored": float(defined.sum()),
    }


def regression(names: list[str]) -> Metric:
    """R² per target (sklearn) and their mean."""

    def score(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
        out = {f"r2_{n}": float(r2_score(y[:, i], pred[:, i])) for i, n in enumerate(names)}
        out["r2"] = float(np.mean(list(out.values())))
        return out

    return score


def metric_for(dataset: EvalDataset) -> tuple[Metric, str]:
    """The metric function of a dataset and the name of its primary (model-selection) value."""
    if dataset.task == "multilabel":
        return tagging, "roc_auc"
    if dataset.task == "regression":
        return regression(dataset.labels), "r2"
    if dataset.name == "giantsteps":
        return key_scores(dataset.labels), "mirex"
    if dataset.name.endswith("-pitch"):
        return pitch_scores(dataset.labels), "accuracy"
    return accuracy, "accuracy"
