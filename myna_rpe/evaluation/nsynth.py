"""NSynth (Engel et al. 2017): instrument family (11 classes) and pitch of single notes.

Layout (the three `nsynth-{train,valid,test}.jsonwav.tar.gz` archives from
magenta.tensorflow.org/datasets/nsynth unpacked side by side into --data-dir):

    nsynth-train/examples.json     {note_str: {"note_str", "pitch", "velocity", "instrument_family",
    nsynth-train/audio/<note_str>.wav        "instrument_family_str", "instrument_source_str", ...}}
    nsynth-valid/...  nsynth-test/...

Splits: the official ones (289,205 / 12,678 / 4,096 notes; 4 s, 16 kHz). Two tasks on
the same audio: `nsynth-instrument` (instrument_family_str, all notes) and `nsynth-pitch`
(the MIDI `pitch`, restricted to the piano range 21-108 as in HEAR 2021's nsynth_pitch).
"""

from __future__ import annotations

import json
from pathlib import Path

from myna_rpe.errors import DatasetError
from myna_rpe.evaluation.datasets import SPLITS, EvalDataset, Track, missing_files_error

NAME = "nsynth"
SOURCE = "https://magenta.tensorflow.org/datasets/nsynth (the three .jsonwav.tar.gz archives)"
# instrument_family ids 0..10 and their instrument_family_str, as the dataset defines them
FAMILIES = ["bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string", "synth_lead", "vocal"]
PITCH_RANGE = (21, 108)
REFERENCE_SIZES = {"train": 289205, "valid": 12678, "test": 4096}
_PARENTS = ("", "nsynth", "NSynth")


def _folder(split: str) -> str:
    return f"nsynth-{split}"


def locate(data_dir: Path) -> Path | None:
    """The folder holding nsynth-train/, nsynth-valid/ and nsynth-test/ (or any of them), or None."""
    for parent in _PARENTS:
        root = data_dir / parent
        if any((root / _folder(s) / "examples.json").is_file() for s in SPLITS):
            return root
    return None


def _read_split(root: Path, split: str) -> list[tuple[Track, dict]]:
    folder = root / _folder(split)
    table = folder / "examples.json"
    if not table.is_file():
        raise missing_files_error("NSynth", [f"{_folder(split)}/examples.json"], root, SOURCE)
    try:
        examples = json.loads(table.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise DatasetError(f"examples.json is not readable JSON ({exc.__class__.__name__})", table, f"unpack it again from {SOURCE}") from None
    rows, missing = [], []
    for note_str in sorted(examples):
        meta = examples[note_str]
        if not isinstance(meta, dict) or not {"pitch", "instrument_family_str"} <= set(meta):
            raise DatasetError(f"entry {note_str!r} lacks pitch or instrument_family_str", table, f"use the examples.json from {SOURCE}")
        rel = f"{_folder(split)}/audio/{note_str}.wav"
        path = root / rel
        if not path.is_file():
            missing.append(rel)
        rows.append((Track(key=rel, path=path, label=None), meta))
    if missing:
        raise missing_files_error("NSynth", missing, root, SOURCE)
    return rows


def load_tasks(data_dir: str | Path) -> list[EvalDataset]:
    data_dir = Path(data_dir)
    root = locate(data_dir)
    if root is None:
        raise DatasetError("no NSynth folders (nsynth-train/examples.json ...) found", data_dir, f"download NSynth from {SOURCE} and unpack it here")
    rows = {s: _read_split(root, s) for s in SPLITS}
    for split, items in rows.items():
        bad = sorted({m["instrument_family_str"] for _, m in items} - set(FAMILIES))
        if bad:
            raise DatasetError(f"unknown instrument_family_str {bad[0]!r} in {_folder(split)}", root / _folder(split) / "examples.json", f"use the examples.json from {SOURCE}")
    lo, hi = PITCH_RANGE
    relabel = lambda items, key: [Track(t.key, t.path, key(m)) for t, m in items]  # noqa: E731
    instrument = EvalDataset(
        name="nsynth-instrument",
        task="multiclass",
        labels=list(FAMILIES),
        splits={s: relabel(rows[s], lambda m: m["instrument_family_str"]) for s in SPLITS},
        split_source="official NSynth train/valid/test; instrument_family_str (11 families)",
        reference_sizes=REFERENCE_SIZES,
        audio_set=NAME,
    )
    in_range = {s: [(t, m) for t, m in rows[s] if lo <= int(m["pitch"]) <= hi] for s in SPLITS}
    dropped = sum(len(rows[s]) - len(in_range[s]) for s in SPLITS)
    pitch = EvalDataset(
        name="nsynth-pitch",
        task="multiclass",
        labels=[str(p) for p in range(lo, hi + 1)],
        splits={s: relabel(in_range[s], lambda m: str(int(m["pitch"]))) for s in SPLITS},
        split_source=f"official NSynth train/valid/test; MIDI pitch {lo}-{hi} (HEAR 2021 nsynth_pitch)",
        notes=[f"{dropped} notes outside MIDI {lo}-{hi} left out of the pitch task"] if dropped else [],
        audio_set=NAME,
    )
    return [instrument, pitch]
