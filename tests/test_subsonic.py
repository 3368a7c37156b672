"""`myna subsonic …` end to end against a real Subsonic server: Debian's supysonic on 127.0.0.1
(API 1.10.2, so the password goes as `p=enc:HEX`), serving a generated folder of tagged audio
that `myna index` embedded too. The playlists the verbs write are read back through the API."""

from __future__ import annotations

import http.server
import io
import json
import re
import stat
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import cli.subsonic_cmd  # noqa: F401  (registers the commands on the app)
from playlist.geometry.catalog import ArrayCatalog, LibraryCatalog, TrackMeta
from playlist.geometry.extend import extend
from playlist.geometry.fill import fill
from playlist.geometry.transition import transition
from playlist.library import Library
from playlist.library.outside import embed_outside
from playlist.library.track_vectors import encoder_part, stats_dim
from playlist.subsonic.client import Credentials, SubsonicClient, SubsonicError
from playlist.subsonic.credentials import ENV_PASSWORD, login_path
from playlist.subsonic.links import Links, PathMap, links_path
from playlist.subsonic.streamed import Streamed
from tests.cli_helpers import myna, wide_console  # noqa: F401 (autouse fixture)
from tests.player_helpers import free_port
from tests.subsonic_helpers import PASSWORD, USER, served_library, stop_supysonic, title

