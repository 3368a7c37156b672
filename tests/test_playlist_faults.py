"""Malformed and odd playlists through every playlist verb, via the real `myna` entry point.

One synthetic library for the module. Each case is a playlist (bytes) with what every verb
must say about it; each verb must exit as expected, print no traceback, name the odd line
or the playlist with the fix, and leave the input as it was. Add a case to PLAYLISTS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from playlist.m3u import read_m3u
from playlist.synthetic import SyntheticSpec
from tests.cli_helpers import myna, wide_console  # noqa: F401 (autouse fixture)
from tests.library_helpers import synthetic_store

SPEC = SyntheticSpec(dim=16, genres=2, styles_per_genre=2, artists_per_style=3, tracks_per_artist=6, album_size=3)
GOOD = [f"artist{a:04d}/album{t // 3}/{t % 3:02d}.flac" for a in (1, 2) for t in range(3)]  # 6 library files


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes  # the playlist, written to lists/<name><suffix>; "{music}" becomes the library folder
    tracks: int | None  # tracks found; None: the playlist is unusable (exit 1, one red line)
    expect: str = ""  # the odd line's reason (printed in its row, with `line`), or part of the error
    line: int | None = None
    suffix: str = ".m3u8"


def _lines(*lines: str, good: int = 3) -> bytes:
    """#EXTM3U, then `good` library tracks (lines 2-4), then `lines` (from line 5)."""
    return "\n".join(["#EXTM3U", *(f"../{g}" for g in GOOD[:good]), *lines, ""]).encode()


PLAYLISTS = [
    Case("long_line", _lines("x" * 300 + ".mp3"), 3, "longer than 255 bytes", 5),
    Case("long_path", _lines("/".join(["d" * 200] * 25) + "/x.mp3"), 3, "File name too long", 5),
    Case("extinf_huge", _lines("#EXTINF:1e999,Big - Song", "../" + GOOD[3]), 4, "not a finite number", 5),
    Case("extinf_nan", _lines("#EXTINF:nan,A - B", "../" + GOOD[3]), 4, "not a finite number", 5),
    Case("extinf_no_comma", _lines("#EXTINF:123", "../" + GOOD[3]), 4, "no comma", 5),
    Case("extinf_text", _lines("#EXTINF:abc,A - B", "../" + GOOD[3]), 4, "is not a number", 5),
    # The tail "artist0002/album1/02.flac" names one library file, but a web URL is never local.
    Case("https_url", _lines("https://example.com/music/" + GOOD[5]), 3, "https URL, not a local file", 5),
    Case("file_url_encoded", _lines("file://{music}/" + GOOD[3].replace("0", "%30")), 4),
    Case("file_url_other_host", _lines("file://nas/music/" + GOOD[3]), 3, "file URL on another host", 5),
    Case("bom_crlf", b"\xef\xbb\xbf" + _lines("../" + GOOD[3]).replace(b"\n", b"\r\n"), 4),
    Case("latin1_m3u", _lines("Björk.mp3").replace("ö".encode(), b"\xf6"), 3, "file not found", 5, ".m3u"),
    Case("latin1_in_m3u8", _lines("Björk.mp3").replace("ö".encode(), b"\xf6"), 3, "not valid UTF-8", 5),
    Case("utf16", _lines("../" + GOOD[3]).decode().encode("utf-16"), 4),
    Case("blank", b"", None, "no track entries"),
    Case("only_comments", b"#EXTM3U\n# just a comment\n#EXTINF:10,A - B\n\n", None, "no track entries"),
    Case("only_urls", b"#EXTM3U\nhttp://radio.example/live\nspotify://track/x\n", None,
         "none of the playlist's tracks are in the library index"),
    Case("nested_m3u", _lines("other.m3u8"), 3),  # expanded: its one track is already listed
    Case("nested_missing", _lines("gone.m3u8"), 3, "nested playlist skipped", 5),
    Case("nested_pls", _lines("other.pls"), 3, "only nested .m3u/.m3u8 playlists are followed", 5),
    Case("directory", _lines("../artist0001"), 3, "a folder, not a track", 5),
    Case("dotdot", _lines("../artist0001/../" + GOOD[3], "./../" + GOOD[4]), 5),
    Case("duplicates", _lines("../" + GOOD[0], "../" + GOOD[0], "../" + GOOD[1]), 3),
    Case("nul_byte", _lines("bad\x00name.mp3"), 3, "NUL", 5),
    Case("control_chars", _lines("bad\x1b[31mname.mp3"), 3, "control characters", 5),
    Case("windows_tail", _lines(r"C:\Users\me\Music" + "\\" + GOOD[3].replace("/", "\\")), 4),
    Case("missing_files", _lines("nothing/here.mp3", "../artist0001/nope.flac"), 3, "file not found", 5),
    Case("symlink_loop", _lines("loop/x.mp3"), 3, "symlink loop", 5),
    Case("whitespace", _lines("   \t  ", "\t../" + GOOD[3] + "  "), 4),
]
VERBS = ("check", "extend", "expand", "fill", "transition", "plot")


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults") / "music"
    synthetic_store(root, SPEC)
    lists = root / "lists"
    lists.mkdir()
    (lists / "loop").symlink_to(lists / "loop")
    (lists / "other.m3u8").write_text("#EXTM3U\n../" + GOOD[0] + "\n", encoding="utf-8")
    (lists / "good.m3u8").write_text("#EXTM3U\n" + "".join(f"../{g}\n" for g in GOOD[3:]), encoding="utf-8")
    return root


