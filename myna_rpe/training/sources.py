"""Where training audio comes from: a folder of audio files, or the MTG-Jamendo layout.

`--data DIR` walks DIR recursively for files with an audio suffix (hidden folders
skipped; the decoder sniffs the real format later). `--data jamendo:DIR` reads the
MTG-Jamendo metadata: TRACK_ID, ARTIST_ID, ALBUM_ID, PATH, DURATION, then one tag per
remaining tab-separated column, with PATH like `56/1376256.mp3` relative to the audio
tree. Track order is deterministic (sorted), so a seed fixes the data order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from myna_rpe.audio import AUDIO_EXTENSIONS
from myna_rpe.errors import DatasetError

JAMENDO_TSV = "autotagging_top50tags.tsv"
JAMENDO_COLUMNS = ("TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION", "TAGS")
# Where the audio tree may sit under the dataset root (download script defaults first);
# the low-quality download names files `<id>.low.mp3`.
_JAMENDO_AUDIO_ROOTS = ("audio", "raw_30s/audio", "mp3", "audio-low", "raw_30s/audio-low", ".")


@dataclass(frozen=True)
class Track:
    path: Path
    track_id: str
    tags: tuple[str, ...] = ()
    artist_id: str = ""


@dataclass(frozen=True)
class Sources:
    tracks: list[Track]
    missing: list[str]  # listed in the metadata but absent on disk (Jamendo only)


def discover(spec: str, split: str = "train", split_index: int = 0) -> Sources:
    """Tracks named by a `--data` value: `DIR` or `jamendo:DIR`."""
    if not spec:
        raise DatasetError("no training data given", fix="pass --data DIR (a folder of audio) or --data jamendo:DIR")
    if spec.startswith("jamendo:"):
        return jamendo_tracks(Path(spec.removeprefix("jamendo:")).expanduser(), split, split_index)
    return Sources(folder_tracks(Path(spec).expanduser()), [])


def folder_tracks(root: Path) -> list[Track]:
    if not root.is_dir():
        what = "a file, not a folder of audio" if root.exists() else "training data folder not found"
        raise DatasetError(what, root, "pass --data DIR (a folder of audio) or jamendo:DIR")
    found = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file():
            found.append(Track(path=p, track_id=rel.as_posix()))
    if not found:
        suffixes = " ".join(sorted(AUDIO_EXTENSIONS))
        raise DatasetError("no audio files in the training folder", root, f"add files with one of: {suffixes}")
    return found


def parse_jamendo_tsv(path: Path) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """Rows of a Jamendo metadata TSV as (track_id, artist_id, relative path, tags)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read ({exc.strerror})", path, "check the MTG-Jamendo download") from None
    if not lines or tuple(lines[0].split("\t")[:6]) != JAMENDO_COLUMNS:
        raise DatasetError(
            "not an MTG-Jamendo metadata file (header should be " + "\\t".join(JAMENDO_COLUMNS) + ")",
            path,
            "point jamendo: at the mtg-jamendo-dataset checkout",
        )
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) < 5:
            raise DatasetError(f"line {n} has {len(cols)} columns, expected at least 5", path, "restore the file from the dataset")
        rows.append((cols[0], cols[1], cols[3], tuple(t for t in cols[5:] if t)))
    return rows


def _find(root: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (root / name).is_file():
            return root / name
    return None


def jamendo_metadata_file(root: Path, split: str, split_index: int) -> Path:
    if split == "all":
        names: tuple[str, ...] = (f"data/{JAMENDO_TSV}", JAMENDO_TSV)
    else:
        split_name = f"autotagging_top50tags-{split}.tsv"
        names = (f"data/splits/split-{split_index}/{split_name}", f"splits/split-{split_index}/{split_name}")
    found = _find(root, names)
    if found is None:
        raise DatasetError(
            f"MTG-Jamendo metadata not found (looked for {', '.join(names)})",
            root,
            "clone github.com/MTG/mtg-jamendo-dataset there, or pass --jamendo-split all",
        )
    return found


def _audio_file(root: Path, rel: str) -> Path | None:
    low = rel[: -len(".mp3")] + ".low.mp3" if rel.endswith(".mp3") else rel
    for base in _JAMENDO_AUDIO_ROOTS:
        for name in (rel, low):
            p = root / base / name
            if p.is_file():
                return p
    return None


def jamendo_tracks(root: Path, split: str = "train", split_index: int = 0) -> Sources:
    """The tracks of one MTG-Jamendo split whose audio is present; absent audio is counted, not fatal."""
    if not root.is_dir():
        raise DatasetError("MTG-Jamendo folder not found", root, "pass jamendo:DIR with the dataset root")
    meta = jamendo_metadata_file(root, split, split_index)
    tracks, missing = [], []
    for track_id, artist_id, rel, tags in parse_jamendo_tsv(meta):
        p = _audio_file(root, rel)
        if p is None:
            missing.append(rel)
        else:
            tracks.append(Track(path=p, track_id=track_id, tags=tags, artist_id=artist_id))
    if not tracks:
        raise DatasetError(
            f"none of the {len(missing)} tracks in {meta.name} has its audio under the dataset root "
            f"(first: {missing[0] if missing else '-'})",
            root,
            f"download the audio into one of: {', '.join(_JAMENDO_AUDIO_ROOTS)}",
        )
    tracks.sort(key=lambda t: t.track_id)
    return Sources(tracks, missing)
