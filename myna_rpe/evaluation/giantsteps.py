"""GiantSteps Key: train on giantsteps-mtg-key, test on giantsteps-key (24 keys).

Layout (the two public repositories, cloned side by side under --data-dir, audio
fetched with their `audio_dl.sh`):

    giantsteps-mtg-key-dataset/annotations/annotations.txt   ID <tab> MANUAL KEY <tab> C
    giantsteps-mtg-key-dataset/audio/<ID>.LOFI.mp3
    giantsteps-key-dataset/annotations/key/<ID>.LOFI.key      e.g. "Bb major"
    giantsteps-key-dataset/audio/<ID>.LOFI.mp3

Training tracks keep confidence C == 2 and a single key (no "a / b", no "-"), as in
Korzeniowski & Widmer 2018 and JukeMIR. The train/valid split is JukeMIR's
artist-conditional rule when `annotations/beatport_metadata.txt` (ID, ARTIST columns)
is present; otherwise a seedless hash of the track ID, labelled as such in the results.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from myna_rpe.errors import DatasetError
from myna_rpe.evaluation.datasets import EvalDataset, Track, missing_files_error, read_table
from myna_rpe.evaluation.keys import KEY_LABELS, normalize_key

NAME = "giantsteps"
TRAIN_REPO = "giantsteps-mtg-key-dataset"
TEST_REPO = "giantsteps-key-dataset"
TRAIN_SOURCE = "https://github.com/GiantSteps/giantsteps-mtg-key-dataset (audio via its audio_dl.sh)"
TEST_SOURCE = "https://github.com/GiantSteps/giantsteps-key-dataset (audio via its audio_dl.sh)"
_AUDIO_EXTS = (".mp3", ".wav")
# JukeMIR: sha1(artist) mod 116 -> the first 100 residues train, the last 16 valid (~80/20 of tracks).
_ARTIST_MODULUS, _ARTIST_TRAIN = 116, 100


def _repo(data_dir: Path, name: str) -> Path | None:
    """`data_dir/<name>` or a suffixed copy of it (GitHub zips unpack to `<name>-master`)."""
    if data_dir.name.startswith(name) and (data_dir / "annotations").is_dir():
        return data_dir
    for candidate in sorted(data_dir.glob(f"{name}*")):
        if (candidate / "annotations").is_dir():
            return candidate
    return None


def locate(data_dir: Path) -> tuple[Path, Path] | None:
    for base in (data_dir, data_dir / "giantsteps"):
        train, test = _repo(base, TRAIN_REPO), _repo(base, TEST_REPO)
        if train is not None and test is not None:
            return train, test
    return None


def _audio(repo: Path, track_id: str) -> Path:
    candidates = [repo / "audio" / f"{track_id}.LOFI{ext}" for ext in _AUDIO_EXTS]
    return next((c for c in candidates if c.is_file()), candidates[0])


def _train_tracks(repo: Path) -> tuple[list[Track], int]:
    table = repo / "annotations" / "annotations.txt"
    if not table.is_file():
        raise missing_files_error("giantsteps-mtg-key", ["annotations/annotations.txt"], repo, TRAIN_SOURCE)
    tracks, dropped = [], 0
    for row in read_table(table, TRAIN_SOURCE, delimiter="\t")[1]:
        key = normalize_key(row.get("MANUAL KEY", ""))
        if row.get("C") != "2" or key is None:
            dropped += 1
            continue
        track_id = row["ID"]
        path = _audio(repo, track_id)
        tracks.append(Track(key=f"{TRAIN_REPO}/{path.relative_to(repo)}", path=path, label=key))
    return tracks, dropped


def _test_tracks(repo: Path) -> list[Track]:
    tracks = []
    for ann in sorted((repo / "annotations" / "key").glob("*.LOFI.key")):
        try:
            text = ann.read_text(encoding="utf-8").split("\t")[0]
        except (OSError, UnicodeDecodeError):
            text = "(not UTF-8 text)"
        key = normalize_key(text)
        if key is None:
            raise DatasetError(f"unreadable key annotation {text.strip()!r}", ann, "restore the file from the dataset repository")
        track_id = ann.name.split(".")[0]
        path = _audio(repo, track_id)
        tracks.append(Track(key=f"{TEST_REPO}/{path.relative_to(repo)}", path=path, label=key))
    if not tracks:
        raise missing_files_error("giantsteps-key", ["annotations/key/*.LOFI.key"], repo, TEST_SOURCE)
    return tracks


def _sha1_int(text: str) -> int:
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16)


def artist_split(artists_by_id: dict[str, list[str]]) -> dict[str, str]:
    """JukeMIR's artist-conditional train/valid rule: track id -> 'train' | 'valid'.

    Each artist goes to valid when sha1(lowercased name) mod 116 >= 100; then two passes
    over the tracks in file order make every co-artist of a valid artist valid (two-hop
    collaborations, exactly JukeMIR's procedure). A track is valid when any of its
    artists is; on the real metadata no track is left with artists on both sides.
    """
    valid = {a for names in artists_by_id.values() for a in names if _sha1_int(a.lower()) % _ARTIST_MODULUS >= _ARTIST_TRAIN}
    for _ in range(2):
        for names in artists_by_id.values():
            if valid.intersection(names):
                valid.update(names)
    return {tid: ("valid" if valid.intersection(names) else "train") for tid, names in artists_by_id.items()}


def _read_artists(metadata: Path) -> dict[str, list[str]]:
    try:
        return {str(int(row["ID"])): [a.strip() for a in row["ARTIST"].split(",")]
                for row in read_table(metadata, TRAIN_SOURCE, delimiter="\t")[1]}
    except (KeyError, ValueError):
        raise DatasetError("an ID or ARTIST value is missing or not a number", metadata,
                           f"use the metadata file from {TRAIN_SOURCE}") from None


def _id_of(track: Track) -> str:
    """Beatport id without zero padding (the key the metadata table is joined on)."""
    return str(int(track.path.name.split(".")[0]))


def load(data_dir: str | Path) -> EvalDataset:
    data_dir = Path(data_dir)
    found = locate(data_dir)
    if found is None:
        raise DatasetError(
            f"need both {TRAIN_REPO}/ and {TEST_REPO}/ (each with annotations/) side by side",
            data_dir,
            f"clone {TRAIN_SOURCE} and {TEST_SOURCE} into this folder",
        )
    train_repo, test_repo = found
    train_all, dropped = _train_tracks(train_repo)
    test = _test_tracks(test_repo)
    for repo, tracks, source, name in ((train_repo, train_all, TRAIN_SOURCE, "giantsteps-mtg-key"), (test_repo, test, TEST_SOURCE, "giantsteps-key")):
        missing = [str(t.path.relative_to(repo)) for t in tracks if not t.path.is_file()]
        if missing:
            raise missing_files_error(name, missing, repo / "audio", source)

    metadata = train_repo / "annotations" / "beatport_metadata.txt"
    if metadata.is_file():
        artists = _read_artists(metadata)
        unknown = [_id_of(t) for t in train_all if _id_of(t) not in artists]
        if unknown:
            raise DatasetError(f"{len(unknown)} training ids (e.g. {unknown[0]}) have no ARTIST row", metadata, "restore the file from the dataset repository")
        # Every metadata row takes part, dropped tracks included: their collaborations
        # link artists too, as in JukeMIR.
        assignment = artist_split(artists)
        source = "train/valid: JukeMIR artist-conditional rule on beatport_metadata.txt; test: giantsteps-key"
        reference = {"train": 923, "valid": 236, "test": 604}  # JukeMIR's counts with this rule
    else:
        assignment = {_id_of(t): ("valid" if _sha1_int(_id_of(t)) % 5 == 0 else "train") for t in train_all}
        source = "train/valid: sha1(track id) mod 5 == 0 -> valid (beatport_metadata.txt absent, so not artist-conditional); test: giantsteps-key"
        reference = None
    return EvalDataset(
        name=NAME,
        task="multiclass",
        labels=list(KEY_LABELS),
        splits={
            "train": [t for t in train_all if assignment[_id_of(t)] == "train"],
            "valid": [t for t in train_all if assignment[_id_of(t)] == "valid"],
            "test": test,
        },
        split_source=source,
        notes=[f"{dropped} giantsteps-mtg-key tracks dropped (confidence < 2, several keys, or no key)"],
        reference_sizes=reference,
    )