def verb_args(verb: str, playlist: Path, root: Path, tmp: Path) -> list[str]:
    out = ["--out", str(tmp / f"{verb}.{'png' if verb == 'plot' else 'm3u8'}")]
    small = ["--n", "2"]
    return {
        "check": ["check", str(playlist), str(root / GOOD[5])],
        "extend": ["extend", str(playlist), *small, *out],
        "expand": ["expand", str(playlist), *small, "--max-distance", "10", *out],
        "fill": ["fill", str(playlist), *small, "--max-distance", "10", *out],
        "transition": ["transition", str(playlist), str(root / "lists" / "good.m3u8"), *small, *out],
        "plot": ["plot", str(playlist), *out],
    }[verb]


@pytest.mark.parametrize("case", PLAYLISTS, ids=lambda c: c.name)
def test_odd_playlist_through_every_verb(library, case, tmp_path, capsys) -> None:
    root = library
    playlist = root / "lists" / f"{case.name}{case.suffix}"
    body = case.body.replace(b"{music}", os.fsencode(root))
    playlist.write_bytes(body)
    for verb in VERBS:
        code, output = myna(capsys, "playlist", *verb_args(verb, playlist, root, tmp_path))
        where = f"{case.name} / {verb}:\n{output}"
        assert "Traceback" not in output, where
        assert playlist.read_bytes() == body, where  # the input is never touched
        if case.tracks is None:
            assert code == 1, where
            (line,) = [x for x in output.splitlines() if x.startswith("error:")]
            assert str(playlist) in line and case.expect in line and " — " in line, where  # path, what, fix
            continue
        assert code == 0, where
        if case.expect:
            rows = [x for x in output.splitlines() if case.expect in x]
            assert rows and rows[0].split("│")[1].strip() == str(case.line), where
        if verb == "check":
            assert f"{playlist.name}: {case.tracks} tracks" in output, where
        if verb == "extend":
            # Nothing of the input is lost: every entry comes back, the odd ones verbatim, then 2 more.
            written = read_m3u(tmp_path / "extend.m3u8")
            assert len(written) == len(read_m3u(playlist)) + 2, where


def _usage_error(output: str) -> str:
    """The one line of a usage error (exit 2) that says what is wrong."""
    (line,) = [x for x in output.splitlines() if "Invalid value" in x]
    return line


