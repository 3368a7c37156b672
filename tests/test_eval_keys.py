"""Key labels: every spelling in the GiantSteps annotations reaches mir_eval as the right key."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest

from myna_rpe.evaluation.keys import KEY_LABELS, normalize_key, weighted_score
from myna_rpe.evaluation.metrics import key_scores


@pytest.mark.parametrize(
    "text, expected",
    [
        ("A minor", "A minor"),
        ("Bb major", "Bb major"),
        ("D# minor", "Eb minor"),  # giantsteps-mtg-key annotations.txt spells with sharps
        ("f# minor", "Gb minor"),  # its .key files are lower case
        ("B major ", "B major"),  # trailing spaces occur
        ("C#  major", "Db major"),
        ("Cb major", "B major"),
        ("E# minor", "F minor"),
        ("-", None),
        ("C minor / F# minor", None),
        ("A-A# minor", None),
        ("G minor/major", None),
        ("A/E major", None),
        ("", None),
    ],
)
def test_normalize_key(text: str, expected: str | None) -> None:
    assert normalize_key(text) == expected


def test_labels_are_24_valid_mir_eval_keys() -> None:
    assert len(KEY_LABELS) == len(set(KEY_LABELS)) == 24
    for label in KEY_LABELS:
        mir_eval.key.validate_key(label)
        assert normalize_key(label) == label


@pytest.mark.parametrize(
    "reference, estimate, score",
    [
        ("C major", "C major", 1.0),
        ("D# minor", "Eb minor", 1.0),  # enharmonic spellings are one class
        ("Bb major", "F major", 0.5),  # estimate a fifth above the reference
        ("A minor", "E minor", 0.5),
        ("A minor", "C major", 0.3),  # relative
        ("C major", "A minor", 0.3),
        ("F# major", "Gb minor", 0.2),  # parallel, mixed spellings
        ("C major", "F major", 0.0),  # a fifth below does not count (MIREX)
        ("C major", "D major", 0.0),
        ("A minor", "Bb major", 0.0),
    ],
)
def test_weighted_score_hand_checked(reference: str, estimate: str, score: float) -> None:
    ref, est = normalize_key(reference), normalize_key(estimate)
    assert weighted_score(ref, est) == pytest.approx(score)
    assert mir_eval.key.weighted_score(ref, est) == pytest.approx(score)


def test_key_metric_feeds_class_ids_through_labels() -> None:
    """Probe outputs are class ids over KEY_LABELS; the metric must score them as those keys."""
    idx = {k: i for i, k in enumerate(KEY_LABELS)}
    refs = ["C major", "A minor", "Bb major", "Eb minor", "E major"]
    ests = ["C major", "C major", "F major", "Gb minor", "C major"]  # 1, 0.3, 0.5, 0 (not parallel), 0
    probs = np.zeros((len(refs), 24))
    probs[np.arange(len(refs)), [idx[e] for e in ests]] = 1.0
    out = key_scores(KEY_LABELS)(np.array([idx[r] for r in refs]), probs)
    assert out["mirex"] == pytest.approx((1 + 0.3 + 0.5 + 0 + 0) / 5)
    assert out["accuracy"] == pytest.approx(1 / 5)
