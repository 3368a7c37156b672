"""`myna mpd extend|radio|transition` end to end against a real `mpd --no-daemon` on 127.0.0.1
(null audio output) serving a generated library whose files are real audio."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import cli.mpd_cmd  # noqa: F401  (registers the commands on the app)
from playlist.geometry.catalog import LibraryCatalog
from playlist.geometry.extend import extend
from playlist.library import Library
from playlist.players.mpd import MpdAddress, MpdError, config_music_directory
from playlist.geometry.selection import SelectionRules
from playlist.synthetic import SyntheticSpec
from playlist.geometry.transition import transition
from tests.cli_helpers import myna, wide_console  # noqa: F401 (autouse fixture)
from tests.player_helpers import (
    MPD_PASSWORD,
    default_sigint,
    audible_synthetic_store,
    free_port,
    start_mpd,
    stop_mpd,
)

SPEC = SyntheticSpec(dim=16, genres=2, styles_per_genre=2, artists_per_style=3, tracks_per_artist=6, album_size=3)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(music folder, synthetic library, running MPD) shared by the module's tests."""
    base = tmp_path_factory.mktemp("mpd")
    root = base / "music"
    lib = audible_synthetic_store(root, SPEC)
    from tests.library_helpers import write_track

    write_track(root / "stray" / "not indexed.flac", 999, 2.0)  # MPD knows it, the library does not
    server = start_mpd(base / "server", root)
    yield root, lib, server
    stop_mpd(server)


@pytest.fixture
def mpd(served):
    """A password-authenticated client on an emptied, stopped queue."""
    root, lib, server = served
    client = server.client()
    client.stop()
    client.clear()
    yield client
    client.disconnect()


def uris(lib, artist: int, count: int) -> list[str]:
    rows = np.flatnonzero(lib.artist == artist)[:count]
    return [lib.tracks[r].path.relative_to("/synthetic").as_posix() for r in rows]


def queue(client) -> list[str]:
    return [s["file"] for s in client.playlistinfo()]


def flags(server, root: Path, password: str | None = MPD_PASSWORD) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(server.port), "--music-dir", str(root),
            *(["--password", password] if password else [])]


def ids_of(root: Path, uri_list: list[str]) -> list[int]:
    with Library.open(root / ".myna") as lib:
        return [lib.store.track_at(u).id for u in uri_list]


def paths_to_uris(root: Path, ids: list[int]) -> list[str]:
    with Library.open(root / ".myna") as lib:
        tracks = lib.store.tracks_by_id(ids)
    return [tracks[i].rel_path for i in ids]


def test_extend_queues_what_playlist_extend_picks(served, mpd, capsys) -> None:
    root, lib, server = served
    start = uris(lib, 1, 3) + uris(lib, 7, 3)
    for uri in start:
        mpd.add(uri)
    code, out = myna(capsys, "mpd", "extend", "--n", "5", "--max-per-artist", "2", *flags(server, root))
    assert code == 0, out
    assert "queued 5 songs" in out
    now = queue(mpd)
    assert now[:6] == start and len(now) == 11 and len(set(now)) == 11
    # The same picks `myna playlist extend` makes for these tracks under the same rules.
    with Library.open(root / ".myna") as library:
        want = extend(LibraryCatalog(library), ids_of(root, start), 5, rules=SelectionRules(max_per_artist=2))
    assert now[6:] == paths_to_uris(root, [p.id for p in want.picks])
    artists = [lib.tracks[i - 1].artist for i in ids_of(root, now[6:])]
    assert max(artists.count(a) for a in artists) <= 2


def test_extend_reads_mpd_host_and_port_from_the_environment(served, mpd, capsys, monkeypatch) -> None:
    root, lib, server = served
    mpd.add(uris(lib, 2, 1)[0])
    monkeypatch.setenv("MPD_HOST", f"{MPD_PASSWORD}@127.0.0.1")
    monkeypatch.setenv("MPD_PORT", str(server.port))
    code, out = myna(capsys, "mpd", "extend", "--n", "2", "--music-dir", str(root))
    assert code == 0, out
    assert len(queue(mpd)) == 3