@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(music folder = library root, running supysonic, a signed-in client) for the module."""
    server = served_library(tmp_path_factory.mktemp("subsonic"))
    yield server.music_dir, server, SubsonicClient(Credentials(server.url, USER, PASSWORD)).connect()
    stop_supysonic(server)


@pytest.fixture
def env(served, monkeypatch):
    """The password from the environment, as the docs show; the flags that name the server."""
    root, server, _ = served
    monkeypatch.setenv(ENV_PASSWORD, PASSWORD)
    return ["--server", server.url, "--user", USER, "--db", str(root / ".myna")]


@pytest.fixture
def linked(served, env, capsys):
    code, out = myna(capsys, "subsonic", "link", *env)
    assert code == 0, out
    return out


def songs_by_title(client) -> dict[str, str]:
    return {s.title: s.id for s in client.songs()}


def track_ids(root: Path, client, song_ids: list[str]) -> list[int]:
    links = Links.load(root / ".myna", client.base)
    return [links.track_of(s) for s in song_ids]


def song_ids(root: Path, client, tracks: list[int]) -> list[str]:
    return [Links.load(root / ".myna", client.base).songs_of()[t] for t in tracks]


def read_playlist(client, name: str) -> tuple[dict, list[str]]:
    found = [p for p in client.playlists() if p["name"] == name]
    assert len(found) == 1, [p["name"] for p in client.playlists()]
    info, songs = client.playlist(str(found[0]["id"]))
    return info, [s.id for s in songs]


def user_playlist(client, name: str, titles: list[str]) -> list[str]:
    ids = songs_by_title(client)
    wanted = [ids[t] for t in titles]
    client.create_playlist(name, wanted)
    return wanted


def test_link_by_path_reports_the_song_not_indexed(served, linked) -> None:
    root, server, client = served
    assert "linked 24 of 25 songs (24 by path)" in linked, linked
    assert "1 song not linked" in linked and "Nobody - Stray" in linked
    assert "no indexed file for 'stray/not indexed.flac'" in linked
    assert "p=enc:HEX" in linked and "API 1.10.2" in linked  # supysonic predates the salted token
    links = Links.load(root / ".myna", client.base)
    with Library.open(root / ".myna") as lib:
        for song in client.songs():
            track = lib.store.track_at(song.path)
            assert links.track_of(song.id) == (track.id if track else None)


def refusing(code: int):
    def page(offset: int):
        raise SubsonicError("refused", code=code)
    return page


def test_songs_are_read_page_by_page_or_album_by_album(served, monkeypatch) -> None:
    root, server, client = served
    every = [s.id for s in client.songs()]
    assert len(set(every)) == 25
    monkeypatch.setattr("playlist.subsonic.client.PAGE", 4)  # 7 pages of search3, 2 of getAlbumList2
    assert [s.id for s in client.songs()] == every
    # A server that answers an empty query with nothing, or refuses it: walked album by album.
    for page in (lambda offset: [], refusing(10)):
        monkeypatch.setattr(client, "_song_page", page)
        assert sorted(s.id for s in client.songs()) == sorted(every)
    monkeypatch.setattr(client, "_song_page", refusing(50))  # not allowed: said, not papered over
    with pytest.raises(SubsonicError):
        list(client.songs())


def test_link_by_tags_where_the_paths_do_not_lead_here(served, env, linked, capsys, tmp_path) -> None:
    root, server, client = served
    by_path = Links.load(root / ".myna", client.base).tracks
    code, out = myna(capsys, "subsonic", "link", *env, "--prefix", f"/srv/music={tmp_path}")
    assert code == 0, out
    assert "linked 24 of 25 songs (24 by artist+title)" in out, out
    assert Links.load(root / ".myna", client.base).tracks == by_path
    assert PathMap.parse(f"/srv/music={tmp_path}").local_path("/srv/music/a/b.flac") == tmp_path / "a" / "b.flac"
    assert PathMap.parse(str(tmp_path)).local_path("a/b.flac") == tmp_path / "a" / "b.flac"
    assert PathMap.parse("/srv/music=/x").local_path("/elsewhere/b.flac") is None
    code, out = myna(capsys, "subsonic", "link", *env)  # back to the paths, for the other tests
    assert code == 0 and "24 by path" in out, out


def test_extend_writes_a_new_playlist_and_never_overwrites_the_users(served, env, linked, capsys) -> None:
    root, server, client = served
    start = user_playlist(client, "Calm", [title(0, 0, t) for t in range(3)])
    code, out = myna(capsys, "subsonic", "extend", "Calm", "--n", "5", *env)
    assert code == 0, out
    assert "created the playlist 'Calm (extended by Myna)' (8 songs" in out, out
    assert re.search(r"Artist \d - Song \[\d{3}\]", out), out  # titles with brackets, printed as themselves
    info, now = read_playlist(client, "Calm (extended by Myna)")
    assert info["comment"].startswith("Made by Myna")
    with Library.open(root / ".myna") as lib:
        want = extend(LibraryCatalog(lib), track_ids(root, client, start), 5)
    assert now == start + song_ids(root, client, [p.id for p in want.picks])
    assert read_playlist(client, "Calm")[1] == start  # the user's playlist is as it was
    # Again: Myna's own playlist is replaced, not doubled.
    code, out = myna(capsys, "subsonic", "extend", "Calm", "--n", "2", *env)
    assert code == 0 and "replaced the songs of the playlist 'Calm (extended by Myna)' (5 songs" in out, out
    assert len(read_playlist(client, "Calm (extended by Myna)")[1]) == 5
    # A playlist of that name the user made is refused, unless --replace.
    mine = user_playlist(client, "Mine", [title(3, 1, 0)])
    code, out = myna(capsys, "subsonic", "extend", "Calm", "--n", "2", "--name", "Mine", *env)
    assert code == 1 and "a playlist named 'Mine' that Myna did not make" in out and "--replace" in out, out
    assert read_playlist(client, "Mine")[1] == mine
    code, out = myna(capsys, "subsonic", "extend", "Calm", "--n", "2", "--name", "Mine", "--dry-run", *env)
    assert code == 1 and "a playlist named 'Mine' that Myna did not make" in out, out  # as the real run would
    code, out = myna(capsys, "subsonic", "extend", "Calm", "--n", "2", "--name", "Mine", "--dry-run", "--replace",
                     *env)
    assert code == 0 and "dry run: would replace the songs of the playlist 'Mine' (5 songs)" in out, out
    assert read_playlist(client, "Mine")[1] == mine
    code, out = myna(capsys, "subsonic", "extend", "Calm", "--n", "2", "--name", "Mine", "--replace", *env)
    assert code == 0, out
    assert read_playlist(client, "Mine")[1] == start + song_ids(root, client, [p.id for p in want.picks[:2]])


def test_mix_transition_and_fill(served, env, linked, capsys) -> None:
    root, server, client = served
    loud = user_playlist(client, "Loud", [title(2, 1, t) for t in range(3)])
    quiet = user_playlist(client, "Quiet", [title(1, 0, t) for t in range(3)])
    seed_song = songs_by_title(client)[title(3, 0, 1)]
    code, out = myna(capsys, "subsonic", "mix", f"Artist 3 - {title(3, 0, 1)}", "--n", "4", *env)
    assert code == 0, out
    _, mix = read_playlist(client, f"Myna mix: Artist 3 - {title(3, 0, 1)}")
    with Library.open(root / ".myna") as lib:
        catalog = LibraryCatalog(lib)
        [seed_track] = track_ids(root, client, [seed_song])
        want_mix = extend(catalog, [seed_track], 4)
        want_bridge = transition(catalog, track_ids(root, client, quiet), track_ids(root, client, loud), 3)
        want_fill = fill(catalog, track_ids(root, client, loud), 4)
    assert mix == [seed_song] + song_ids(root, client, [p.id for p in want_mix.picks])
    code, out = myna(capsys, "subsonic", "transition", "Quiet", "Loud", "--n", "3", "--full", *env)
    assert code == 0, out
    _, bridge = read_playlist(client, "Quiet → Loud (Myna)")
    assert bridge == quiet + song_ids(root, client, [p.id for p in want_bridge.picks]) + loud
    code, out = myna(capsys, "subsonic", "fill", "Loud", "--n", "4", *env)
    assert code == 0, out
    assert read_playlist(client, "Loud (filled by Myna)")[1] == song_ids(root, client, [p.id for p in want_fill.picks])
    # A song and a playlist by id; two playlists of one name are not guessed between.
    code, out = myna(capsys, "subsonic", "mix", seed_song, "--n", "4", "--dry-run", *env)
    assert code == 0 and f"would replace the songs of the playlist 'Myna mix: Artist 3 - {title(3, 0, 1)}' (5 songs)" \
        in out, out
    loud_id = next(p["id"] for p in client.playlists() if p["name"] == "Loud")
    code, out = myna(capsys, "subsonic", "fill", loud_id, "--n", "4", "--dry-run", *env)
    assert code == 0 and "would replace the songs of the playlist 'Loud (filled by Myna)' (4 songs)" in out, out
    user_playlist(client, "Twin", [title(0, 1, 0)])
    user_playlist(client, "Twin", [title(0, 1, 1)])
    code, out = myna(capsys, "subsonic", "fill", "Twin", *env)
    assert code == 1 and "2 playlists on" in out and "are named 'Twin' (ids" in out and "give the id" in out, out
    user_playlist(client, "Loud and a stray", ["Stray", *(title(2, 1, t) for t in range(3))])
    code, out = myna(capsys, "subsonic", "fill", "Loud and a stray", "--n", "4", "--dry-run", *env)
    assert code == 0 and "1 song is not linked to indexed tracks and left out (first: Nobody - Stray)" in out, out
    assert "dry run: would create the playlist 'Loud and a stray (filled by Myna)' (4 songs)" in out


def test_fingerprint_covers_what_the_user_plays_and_stars(served, env, linked, capsys) -> None:
    root, server, client = served
    ids = songs_by_title(client)
    for _ in range(3):  # supysonic counts plays when a song is streamed
        for t in range(2):
            played = client.http.get(f"{client.base}/rest/stream",
                                     params={**client.auth_params(), "id": ids[title(1, 1, t)]}, timeout=30)
            assert played.status_code == 200 and len(played.content) > 1000
    client.call("star", {"id": ids[title(2, 0, 2)]})
    [top] = client.frequent_albums(1)
    assert top["name"] == "Album 1-1"
    seeds = [s.id for s in client.album(str(top["id"]))] + [ids[title(2, 0, 2)]]
    code, out = myna(capsys, "subsonic", "fingerprint", "--albums", "1", "--n", "5", *env)
    assert code == 0, out
    assert "most played and starred: 4 tracks" in out, out
    with Library.open(root / ".myna") as lib:
        want = fill(LibraryCatalog(lib), track_ids(root, client, seeds), 5)
    info, now = read_playlist(client, "Myna fingerprint")
    assert now == song_ids(root, client, [p.id for p in want.picks])
    assert info["comment"] == "Made by Myna: myna subsonic fingerprint"


class _OldServer(http.server.BaseHTTPRequestHandler):
    """A server that speaks API 1.4.0 (too old for the ID3 calls)."""

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        body = json.dumps({"subsonic-response": {"status": "failed", "version": "1.4.0",
                                                 "error": {"code": 10, "message": "Required parameter is missing."}}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:
        pass


def test_errors_are_one_line(served, env, linked, capsys, monkeypatch) -> None:
    root, server, client = served
    old = http.server.HTTPServer(("127.0.0.1", 0), _OldServer)
    thread = threading.Thread(target=old.serve_forever, daemon=True)
    thread.start()
    db = ["--db", str(root / ".myna")]
    try:
        cases = [
            (["--server", f"http://127.0.0.1:{free_port()}", "--user", USER, *db], "cannot reach the Subsonic server"),
            (["--server", f"http://127.0.0.1:{old.server_port}", "--user", USER, *db], "speaks API 1.4.0, older than "
                                                                                      "the 1.8.0 myna needs"),
            (["--server", server.url + "/no/such/place", "--user", USER, *db], "answered HTTP 404"),
            (["--server", server.url, "--user", "nobody", *db], "refused user 'nobody'"),
        ]
        for args, text in cases:
            code, out = myna(capsys, "subsonic", "extend", "Calm", *args)
            assert code == 1 and text in out and "Traceback" not in out, out
            assert len(out.strip().splitlines()) == 1, out
    finally:
        old.shutdown()
        thread.join()
    monkeypatch.setenv(ENV_PASSWORD, "wrong [password]")
    code, out = myna(capsys, "subsonic", "link", *env)
    assert code == 1 and "refused user 'listener': Wrong username or password" in out, out
    assert "wrong [password]" not in out and "wrong" not in out.replace("Wrong", "")  # never echoed
    monkeypatch.setenv(ENV_PASSWORD, PASSWORD)
    code, out = myna(capsys, "subsonic", "extend", "No such list", *env)
    assert code == 1 and "has no playlist 'No such list'" in out, out
    code, out = myna(capsys, "subsonic", "mix", "Nobody - Stray", *env)  # on the server, not in the library
    assert code == 1 and "0 linked songs" in out, out
    code, out = myna(capsys, "subsonic", "extend", "Calm", "--server", server.url, "--user", USER, "--db",
                     str(root / ".myna" / "nope"))
    assert code == 2 and "Invalid value for '--db'" in out, out
    saved = links_path(root / ".myna", client.base)
    saved.rename(saved.with_suffix(".away"))
    try:
        code, out = myna(capsys, "subsonic", "fill", "Calm", *env)
    finally:
        saved.with_suffix(".away").rename(saved)
    assert code == 1 and f"the library is not linked to the Subsonic server at {server.url} yet" in out, out
    assert f"run `myna subsonic link --server {server.url}` first" in out
    code, out = myna(capsys, "subsonic", "link", *env, "--prefix", "/srv/music=/no/such/folder")
    assert code == 2 and "Invalid value for '--prefix'" in out and "/no/such/folder is no folder here" in out, out
    code, out = myna(capsys, "subsonic", "extend", "Calm", "--server", "127.0.0.1:4533", "--user", USER)
    assert code == 2 and "Invalid value for '--server'" in out and "is not a URL" in out, out


def test_login_stores_the_sign_in_privately(served, capsys, monkeypatch) -> None:
    root, server, client = served
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out = myna(capsys, "subsonic", "login", "--server", server.url, "--user", USER, "--stdin")
    assert code == 1 and "no password on standard input" in out, out  # nothing sent to the server
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    code, out = myna(capsys, "subsonic", "login", "--server", server.url, "--user", USER, "--stdin")
    assert code == 0, out
    assert PASSWORD not in out and "mode 600" in out, out
    assert stat.S_IMODE(login_path().stat().st_mode) == 0o600
    code, out = myna(capsys, "config")
    assert code == 0 and f"listener at {server.url} (password stored in {login_path()}, mode 600)" in out, out
    assert PASSWORD not in out
    code, out = myna(capsys, "subsonic", "link", "--db", str(root / ".myna"))  # server, user, password: stored
    assert code == 0 and "linked 24 of 25 songs" in out, out
    code, out = myna(capsys, "subsonic", "logout")
    assert code == 0 and not login_path().exists()
    code, out = myna(capsys, "subsonic", "link", "--db", str(root / ".myna"))
    assert code == 1 and "no Subsonic server given" in out, out


def test_songs_not_here_are_embedded_by_streaming(served, env, linked, capsys, monkeypatch) -> None:
    """Last in the module: from here on the links include the streamed song."""
    root, server, client = served
    code, out = myna(capsys, "subsonic", "link", *env, "--stream", "--pause", "0")
    assert code == 0, out
    assert "linked 25 of 25 songs (24 by path, 1 by streaming)" in out, out
    stray = songs_by_title(client)["Stray"]
    with Library.open(root / ".myna") as lib:
        streamed = Streamed.load(lib.store.db_dir, client.base, lib.store.model_id)
        # The vector of the streamed song is the one of the file itself (format=raw: the same bytes).
        local = embed_outside(lib, root / "stray" / "not indexed.flac", None)  # in the library's space
        np.testing.assert_allclose(lib.to_space(streamed.vectors[stray])[0], local, atol=1e-5)
        ids, X = lib.vectors(sorted(lib.store.embedded_ids()))
        _, raw = lib.store.embeddings(ids)
        metas = LibraryCatalog(lib).meta([int(i) for i in ids])
        catalog = ArrayCatalog(np.append(ids, 10**9), np.vstack([X, local]),
                               [*metas.values(), TrackMeta(id=10**9, path=Path("stray"), title="Stray",
                                                           artist="Nobody", duration=2.0)],
                               # duplicates: the encoder's own part of the rows
                               recording=encoder_part(np.vstack([raw, streamed.vectors[stray]]),
                                                      stats_dim(lib.store.model_config)))
        want = extend(catalog, [10**9], 3)
    code, out = myna(capsys, "subsonic", "mix", "Nobody - Stray", "--n", "3", *env)
    assert code == 0, out
    assert read_playlist(client, "Myna mix: Nobody - Stray")[1] == [stray] + song_ids(root, client,
                                                                                     [p.id for p in want.picks])
    # Linked again, with or without --stream, the song is not fetched again.
    calls = []
    real = SubsonicClient.stream_to
    monkeypatch.setattr(SubsonicClient, "stream_to",
                        lambda self, song, out: calls.append(song.id) or real(self, song, out))
    for extra in ([], ["--stream"]):
        code, out = myna(capsys, "subsonic", "link", *env, *extra)
        assert code == 0 and "(24 by path, 1 by streaming)" in out, out
    assert calls == []
    # A song the server will not stream stays unlinked, with the server's reason.
    Streamed.path(root / ".myna", client.base).unlink()

    def refuse(self, song, out):
        raise SubsonicError(f"the server refused to stream {song.id}")

    monkeypatch.setattr(SubsonicClient, "stream_to", refuse)
    code, out = myna(capsys, "subsonic", "link", *env, "--stream", "--pause", "0")
    assert code == 0 and "linked 24 of 25 songs (24 by path)" in out, out
    assert f"streamed, but the server refused to stream {stray}" in out, out


def test_nothing_picked_and_a_stale_link_are_one_line_and_leave_the_server_alone(served, env, linked, capsys,
                                                                                monkeypatch) -> None:
    root, server, client = served
    everything = [t for t in songs_by_title(client) if t != "Stray"]
    user_playlist(client, "Everything", everything)
    before = {p["name"] for p in client.playlists()}
    code, out = myna(capsys, "subsonic", "fill", "Everything", "--n", "3", *env)
    assert code == 1 and "no song was picked: no linked song outside 'Everything' fits" in out, out
    assert "the server was not changed" in out and {p["name"] for p in client.playlists()} == before
    # A link whose track `myna index` removed since: the song is named, and `link` is the way on.
    stray = songs_by_title(client)["Stray"]
    real_load = Links.load

    def stale(*args, **kwargs):
        links = real_load(*args, **kwargs)
        links.tracks[stray] = 10**9  # linked to a track id the library does not have
        return links

    monkeypatch.setattr(Links, "load", stale)
    code, out = myna(capsys, "subsonic", "mix", stray, "--n", "2", *env)
    assert code == 1 and "Traceback" not in out, out
    assert "1 linked song of a track the library no longer has, left out" in out, out
    assert "the song 'Nobody - Stray' is linked to a track the library no longer has" in out, out
    assert "run `myna subsonic link` again" in out