@pytest.mark.parametrize("verb", ["extend", "expand", "fill", "transition", "plot"])
def test_out_naming_an_input_is_refused_and_the_input_kept(library, verb, tmp_path, capsys) -> None:
    root = library
    playlist = root / "lists" / "keep.m3u8"
    playlist.write_text("#EXTM3U\n" + "".join(f"../{g}\n" for g in GOOD[:3]), encoding="utf-8")
    before = playlist.read_bytes()
    args = verb_args(verb, playlist, root, tmp_path)
    targets = [playlist, root / "lists" / "not-yet" / ".." / "keep.m3u8"]  # the folder would be made, then `..`
    targets += [root / "lists" / "good.m3u8"] if verb == "transition" else []
    for target in targets:
        if verb == "plot":  # plot's --added playlist is an input too
            args = [*args[:-2], "--added", str(target), "--out", str(target)]
        else:
            args[-1] = str(target)
        code, output = myna(capsys, "playlist", *args)
        assert code == 2 and "Traceback" not in output, output
        line = _usage_error(output)
        assert "'--out'" in line and str(target) in line and ("choose another name" in line or "end the name" in line)
    assert playlist.read_bytes() == before


@pytest.mark.parametrize("verb", ["extend", "expand", "fill", "transition"])
def test_out_naming_a_nested_playlist_is_refused_and_it_is_kept(library, verb, tmp_path, capsys) -> None:
    lists = library / "lists"
    inner = lists / "inner.m3u8"
    inner.write_text("#EXTM3U\n" + "".join(f"../{g}\n" for g in GOOD[:2]), encoding="utf-8")
    outer = lists / "outer.m3u"
    outer.write_text(f"inner.m3u8\n../{GOOD[2]}\n", encoding="utf-8")
    before = inner.read_bytes()
    args = verb_args(verb, outer, library, tmp_path)
    args[-1] = str(lists / "sub" / ".." / "inner.m3u8")  # the same file, through a folder not there yet
    code, output = myna(capsys, "playlist", *args)
    assert code == 2 and "Traceback" not in output, output
    line = _usage_error(output)
    assert "'--out'" in line and f"is a playlist that {outer} includes" in line and "choose another name" in line
    assert inner.read_bytes() == before


@pytest.mark.parametrize(("args", "expect"), [
    (["plot", "{pl}", "--out", "{tmp}/x.xyz"], "unknown file type '.xyz'"),
    (["plot", "{pl}", "--out", "{tmp}/map"], "unknown file type '(none)'"),
    (["extend", "{pl}", "--out", "{tmp}/out.txt"], "end the name with .m3u8 or .m3u"),
    (["extend", "{pl}", "--out", "{tmp}"], "is a folder"),
    (["extend", "{pl}", "--out", "{pl}/x.m3u8"], "is a file, so"),
    (["extend", "{pl}", "--db", "{pl}"], "is a file, not a folder"),
    (["check", "{pl}", "x", "--db", "{tmp}/nowhere"], "does not exist"),
    (["extend", "{pl}", "--near", "nan"], "--near"),
    (["extend", "{pl}", "--off-span", "-1"], "--off-span"),
    (["expand", "{pl}", "--margin", "inf"], "--margin"),
    (["expand", "{pl}", "--max-distance", "-0.5"], "--max-distance"),
    (["fill", "{pl}", "--max-distance", "nan"], "--max-distance"),
    (["transition", "{pl}", "{pl}", "--smoothness", "-inf"], "--smoothness"),
    (["extend", "{pl}", "--n", "0"], "--n"),
    (["extend", "{pl}", "--max-per-artist", "-3"], "--max-per-artist"),
    (["plot", "{pl}", "--extend", "-1"], "--extend"),
])
def test_bad_option_values_are_one_line_usage_errors(library, args, expect, tmp_path, capsys) -> None:
    playlist = library / "lists" / "good.m3u8"
    before = playlist.read_bytes()
    args = [a.replace("{pl}", str(playlist)).replace("{tmp}", str(tmp_path)) for a in args]
    code, output = myna(capsys, "playlist", *args)
    assert code == 2 and "Traceback" not in output, output
    assert expect in _usage_error(output), output
    assert playlist.read_bytes() == before and not list(tmp_path.iterdir())


def test_plot_writes_the_exact_name_in_the_format_its_suffix_names(library, tmp_path, capsys) -> None:
    playlist = library / "lists" / "good.m3u8"
    code, output = myna(capsys, "playlist", "plot", str(playlist), "--out", str(tmp_path / "new" / "map.svg"))
    assert code == 0, output
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["map.svg"]
    assert b"<svg" in (tmp_path / "new" / "map.svg").read_bytes()[:400]