def test_music_folder_from_mpd_config_file(served, mpd, capsys) -> None:
    root, lib, server = served
    assert config_music_directory(server.config) == root
    mpd.add(uris(lib, 3, 2)[0])
    code, out = myna(capsys, "mpd", "extend", "--n", "1", "--host", "127.0.0.1", "--port", str(server.port),
                     "--password", MPD_PASSWORD, "--mpd-conf", str(server.config))
    assert code == 0, out
    assert f"music folder {root} (from {server.config})" in " ".join(out.split())


def test_mpd_address_rules() -> None:
    assert MpdAddress.resolve(env={}) == MpdAddress("localhost", 6600, None)
    assert MpdAddress.resolve(env={"MPD_HOST": "pw@box", "MPD_PORT": "6601"}) == MpdAddress("box", 6601, "pw")
    assert MpdAddress.resolve("other", 7000, "x", env={"MPD_HOST": "pw@box"}) == MpdAddress("other", 7000, "x")
    assert MpdAddress.resolve(env={"MPD_HOST": "@mpd-socket"}).host == "@mpd-socket"  # abstract socket
    with pytest.raises(MpdError, match="MPD_PORT='x' is not a port number"):
        MpdAddress.resolve(env={"MPD_PORT": "x"})


def test_errors_are_one_line(served, mpd, capsys) -> None:
    root, lib, server = served
    mpd.add(uris(lib, 4, 1)[0])
    cases = [
        (flags(server, root, "wrong"), "refused the password"),
        (flags(server, root, None), "give the password with --password"),
        (["--host", "127.0.0.1", "--port", str(free_port()), "--music-dir", str(root)], "cannot talk to MPD"),
    ]
    for args, text in cases:
        code, out = myna(capsys, "mpd", "extend", "--n", "1", *args)
        assert code == 1 and text in out and "Traceback" not in out, out
        assert len(out.strip().splitlines()) == 1, out
    code, out = myna(capsys, "mpd", "extend", *flags(server, root)[:4], "--mpd-conf", str(root / "no.conf"))
    assert code == 2 and "Invalid value for '--mpd-conf'" in out and "is no file" in out, out
    mpd.clear()
    mpd.add("stray/not indexed.flac")
    code, out = myna(capsys, "mpd", "extend", "--n", "1", *flags(server, root), "--db", str(root / ".myna"))
    assert code == 1 and "none of the 1 queued songs are indexed tracks" in out, out
    mpd.clear()
    code, out = myna(capsys, "mpd", "extend", "--n", "1", *flags(server, root), "--db", str(root / ".myna"))
    assert code == 1 and "queue at 127.0.0.1" in out and "is empty" in out, out
    assert len(queue(mpd)) == 0


def test_transition_to_a_stored_playlist_and_to_an_m3u(served, mpd, capsys, tmp_path) -> None:
    root, lib, server = served
    start, target = uris(lib, 0, 3), uris(lib, 10, 3)
    for uri in start:
        mpd.add(uri)
    for uri in target:
        mpd.playlistadd("calm", uri)
    code, out = myna(capsys, "mpd", "transition", "calm", "--n", "4", "--then-target", *flags(server, root))
    assert code == 0, out
    now = queue(mpd)
    with Library.open(root / ".myna") as library:
        want = transition(LibraryCatalog(library), ids_of(root, start), ids_of(root, target), 4)
    assert now == start + paths_to_uris(root, [p.id for p in want.picks]) + target
    # The same bridge from an m3u file; the bridge only.
    mpd.clear()
    for uri in start:
        mpd.add(uri)
    m3u = tmp_path / "calm.m3u8"
    m3u.write_text("#EXTM3U\n" + "\n".join(str(root / u) for u in target) + "\n", encoding="utf-8")
    code, out = myna(capsys, "mpd", "transition", str(m3u), "--n", "4", *flags(server, root))
    assert code == 0, out
    assert queue(mpd) == start + paths_to_uris(root, [p.id for p in want.picks])
    code, out = myna(capsys, "mpd", "transition", "nothing-like-this", *flags(server, root))
    assert code == 1 and "has no stored playlist 'nothing-like-this'" in out, out
    # Every other track already queued: no bridge exists, and nothing is queued (not the target either).
    mpd.clear()
    everything = [t.path.relative_to("/synthetic").as_posix() for t in lib.tracks]
    for uri in everything:
        if uri not in target:
            mpd.add(uri)
    before = queue(mpd)
    code, out = myna(capsys, "mpd", "transition", "calm", "--n", "4", "--then-target", *flags(server, root))
    assert code == 1 and "Traceback" not in out, out
    assert "no bridge: every library track is in the queue or 'calm'" in out and "nothing was queued" in out, out
    assert queue(mpd) == before


