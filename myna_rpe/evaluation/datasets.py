"""What every downstream dataset loader returns, and the helpers they share.

A loader reads a dataset exactly as its publishers lay it out on disk and returns an
`EvalDataset`: tracks (audio path + label) in train / valid / test, the task kind,
the label names, and a note saying where the split comes from. Loaders never decode
audio; a missing file is a `DatasetError` that names the files, where we looked, and
where the dataset comes from.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from myna_rpe.errors import DatasetError

Task = Literal["multiclass", "multilabel", "regression"]
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Track:
    """One example: `key` is stable across machines (a path relative to the dataset root)."""

    key: str
    path: Path
    label: Any  # class name (multiclass), list of tags (multilabel), tuple of floats (regression)


@dataclass
class EvalDataset:
    name: str
    task: Task
    labels: list[str]  # class names, tag names, or regression target names
    splits: dict[str, list[Track]]
    split_source: str  # one line: where the train/valid/test split comes from
    notes: list[str] = field(default_factory=list)  # e.g. tracks skipped and why
    reference_sizes: dict[str, int] | None = None  # split sizes of the complete published dataset
    audio_set: str | None = None  # cache folder when several tasks share one audio collection (default: name)
    # Cross-validated datasets: one train/valid/test assignment per fold (`splits` is the first).
    folds: list[dict[str, list[Track]]] | None = None

    def __post_init__(self) -> None:
        for split in SPLITS:
            if not self.splits.get(split):
                raise DatasetError(f"the {split} split of {self.name} is empty", fix="check the dataset folder is complete")

    @property
    def cache_name(self) -> str:
        return self.audio_set or self.name

    def fold_views(self) -> list["EvalDataset"]:
        """One dataset per fold (just this one when there are no folds)."""
        if not self.folds:
            return [self]
        return [replace(self, splits=fold, folds=None) for fold in self.folds]

    def targets(self, split: str) -> np.ndarray:
        """Labels of one split as arrays: class ids (N,), 0/1 matrix (N, L), or floats (N, T)."""
        tracks = self.splits[split]
        if self.task == "multiclass":
            index = {name: i for i, name in enumerate(self.labels)}
            return np.array([index[t.label] for t in tracks], dtype=np.int64)
        if self.task == "multilabel":
            index = {name: i for i, name in enumerate(self.labels)}
            y = np.zeros((len(tracks), len(self.labels)), dtype=np.int64)
            for row, t in enumerate(tracks):
                for tag in t.label:
                    y[row, index[tag]] = 1
            return y
        return np.array([t.label for t in tracks], dtype=np.float64)

    def sizes(self) -> dict[str, int]:
        return {split: len(self.splits[split]) for split in SPLITS}

    def size_warning(self) -> str | None:
        """A note when the split sizes differ from the complete dataset's (a partial download?)."""
        if self.reference_sizes is None or self.sizes() == self.reference_sizes:
            return None
        got = "/".join(str(n) for n in self.sizes().values())
        want = "/".join(str(self.reference_sizes[s]) for s in SPLITS)
        return f"split sizes {got} differ from the published {want}: results are not comparable to papers"


def read_table(path: Path, source: str, delimiter: str = ",") -> tuple[list[str], list[dict[str, str]]]:
    """(column names, rows) of a CSV/TSV metadata file, names and values stripped; a file that
    cannot be read as UTF-8 text of that form is a DatasetError naming it and where to get it."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh, delimiter=delimiter)
            columns = [c.strip() for c in reader.fieldnames or ()]
            rows = [{(k or "").strip(): (v if isinstance(v, str) else "").strip() for k, v in row.items()}
                    for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read this table ({type(exc).__name__}: {str(exc)[:60]})", path,
                           f"use the file from {source} (UTF-8 text)") from None
    return columns, rows


def shipped_list(name: str) -> list[str]:
    """Non-empty lines of a list shipped in myna_rpe/data/splits (see its README for origins)."""
    text = resources.files("myna_rpe").joinpath("data", "splits", name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def missing_files_error(dataset: str, missing: list[str], where: Path, source: str) -> DatasetError:
    """One line: how many files are missing, the first few, where we looked, where to get them."""
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return DatasetError(
        f"{dataset}: {len(missing)} expected file(s) missing ({shown})",
        where,
        f"download {dataset} from {source} and point --data-dir at it",
    )
