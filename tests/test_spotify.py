"""The Spotify bridge end to end: the real spotipy client against a local fake Web API.

Nothing is mocked between our code and the socket: spotipy builds the requests, its
urllib3 Retry handles 429s, pagination follows the server's absolute `next` URLs, and
token refresh posts to the fake accounts service.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cli.console import console
from myna_rpe.errors import PlaylistError, SpotifyError
from playlist.m3u import read_m3u
from playlist.spotify.bridge import export_playlist, find_on_spotify, import_playlist, write_import
from playlist.spotify.auth import AuthSettings, PrivateTokenCache, make_auth_manager
from playlist.spotify.client import SpotifyClient, parse_playlist_ref
from playlist.library.store import LibraryStore, TrackInfo
from playlist.library.tags import Tags
from tests.spotify_fake_server import FakeSpotify

ALL_SCOPES = "playlist-modify-private playlist-modify-public playlist-read-collaborative playlist-read-private"


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _restore_spotipy_logging():
    # The CLI quiets spotipy's logger; keep that from leaking between tests.
    logger = logging.getLogger("spotipy")
    handlers, propagate = list(logger.handlers), logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.propagate = propagate


@pytest.fixture
def fake():
    server = FakeSpotify().start()
    yield server
    server.stop()


def _seed_token(path: Path, access: str = "access-1", expires_in: int = 3600) -> None:
    PrivateTokenCache(path).save_token_to_cache({
        "access_token": access, "refresh_token": "refresh-1", "token_type": "Bearer",
        "expires_in": 3600, "expires_at": int(time.time()) + expires_in, "scope": ALL_SCOPES,
    })


@pytest.fixture
def token_path(tmp_path) -> Path:
    path = tmp_path / "config" / "myna" / "spotify-token.json"
    _seed_token(path)
    return path


def _client(fake: FakeSpotify, token_path: Path, api_url: str | None = None) -> SpotifyClient:
    auth = make_auth_manager(AuthSettings(client_id="test-client", token_path=token_path,
                                          accounts_url=fake.accounts_url))
    return SpotifyClient(auth, api_url or fake.api_url, backoff=0.01)


@pytest.fixture
def client(fake, token_path) -> SpotifyClient:
    return _client(fake, token_path)


LIBRARY = [  # rel_path, title, artist, duration, isrc
    ("beatles/yesterday.flac", "Yesterday", "The Beatles", 125.0, "GBAYE0601477"),
    ("beatles/hey_jude_album.flac", "Hey Jude", "The Beatles", 431.0, None),
    ("beatles/hey_jude_single.mp3", "Hey Jude", "The Beatles", 236.0, None),
    ("radiohead/creep.mp3", "Creep", "Radiohead", 238.0, None),
    ("misc/crème brûlée.ogg", "Crème Brûlée", "Édith Piaf", 180.0, None),
    ("misc/duet.m4a", "Duet", "Singer One", 200.0, None),
    ("misc/home_recording.wav", "Home Recording", "Me", 90.0, None),
]


def _make_store(root: Path, rows=LIBRARY) -> Path:
    db = root / ".myna"
    store = LibraryStore.open(db, create=True)
    store.set_model("test-model", None)
    with store.transaction():
        for i, (rel, title, artist, dur, isrc) in enumerate(rows):
            info = TrackInfo(rel_path=rel, size=1000 + i, mtime_ns=i, content_hash=f"h{i}", title=title,
                             artist=artist, duration=dur, isrc=isrc)
            store.add_track(info, np.eye(8, dtype=np.float32)[i % 8])
    store.close()
    return db


@pytest.fixture
def library(tmp_path):
    root = tmp_path / "music"
    _make_store(root)
    with LibraryStore.open(root / ".myna") as store:
        return store.tracks()


def _playlist_content(fake: FakeSpotify, fillers: int = 100) -> None:
    """A playlist covering every matching rule, padded past two pages of 50."""
    fake.add_track("isrc1", "Yesterday - Remastered 2009", ["The Beatles"], 126.0, isrc="GBAYE0601477")
    fake.add_track("jude1", "Hey Jude - Single Edit", ["The Beatles"], 238.0)
    fake.add_track("creep1", "Creep (Live)", ["Radiohead"], 241.0)
    fake.add_track("piaf1", "CRÈME BRÛLÉE [Remastered]", ["Edith Piaf"], 181.0)
    fake.add_track("duet1", "Duet (feat. Singer Two)", ["Singer One", "Singer Two"], 201.0)
    fake.add_track("other1", "Yesterday", ["Frank Sinatra"], 125.0)
    fake.add_track("missing1", "Unknown Song", ["Nobody"], 200.0)
    for i in range(fillers):
        fake.add_track(f"fill{i}", f"Filler {i}", ["Padding"], 100.0 + i)
    local_file = {"type": "track", "uri": "spotify:local:Me::Home+Recording:90", "name": "Home Recording",
                  "artists": [{"name": "Me"}], "album": {"name": ""}, "duration_ms": 90000,
                  "external_ids": {}, "is_local": True}
    episode = {"type": "episode", "uri": "spotify:episode:ep1", "name": "A Podcast", "duration_ms": 1800000,
               "show": {"name": "Some Show"}}
    entries = ["isrc1", "jude1", "creep1", "piaf1", "duet1", "other1", "missing1", local_file, episode, None]
    entries += [f"fill{i}" for i in range(fillers)]
    fake.add_playlist("37i9PLAYLIST", "Road Trip", entries)


# ---------------------------------------------------------------------------- playlist references


@pytest.mark.parametrize("ref", [
    "https://open.spotify.com/playlist/37i9PLAYLIST",
    "https://open.spotify.com/playlist/37i9PLAYLIST?si=abc123&pt=x",
    "open.spotify.com/intl-de/playlist/37i9PLAYLIST",
    "spotify:playlist:37i9PLAYLIST",
    "spotify:user:someone:playlist:37i9PLAYLIST",
    "  37i9PLAYLIST ",
])
def test_playlist_refs_all_give_the_id(ref):
    assert parse_playlist_ref(ref) == "37i9PLAYLIST"


@pytest.mark.parametrize("ref", ["https://open.spotify.com/album/abc", "spotify:track:abc", "not an id!", ""])
def test_bad_playlist_refs_are_one_line_errors(ref):
    with pytest.raises(SpotifyError, match="not a Spotify playlist link"):
        parse_playlist_ref(ref)


# ---------------------------------------------------------------------------- import


@pytest.mark.parametrize("shape", ["item", "track", "both"])
def test_import_reads_every_page_and_matches_by_the_rules(tmp_path, token_path, library, shape):
    fake = FakeSpotify(entry_shape=shape).start()
    try:
        _playlist_content(fake)
        report = import_playlist(_client(fake, token_path), "spotify:playlist:37i9PLAYLIST", library)
    finally:
        fake.stop()
    assert report.name == "Road Trip" and len(report.rows) == 110
    pages = fake.calls("GET", r"/v1/playlists/37i9PLAYLIST/items")
    assert [(p.query["offset"], p.query["limit"]) for p in pages] == [("0", "50"), ("50", "50"), ("100", "50")]
    assert all(p.authorization == "Bearer access-1" for p in fake.requests)
    assert not fake.calls(path=r"/v1/playlists/.*/tracks")  # the retired endpoint is never used

    by_title = {r.remote.title: r.match for r in report.rows[:10]}
    assert by_title["Yesterday - Remastered 2009"].method == "isrc"
    assert by_title["Hey Jude - Single Edit"].candidate.rel_path == "beatles/hey_jude_single.mp3"  # duration
    assert by_title["Creep (Live)"].candidate.rel_path == "radiohead/creep.mp3"
    assert by_title["CRÈME BRÛLÉE [Remastered]"].candidate.rel_path == "misc/crème brûlée.ogg"
    assert by_title["Duet (feat. Singer Two)"].candidate.rel_path == "misc/duet.m4a"
    assert by_title["Home Recording"].candidate.rel_path == "misc/home_recording.wav"  # Spotify local file
    assert "title found, but by The Beatles" in by_title["Yesterday"].reason  # Sinatra's is not ours
    assert by_title["Unknown Song"].reason == "no track with this title"
    assert by_title["A Podcast"].reason == "podcast episode"
    assert report.rows[9].match.reason == "no longer available on Spotify"
    assert len(report.matched) == 6

    out = write_import(report, tmp_path / "lists" / "road trip.m3u8")
    entries = read_m3u(out)
    assert [e.path.name for e in entries] == ["yesterday.flac", "hey_jude_single.mp3", "creep.mp3",
                                              "crème brûlée.ogg", "duet.m4a", "home_recording.wav"]
    text = out.read_text(encoding="utf-8")
    assert text.startswith("#EXTM3U\n") and "../music/beatles/yesterday.flac" in text  # relative paths


def test_import_with_nothing_matched_writes_nothing(tmp_path, fake, client, library):
    fake.add_track("x", "Strangers", ["Nobody Known"], 200.0)
    fake.add_playlist("PL", "Strange", ["x"])
    report = import_playlist(client, "PL", library)
    out = tmp_path / "empty.m3u8"
    with pytest.raises(PlaylistError, match="none of the 1 items"):
        write_import(report, out)
    assert not out.exists()


def _greyed_and_relinked(fake: FakeSpotify, fillers: int = 0) -> None:
    """Unplayable items (one with a local copy, one without) and a relinked one."""
    fake.add_track("creep1", "Creep", ["Radiohead"], 238.0, restriction="market")
    fake.add_track("gone1", "Licence Lapsed", ["Nobody"], 200.0, restriction="product")
    # The playlist holds "orig1", whose metadata matches nothing here; in this market
    # Spotify serves "yday2" instead, which carries the ISRC of a local file.
    fake.add_track("orig1", "Yesterday (Other Region)", ["Unknown Band"], 500.0, isrc="USXXX0000001",
                   restriction="market")
    fake.add_track("yday2", "Yesterday", ["The Beatles"], 125.0, isrc="GBAYE0601477")
    fake.relink("orig1", "yday2")
    for i in range(fillers):
        fake.add_track(f"fill{i}", f"Filler {i}", ["Padding"], 100.0 + i)
    fake.add_playlist("GREY", "Greyed", ["creep1", "gone1", "orig1"] + [f"fill{i}" for i in range(fillers)])


def test_unplayable_items_are_matched_but_flagged_and_relinked_items_keep_their_id(fake, client, library):
    _greyed_and_relinked(fake, fillers=50)
    report = import_playlist(client, "GREY", library)
    pages = fake.calls("GET", r"/v1/playlists/GREY/items")
    assert [p.query.get("market") for p in pages] == ["from_token", "from_token"]  # every page relinked
    creep, gone, relinked = (r for r in report.rows[:3])
    assert creep.remote.unplayable and creep.remote.restriction == "market"
    assert creep.match.candidate.rel_path == "radiohead/creep.mp3"
    assert creep.match.reason.endswith("; not playable on Spotify (market)")
    assert gone.remote.unplayable and not gone.match.matched
    assert gone.match.reason == "no track with this title; not playable on Spotify (product)"
    # Relinked: the playlist's own track id identifies the entry, the delivered track matches.
    assert relinked.remote.uri == "spotify:track:orig1"
    assert relinked.remote.title == "Yesterday" and not relinked.remote.unplayable
    assert relinked.match.method == "isrc" and relinked.match.candidate.rel_path == "beatles/yesterday.flac"
    assert report.unplayable == [1, 2]


def test_without_a_market_nothing_is_flagged(fake):
    # The API only reports playability when asked with a market; absent, it is unknown.
    from playlist.spotify.client import RemoteTrack

    obj = fake.add_track("t", "Song", ["Band"], 100.0, restriction="market")
    assert RemoteTrack.from_api(obj).unplayable
    served = fake._as_served(obj, market=None)
    assert RemoteTrack.from_api(served).playable is None and not RemoteTrack.from_api(served).unplayable


def test_429_retry_after_is_honoured_and_the_import_continues(fake, client, library, monkeypatch):
    import urllib3.util.retry as retry_module

    slept: list[float] = []
    real_sleep = time.sleep
    monkeypatch.setattr(retry_module.time, "sleep", lambda s: (slept.append(s), real_sleep(s)))
    _playlist_content(fake, fillers=60)
    fake.fail("GET", r"/v1/playlists/37i9PLAYLIST/items", 429, headers={"Retry-After": "1"}, skip=1)
    report = import_playlist(client, "37i9PLAYLIST", library)
    assert len(report.rows) == 70
    offsets = [c.query["offset"] for c in fake.calls("GET", r"/v1/playlists/37i9PLAYLIST/items")]
    assert offsets == ["0", "50", "50"]  # the rate-limited page was asked again
    assert slept == [1.0]  # urllib3 slept exactly what Retry-After said


def test_429_that_never_ends_is_a_clear_error(fake, client):
    fake.add_playlist("PL", "x", [])
    fake.fail("GET", r"/v1/playlists/PL/items", 429, times=10, headers={"Retry-After": "0"})
    with pytest.raises(SpotifyError, match=r"gave up after 3 retries \(too many 429 error responses\)"):
        client.playlist_tracks("PL")
    assert len(fake.calls("GET", r"/v1/playlists/PL/items")) == 4  # first try + 3 retries


@pytest.mark.parametrize(("status", "expected"), [
    (401, r"Spotify rejected the sign-in \(401: scripted failure\) — run `myna spotify login` again"),
    (403, r"refused access to playlist PL \(403: scripted failure\) — apps in Development Mode"),
    (404, r"playlist PL not found \(404\) — check the link"),
    (500, r"gave up after 3 retries \(too many 500 error responses\)"),
])
def test_http_errors_become_one_line_spotify_errors(fake, client, library, status, expected):
    fake.add_playlist("PL", "x", [])
    fake.fail("GET", r"/v1/playlists/PL", status, times=10)
    with pytest.raises(SpotifyError, match=expected) as info:
        import_playlist(client, "PL", library)
    assert "\n" not in str(info.value)


def test_unknown_playlist_is_a_404_error(client, library):
    with pytest.raises(SpotifyError, match=r"playlist nope not found \(404\)"):
        import_playlist(client, "nope", library)


def test_network_down_is_a_one_line_error(fake, token_path, library):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = _client(fake, token_path, api_url=f"http://127.0.0.1:{port}/v1/")
    with pytest.raises(SpotifyError, match=rf"cannot reach 127.0.0.1:{port} — check your network"):
        import_playlist(client, "PL", library)


def test_network_down_during_token_refresh_names_the_accounts_host(fake, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "tok.json"
    _seed_token(path, expires_in=-100)
    auth = make_auth_manager(AuthSettings(client_id="c", token_path=path, accounts_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(SpotifyError, match=rf"cannot reach 127.0.0.1:{port} — check your network"):
        SpotifyClient(auth, fake.api_url, backoff=0.01).current_user()
    assert fake.requests == []


# ---------------------------------------------------------------------------- auth


def test_expired_token_is_refreshed_through_the_accounts_service(fake, tmp_path, library):
    path = tmp_path / "tok.json"
    _seed_token(path, access="stale", expires_in=-100)
    fake.add_playlist("PL", "x", [])
    client = _client(fake, path)
    client.playlist_tracks("PL")
    token_calls = fake.calls("POST", "/api/token")
    assert len(token_calls) == 1
    assert token_calls[0].body["grant_type"] == "refresh_token"
    assert token_calls[0].body["refresh_token"] == "refresh-1"
    assert token_calls[0].body["client_id"] == "test-client"
    assert fake.calls("GET", r"/v1/playlists/PL/items")[0].authorization == "Bearer access-2"
    cached = json.loads(path.read_text())
    assert cached["access_token"] == "access-2" and cached["refresh_token"] == "refresh-1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_rejected_refresh_asks_to_sign_in_again(fake, tmp_path):
    path = tmp_path / "tok.json"
    _seed_token(path, expires_in=-100)
    fake.refresh_tokens.clear()
    with pytest.raises(SpotifyError, match=r"sign-in failed \(invalid_grant\) — run `myna spotify login`"):
        _client(fake, path).current_user()


def test_without_a_cached_token_commands_ask_for_login(fake, tmp_path):
    with pytest.raises(SpotifyError, match="not signed in to Spotify — run `myna spotify login` first"):
        _client(fake, tmp_path / "none.json").current_user()
    assert fake.requests == []


def test_missing_client_id_says_how_to_set_it(monkeypatch, tmp_path):
    monkeypatch.delenv("SPOTIPY_CLIENT_ID", raising=False)
    with pytest.raises(SpotifyError, match="SPOTIPY_CLIENT_ID is not set.*developer.spotify.com/dashboard"):
        make_auth_manager(AuthSettings(token_path=tmp_path / "t.json"))


def test_code_exchange_writes_a_private_token_file(fake, tmp_path):
    old = os.umask(0o022)  # the usual umask would make a plain open() 0644
    try:
        path = tmp_path / "cfg" / "spotify-token.json"
        auth = make_auth_manager(AuthSettings(client_id="test-client", token_path=path,
                                              accounts_url=fake.accounts_url), interactive=True)
        auth.get_access_token(code="the-code", check_cache=False)
    finally:
        os.umask(old)
    exchange = fake.calls("POST", "/api/token")[0].body
    assert exchange["grant_type"] == "authorization_code" and exchange["code"] == "the-code"
    assert len(exchange["code_verifier"]) >= 43  # PKCE, no client secret anywhere
    assert "client_secret" not in exchange
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["access_token"] == "access-2"


def test_existing_loose_token_file_is_tightened(tmp_path):
    path = tmp_path / "t.json"
    path.write_text("{}")
    path.chmod(0o644)
    PrivateTokenCache(path).save_token_to_cache({"access_token": "x"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert PrivateTokenCache(path).clear() and not path.exists()


def test_tokens_never_reach_the_logs(fake, tmp_path, caplog):
    path = tmp_path / "tok.json"
    _seed_token(path, access="stale", expires_in=-100)
    fake.add_playlist("PL", "x", [])
    with caplog.at_level(logging.DEBUG):
        _client(fake, path).playlist_tracks("PL")
    assert "Bearer <redacted>" in caplog.text  # spotipy logged the header, without the token
    for secret in ("access-2", "refresh-1", "stale"):
        assert secret not in caplog.text


# ---------------------------------------------------------------------------- export


def _export_setup(tmp_path: Path, fake: FakeSpotify, n: int) -> tuple[Path, Path]:
    """A library of n tracks with ISRCs on Spotify, plus a few harder cases, and an m3u8 of all."""
    root = tmp_path / "music"
    rows = [(f"a/t{i:03d}.mp3", f"Track {i}", "Band", 180.0 + i % 7, f"USAAA26{i:05d}") for i in range(n)]
    rows += [("b/noisrc.flac", "Quiet Song (2011 Remaster)", "Singer feat. Guest", 200.0, None),
             ("b/wrongartist.flac", "Famous Song", "Band", 210.0, None),
             ("b/unknownisrc.flac", "Rare Song", "Band", 190.0, "USZZZ2699999")]
    db = _make_store(root, rows)
    for i in range(n):
        fake.add_track(f"sp{i:03d}", f"Track {i}", ["Band"], 180.0 + i % 7, isrc=f"USAAA26{i:05d}")
    fake.add_track("quiet", "Quiet Song", ["Singer", "Guest"], 201.0)
    fake.add_track("famous", "Famous Song", ["Band of Horses"], 210.0)
    fake.add_track("extinf", "Tagless", ["Someone"], 150.0)
    m3u = root / "lists" / "mix.m3u8"
    m3u.parent.mkdir(parents=True)
    lines = ["#EXTM3U"] + [f"../{r[0]}" for r in rows]
    lines += ["#EXTINF:150,Someone - Tagless", "/elsewhere/tagless.mp3", "/elsewhere/nothing.mp3"]
    m3u.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return m3u, db


def test_export_searches_creates_and_adds_in_batches_of_100(tmp_path, fake, client):
    m3u, db = _export_setup(tmp_path, fake, n=230)
    with LibraryStore.open(db) as store:
        report = export_playlist(client, read_m3u(m3u), "My Mix", store=store, public=False,
                                 description="from myna")
    found = {r.entry.path.name: r for r in report.rows}
    assert len(report.found) == 232
    assert found["noisrc.flac"].match.candidate.uri == "spotify:track:quiet"
    assert found["tagless.mp3"].match.candidate.uri == "spotify:track:extinf"
    assert found["tagless.mp3"].source == "#EXTINF"
    assert "none by this artist" in found["wrongartist.flac"].match.reason
    assert found["unknownisrc.flac"].match.reason == "no search results (ISRC unknown to Spotify)"
    assert found["nothing.mp3"].track is None and not found["nothing.mp3"].match.matched

    queries = [c.query["q"] for c in fake.calls("GET", "/v1/search")]
    assert queries[0] == "isrc:USAAA2600000"
    assert 'track:"Quiet Song" artist:"Singer"' in queries  # noise stripped, first artist
    assert all(c.query["limit"] == "10" for c in fake.calls("GET", "/v1/search"))

    create = fake.calls("POST", "/v1/me/playlists")
    assert len(create) == 1
    assert create[0].body == {"name": "My Mix", "public": False, "collaborative": False,
                              "description": "from myna"}
    adds = fake.calls("POST", r"/v1/playlists/new\d+/items")
    assert [len(a.body) for a in adds] == [100, 100, 32]
    sent = [u for a in adds for u in a.body]
    assert sent[:230] == [f"spotify:track:sp{i:03d}" for i in range(230)]  # playlist order kept
    assert sent[230:] == ["spotify:track:quiet", "spotify:track:extinf"]
    assert report.added == 232 and report.playlist.uri.startswith("spotify:playlist:new")
    assert not fake.calls(path=r"/v1/users/.*")  # the retired create endpoint is never used


def test_export_dry_run_creates_nothing(tmp_path, fake, client):
    m3u, db = _export_setup(tmp_path, fake, n=3)
    with LibraryStore.open(db) as store:
        report = export_playlist(client, read_m3u(m3u), "Mix", store=store, dry_run=True)
    assert len(report.found) == 5 and report.playlist is None
    assert not fake.calls("POST")


def test_export_failing_midway_says_what_was_created(tmp_path, fake, client):
    m3u, db = _export_setup(tmp_path, fake, n=150)
    fake.fail("POST", r"/v1/playlists/new\d+/items", 403, skip=1)
    with LibraryStore.open(db) as store, pytest.raises(SpotifyError) as info:
        export_playlist(client, read_m3u(m3u), "Mix", store=store)
    assert "was created but holds only 100 of 152 tracks" in str(info.value)


def test_export_without_a_library_uses_the_files_own_tags(tmp_path, fake, client):
    from mutagen.flac import FLAC

    from myna_rpe.audio import write_audio

    song = tmp_path / "loose" / "song.flac"
    song.parent.mkdir()
    write_audio(song, np.zeros(8000, dtype=np.float32), 16000)
    tags = FLAC(song)
    tags["title"], tags["artist"], tags["isrc"] = "Tagged Song", "Tag Artist", "USAAA2600077"
    tags.save()
    fake.add_track("tagged", "Tagged Song", ["Tag Artist"], 0.5, isrc="USAAA2600077")
    m3u = tmp_path / "loose" / "list.m3u8"
    m3u.write_text("#EXTM3U\nsong.flac\n", encoding="utf-8")
    report = export_playlist(client, read_m3u(m3u), "Loose", dry_run=True)
    row = report.rows[0]
    assert row.source == "tags" and row.match.method == "isrc"
    assert row.match.candidate.uri == "spotify:track:tagged"


def test_an_isrc_hit_is_taken_without_a_text_search(fake, client):
    fake.add_track("r", "Some Song - 2015 Remaster", ["Band"], 200.0, isrc="USAAA2600001")
    match, searches = find_on_spotify(client, Tags(title="Some Song", artist="Band", isrc="usaaa2600001"))
    assert match.method == "isrc" and match.candidate.uri == "spotify:track:r" and searches == 1
    assert [c.query["q"] for c in fake.calls("GET", "/v1/search")] == ["isrc:USAAA2600001"]


# ---------------------------------------------------------------------------- the command line


def _run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    from cli.app import main

    monkeypatch.setattr(sys, "argv", ["myna", *args])
    monkeypatch.setattr(console, "width", 250)
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def cli_env(monkeypatch, tmp_path, fake):
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", "test-client")
    monkeypatch.delenv("SPOTIPY_REDIRECT_URI", raising=False)
    monkeypatch.setenv("MYNA_SPOTIFY_API_URL", fake.api_url)
    monkeypatch.setenv("MYNA_SPOTIFY_ACCOUNTS_URL", fake.accounts_url)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    _seed_token(tmp_path / "config" / "myna" / "spotify-token.json")
    return fake


def test_cli_import_writes_the_playlist_and_prints_the_table(tmp_path, cli_env, monkeypatch, capsys):
    _make_store(tmp_path / "music")
    _playlist_content(cli_env, fillers=0)
    cli_env.fail("GET", r"/v1/playlists/37i9PLAYLIST/items", 429, headers={"Retry-After": "1"})
    out = tmp_path / "music" / "road.m3u8"
    code, stdout, stderr = _run_cli(monkeypatch, capsys, "spotify", "import",
                                    "https://open.spotify.com/playlist/37i9PLAYLIST?si=x", "--out", str(out))
    assert code == 0, stderr
    assert "matched 6 of 10 items" in stdout
    assert "podcast episode" in stdout and "title found, but by The Beatles" in stdout
    assert "Spotify rate limit: waiting 1 s, then retrying" in stderr
    assert len(read_m3u(out)) == 6
    assert "access-1" not in stdout + stderr and "refresh-1" not in stdout + stderr


def test_cli_import_flags_unplayable_items_with_a_warning(tmp_path, cli_env, monkeypatch, capsys):
    _make_store(tmp_path / "music")
    _greyed_and_relinked(cli_env)
    out = tmp_path / "music" / "grey.m3u8"
    code, stdout, stderr = _run_cli(monkeypatch, capsys, "spotify", "import", "GREY", "--out", str(out))
    assert code == 0, stderr
    assert "matched 2 of 3 items" in stdout
    assert "not playable on Spotify (market)" in stdout and "not playable on Spotify (product)" in stdout
    assert "warning: 2 item(s) not playable on Spotify for this account (#1, #2)" in " ".join(stderr.split())
    assert [e.path.name for e in read_m3u(out)] == ["creep.mp3", "yesterday.flac"]


def test_cli_401_midway_is_one_red_line_and_leaves_the_old_file(tmp_path, cli_env, monkeypatch, capsys):
    _make_store(tmp_path / "music")
    _playlist_content(cli_env, fillers=60)
    out = tmp_path / "music" / "road.m3u8"
    out.write_text("#EXTM3U\nold.mp3\n")
    cli_env.fail("GET", r"/v1/playlists/37i9PLAYLIST/items", 401, skip=1)
    code, stdout, stderr = _run_cli(monkeypatch, capsys, "spotify", "import", "37i9PLAYLIST", "--out", str(out))
    assert code == 1
    lines = [line for line in stderr.splitlines() if line.strip() and "reading playlist" not in line]
    assert lines == ["error: could not read the playlist's items: Spotify rejected the sign-in "
                     "(401: scripted failure) — run `myna spotify login` again"]
    assert "Traceback" not in stderr
    assert out.read_text() == "#EXTM3U\nold.mp3\n"  # nothing half-written
    assert not list(out.parent.glob(".road.m3u8.*"))


def test_cli_export_dry_run_and_real(tmp_path, cli_env, monkeypatch, capsys):
    m3u, _ = _export_setup(tmp_path, cli_env, n=3)
    code, stdout, stderr = _run_cli(monkeypatch, capsys, "spotify", "export", str(m3u), "--name", "Mix", "--dry-run")
    assert code == 0, stderr
    assert "found 5 of 8 tracks" in stdout and "dry run: nothing created" in stdout
    assert not cli_env.calls("POST")
    code, stdout, stderr = _run_cli(monkeypatch, capsys, "spotify", "export", str(m3u), "--name", "Mix", "--public")
    assert code == 0, stderr
    assert "created 'Mix' with 5 tracks: https://open.spotify.com/playlist/new" in stdout
    assert cli_env.calls("POST", "/v1/me/playlists")[0].body["public"] is True


def test_cli_without_client_id_explains_setup(tmp_path, cli_env, monkeypatch, capsys):
    monkeypatch.delenv("SPOTIPY_CLIENT_ID")
    m3u, _ = _export_setup(tmp_path, cli_env, n=1)
    code, _, stderr = _run_cli(monkeypatch, capsys, "spotify", "export", str(m3u), "--name", "Mix")
    assert code == 1
    assert "SPOTIPY_CLIENT_ID is not set" in stderr and "export SPOTIPY_CLIENT_ID" in stderr
    assert "Traceback" not in stderr


def test_cli_login_without_browser_and_logout(tmp_path, cli_env, monkeypatch, capsys):
    token = tmp_path / "config" / "myna" / "spotify-token.json"
    token.unlink()
    prompts: list[str] = []

    def paste_redirect(prompt: str) -> str:  # the user pastes the URL the browser was sent to
        prompts.append(prompt)
        return "http://127.0.0.1:8888/callback?code=code-from-spotify"

    monkeypatch.setattr("builtins.input", paste_redirect)
    code, stdout, stderr = _run_cli(monkeypatch, capsys, "spotify", "login", "--no-browser")
    assert code == 0, stderr
    assert "signed in as Test User" in stdout
    assert "code_challenge_method=S256" in prompts[0] and "client_id=test-client" in prompts[0]
    exchange = cli_env.calls("POST", "/api/token")[0].body
    assert exchange["code"] == "code-from-spotify" and exchange["redirect_uri"] == "http://127.0.0.1:8888/callback"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert json.loads(token.read_text())["access_token"] not in stdout + stderr
    code, stdout, _ = _run_cli(monkeypatch, capsys, "spotify", "logout")
    assert code == 0 and "signed out" in stdout and not token.exists()


PASTE_FIX = ("paste the whole address from the browser's address bar; it starts with "
             "http://127.0.0.1:8888/callback?code=")


@pytest.mark.parametrize(("pasted", "expected"), [
    ("garbage", f"error: 'garbage' is not the address the browser was sent to after signing in (it has no code=) "
                f"— {PASTE_FIX}"),
    ("", f"error: nothing was pasted — {PASTE_FIX}"),
])
def test_cli_login_a_bad_paste_says_what_to_paste(tmp_path, cli_env, monkeypatch, capsys, pasted, expected):
    token = tmp_path / "config" / "myna" / "spotify-token.json"
    token.unlink()
    monkeypatch.setattr("builtins.input", lambda prompt: pasted)
    code, _, stderr = _run_cli(monkeypatch, capsys, "spotify", "login", "--no-browser")
    assert code == 1 and [line for line in stderr.splitlines() if line.strip()] == [expected], stderr
    assert not cli_env.calls("POST", "/api/token") and not token.exists()  # no code, so nothing was sent


def test_cli_login_says_when_the_token_endpoint_cannot_be_reached(tmp_path, cli_env, monkeypatch, capsys):
    (tmp_path / "config" / "myna" / "spotify-token.json").unlink()
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MYNA_SPOTIFY_ACCOUNTS_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setattr("builtins.input", lambda prompt: "http://127.0.0.1:8888/callback?code=abc")
    code, _, stderr = _run_cli(monkeypatch, capsys, "spotify", "login", "--no-browser")
    assert code == 1 and [line for line in stderr.splitlines() if line.strip()] == [
        f"error: cannot reach Spotify's token endpoint http://127.0.0.1:{port}/api/token (Connection refused) "
        "— check your network connection and try again"], stderr


def test_cli_login_refuses_a_localhost_redirect_uri(tmp_path, cli_env, monkeypatch, capsys):
    monkeypatch.setenv("SPOTIPY_REDIRECT_URI", "http://localhost:9090/callback")
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("asked for a paste"))
    code, _, stderr = _run_cli(monkeypatch, capsys, "spotify", "login", "--no-browser")
    assert code == 1 and [line for line in stderr.splitlines() if line.strip()] == [
        "error: redirect URI http://localhost:9090/callback: Spotify does not accept localhost — register "
        "http://127.0.0.1:9090/callback for the app and set SPOTIPY_REDIRECT_URI=http://127.0.0.1:9090/callback"
    ], stderr
