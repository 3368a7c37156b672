"""Hostile playlist files: FIFOs, link loops and nesting bombs are refused or skipped at once
(never a hang), and no file name can forge a line in a playlist that is written."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from myna_rpe.errors import PlaylistError
from playlist.m3u import MAX_DEPTH, PlaylistEntry, PlaylistTooLarge, read_playlist, write_m3u8


def read_within(path: Path, seconds: float = 20.0):
    """`read_playlist(path)` in a thread that must finish in time (a FIFO read would block)."""
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = read_playlist(path)
        except PlaylistError as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"reading {path} did not finish in {seconds} s"
    return box


@pytest.fixture
def fifo(tmp_path: Path):
    path = tmp_path / "pipe.m3u8"
    os.mkfifo(path)
    yield path
    # Release a reader stuck on the FIFO (the old behaviour), so the test process can end.
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK) if _has_reader(path) else None
    if fd is not None:
        os.close(fd)


def _has_reader(path: Path) -> bool:
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        return True
    except OSError:
        return False


def test_nested_fifo_is_skipped_with_a_warning(tmp_path: Path, fifo: Path) -> None:
    top = tmp_path / "top.m3u8"
    top.write_text("a.mp3\npipe.m3u8\nb.mp3\n", encoding="utf-8")
    m3u = read_within(top)["value"]
    assert [e.path.name for e in m3u.entries] == ["a.mp3", "b.mp3"]
    assert len(m3u.warnings) == 1 and "not a regular file" in m3u.warnings[0].reason


def test_a_fifo_playlist_is_refused(fifo: Path) -> None:
    error = read_within(fifo)["error"]
    assert error.path == fifo and "not a regular file" in str(error)


def test_a_playlist_linked_to_itself_is_one_error(tmp_path: Path) -> None:
    link = tmp_path / "self.m3u8"
    link.symlink_to(link)
    error = read_within(link)["error"]
    assert "symbolic link loop" in str(error) and error.path == link


def test_playlists_including_each_other_twice_are_refused_quickly(tmp_path: Path) -> None:
    for k in range(21):  # 2**21 expansions if nothing bounds them
        (tmp_path / f"p{k}.m3u8").write_text(f"t{k}.mp3\np{k + 1}.m3u8\np{k + 1}.m3u8\n", encoding="utf-8")
    (tmp_path / "p21.m3u8").write_text("last.mp3\n", encoding="utf-8")
    error = read_within(tmp_path / "p0.m3u8")["error"]
    assert isinstance(error, PlaylistTooLarge) and error.path == tmp_path / "p0.m3u8"
    assert "nested playlists read" in str(error)


def test_nesting_deeper_than_the_bound_is_skipped(tmp_path: Path) -> None:
    depth = MAX_DEPTH + 4
    for k in range(depth):
        (tmp_path / f"d{k}.m3u8").write_text(f"t{k}.mp3\nd{k + 1}.m3u8\n", encoding="utf-8")
    (tmp_path / f"d{depth}.m3u8").write_text("bottom.mp3\n", encoding="utf-8")
    m3u = read_within(tmp_path / "d0.m3u8")["value"]
    assert [e.path.name for e in m3u.entries] == [f"t{k}.mp3" for k in range(MAX_DEPTH + 1)]
    assert [w.reason for w in m3u.warnings] == [f"nested playlist skipped: nested more than {MAX_DEPTH} deep"]


FORGING_NAMES = [
    "evil\n#EXTINF:1,Forged\n/etc/passwd.mp3",
    "#EXTINF:2,comment.mp3",
    " edge spaces .mp3",
    "back\\slash.mp3",
    "~tilde.mp3",
    "http:x.mp3",
    "esc\x1b]0;title\x07.mp3",
    "cr\rlf.mp3",
]


@pytest.mark.parametrize("absolute", [False, True])
def test_file_names_cannot_forge_playlist_lines(tmp_path: Path, absolute: bool) -> None:
    folder = tmp_path / "music"
    folder.mkdir()
    entries = [PlaylistEntry(location=name, path=folder / name, title=name) for name in FORGING_NAMES]
    entries.append(PlaylistEntry(location="plain.mp3", path=folder / "plain.mp3"))
    out = write_m3u8(tmp_path / "out.m3u8", entries, absolute=absolute)
    lines = out.read_bytes().decode("utf-8").split("\n")
    assert lines[0] == "#EXTM3U" and lines[-1] == ""
    body, plain = lines[1:-2], lines[-2]  # nothing is known of plain.mp3: its line comes alone
    assert len(body) == 2 * len(FORGING_NAMES)
    assert all(line.startswith("#EXTINF:") for line in body[0::2])
    assert not any(line.startswith("#") for line in [*body[1::2], plain])
    assert all(line.isprintable() for line in body)
    assert plain == ("music/plain.mp3" if not absolute else str((folder / "plain.mp3").resolve()))
    again = read_playlist(out)
    assert again.warnings == []
    assert [e.path for e in again.entries] == [(folder / name).resolve() for name in [*FORGING_NAMES, "plain.mp3"]]


def test_a_device_is_refused_without_being_opened(monkeypatch) -> None:
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k))
    error = read_within(Path("/dev/null"))["error"]
    assert "not a regular file" in str(error) and opened == []
