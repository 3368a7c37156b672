"""Musical keys as the 24 class labels of GiantSteps, spelled the way mir_eval reads them.

Annotations spell keys many ways ("D# minor", "f# minor", "Bb major", "B major ");
every spelling maps to one pitch class and mode, named with flats ("Eb minor"), so
enharmonic spellings are one class and `mir_eval.key.weighted_score` understands them.
"""

from __future__ import annotations

import re

import mir_eval

_LETTER = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_ACCIDENTAL = {"": 0, "#": 1, "b": -1}
PITCH_NAMES = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]
KEY_LABELS = [f"{p} major" for p in PITCH_NAMES] + [f"{p} minor" for p in PITCH_NAMES]
_KEY = re.compile(r"^([a-g])([#b]?)\s+(major|minor)$")


def normalize_key(text: str) -> str | None:
    """'D# minor' -> 'Eb minor'; None for anything that is not exactly one key ('-', 'A / E major')."""
    m = _KEY.match(" ".join(text.strip().lower().split()))
    if m is None:
        return None
    letter, accidental, mode = m.groups()
    pitch = (_LETTER[letter] + _ACCIDENTAL[accidental]) % 12
    return f"{PITCH_NAMES[pitch]} {mode}"


def weighted_score(reference: str, estimate: str) -> float:
    """MIREX key score (1 same, 0.5 fifth, 0.3 relative, 0.2 parallel, 0 else), computed by mir_eval."""
    return float(mir_eval.key.weighted_score(reference, estimate))
