"""The Subsonic client's side of signing in, against a small stand-in server that checks what
real ones check: the salted token of API 1.13+ (never the password), the `p=enc:HEX` fallback
for a user the server refuses token sign-in (error 41), and an OpenSubsonic API key. The real
server of tests/test_subsonic.py predates the token, so its path is checked here; the
fingerprint's play-count rules (which supysonic does not report) too."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from playlist.subsonic.client import Credentials, Song, SubsonicClient, SubsonicError
from playlist.subsonic.verbs import ServerSession

PASSWORD = "sëcret [1]"
KEY = "k-123"


class _Server(http.server.BaseHTTPRequestHandler):
    refuse_token = False
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        type(self).seen.append(q)
        if "apiKey" in q:
            error = None if q["apiKey"] == KEY and "u" not in q else (44, "Invalid API key")
        elif "t" in q:
            if self.refuse_token:
                error = (41, "Token authentication not supported for LDAP users.")
            else:
                good = hashlib.md5((PASSWORD + q["s"]).encode()).hexdigest()
                error = None if q["t"] == good and "p" not in q else (40, "Wrong username or password")
        elif "p" in q:
            error = None if q["p"] == "enc:" + PASSWORD.encode().hex() else (40, "Wrong username or password")
        else:
            error = (10, "Required parameter is missing.")
        body = {"status": "ok", "version": "1.16.1", "openSubsonic": True}
        if error:
            body = {**body, "status": "failed", "error": {"code": error[0], "message": error[1]}}
        data = json.dumps({"subsonic-response": body}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    _Server.seen, _Server.refuse_token = [], False
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join()


def test_a_new_server_gets_the_salted_token_never_the_password(server) -> None:
    client = SubsonicClient(Credentials(server + "/", "me", PASSWORD)).connect()
    client.call("ping")
    assert client.auth == "token" and client.version == (1, 16, 1)
    signed = [q for q in _Server.seen if "u" in q]
    assert len(signed) == 2 and all("p" not in q for q in signed)
    assert signed[0]["s"] != signed[1]["s"]  # a fresh salt each call
    assert signed[0]["v"] == "1.16.1" and signed[0]["c"] == "myna" and signed[0]["f"] == "json"
    with pytest.raises(SubsonicError, match="refused user 'me': Wrong username or password"):
        SubsonicClient(Credentials(server, "me", "nope")).connect()


def test_refused_token_falls_back_to_the_hex_password(server) -> None:
    _Server.refuse_token = True
    client = SubsonicClient(Credentials(server, "me", PASSWORD)).connect()
    assert client.auth == "password"
    assert _Server.seen[-1]["p"] == "enc:" + PASSWORD.encode().hex()


def test_an_api_key_signs_in_without_user_or_password(server) -> None:
    client = SubsonicClient(Credentials(server, api_key=KEY)).connect()
    assert client.auth == "apiKey" and "u" not in _Server.seen[-1]
    with pytest.raises(SubsonicError, match="refused the API key: Invalid API key"):
        SubsonicClient(Credentials(server, api_key="wrong")).connect()
    with pytest.raises(SubsonicError, match="no credentials for the Subsonic server"):
        SubsonicClient(Credentials(server, "me"))


def test_fingerprint_takes_played_albums_and_songs_and_the_starred() -> None:
    def song(i: str, **extra) -> Song:
        return Song.of({"id": i, "title": i, **extra})

    albums = {"a": [song("a1", playCount=2), song("a2", playCount=0)], "b": [song("b1")], "c": [song("c1")]}
    client = SimpleNamespace(
        frequent_albums=lambda size: [{"id": "z", "playCount": 0}, {"id": "a", "playCount": 3}, {"id": "b"}][:size],
        album=lambda album_id: albums[album_id],
        starred_songs=lambda: [song("s1")])
    session = SimpleNamespace(client=client)
    # An album without plays is skipped; within a played album, so is a song without plays;
    # where the server counts no plays (album b), all its songs count.
    assert [s.id for s in ServerSession.fingerprint_songs(session, 3)] == ["a1", "b1", "s1"]


def test_song_lists_of_odd_shapes_are_read_or_refused_in_one_line(monkeypatch) -> None:
    client = SubsonicClient(Credentials("http://127.0.0.1:9", "me", PASSWORD))
    answers = {
        "one": {"searchResult3": {"song": {"id": "s1", "title": "Only", "duration": "x"}}},  # XML-converted JSON
        "none": {"searchResult3": {}},
        "bad": {"searchResult3": {"song": ["s1", "s2"]}},
    }
    monkeypatch.setattr(client, "call", lambda method, params=None: answers[params["query"]])
    (only,) = client.search_songs("one")
    assert only.id == "s1" and only.title == "Only" and only.duration is None
    assert client.search_songs("none") == []
    with pytest.raises(SubsonicError, match=r"127.0.0.1:9 answered search3 with a malformed song list"):
        client.search_songs("bad")


def test_a_ping_without_an_api_version_is_not_called_old(monkeypatch) -> None:
    client = SubsonicClient(Credentials("http://127.0.0.1:9", "me", PASSWORD))
    monkeypatch.setattr(client, "_get", lambda method, params: {"status": "ok"})
    with pytest.raises(SubsonicError, match=r"answered ping without an API version it could say \(None\) — "
                                            r"check that --server names a Subsonic server"):
        client.connect()


def test_a_new_playlist_that_cannot_be_marked_is_taken_back() -> None:
    """createPlaylist worked, updatePlaylist (the comment marking it as Myna's) failed: left
    there, the playlist would be refused as the user's on the next run."""
    from playlist.geometry.region import Outcome
    from playlist.subsonic.verbs import Written

    made, deleted = [], []

    def refuse(playlist_id, comment):
        raise SubsonicError("the server answered HTTP 500 to updatePlaylist")

    client = SimpleNamespace(credentials=SimpleNamespace(user="me"), playlists=lambda: [],
                             create_playlist=lambda name, songs: made.append(name) or "p1",
                             set_comment=refuse, delete_playlist=deleted.append)
    session = ServerSession.__new__(ServerSession)
    session.client = client
    written = Written(Outcome(picks=[object()], hull=None), "Calm", 2, "Calm (extended by Myna)", ["s1", "s2"])
    with pytest.raises(SubsonicError, match="HTTP 500 to updatePlaylist"):
        session.write(written, "myna subsonic extend of 'Calm'")
    assert made == ["Calm (extended by Myna)"] and deleted == ["p1"]


def test_an_api_key_on_a_server_that_is_not_opensubsonic_says_to_use_a_password(monkeypatch) -> None:
    client = SubsonicClient(Credentials("http://127.0.0.1:9", api_key=KEY))
    monkeypatch.setattr(client, "_get", lambda method, params: {"status": "ok", "version": "1.10.2"})
    with pytest.raises(SubsonicError, match=r"takes no API keys \(it is not OpenSubsonic\) — sign in with --user"):
        client.connect()
