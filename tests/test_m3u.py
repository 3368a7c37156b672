"""m3u / m3u8 reading and writing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from myna_rpe.errors import PlaylistError
from playlist.m3u import PlaylistEntry, read_m3u, read_playlist, write_m3u8


def test_extended_m3u_with_comments_relative_and_absolute(tmp_path: Path) -> None:
    music = tmp_path / "music"
    (music / "sub").mkdir(parents=True)
    other = tmp_path / "elsewhere" / "x.flac"
    text = (
        "#EXTM3U\n"
        "# a comment\n"
        "\n"
        "#EXTINF:215,Nina Simone - Feeling Good\n"
        "sub/feeling good.mp3\n"
        "#EXTINF:-1 tvg-id=\"x\",Untitled Title Only\n"
        f"{other}\n"
        "../music/plain.ogg\n"
        "#PLAYLIST:ignored directive\n"
    )
    pl = music / "list.m3u8"
    pl.write_text(text, encoding="utf-8")
    entries = read_m3u(pl)
    assert [e.line for e in entries] == [5, 7, 8]
    first, second, third = entries
    assert first.path == (music / "sub" / "feeling good.mp3").resolve()
    assert (first.duration, first.artist, first.title) == (215.0, "Nina Simone", "Feeling Good")
    assert second.path == other.resolve()
    assert (second.duration, second.artist, second.title) == (None, None, "Untitled Title Only")
    # #EXTINF applies to the next path only.
    assert third.path == (music / "plain.ogg").resolve() and third.title is None


def test_bom_windows_separators_and_file_urls(tmp_path: Path) -> None:
    pl = tmp_path / "win.m3u8"
    target = tmp_path / "a b" / "ünï.mp3"
    lines = ["#EXTM3U", r"a b\ünï.mp3", target.as_uri(), "file://localhost" + str(target),
             r"C:\Music\song.mp3", "http://radio.example/stream", "file://otherhost/share/x.mp3"]
    pl.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8"))
    entries = read_m3u(pl)
    assert len(entries) == 6
    if not sys.platform.startswith("win"):
        assert entries[0].path == target.resolve()
        drive = entries[3]
        assert drive.path is None and "Windows path" in drive.note and drive.name == "song.mp3"
    assert entries[1].path == target.resolve() and entries[2].path == target.resolve()
    assert entries[4].path is None and "http URL" in entries[4].note
    assert entries[5].path is None and "otherhost" in entries[5].note


def test_latin1_m3u_falls_back(tmp_path: Path) -> None:
    pl = tmp_path / "old.m3u"
    pl.write_bytes("#EXTINF:100,Björk - Jóga\nBjörk/Jóga.mp3\n".encode("latin-1"))
    (entry,) = read_m3u(pl)
    assert entry.artist == "Björk" and entry.title == "Jóga"
    assert entry.path == (tmp_path / "Björk" / "Jóga.mp3").resolve()


def test_bad_lines_are_reported_and_the_good_entries_kept(tmp_path: Path) -> None:
    pl = tmp_path / "bad.m3u8"
    long_name = "x" * 300 + ".mp3"
    pl.write_bytes(b"#EXTM3U\nok.mp3\n#EXTINF:abc,Artist - Title\nx.mp3\n#EXTINF:12 no comma\ny.mp3\n"
                   b"#EXTINF:1e999,Inf - Song\nz.mp3\n" + long_name.encode() + b"\nbad\xff.mp3\nnul\x00.mp3\n"
                   b"#EXTINF:7,A - B\nlast.mp3\n")
    m3u = read_playlist(pl)
    assert [w.line for w in m3u.warnings] == [3, 5, 7]
    assert "duration 'abc' is not a number" in m3u.warnings[0].reason
    assert "no comma" in m3u.warnings[1].reason and "not a finite number" in m3u.warnings[2].reason
    by_line = {e.line: e for e in m3u.entries}
    assert sorted(by_line) == [2, 4, 6, 8, 9, 10, 11, 13]
    # A malformed #EXTINF leaves the next entry without tags, but keeps it.
    assert by_line[4].path == (tmp_path / "x.mp3").resolve() and by_line[4].title is None
    assert by_line[8].duration is None and by_line[8].path == (tmp_path / "z.mp3").resolve()
    assert by_line[9].path is None and "longer than 255 bytes" in by_line[9].note
    assert by_line[10].path is None and "not valid UTF-8" in by_line[10].note
    assert by_line[11].path is None and "NUL" in by_line[11].note
    assert (by_line[13].duration, by_line[13].title) == (7.0, "B")
    with pytest.raises(PlaylistError, match="playlist not found"):
        read_m3u(tmp_path / "missing.m3u")
    with pytest.raises(PlaylistError, match="a folder, not a playlist"):
        read_m3u(tmp_path)


def test_utf16_and_percent_encoded_file_urls(tmp_path: Path) -> None:
    target = tmp_path / "a b" / "ünï#1.mp3"
    pl = tmp_path / "u16.m3u"
    pl.write_bytes("#EXTM3U\r\n#EXTINF:3,A - B\r\nx.mp3\r\n".encode("utf-16"))
    (entry,) = read_m3u(pl)
    assert entry.path == (tmp_path / "x.mp3").resolve() and entry.title == "B"
    # as_uri() percent-encodes the UTF-8 bytes, the space and the '#'.
    pl.write_text(target.as_uri() + "\nfile://" + str(tmp_path).replace(" ", "%20") + "/latin%E9.mp3\n",
                  encoding="utf-8")
    first, second = read_m3u(pl)
    assert first.path == target.resolve()
    assert second.path == (tmp_path / os.fsdecode(b"latin\xe9.mp3")).resolve()


def test_writing_never_crashes_on_odd_durations_or_control_characters(tmp_path: Path) -> None:
    entries = [PlaylistEntry(location="a.mp3", path=tmp_path / "a.mp3", duration=float("inf"), title="A"),
               PlaylistEntry(location="b.mp3", path=tmp_path / "b.mp3", duration=float("nan"), title="B\x00\nC"),
               PlaylistEntry(location="web\x07://x", path=None, duration=1e300, title="D")]
    lines = write_m3u8(tmp_path / "o.m3u8", entries).read_text(encoding="utf-8").splitlines()
    assert lines[1] == "#EXTINF:-1,A" and lines[3] == "#EXTINF:-1,B C" and lines[6] == "web://x"


def test_write_relative_and_absolute_round_trip(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    tracks = [lib / "A" / "one.mp3", lib / "B" / "twö, three.flac", tmp_path / "loose.wav"]
    entries = [PlaylistEntry(location=str(t), path=t, duration=d, artist=a, title=ti)
               for t, d, a, ti in zip(tracks, [181.6, None, 3.0], ["Artist", None, None], ["One", "Two", None])]
    out = write_m3u8(lib / "lists" / "new.m3u8", entries)
    text = out.read_text(encoding="utf-8")
    assert text.splitlines() == [
        "#EXTM3U",
        "#EXTINF:182,Artist - One", "../A/one.mp3",
        "#EXTINF:-1,Two", "../B/twö, three.flac",
        "#EXTINF:3,loose", "../../loose.wav",
    ]
    back = read_m3u(out)
    assert [e.path for e in back] == [t.resolve() for t in tracks]
    assert [(e.artist, e.title) for e in back] == [("Artist", "One"), (None, "Two"), (None, "loose")]
    absolute = write_m3u8(tmp_path / "abs.m3u8", entries, absolute=True)
    assert str(tracks[0].resolve()) in absolute.read_text(encoding="utf-8").splitlines()
    assert not list((lib / "lists").glob("*.tmp"))  # the temp file was renamed, not left behind


def test_write_keeps_non_local_entries_verbatim(tmp_path: Path) -> None:
    remote = PlaylistEntry(location="http://radio.example/live", path=None, title="Radio")
    out = write_m3u8(tmp_path / "o.m3u8", [remote])
    assert out.read_text(encoding="utf-8").splitlines() == ["#EXTM3U", "#EXTINF:-1,Radio", "http://radio.example/live"]
    (back,) = read_m3u(out)
    assert back.path is None and back.location == "http://radio.example/live"
    # Nothing known of an entry: its line alone, no #EXTINF made up from its name.
    bare = [PlaylistEntry(location="http://radio.example/a.mp3", path=None),
            PlaylistEntry(location="song.flac", path=tmp_path / "song.flac")]
    out = write_m3u8(tmp_path / "bare.m3u8", bare)
    assert out.read_text(encoding="utf-8").splitlines() == ["#EXTM3U", "http://radio.example/a.mp3", "song.flac"]


def test_extinf_attributes_with_quoted_commas_are_parsed_and_written_back(tmp_path: Path) -> None:
    pl = tmp_path / "tv.m3u8"
    pl.write_text('#EXTM3U\n'
                  '#EXTINF:-1 tvg-name="Live, Loud" group-title="Rock, Pop" tvg-id=x1,Band, The - Song, Part 2\n'
                  'a.mp3\n'
                  '#EXTINF:12 empty="",Solo\n'
                  'b.mp3\n'
                  '#EXTINF:5 broken="no end,A - B\n'
                  'c.mp3\n', encoding="utf-8")
    m3u = read_playlist(pl)
    a, b, c = m3u.entries
    assert a.attributes == (("tvg-name", "Live, Loud"), ("group-title", "Rock, Pop"), ("tvg-id", "x1"))
    assert (a.duration, a.artist, a.title) == (None, "Band, The", "Song, Part 2")
    assert b.attributes == (("empty", ""),) and (b.duration, b.title) == (12.0, "Solo")
    assert c.attributes == () and c.title is None
    assert [(w.line, w.reason.split(":")[0]) for w in m3u.warnings] == [(6, "#EXTINF ignored")]
    assert "not closed" in m3u.warnings[0].reason
    out = write_m3u8(tmp_path / "out.m3u8", [a, b])
    again = read_m3u(out)
    assert [e.attributes for e in again] == [a.attributes, b.attributes]
    assert (again[0].artist, again[0].title) == ("Band, The", "Song, Part 2")


def test_nested_playlists_are_expanded_in_order_and_cycles_skipped(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "top.m3u8").write_text("#EXTM3U\n1.mp3\nsub/inner.m3u\n4.mp3\nmissing.m3u8\n5.mp3\n",
                                       encoding="utf-8")
    (tmp_path / "sub" / "inner.m3u").write_text("#EXTINF:3,A - Two\n2.mp3\n../loop.m3u8\n", encoding="utf-8")
    (tmp_path / "loop.m3u8").write_text("3.mp3\nsub/inner.m3u\ntop.m3u8\n", encoding="utf-8")
    m3u = read_playlist(tmp_path / "top.m3u8")
    assert [e.path.name for e in m3u.entries] == ["1.mp3", "2.mp3", "3.mp3", "4.mp3", "5.mp3"]
    two, three = m3u.entries[1], m3u.entries[2]
    assert two.path == (tmp_path / "sub" / "2.mp3").resolve()  # relative to the nested file's folder
    assert (two.title, two.line, two.source) == ("Two", 2, (tmp_path / "sub" / "inner.m3u"))
    assert three.path == (tmp_path / "3.mp3").resolve() and m3u.entries[0].source is None
    reasons = [(w.source.name if w.source else None, w.line, w.reason) for w in m3u.warnings]
    assert reasons[0] == ("loop.m3u8", 2, "nested playlist skipped: it includes itself "
                                          "(inner.m3u -> loop.m3u8 -> inner.m3u)")
    assert reasons[1] == ("loop.m3u8", 3, "nested playlist skipped: it includes itself "
                                          "(top.m3u8 -> inner.m3u -> loop.m3u8 -> top.m3u8)")
    assert reasons[2][:2] == (None, 5) and "playlist not found" in reasons[2][2]
    assert len(reasons) == 3
