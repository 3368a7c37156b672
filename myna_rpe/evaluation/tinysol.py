"""TinySOL (Cella et al. 2020): instrument (14 classes) and pitch of single notes, 5 folds.

Layout (the two files of zenodo.org/record/3685367 in --data-dir):

    TinySOL_metadata.csv    Path, Fold, Family, Instrument (abbr.), Instrument (in full),
                            Technique (abbr.), Technique (in full), Pitch, Pitch ID, Dynamics,
                            Dynamics ID, Instance ID, String ID, Needed digital retuning
    <Path>                  e.g. Winds/Flute/ordinario/Fl-ord-C4-mf-N-T14d.wav, 44.1 kHz

The audio folders (Brass/, Keyboards/, Strings/, Winds/ from TinySOL.tar.gz) may sit
beside the CSV, inside `TinySOL/`, or inside `audio/` next to an `annotation/` folder
holding the CSV (mirdata's arrangement). Splits: the dataset's own `Fold` column (0-4,
balanced for instrument, pitch range and dynamics by its authors, who ask for results
averaged over folds). Fold k is test, fold k+1 (mod 5) is valid, the other three train.
"""

from __future__ import annotations

from pathlib import Path

from myna_rpe.errors import DatasetError
from myna_rpe.evaluation.datasets import EvalDataset, Track, missing_files_error, read_table

NAME = "tinysol"
SOURCE = "https://zenodo.org/record/3685367 (TinySOL.tar.gz and TinySOL_metadata.csv)"
METADATA = "TinySOL_metadata.csv"
COLUMNS = ("Path", "Fold", "Instrument (in full)", "Pitch ID")
REFERENCE_NOTES = 2913
_PARENTS = ("", "TinySOL", "tinysol", "annotation", "TinySOL/annotation", "tinysol/annotation")


def locate(data_dir: Path) -> Path | None:
    """The metadata CSV, or None."""
    return next((data_dir / p / METADATA for p in _PARENTS if (data_dir / p / METADATA).is_file()), None)


def _audio_root(metadata: Path, first: str) -> Path:
    here = metadata.parent
    candidates = [here, here / "TinySOL", here / "audio", here.parent / "audio"]
    return next((c for c in candidates if (c / first).is_file()), here)


def _rows(metadata: Path) -> list[dict[str, str]]:
    header, rows = read_table(metadata, SOURCE)
    absent = [c for c in COLUMNS if c not in header]
    if absent:
        raise DatasetError(f"{METADATA} lacks column(s) {', '.join(absent)}", metadata, f"use the metadata file from {SOURCE}")
    if not rows:
        raise DatasetError(f"{METADATA} has no rows", metadata, f"use the metadata file from {SOURCE}")
    return rows


def load_tasks(data_dir: str | Path) -> list[EvalDataset]:
    data_dir = Path(data_dir)
    metadata = locate(data_dir)
    if metadata is None:
        raise DatasetError(f"no {METADATA} found", data_dir, f"download TinySOL from {SOURCE} and unpack it here")
    rows = _rows(metadata)
    root = _audio_root(metadata, rows[0]["Path"])
    missing = [r["Path"] for r in rows if not (root / r["Path"]).is_file()]
    if missing:
        raise missing_files_error("TinySOL", missing, root, SOURCE)
    try:
        folds = sorted({int(r["Fold"]) for r in rows})
        pitches = sorted({int(float(r["Pitch ID"])) for r in rows})
    except ValueError:
        raise DatasetError("a Fold or Pitch ID value is not a number", metadata, f"use the metadata file from {SOURCE}") from None
    if len(folds) < 3:
        raise DatasetError(f"{METADATA} has {len(folds)} fold(s); cross-validation needs at least 3", metadata, f"use the metadata file from {SOURCE}")

    def task(name: str, labels: list[str], label_of) -> EvalDataset:
        tracks = [(int(r["Fold"]), Track(key=r["Path"], path=root / r["Path"], label=label_of(r))) for r in rows]
        views = []
        for i, k in enumerate(folds):
            valid = folds[(i + 1) % len(folds)]
            views.append({
                "train": [t for f, t in tracks if f not in (k, valid)],
                "valid": [t for f, t in tracks if f == valid],
                "test": [t for f, t in tracks if f == k],
            })
        notes = [] if len(rows) == REFERENCE_NOTES else [f"{len(rows)} notes, the published TinySOL has {REFERENCE_NOTES}: results are not comparable to papers"]
        return EvalDataset(
            name=name, task="multiclass", labels=labels, splits=views[0], folds=views, audio_set=NAME, notes=notes,
            split_source=f"TinySOL's own Fold column, {len(folds)}-fold cross-validation: fold k test, fold k+1 valid, the rest train; mean ± sd over folds",
        )

    instruments = sorted({r["Instrument (in full)"] for r in rows})
    return [
        task("tinysol-instrument", instruments, lambda r: r["Instrument (in full)"]),
        task("tinysol-pitch", [str(p) for p in pitches], lambda r: str(int(float(r["Pitch ID"])))),
    ]
