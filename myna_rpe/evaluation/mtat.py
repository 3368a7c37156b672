"""MagnaTagATune (Law et al. 2009): the top-50 tags, multi-label.

Layout (mp3.zip.001-003 unpacked into --data-dir, annotations beside them):

    annotations_final.csv          tab-separated: clip_id, 188 tag columns (0/1), mp3_path
    0/ 1/ ... f/<artist-album-track-start-end>.mp3

(the sixteen folders may also sit in `mp3/`). Split: the folder of each clip, the one
used since Dieleman & Schrauwen 2014 and by JukeMIR: folders 0-b train, c valid, d-f
test. All annotated clips are kept, including those with none of the top-50 tags
(18,706 / 1,825 / 5,329), except the three clips whose mp3 is known to be corrupt.
The 50 tags are the 50 most frequent, shipped in myna_rpe/data/splits/mtat_top50_tags.txt.
"""

from __future__ import annotations

from pathlib import Path

from myna_rpe.errors import DatasetError
from myna_rpe.evaluation.datasets import EvalDataset, Track, missing_files_error, read_table, shipped_list

NAME = "mtat"
SOURCE = "https://mirg.city.ac.uk/codeapps/the-magnatagatune-dataset"
ANNOTATIONS = "annotations_final.csv"
CORRUPT_CLIP_IDS = frozenset({"35644", "55753", "57881"})  # empty/undecodable mp3s in the release
_TRAIN, _VALID, _TEST = "0123456789ab", "c", "def"
_PARENTS = ("", "mtat", "magnatagatune", "MagnaTagATune", "mtt", "MTT")


def locate(data_dir: Path) -> tuple[Path, Path] | None:
    """(annotations_final.csv, audio root holding the folders 0..f) or None."""
    for parent in _PARENTS:
        root = data_dir / parent
        ann = next((p for p in (root / ANNOTATIONS, root / "annotations" / ANNOTATIONS) if p.is_file()), None)
        if ann is None:
            continue
        for audio in (root, root / "mp3"):
            if (audio / "0").is_dir() or (audio / "f").is_dir():
                return ann, audio
        return ann, root
    return None


def split_of(mp3_path: str) -> str:
    folder = mp3_path.split("/")[0]
    if len(folder) != 1 or folder not in _TRAIN + _VALID + _TEST:
        raise ValueError(folder)
    return "train" if folder in _TRAIN else "valid" if folder in _VALID else "test"


def load(data_dir: str | Path) -> EvalDataset:
    data_dir = Path(data_dir)
    found = locate(data_dir)
    if found is None:
        raise DatasetError(f"no {ANNOTATIONS} found", data_dir, f"download MagnaTagATune from {SOURCE} and unpack it here")
    ann, audio = found
    tags = shipped_list("mtat_top50_tags.txt")
    splits: dict[str, list[Track]] = {"train": [], "valid": [], "test": []}
    missing: list[str] = []
    columns, rows = read_table(ann, SOURCE, delimiter="\t")
    absent = [t for t in tags if t not in columns] + [c for c in ("clip_id", "mp3_path") if c not in columns]
    if absent:
        raise DatasetError(f"{ANNOTATIONS} lacks column(s) {', '.join(absent[:5])}", ann, f"use the annotations file from {SOURCE}")
    for row in rows:
        mp3 = row["mp3_path"]
        if not mp3 or str(int(row["clip_id"])) in CORRUPT_CLIP_IDS:
            continue
        try:
            split = split_of(mp3)
        except ValueError:
            raise DatasetError(f"mp3_path {mp3!r} is not under one of the folders 0-f", ann, f"use the annotations file from {SOURCE}") from None
        path = audio / mp3
        if not path.is_file():
            missing.append(mp3)
        splits[split].append(Track(key=mp3, path=path, label=[t for t in tags if row[t] == "1"]))
    if missing:
        raise missing_files_error("MagnaTagATune", missing, audio, SOURCE)
    return EvalDataset(
        name=NAME,
        task="multilabel",
        labels=tags,
        splits=splits,
        split_source="folders 0-b train / c valid / d-f test (Dieleman & Schrauwen 2014; JukeMIR), top-50 tags",
        reference_sizes={"train": 18706, "valid": 1825, "test": 5329},
    )
