"""`myna playlist …` end to end on a small library store built with the store's API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import cli.config_cmd  # noqa: F401  (registers the commands on the app)
import cli.playlist_cmd  # noqa: F401
from cli.app import app
from myna_rpe.errors import PlaylistError
from playlist.m3u import read_m3u
from playlist.library.store import LibraryStore
from playlist.synthetic import SyntheticSpec
from tests.cli_helpers import wide_console  # noqa: F401 (autouse fixture)
from tests.library_helpers import synthetic_store

SPEC = SyntheticSpec(dim=16, genres=3, styles_per_genre=2, artists_per_style=4, tracks_per_artist=8, album_size=4)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A music folder of empty files plus a store holding synthetic embeddings for them."""
    root = tmp_path_factory.mktemp("lib") / "music"
    return root, synthetic_store(root, SPEC)


def artist_files(root: Path, lib, artist: int, count: int) -> list[Path]:
    rows = np.flatnonzero(lib.artist == artist)[:count]
    return [root / lib.tracks[r].path.relative_to("/synthetic") for r in rows]


def write_playlist(path: Path, files: list[Path], extra: list[str] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["#EXTM3U", *[os.path.relpath(f, path.parent) for f in files], *extra]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


runner = CliRunner()


def test_extend_writes_extended_playlist_and_lists_skipped(library) -> None:
    root, lib = library
    files = artist_files(root, lib, 1, 4) + artist_files(root, lib, 9, 4)
    pl = write_playlist(root / "lists" / "my.m3u", files, ["missing/nothing.mp3", "http://radio.example/x"])
    result = runner.invoke(app, ["playlist", "extend", str(pl), "--n", "5", "--max-per-artist", "3"])
    assert result.exit_code == 0, result.output
    assert "file not found" in result.output and "http URL" in result.output
    assert "5 tracks added (hull)" in result.output and "span dimension 7 of 16" in result.output
    out = root / "lists" / "my.extended.m3u8"
    entries = read_m3u(out)
    # The original entries are kept as they were, the skipped ones included; then the additions.
    assert [e.path for e in entries[:8]] == [f.resolve() for f in files]
    assert entries[8].path == (root / "lists" / "missing" / "nothing.mp3") and entries[9].path is None
    added = entries[10:]
    assert len(added) == 5 and not {e.path for e in added} & {f.resolve() for f in files}
    assert all(e.path.exists() and e.artist for e in added)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("#EXTM3U\n") and "../artist" in text  # relative to the output's folder
    artists = [e.artist for e in added]
    assert max(artists.count(a) for a in artists) <= 3


def test_extend_dry_run_out_and_absolute(library) -> None:
    root, lib = library
    pl = write_playlist(root / "lists" / "dry.m3u8", artist_files(root, lib, 3, 5))
    result = runner.invoke(app, ["playlist", "extend", str(pl), "--n", "3", "--dry-run"])
    assert result.exit_code == 0 and "dry run" in result.output
    assert not (root / "lists" / "dry.extended.m3u8").exists()
    target = root / "elsewhere" / "abs.m3u8"
    result = runner.invoke(app, ["playlist", "extend", str(pl), "--n", "3", "--out", str(target), "--absolute"])
    assert result.exit_code == 0, result.output
    paths = [line for line in target.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    assert len(paths) == 8 and all(Path(p).is_absolute() for p in paths)


def test_check_reports_verdicts(library) -> None:
    root, lib = library
    files = artist_files(root, lib, 2, 6)
    pl = write_playlist(root / "lists" / "check.m3u", files)
    far = lib.tracks[int(np.flatnonzero(lib.genre == 2)[0])]
    result = runner.invoke(app, ["playlist", "check", str(pl), str(files[0]), f"{far.artist} - {far.title}"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "Song" in line]
    assert "inside" in lines[0] and "in the playlist" in lines[0]
    assert "outside" in lines[1]


def test_expand_transition_fill_and_plot(library, tmp_path) -> None:
    root, lib = library
    a = write_playlist(root / "lists" / "a.m3u8", artist_files(root, lib, 0, 6))
    b = write_playlist(root / "lists" / "b.m3u8", artist_files(root, lib, 20, 6))
    result = runner.invoke(app, ["playlist", "expand", str(a), "--n", "4", "--max-distance", "5"])
    assert result.exit_code == 0, result.output
    assert len(read_m3u(root / "lists" / "a.expanded.m3u8")) == 10

    result = runner.invoke(app, ["playlist", "transition", str(a), str(b), "--n", "5"])
    assert result.exit_code == 0, result.output
    bridge = read_m3u(root / "lists" / "a-to-b.m3u8")
    assert len(bridge) == 5 and "t=0.17" in result.output
    result = runner.invoke(app, ["playlist", "transition", str(a), str(b), "--n", "5", "--full",
                                 "--out", str(tmp_path / "full.m3u8")])
    assert len(read_m3u(tmp_path / "full.m3u8")) == 17
    free = len(lib.ids) - 12
    result = runner.invoke(app, ["playlist", "transition", str(a), str(b), "--n", str(free + 3),
                                 "--out", str(tmp_path / "long.m3u8")])
    assert result.exit_code == 0, result.output
    bridge = read_m3u(tmp_path / "long.m3u8")
    assert 5 <= len(bridge) < free and len({e.path for e in bridge}) == len(bridge)
    assert (f"the bridge has {len(bridge)} tracks, not {free + 3}: only {free} library tracks are outside "
            "a.m3u8 and b.m3u8") in result.output

    everything = write_playlist(root / "lists" / "all.m3u8",
                                [root / t.path.relative_to("/synthetic") for t in lib.tracks])
    result = runner.invoke(app, ["playlist", "fill", str(everything), "--n", "6",
                                 "--out", str(tmp_path / "none.m3u8")])
    assert result.exit_code == 1 and "nothing to fill with" in str(result.exception), result.output
    assert not (tmp_path / "none.m3u8").exists()
    result = runner.invoke(app, ["playlist", "fill", str(a), "--n", "6", "--max-distance", "3"])
    assert result.exit_code == 0, result.output
    filled = read_m3u(root / "lists" / "a.filled.m3u8")
    assert len(filled) == 6 and "hull_coverage" in result.output

    png = tmp_path / "map.png"
    result = runner.invoke(app, ["playlist", "plot", str(a), "--out", str(png),
                                 "--added", str(root / "lists" / "a.expanded.m3u8")])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_playlist_outside_the_library_is_one_red_line(library, tmp_path) -> None:
    root, _ = library
    pl = write_playlist(tmp_path / "none.m3u", [tmp_path / "nope.mp3"])
    result = runner.invoke(app, ["playlist", "extend", str(pl), "--db", str(root / ".myna")])
    assert isinstance(result.exception, PlaylistError)
    proc = subprocess.run([sys.executable, "-c", "from cli.app import main; main()", "playlist", "extend", str(pl), "--db", str(root / ".myna")],
                          capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "none of the playlist's tracks are in the library index" in proc.stderr


def test_foreign_paths_match_by_unique_tail(library, tmp_path) -> None:
    from playlist.geometry.catalog import resolve_playlist

    root, lib = library
    pl = tmp_path / "windows.m3u"
    pl.write_text("\r\n".join([
        r"C:\Users\me\Music\artist0001\album0\00.flac",   # unique tail: artist0001/album0/00.flac
        "/old/disk/artist0002/album1/05.flac",            # moved library, unique tail
        r"D:\elsewhere\album0\00.flac",                   # album0/00.flac exists for every artist
    ]), encoding="utf-8")
    from playlist.m3u import read_m3u

    with LibraryStore.open(root / ".myna") as store:
        ids, skipped = resolve_playlist(read_m3u(pl), store, store.embedded_ids())
        names = [store.track(i).rel_path for i in ids]
    assert names == ["artist0001/album0/00.flac", "artist0002/album1/05.flac"]
    assert len(skipped) == 1 and skipped[0].entry.line == 3


def test_skipped_entries_say_why_each_file_is_not_in_the_library(tmp_path) -> None:
    """A file that exists but is not a library track: outside the library, unreadable when
    indexed (with the indexer's reason), not audio, or new since the last `myna index`."""
    from playlist.geometry.catalog import resolve_playlist

    root = tmp_path / "my music"
    synthetic_store(root, SyntheticSpec(dim=4, genres=1, styles_per_genre=1, artists_per_style=1,
                                        tracks_per_artist=2, album_size=2))
    for name in ("broken.ogg", "notes.txt", "new song.flac"):
        (root / name).write_bytes(b"x")
    (tmp_path / "elsewhere.mp3").write_bytes(b"x")
    with LibraryStore.open(root / ".myna") as store:
        store.record_error("broken.ogg", 1, 0, "cannot open: the file ends before any audio")
        pl = tmp_path / "p.m3u"
        first = store.tracks()[0]
        pl.write_text("\n".join([f"my music/{first.rel_path}", "elsewhere.mp3",
                                 "my music/broken.ogg", "my music/notes.txt", "my music/new song.flac"]) + "\n",
                      encoding="utf-8")
        ids, skipped = resolve_playlist(read_m3u(pl), store, store.embedded_ids())
    assert ids == [first.id]
    reasons = [s.reason for s in skipped]
    assert reasons == [f"outside the library ({root.resolve()}): only its tracks can be used",
                       "could not be indexed: cannot open: the file ends before any audio",
                       "not an audio file",
                       f"not indexed yet (run `myna index '{root.resolve()}'`)"]


# ---------------------------------------------------------------------------- finding the store


def test_playlist_kept_elsewhere_finds_the_store_from_its_entries(library, tmp_path, monkeypatch) -> None:
    root, lib = library
    monkeypatch.chdir(tmp_path)  # no store above the current folder either
    files = artist_files(root, lib, 1, 3)
    pl = tmp_path / "Playlists" / "mine.m3u8"
    pl.parent.mkdir()
    # One relative entry, two absolute ones; the playlist's folder has no store above it.
    pl.write_text("\n".join(["#EXTM3U", os.path.relpath(files[0], pl.parent), *map(str, files[1:])]) + "\n",
                  encoding="utf-8")
    result = runner.invoke(app, ["playlist", "extend", str(pl), "--n", "2", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "mine.m3u8: 3 tracks" in result.output


def test_the_default_library_is_the_last_resort_and_db_wins(library, tmp_path, monkeypatch) -> None:
    root, lib = library
    monkeypatch.chdir(tmp_path)
    # Paths from another machine: nothing above them, the playlist's folder or the cwd;
    # they resolve by their unique tail inside whichever store is used.
    pl = tmp_path / "Playlists" / "old.m3u"
    pl.parent.mkdir()
    pl.write_text("/old/disk/artist0001/album0/00.flac\n/old/disk/artist0002/album1/05.flac\n", encoding="utf-8")

    proc = subprocess.run([sys.executable, "-c", "from cli.app import main; main()", "playlist", "check", str(pl),
                           "artist0001/album0/00.flac"], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "COLUMNS": "400"})
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: no library store found (tried: above the tracks named (2 folders); "
                               f"above {pl.parent}; above the current folder {tmp_path}; no default library set)")
    assert "myna config default-library" in lines[0]

    result = runner.invoke(app, ["config", "default-library", str(root)])
    assert result.exit_code == 0, result.output
    assert f"default-library = {root.resolve()}" in result.output
    result = runner.invoke(app, ["playlist", "check", str(pl), "artist0001/album0/00.flac"])
    assert result.exit_code == 0, result.output
    assert "old.m3u: 2 tracks" in result.output and "in the playlist" in result.output

    other = tmp_path / "other"  # --db wins: a store of two tracks, where only one entry resolves
    synthetic_store(other, SyntheticSpec(dim=16, genres=1, styles_per_genre=1, artists_per_style=1,
                                         tracks_per_artist=2, album_size=2))
    result = runner.invoke(app, ["playlist", "check", str(pl), "artist0000/album0/01.flac",
                                 "--db", str(other / ".myna")])
    assert result.exit_code == 0, result.output
    assert "old.m3u: 1 track," in result.output


def test_config_shows_sets_and_unsets_the_default_library(library, tmp_path, _private_user_config) -> None:
    root, _ = library
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0 and "default-library │ not set" in result.output
    assert runner.invoke(app, ["config", "default-library", str(root)]).exit_code == 0
    saved = (_private_user_config / "myna" / "config.json").read_text(encoding="utf-8")
    assert json.loads(saved) == {"default-library": str(root.resolve())}
    assert f"default-library │ {root.resolve()}" in runner.invoke(app, ["config"]).output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["config", "default-library", str(empty)])
    assert result.exit_code == 0 and "no library store there yet" in result.output
    assert "(no store there)" in runner.invoke(app, ["config"]).output
    result = runner.invoke(app, ["config", "--unset", "default-library"])
    assert result.exit_code == 0 and "default-library unset" in result.output
    assert json.loads((_private_user_config / "myna" / "config.json").read_text()) == {}
    for args, message in ((["config", "colour", "x"], "unknown setting 'colour'"),
                          (["config", "default-library", str(tmp_path / "nope")], "not a folder")):
        result = runner.invoke(app, args)
        assert result.exit_code != 0 and message in str(result.exception)


def test_a_broken_settings_file_is_one_line_with_the_fix(library, tmp_path, _private_user_config) -> None:
    from myna_rpe.errors import ConfigError

    path = _private_user_config / "myna" / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    result = runner.invoke(app, ["config"])
    assert isinstance(result.exception, ConfigError)
    assert str(path) in str(result.exception) and "not valid JSON" in str(result.exception)


def test_nested_playlists_are_followed_in_order_and_a_cycle_is_one_warning(library, tmp_path: Path) -> None:
    root, lib = library
    a, b = artist_files(root, lib, 2, 3), artist_files(root, lib, 3, 3)
    inner = write_playlist(tmp_path / "sub" / "inner.m3u", b, ["../top.m3u8", "gone.flac"])
    top = write_playlist(tmp_path / "top.m3u8", a[:2], [os.path.relpath(inner, tmp_path),
                                                       os.path.relpath(a[2], tmp_path)])
    result = runner.invoke(app, ["playlist", "extend", str(top), "--n", "2", "--dry-run", "--db", str(root / ".myna")])
    assert result.exit_code == 0, result.output
    assert "top.m3u8: 6 tracks" in result.output and "would write 9 entries" in result.output
    assert "inner.m3u:5" in result.output and "it includes itself (top.m3u8 -> inner.m3u -> top.m3u8)" in result.output
    assert "inner.m3u:6" in result.output and "file not found" in result.output
    with LibraryStore.open(root / ".myna", readonly=True) as store:
        from playlist.geometry.catalog import resolve_playlist

        ids, _ = resolve_playlist(read_m3u(top), store, store.embedded_ids())
    assert ids == [lib.ids[np.flatnonzero(lib.artist == 2)[0]],
                                              lib.ids[np.flatnonzero(lib.artist == 2)[1]],
                                              *lib.ids[np.flatnonzero(lib.artist == 3)[:3]],
                                              lib.ids[np.flatnonzero(lib.artist == 2)[2]]]
