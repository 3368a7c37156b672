"""EmoMusic (Soleymani et al., MediaEval 2013 "Emotion in Music"): static arousal and valence.

Layout (the archives from cvml.unige.ch/databases/emoMusic unpacked into --data-dir):

    clips_45seconds/<song_id>.mp3                   45 s clips
    annotations/static_annotations.csv              song_id, mean_arousal, std_arousal, mean_valence, std_valence
    annotations/songs_info.csv                      song_id, ..., Artist, ..., Mediaeval 2013 set

(`annotations/` may also be the dataset folder itself; `clips/` is accepted for the clips.)
Split, as in JukeMIR (Castellon et al. 2021) and the probing papers that reuse it:
test = the MediaEval 2013 "evaluation" songs; the "development" songs are split
train/valid 80/20 by sha1 of the normalised artist name (no artist in both).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from myna_rpe.errors import DatasetError
from myna_rpe.evaluation.datasets import EvalDataset, Track, missing_files_error, read_table

NAME = "emomusic"
SOURCE = "https://cvml.unige.ch/databases/emoMusic/ (clips_45sec.tar.gz and annotations.tar.gz)"
TARGETS = ["arousal", "valence"]
_CLIP_DIRS = ("clips_45seconds", "clips")
_ANNOTATION_DIRS = ("annotations", "")
_PARENTS = ("", "emomusic", "emoMusic", "EmoMusic")


def locate(data_dir: Path) -> tuple[Path, Path, Path] | None:
    """(clips folder, static_annotations.csv, songs_info.csv) or None."""
    for parent in _PARENTS:
        root = data_dir / parent
        clips = next((root / c for c in _CLIP_DIRS if (root / c).is_dir()), None)
        ann = next((root / a for a in _ANNOTATION_DIRS if (root / a / "static_annotations.csv").is_file()), None)
        if clips is not None and ann is not None:
            return clips, ann / "static_annotations.csv", ann / "songs_info.csv"
    return None


def _rows(path: Path) -> list[dict[str, str]]:
    return read_table(path, SOURCE)[1]


def artist_bucket(artist: str) -> str:
    """JukeMIR's rule: ASCII letters and spaces of the lowercased name, sha1 mod 10, 8 of 10 train."""
    cleaned = " ".join("".join(c for c in artist.lower() if ord(c) < 128 and (c.isalpha() or c.isspace())).split())
    return "train" if int(hashlib.sha1(cleaned.encode("utf-8")).hexdigest(), 16) % 10 < 8 else "valid"


def load(data_dir: str | Path) -> EvalDataset:
    data_dir = Path(data_dir)
    found = locate(data_dir)
    if found is None:
        raise DatasetError(
            "no clips_45seconds/ folder with annotations/static_annotations.csv beside it",
            data_dir,
            f"download EmoMusic from {SOURCE} and unpack both archives here",
        )
    clips, static_csv, info_csv = found
    if not info_csv.is_file():
        raise missing_files_error("EmoMusic", [info_csv.name], info_csv.parent, SOURCE)
    info = {str(int(r["song_id"])): r for r in _rows(info_csv)}
    splits: dict[str, list[Track]] = {"train": [], "valid": [], "test": []}
    missing, unlisted = [], []
    for row in _rows(static_csv):
        song = str(int(row["song_id"]))
        if song not in info:
            unlisted.append(song)
            continue
        path = clips / f"{song}.mp3"
        if not path.is_file():
            missing.append(f"{clips.name}/{song}.mp3")
        meta = info[song]
        split = "test" if meta["Mediaeval 2013 set"].lower() == "evaluation" else artist_bucket(meta["Artist"])
        target = (float(row["mean_arousal"]), float(row["mean_valence"]))
        splits[split].append(Track(key=f"{clips.name}/{song}.mp3", path=path, label=target))
    if unlisted:
        raise DatasetError(f"{len(unlisted)} songs (e.g. {unlisted[0]}) are annotated but absent from songs_info.csv", info_csv, "use the songs_info.csv shipped with the same annotations archive")
    if missing:
        raise missing_files_error("EmoMusic", missing, clips, SOURCE)
    return EvalDataset(
        name=NAME,
        task="regression",
        labels=list(TARGETS),
        splits=splits,
        split_source="JukeMIR: test = MediaEval 2013 evaluation set; development split 80/20 train/valid by sha1(artist)",
        reference_sizes={"train": 504, "valid": 115, "test": 125},
    )
