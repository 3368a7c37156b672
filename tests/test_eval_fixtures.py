"""Tiny copies of the four evaluation datasets, laid out exactly like the real ones.

Audio comes from `myna_rpe.synth` (chords in a key, bass, melody, drums), with the
labels tied to what the audio carries: genre = timbre, tempo and level; key = tonic
and mode; arousal = loudness and tempo, valence = timbre; tags = timbre, loudness,
tempo. Files go through the project's encoder, so loaders and probes see real files.
The annotation files use the real formats (tab-separated MTAT and GiantSteps tables,
EmoMusic CSVs, `.LOFI.key` files). The tests in this file check each loader's view.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from myna_rpe.audio import write_audio
from myna_rpe.errors import DatasetError
from myna_rpe.evaluation import emomusic, giantsteps, gtzan, mtat
from myna_rpe.evaluation.datasets import shipped_list
from myna_rpe.synth import TIMBRES, TrackSpec, synth_track

SR = 16000


def render(path: Path, duration: float, tonic: int = 0, mode: str = "major", tempo: float = 120.0,
           timbre: str = "bright", loudness_db: float = -20.0, seed: int = 0) -> Path:
    spec = TrackSpec(tonic=tonic, mode=mode, tempo_bpm=tempo, timbre=timbre, loudness_db=loudness_db, seed=seed)
    return write_audio(path, synth_track(spec, duration, SR), SR)


# -- GTZAN -----------------------------------------------------------------------------------


def make_gtzan(root: Path, duration: float = 0.5, folder: str = "genres", variants: int = 6, seed: int = 0) -> Path:
    """All 930 files of the fault-filtered lists; genre g sets timbre, tempo and a level band.

    To keep the test fast each (split, genre) renders `variants` clips and repeats them
    over its files; no clip is shared between splits, so test audio is never seen in training.
    """
    rng = np.random.default_rng(seed)
    for split in ("train", "valid", "test"):
        for i, rel in enumerate(shipped_list(f"gtzan_filtered_{split}.txt")):
            g = gtzan.GENRES.index(rel.split("/")[0])
            clip = root / folder / gtzan.GENRES[g] / f".{split}-variant{i % variants}.wav"
            if not clip.exists():
                render(clip, duration, tonic=int(rng.integers(12)), mode=str(rng.choice(["major", "minor"])),
                       tempo=(80.0, 120.0, 160.0)[g % 3], timbre=TIMBRES[g % 4],
                       loudness_db=-32.0 + 2.0 * g + rng.uniform(-0.4, 0.4), seed=int(rng.integers(2**31)))
            shutil.copyfile(clip, root / folder / rel)
    for clip in (root / folder).glob("*/.*-variant*.wav"):
        clip.unlink()
    return root


# -- GiantSteps ------------------------------------------------------------------------------

# (annotations.txt spelling, .key spelling, tonic, mode): sharps in the mtg-key table, flats and
# lower case in .key files, as in the real repositories; no two of these keys are relative keys.
GS_KEYS = [("C major", "C major", 0, "major"), ("F# major", "Gb major", 6, "major"),
           ("G minor", "g minor", 7, "minor"), ("C# minor", "Db minor", 1, "minor")]


def make_giantsteps(root: Path, n_train: int = 48, n_test: int = 24, duration: float = 2.0, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    train_repo = root / "giantsteps-mtg-key-dataset"
    test_repo = root / "giantsteps-key-dataset"
    (train_repo / "annotations").mkdir(parents=True)
    rows, meta = [("ID", "MANUAL KEY", "C")], [("ID", "ARTIST", "TITLE")]
    artists = [f"DJ {c}" for c in "ABCDEFGHIJKLMNOP"]
    for i in range(n_train):
        track_id = str(100000 + i)
        spelling, _, tonic, mode = GS_KEYS[i % len(GS_KEYS)]
        rows.append((track_id, spelling, "2"))
        meta.append((track_id, f"{artists[i % len(artists)]}, {artists[(i + 3) % len(artists)]}" if i % 7 == 0 else artists[i % len(artists)], f"Track {i}"))
        render(train_repo / "audio" / f"{track_id}.LOFI.mp3", duration, tonic, mode, float(rng.uniform(118, 130)),
               "bright", float(rng.uniform(-21, -19)), seed=int(rng.integers(2**31)))
    # rows the loader must drop: low confidence, several keys, no key (no audio needed for them)
    rows += [("900001", "C minor", "1"), ("900002", "C minor / F# minor", "2"), ("900003", "-", "0"), ("900004", "A-A# minor", "0")]
    meta += [(r, "DJ Z", "dropped") for r in ("900001", "900002", "900003", "900004")]
    _write_tsv(train_repo / "annotations" / "annotations.txt", rows)
    _write_tsv(train_repo / "annotations" / "beatport_metadata.txt", meta)
    (test_repo / "annotations" / "key").mkdir(parents=True)
    for i in range(n_test):
        track_id = str(200000 + i)
        _, spelling, tonic, mode = GS_KEYS[i % len(GS_KEYS)]
        (test_repo / "annotations" / "key" / f"{track_id}.LOFI.key").write_text(spelling)
        render(test_repo / "audio" / f"{track_id}.LOFI.mp3", duration, tonic, mode, float(rng.uniform(118, 130)),
               "bright", float(rng.uniform(-21, -19)), seed=int(rng.integers(2**31)))
    return root


def _write_tsv(path: Path, rows: list[tuple[str, ...]]) -> None:
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")


# -- EmoMusic --------------------------------------------------------------------------------


def make_emomusic(root: Path, n: int = 48, duration: float = 2.0, seed: int = 0) -> Path:
    """Arousal follows loudness and tempo; valence follows timbre (mellow low ... bright high)."""
    rng = np.random.default_rng(seed)
    (root / "annotations").mkdir(parents=True)
    static = [["song_id", "mean_arousal", "std_arousal", "mean_valence", "std_valence"]]
    info = [["song_id", "file_name", "Artist", "Song title", "start of the segment (min.sec)", "end of the segment (min.sec)", "Genre", "Mediaeval 2013 set"]]
    brightness = ("mellow", "sine", "square", "bright")
    for i in range(n):
        song = i + 2  # real ids start at 2
        a = float(rng.uniform(0, 1))
        t = int(rng.integers(4))
        v = (t + rng.uniform(0, 1)) / 4
        render(root / "clips_45seconds" / f"{song}.mp3", duration, int(rng.integers(12)), "major", 70.0 + 90.0 * a,
               brightness[t], -34.0 + 20.0 * a, seed=int(rng.integers(2**31)))
        static.append([str(song), f"{1 + 8 * a:.1f}", "0.9", f"{1 + 8 * v:.1f}", "0.8"])
        info.append([str(song), f"{song}.mp3", f"The {'ABCDEFGHIJKL'[i % 12]} Band", f"Song {i}", "0.30", "1.15", "Pop", "evaluation" if i % 4 == 0 else "development"])
    for name, rows in (("static_annotations.csv", static), ("songs_info.csv", info)):
        with open(root / "annotations" / name, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)
    return root


# -- MagnaTagATune ---------------------------------------------------------------------------

MTAT_ACTIVE = ("guitar", "piano", "loud", "fast")  # learnable tags; the other top-50 tags stay 0


def make_mtat(root: Path, per_folder: dict[str, int] | None = None, duration: float = 2.0, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    per_folder = per_folder or {**{f: 3 for f in "0123456789ab"}, "c": 12, "d": 6, "e": 6, "f": 6}
    tags = shipped_list("mtat_top50_tags.txt")
    columns = ["clip_id", *tags, "hard rock", "world", "mp3_path"]
    rows, clip_id = [columns], 2
    for folder, count in per_folder.items():
        for j in range(count):
            guitar, loud, fast = (int(b) for b in rng.integers(0, 2, size=3))
            on = {"guitar": guitar, "piano": 1 - guitar, "loud": loud, "fast": fast}
            mp3 = f"{folder}/artist_{j}-album-{clip_id:02d}-track_{clip_id}-0-29.mp3"
            render(root / mp3, duration, int(rng.integers(12)), "major", 170.0 if fast else 75.0,
                   "bright" if guitar else "mellow", -12.0 if loud else -32.0, seed=int(rng.integers(2**31)))
            rows.append([str(clip_id), *(str(on.get(t, 0)) for t in tags), "0", str(j % 2), mp3])
            clip_id += 1
    # a clip known to be corrupt in the real release (its mp3 is absent here), and one with no mp3
    rows.append(["35644", *("0" for _ in tags), "0", "0", "c/corrupt-clip-35644.mp3"])
    rows.append(["99999", *("0" for _ in tags), "0", "0", ""])
    with open(root / mtat.ANNOTATIONS, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, delimiter="\t", quoting=csv.QUOTE_ALL).writerows(rows)
    return root


# -- the loaders read these copies as intended ------------------------------------------------


def test_giantsteps_filters_and_splits_by_artist(tmp_path: Path) -> None:
    make_giantsteps(tmp_path, n_train=32, n_test=8, duration=0.2)
    ds = giantsteps.load(tmp_path)
    train, valid = ds.splits["train"], ds.splits["valid"]
    assert len(train) + len(valid) == 32  # the four unusable rows are dropped
    assert "4 giantsteps-mtg-key tracks dropped" in ds.notes[0]
    assert {t.label for t in train + valid} == {"C major", "Gb major", "G minor", "Db minor"}
    assert {t.label for t in ds.splits["test"]} == {"C major", "Gb major", "G minor", "Db minor"}
    assert "artist-conditional" in ds.split_source
    # no artist on both sides of the train/valid split
    artists = giantsteps._read_artists(tmp_path / "giantsteps-mtg-key-dataset" / "annotations" / "beatport_metadata.txt")
    side = {a: s for s, tracks in (("train", train), ("valid", valid)) for t in tracks for a in artists[giantsteps._id_of(t)]}
    for s, tracks in (("train", train), ("valid", valid)):
        assert all(side[a] == s for t in tracks for a in artists[giantsteps._id_of(t)])


def test_giantsteps_without_metadata_falls_back_and_says_so(tmp_path: Path) -> None:
    make_giantsteps(tmp_path, n_train=40, n_test=4, duration=0.2)
    (tmp_path / "giantsteps-mtg-key-dataset" / "annotations" / "beatport_metadata.txt").unlink()
    ds = giantsteps.load(tmp_path)
    assert "not artist-conditional" in ds.split_source and ds.reference_sizes is None


def test_artist_split_keeps_collaborators_together() -> None:
    names = {str(i): [f"artist {i}"] for i in range(200)}
    names["x"] = ["artist 1", "artist 2", "artist 3"]
    split = giantsteps.artist_split(names)
    assert 0.05 < sum(s == "valid" for s in split.values()) / len(split) < 0.35
    group = {split["1"], split["2"], split["3"], split["x"]}
    assert len(group) == 1


def test_emomusic_split_and_targets(tmp_path: Path) -> None:
    make_emomusic(tmp_path, n=24, duration=0.2)
    ds = emomusic.load(tmp_path)
    assert len(ds.splits["test"]) == 6 and sum(ds.sizes().values()) == 24
    assert ds.targets("train").shape == (len(ds.splits["train"]), 2)
    artists_valid = {emomusic.artist_bucket(f"The {c} Band") for c in "ABCDEFGHIJKL"}
    assert artists_valid == {"train", "valid"}


def test_mtat_folder_split_top50_and_skips(tmp_path: Path) -> None:
    make_mtat(tmp_path, duration=0.2)
    ds = mtat.load(tmp_path)
    assert ds.sizes() == {"train": 36, "valid": 12, "test": 18}  # corrupt clip 35644 and the row without mp3 skipped
    assert ds.labels == shipped_list("mtat_top50_tags.txt") and len(ds.labels) == 50
    y = ds.targets("train")
    assert y.shape == (36, 50) and set(np.flatnonzero(y.sum(axis=0))) <= {ds.labels.index(t) for t in MTAT_ACTIVE}


@pytest.mark.parametrize("loader", [gtzan, giantsteps, emomusic, mtat])
def test_missing_dataset_is_one_line_error_with_source(tmp_path: Path, loader) -> None:
    with pytest.raises(DatasetError) as info:
        loader.load(tmp_path)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path) in message and ("http" in message)
