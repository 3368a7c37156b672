"""Walking a library, fingerprinting files, reading tags."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from playlist.library.scan import HEAD_TAIL_BYTES, content_hash, full_hash, walk_library
from playlist.library.tags import Tags, read_tags
from tests.library_helpers import write_track


def test_walk_finds_audio_recursively_and_skips_hidden_and_other_files(tmp_path: Path) -> None:
    for rel in ["a.mp3", "Sub/B.FLAC", "Sub/deeper/ü.ogg", ".myna/x.mp3", "Sub/._b.mp3", "cover.jpg", "n.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x" * 10)
    os.symlink(tmp_path / "Sub", tmp_path / "Sub" / "loop")  # a folder link loop is not followed
    files, bad = walk_library(tmp_path)
    assert [f.rel_path for f in files] == ["Sub/B.FLAC", "Sub/deeper/ü.ogg", "a.mp3"]
    assert bad == []
    assert files[0].size == 10 and files[0].path == tmp_path / "Sub/B.FLAC"


def test_walk_reports_names_that_are_not_utf8(tmp_path: Path) -> None:
    os.close(os.open(os.fsencode(tmp_path) + b"/bad\xff.mp3", os.O_CREAT | os.O_WRONLY))
    files, bad = walk_library(tmp_path)
    assert files == [] and len(bad) == 1 and bad[0].rel_path.endswith(".mp3")
    assert "not valid UTF-8" in bad[0].reason and "rename" in bad[0].reason


def test_walk_records_links_pipes_and_unreadable_folders_with_a_reason(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "ok.mp3").write_bytes(b"x" * 10)
    (tmp_path / "empty.mp3").touch()  # a file: decoded, and the decoder records it
    os.symlink("gone.flac", tmp_path / "dangling.flac")
    os.symlink("loop.ogg", tmp_path / "loop.ogg")
    os.mkfifo(tmp_path / "pipe.wav")  # never opened: a walk that opened it would block here
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "hidden.mp3").write_bytes(b"x")
    if os.geteuid() == 0:  # root reads any folder: make this one fail as it would for a user
        real_scandir = os.scandir

        def scandir(path="."):
            if Path(path) == tmp_path / "locked":
                raise PermissionError(13, "Permission denied", str(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        (tmp_path / "locked").chmod(0)
    try:
        files, skipped = walk_library(tmp_path)
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert [f.rel_path for f in files] == ["empty.mp3", "ok.mp3"]
    reasons = {s.rel_path: s.reason for s in skipped}
    assert list(reasons) == ["dangling.flac", "locked/", "loop.ogg", "pipe.wav"]
    assert "target does not exist" in reasons["dangling.flac"] and "symbolic link loop" in reasons["loop.ogg"]
    assert "named pipe" in reasons["pipe.wav"] and "cannot read this folder" in reasons["locked/"]
    assert all(" — " in r for r in reasons.values())  # each names its fix


def test_sampled_hash_sees_size_head_tail_and_sampled_middle(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = bytearray(rng.integers(0, 256, 8 << 20, dtype=np.uint8).tobytes())
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    base = content_hash(path)
    assert base == content_hash(path, len(data))
    for pos in (0, len(data) - 1, HEAD_TAIL_BYTES):  # head, tail, first middle window
        changed = bytearray(data)
        changed[pos] ^= 0xFF
        path.write_bytes(changed)
        assert content_hash(path) != base
    path.write_bytes(data + b"\x00")
    assert content_hash(path) != base
    path.write_bytes(data)
    assert content_hash(path) == base
    assert full_hash(path) != base  # a different scheme, used only as the benchmark's baseline


def test_small_files_are_hashed_whole(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"\x01" * (2 << 20))
    b.write_bytes(b"\x01" * (1 << 20) + b"\x02" + b"\x01" * ((1 << 20) - 1))
    assert content_hash(a) != content_hash(b)


def test_tags_of_each_format(tmp_path: Path) -> None:
    for ext in ("mp3", "flac", "ogg", "m4a"):
        path = write_track(tmp_path / f"t.{ext}", 1, 1.5,
                           {"title": "Tïtle", "artist": "Ärtist", "album": "Al", "tracknumber": "04/10",
                            "isrc": "GBAYE0601498"})
        tags = read_tags(path)
        assert (tags.title, tags.artist, tags.album, tags.track_no, tags.isrc) == \
            ("Tïtle", "Ärtist", "Al", 4, "GBAYE0601498"), ext
        assert abs(tags.duration - 1.5) < 0.2, ext


def test_untagged_and_broken_files_give_empty_tags(tmp_path: Path) -> None:
    wav = write_track(tmp_path / "plain.wav", 2, 1.0)
    assert read_tags(wav).title is None and abs(read_tags(wav).duration - 1.0) < 0.05
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"ID3\x04" + b"\xff" * 50)
    assert read_tags(junk).title is None
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    assert read_tags(empty) == Tags()
