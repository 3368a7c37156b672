"""GTZAN genre (Tzanetakis & Cook 2002) with the fault-filtered split.

Layout: `genres/<genre>/<genre>.000NN.wav` (the Kaggle copy calls the folder
`genres_original`; the original Marsyas archive has `.au` files, accepted too).
Split: Kereliuk, Sturm & Larsen (2015) "fault-filtered" lists, 443 / 197 / 290 tracks,
shipped in myna_rpe/data/splits/gtzan_filtered_*.txt (origin in that folder's README).
"""

from __future__ import annotations

from pathlib import Path

from myna_rpe.errors import DatasetError
from myna_rpe.evaluation.datasets import SPLITS, EvalDataset, Track, missing_files_error, shipped_list

NAME = "gtzan"
GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
SOURCE = "https://marsyas.info/index.html (or the Kaggle copy 'GTZAN Dataset - Music Genre Classification')"
_FOLDERS = ("genres", "genres_original")
_PARENTS = ("", "gtzan", "GTZAN", "Data", "gtzan/Data")


def locate(data_dir: Path) -> Path | None:
    """The folder holding one sub-folder per genre, or None."""
    for parent in _PARENTS:
        for folder in ("", *_FOLDERS):
            candidate = data_dir / parent / folder
            if (candidate / "blues").is_dir() and (candidate / "rock").is_dir():
                return candidate
    return None


def load(data_dir: str | Path) -> EvalDataset:
    data_dir = Path(data_dir)
    root = locate(data_dir)
    if root is None:
        raise DatasetError(
            "no GTZAN genre folders (genres/blues ... genres/rock) found",
            data_dir,
            f"download GTZAN from {SOURCE} and pass its folder as --data-dir",
        )
    splits: dict[str, list[Track]] = {}
    missing: list[str] = []
    for split in SPLITS:
        tracks = []
        for rel in shipped_list(f"gtzan_filtered_{split}.txt"):
            genre = rel.split("/")[0]
            path = root / rel
            if not path.is_file() and path.with_suffix(".au").is_file():
                path = path.with_suffix(".au")
            if not path.is_file():
                missing.append(rel)
            tracks.append(Track(key=rel, path=path, label=genre))
        splits[split] = tracks
    if missing:
        raise missing_files_error("GTZAN", missing, root, SOURCE)
    return EvalDataset(
        name=NAME,
        task="multiclass",
        labels=GENRES,
        splits=splits,
        split_source="fault-filtered split of Kereliuk, Sturm & Larsen 2015 (shipped lists)",
        reference_sizes={"train": 443, "valid": 197, "test": 290},
    )
