"""A small generated music library and a tiny random model, shared by the library-index tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mutagen
import numpy as np

from myna_rpe.audio import write_audio
from myna_rpe.checkpoint import save_checkpoint
from myna_rpe.config import EncoderConfig, ModelConfig
from myna_rpe.embed import Embedder

SR = 16000

# (relative path, seconds, tags or None): mixed formats, nested folders, unicode names.
GOOD_FILES: list[tuple[str, float, dict[str, str] | None]] = [
    ("Ärtist/Älbum/01 Söng.mp3", 3.0, {"title": "Söng", "artist": "Ärtist", "album": "Älbum",
                                       "tracknumber": "1/3", "isrc": "USRC17607839"}),
    ("Ärtist/Älbum/02 Other.flac", 2.5, {"title": "Other", "artist": "Ärtist", "album": "Älbum",
                                         "tracknumber": "2"}),
    ("Ärtist/Älbum/03 Third.ogg", 3.5, {"title": "Third", "artist": "Ärtist", "album": "Älbum"}),
    ("Band/Live/track.m4a", 2.0, {"title": "Live One", "artist": "Band", "tracknumber": "7"}),
    ("Band/Live/deep/nested/x.wav", 1.5, None),
    ("日本/曲.mp3", 2.0, {"title": "曲", "artist": "歌手"}),
    ("loose one.flac", 4.0, None),
    ("Compilation/a.ogg", 2.0, None),
    ("Compilation/b.m4a", 3.0, None),
    ("Compilation/c.mp3", 2.5, None),
]
# Files with audio extensions that are not decodable audio, and their count.
BAD_FILES = ("broken/corrupt.mp3", "broken/empty.flac", "broken/not audio.ogg")
# Ignored by the walk: not an audio extension, or hidden.
IGNORED_FILES = ("cover.jpg", "notes.txt", "Band/._track.m4a")


def tone(seed: int, seconds: float) -> np.ndarray:
    """A few harmonics on a seed-dependent pitch with a little noise: distinct per seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 110.0 * 2 ** (rng.integers(0, 24) / 12)
    wave = sum(rng.uniform(0.1, 0.3) * np.sin(2 * np.pi * f0 * h * t) for h in (1, 2, 3))
    beat = 0.5 + 0.5 * (np.sin(2 * np.pi * rng.uniform(1, 4) * t) > 0)
    return (wave * beat + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def write_track(path: Path, seed: int, seconds: float, tags: dict[str, str] | None = None) -> Path:
    write_audio(path, tone(seed, seconds), SR)
    if tags:
        f = mutagen.File(path, easy=True)
        if f.tags is None:
            f.add_tags()
        for key, value in tags.items():
            f.tags[key] = [value]
        f.save()
    return path


@dataclass
class GeneratedLibrary:
    root: Path
    good: list[str]  # relative paths of decodable audio files
    bad: list[str]  # relative paths that must end up in the errors table


def make_test_library(root: Path, seed: int = 0) -> GeneratedLibrary:
    for i, (rel, seconds, tags) in enumerate(GOOD_FILES):
        write_track(root / rel, seed * 100 + i, seconds, tags)
    rng = np.random.default_rng(seed)
    (root / "broken").mkdir(parents=True, exist_ok=True)
    (root / BAD_FILES[0]).write_bytes(b"ID3\x04\x00" + rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
    (root / BAD_FILES[1]).write_bytes(b"")
    (root / BAD_FILES[2]).write_text("this is a text file with an audio extension\n")
    for rel in IGNORED_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"\x00" * 100)
    return GeneratedLibrary(root=root, good=[g[0] for g in GOOD_FILES], bad=list(BAD_FILES))


def synthetic_store(root: Path, spec, seed: int = 0):
    """A music folder of empty files plus a store holding synthetic embeddings for them
    (`playlist.synthetic`): a library for the playlist verbs without audio or a model.
    Returns the SyntheticLibrary; track ids equal its track ids."""
    from playlist.library.store import LibraryStore, TrackInfo
    from playlist.synthetic import synthetic_library

    lib = synthetic_library(spec, seed=seed)
    with LibraryStore.open(root / ".myna", root=root, create=True) as store:
        store.set_model("synthetic-test-model", None)
        with store.transaction():
            for track, vec in zip(lib.tracks, lib.vectors):
                rel = track.path.relative_to("/synthetic").as_posix()
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(b"")
                tid = store.add_track(TrackInfo(rel_path=rel, size=0, mtime_ns=0, content_hash=f"h{track.id}",
                                                title=track.title, artist=track.artist, album=track.album,
                                                duration=track.duration), vec)
                assert tid == track.id
    return lib


def tiny_embedder(seed: int = 0) -> Embedder:
    return Embedder.random(EncoderConfig(model=ModelConfig.from_preset("tiny", "alibi2d")), seed=seed)


def save_tiny_checkpoint(directory: Path, seed: int = 0) -> Path:
    emb = tiny_embedder(seed)
    save_checkpoint(directory, emb.model, emb.config)
    return directory
