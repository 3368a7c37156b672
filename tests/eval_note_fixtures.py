"""Tiny copies of NSynth and TinySOL in their published layouts, with learnable labels.

Notes come from `myna_rpe.synth.synth_note`: the instrument is the harmonic profile
(timbre) and the pitch is the note's MIDI number, so MFCCs can learn the instrument and a
pitch-keeping representation (CQT) the pitch. NSynth: `nsynth-{split}/examples.json`
keyed by note_str with every field the dataset defines, audio in
`nsynth-{split}/audio/<note_str>.wav` at 16 kHz. TinySOL: `TinySOL_metadata.csv` with the
fourteen Zenodo columns and the audio under `<Family>/<Instrument>/ordinario/` at 44.1 kHz.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from myna_rpe.audio import write_audio
from myna_rpe.evaluation import nsynth
from myna_rpe.synth import synth_note

NSYNTH_TIMBRES = {"bass": "sine", "brass": "bright", "flute": "mellow", "reed": "square"}
PITCHES = (45, 50, 55, 60, 64, 67, 72, 77)
_SOURCES = ("acoustic", "electronic", "synthetic")
_VELOCITIES = (25, 50, 75, 100, 127)


def make_nsynth(root: Path, per_split: dict[str, int] | None = None, duration: float = 0.5, seed: int = 0,
                out_of_range: bool = True) -> Path:
    """Families cycle through NSYNTH_TIMBRES and pitches through PITCHES (every pair occurs in
    each split); one train and one test note lie outside MIDI 21-108 when `out_of_range`."""
    rng = np.random.default_rng(seed)
    per_split = per_split or {"train": 64, "valid": 32, "test": 32}
    families = list(NSYNTH_TIMBRES)
    note_id = 0
    for split, count in per_split.items():
        folder = root / f"nsynth-{split}"
        examples = {}
        pitches = [(i, PITCHES[i % len(PITCHES)]) for i in range(count)]
        if out_of_range and split in ("train", "test"):
            pitches.append((count, 9 if split == "train" else 115))
        for i, pitch in pitches:
            family = families[(i // len(PITCHES) + i) % len(families)]
            source, velocity = _SOURCES[i % 3], _VELOCITIES[i % 5]
            instrument_str = f"{family}_{source}_{note_id % 1000:03d}"
            note_str = f"{instrument_str}-{pitch:03d}-{velocity:03d}"
            wave = synth_note(pitch, NSYNTH_TIMBRES[family], duration, 16000, loudness_db=-34 + velocity / 127 * 14,
                              vibrato_cents=float(rng.uniform(0, 15)), seed=int(rng.integers(2**31)))
            write_audio(folder / "audio" / f"{note_str}.wav", wave, 16000)
            examples[note_str] = {
                "note": note_id, "note_str": note_str, "instrument": note_id % 1000, "instrument_str": instrument_str,
                "pitch": pitch, "velocity": velocity, "sample_rate": 16000, "qualities": [0] * 10, "qualities_str": [],
                "instrument_family": nsynth.FAMILIES.index(family), "instrument_family_str": family,
                "instrument_source": _SOURCES.index(source), "instrument_source_str": source,
            }
            note_id += 1
        (folder / "examples.json").write_text(json.dumps(examples, indent=4), encoding="utf-8")
    return root


# (Family, folder, abbreviation, name in full, timbre, string instrument)
TINYSOL_INSTRUMENTS = (
    ("Winds", "Flute", "Fl", "Flute", "mellow", False),
    ("Strings", "Violin", "Vn", "Violin", "bright", True),
    ("Brass", "Trumpet_C", "TpC", "Trumpet in C", "square", False),
    ("Keyboards", "Accordion", "Acc", "Accordion", "sine", False),
)
TINYSOL_COLUMNS = ("Path", "Fold", "Family", "Instrument (abbr.)", "Instrument (in full)", "Technique (abbr.)",
                   "Technique (in full)", "Pitch", "Pitch ID", "Dynamics", "Dynamics ID", "Instance ID", "String ID",
                   "Needed digital retuning")
_SHARPS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_DYNAMICS = ("pp", "p", "mf", "f", "ff")


def make_tinysol(root: Path, per_fold: int = 4, folds: int = 5, duration: float = 0.5, seed: int = 0) -> Path:
    """`per_fold` notes of each instrument in each fold, pitches cycling through PITCHES."""
    rng = np.random.default_rng(seed)
    rows = [TINYSOL_COLUMNS]
    n = 0
    for fold in range(folds):
        for family, folder, abbr, full, timbre, strings in TINYSOL_INSTRUMENTS:
            for j in range(per_fold):
                pitch = PITCHES[(fold * per_fold + j) % len(PITCHES)]
                name = f"{_SHARPS[pitch % 12]}{pitch // 12 - 1}"
                dyn = (fold + j) % 5
                string = 1 + j % 4 if strings else None
                tail = f"{string}c-N" if strings else "N-N"
                rel = f"{family}/{folder}/ordinario/{abbr}-ord-{name}-{_DYNAMICS[dyn]}-{tail}.wav"
                wave = synth_note(pitch, timbre, duration, 44100, loudness_db=-32 + 4 * dyn,
                                  vibrato_cents=float(rng.uniform(0, 15)), seed=int(rng.integers(2**31)))
                write_audio(root / rel, wave, 44100)
                rows.append((rel, str(fold), family, abbr, full, "ord", "ordinario", name, str(pitch), _DYNAMICS[dyn],
                             str(dyn), "0", f"{string:.1f}" if string else "", "FALSE"))
                n += 1
    with open(root / "TinySOL_metadata.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return root


@pytest.fixture(autouse=True)
def one_thread():
    """Small probes and features in one thread: on a shared 2-core machine, two torch/BLAS
    threads per tiny matrix product spend most of their time waiting for each other (10x
    slower here). Import this fixture into a test module to apply it there."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)