def _wait(condition, what: str, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_radio_keeps_the_queue_ahead_until_interrupted(served, mpd) -> None:
    root, lib, server = served
    for uri in uris(lib, 5, 2):
        mpd.add(uri)
    env = {**os.environ, "MPD_HOST": f"{MPD_PASSWORD}@127.0.0.1", "MPD_PORT": str(server.port)}
    proc = subprocess.Popen([sys.executable, "-m", "cli.app", "mpd", "radio", "--ahead", "3", "--max-per-artist",
                             "2", "--music-dir", str(root)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=Path(__file__).parents[1],
                            preexec_fn=default_sigint)
    try:
        # Stopped with no current song: the whole queue counts as ahead.
        _wait(lambda: len(queue(mpd)) >= 3, "the first top-up")
        assert len(queue(mpd)) == 3
        for pos in (1, 2, 4):
            # Make song `pos` current and hold it there (one command list: nothing runs between).
            mpd.command_list_ok_begin()
            mpd.play(pos)
            mpd.pause(1)
            mpd.command_list_end()
            _wait(lambda: len(queue(mpd)) >= pos + 1 + 3, f"three songs after position {pos}")
            time.sleep(0.5)  # nothing more is added once three are ahead
            assert len(queue(mpd)) == pos + 1 + 3
        now = queue(mpd)
        assert len(set(now)) == len(now)  # no repeats
        added = ids_of(root, now[2:])
        artists = [lib.tracks[i - 1].artist for i in added]
        assert max(artists.count(a) for a in artists) <= 2
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted" in out and "Traceback" not in out, out


def test_a_library_linked_into_mpds_music_folder_is_queued_through_the_link(served, tmp_path, capsys) -> None:
    """MPD follows symbolic links inside its music folder; picks are queued by the linked URI."""
    root, lib, _ = served
    music = tmp_path / "music"
    music.mkdir()
    (music / "collection").symlink_to(root, target_is_directory=True)
    server = start_mpd(tmp_path / "server", music)
    try:
        client = server.client()
        start = ["collection/" + u for u in uris(lib, 0, 3)]
        for uri in start:
            client.add(uri)
        code, out = myna(capsys, "mpd", "extend", "--n", "3", *flags(server, music), "--db", str(root / ".myna"))
        assert code == 0, out
        added = [song["file"] for song in client.playlistinfo()][3:]
        assert len(added) == 3 and all(uri.startswith("collection/") for uri in added), added
        client.disconnect()
    finally:
        stop_mpd(server)


def test_picks_that_none_can_be_queued_are_an_error(served, tmp_path, capsys) -> None:
    """MPD's music folder is one artist's folder of the library: the picks of other artists
    are outside it, and a verb that queued nothing says so and fails."""
    root, lib, _ = served
    start = uris(lib, 0, SPEC.tracks_per_artist)  # all of that artist: the picks are other artists'
    artist_folder = root / start[0].split("/")[0]
    server = start_mpd(tmp_path / "server", artist_folder)
    try:
        client = server.client()
        for uri in start:
            client.add(uri.split("/", 1)[1])
        code, out = myna(capsys, "mpd", "extend", "--n", "3", *flags(server, artist_folder), "--db", str(root / ".myna"))
        assert code == 1 and "Traceback" not in out, out
        assert "error: none of the picks could be queued: 3 × outside MPD's music folder" in out, out
        assert len(client.playlistinfo()) == len(start)
        client.disconnect()
    finally:
        stop_mpd(server)
