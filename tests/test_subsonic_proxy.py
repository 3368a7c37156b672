"""`myna subsonic proxy` in front of a real supysonic, called as a Subsonic client calls a server:
plain and streaming requests pass through unchanged, the two sonic endpoints are answered from
the library's embeddings (JSON and XML), and a caller with wrong credentials gets nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from playlist.geometry.catalog import LibraryCatalog
from playlist.geometry.transition import transition
from playlist.library import Library
from playlist.subsonic.client import Credentials, SubsonicClient
from playlist.subsonic.credentials import ENV_PASSWORD
from playlist.subsonic.links import Links
from playlist.subsonic.proxy import similarity
from tests.player_helpers import default_sigint
from tests.subsonic_helpers import PASSWORD, USER, served_library, stop_supysonic, title

REPO = Path(__file__).parents[1]


@dataclass
class Proxied:
    root: Path
    upstream: SubsonicClient
    url: str
    links: Links

    def auth(self, password: str = PASSWORD) -> dict[str, str]:
        return {"u": USER, "p": "enc:" + password.encode().hex(), "v": "1.10.2", "c": "test"}

    def get(self, method: str, base: str | None = None, **params) -> requests.Response:
        return requests.get(f"{base or self.url}/rest/{method}", params={**self.auth(), **params}, timeout=60)

    def song(self, name: str) -> str:
        return {s.title: s.id for s in self.upstream.songs()}[name]


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    server = served_library(tmp_path_factory.mktemp("subsonic_proxy"))
    root = server.music_dir
    env = {**os.environ, ENV_PASSWORD: PASSWORD, "PYTHONUNBUFFERED": "1", "COLUMNS": "250"}
    linked = subprocess.run([sys.executable, "-m", "cli.app", "subsonic", "link", "--server", server.url, "--user",
                             USER, "--db", str(root / ".myna")], env=env, cwd=REPO, capture_output=True, text=True)
    assert linked.returncode == 0, linked.stdout + linked.stderr
    process = subprocess.Popen([sys.executable, "-m", "cli.app", "subsonic", "proxy", "--upstream", server.url,
                                "--port", "0", "--db", str(root / ".myna")], env=env, cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint)
    lines = []
    for line in process.stdout:
        lines.append(line)
        found = re.search(r"point clients at (http://127\.0\.0\.1:\d+)", line)
        if found:
            break
    else:
        process.wait()
        stop_supysonic(server)
        raise RuntimeError("the proxy did not start:\n" + "".join(lines))
    upstream = SubsonicClient(Credentials(server.url, USER, PASSWORD)).connect()
    yield Proxied(root, upstream, found.group(1), Links.load(root / ".myna", server.url))
    process.send_signal(2)
    try:
        process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
    stop_supysonic(server)


def headers(response: requests.Response) -> dict[str, str]:
    """Its headers but the date (which differs from one request to the next)."""
    return {k.lower(): v for k, v in response.headers.items() if k.lower() != "date"}


def test_plain_and_streaming_requests_pass_through_unchanged(proxied) -> None:
    upstream = proxied.upstream.base
    for method, params in (("ping", {"f": "json"}), ("getAlbumList2", {"type": "alphabeticalByName", "f": "json"}),
                           ("getMusicFolders", {})):  # the last one in supysonic's default XML
        direct, via = proxied.get(method, upstream, **params), proxied.get(method, **params)
        assert via.status_code == direct.status_code == 200
        assert via.content == direct.content
        assert headers(via) == headers(direct)
    song = proxied.song(title(1, 0, 2))
    with requests.get(f"{proxied.url}/rest/stream", params={**proxied.auth(), "id": song}, stream=True,
                      timeout=60) as streamed:
        assert streamed.status_code == 200
        body = b"".join(streamed.iter_content(4096))
        direct = requests.get(f"{upstream}/rest/stream", params={**proxied.auth(), "id": song}, timeout=60)
        assert headers(streamed) == headers(direct)
    assert body == (proxied.root / "Artist 1" / "Album 1-0" / f"03 {title(1, 0, 2)}.flac").read_bytes()


def test_sonic_similar_tracks_answers_from_the_embeddings(proxied) -> None:
    song = proxied.song(title(2, 1, 0))
    answer = proxied.get("getSonicSimilarTracks", id=song, count=5, f="json").json()["subsonic-response"]
    assert answer["status"] == "ok", answer
    matches = answer["sonicMatch"]
    with Library.open(proxied.root / ".myna") as lib:
        nearest = lib.nearest(lib.vectors([proxied.links.track_of(song)])[1][0], 5,
                              exclude={proxied.links.track_of(song)})
    songs_of = proxied.links.songs_of()
    assert [m["entry"]["id"] for m in matches] == [songs_of[t.id] for t, _ in nearest]
    assert [m["similarity"] for m in matches] == [similarity(s) for _, s in nearest]
    assert all(0 <= m["similarity"] <= 1 for m in matches)
    assert matches[0]["entry"]["title"] == nearest[0][0].title  # the upstream's own song object
    # The same as a form POST (OpenSubsonic's formPost), and in XML, the API's default format.
    posted = requests.post(f"{proxied.url}/rest/getSonicSimilarTracks.view", timeout=60,
                           data={**proxied.auth(), "id": song, "count": "5", "f": "json"}).json()
    assert posted["subsonic-response"]["sonicMatch"] == matches
    xml = ET.fromstring(proxied.get("getSonicSimilarTracks", id=song, count=5).content)
    ns = {"s": "http://subsonic.org/restapi"}
    assert xml.get("status") == "ok"
    assert [m.find("s:entry", ns).get("id") for m in xml.findall("s:sonicMatch", ns)] == [m["entry"]["id"]
                                                                                         for m in matches]


def test_find_sonic_path_runs_from_start_to_end(proxied) -> None:
    start, end = proxied.song(title(0, 0, 0)), proxied.song(title(3, 1, 2))
    answer = proxied.get("findSonicPath", startSongId=start, endSongId=end, count=6, f="json").json()
    matches = answer["subsonic-response"]["sonicMatch"]
    a, b = proxied.links.track_of(start), proxied.links.track_of(end)
    with Library.open(proxied.root / ".myna") as lib:
        catalog = LibraryCatalog(lib)
        bridge = transition(catalog, [a], [b], 4)
        X = catalog.vectors([a, *(p.id for p in bridge.picks), b])
    songs_of = proxied.links.songs_of()
    assert [m["entry"]["id"] for m in matches] == [start, *(songs_of[p.id] for p in bridge.picks), end]
    # every similarity is to the start song, as OpenSubsonic's sonicMatch defines it for a path
    assert [m["similarity"] for m in matches] == pytest.approx([similarity(float(x @ X[0])) for x in X])
    assert matches[0]["similarity"] == 1.0


def test_extensions_list_sonic_similarity(proxied) -> None:
    answer = proxied.get("getOpenSubsonicExtensions", f="json").json()["subsonic-response"]
    assert answer["status"] == "ok"
    assert {"name": "sonicSimilarity", "versions": [1]} in answer["openSubsonicExtensions"]


def test_wrong_credentials_and_bad_requests_are_refused(proxied) -> None:
    song = proxied.song(title(2, 1, 0))
    for method, params in (("getSonicSimilarTracks", {"id": song}),
                           ("findSonicPath", {"startSongId": song, "endSongId": song})):
        refused = requests.get(f"{proxied.url}/rest/{method}", params={**proxied.auth("wrong"), **params, "f": "json"},
                               timeout=60).json()["subsonic-response"]
        assert refused["status"] == "failed" and refused["error"]["code"] == 40, refused
        assert "sonicMatch" not in refused
    missing = proxied.get("getSonicSimilarTracks", f="json").json()["subsonic-response"]
    assert missing["error"]["code"] == 10
    stray = proxied.song("Stray")  # on the server, not in the library
    unknown = proxied.get("getSonicSimilarTracks", id=stray, f="json").json()["subsonic-response"]
    assert unknown["error"]["code"] == 70 and "not linked" in unknown["error"]["message"]
    bad = proxied.get("findSonicPath", startSongId=song, endSongId=song, count="x", f="json").json()
    assert bad["subsonic-response"]["error"]["code"] == 0


def test_xml_answers_carry_tags_exactly() -> None:
    from playlist.subsonic.proxy import to_xml

    tags = {"artist": "Björk & Co <live> \"q\"", "flag": True, "genre": ["R&B", "<x>"]}
    parsed = ET.fromstring(to_xml("song", tags))
    assert parsed.get("artist") == tags["artist"] and parsed.get("flag") == "true"
    assert [g.text for g in parsed.findall("genre")] == ["R&B", "<x>"]


def test_listening_on_an_address_of_another_machine_names_the_host() -> None:
    from myna_rpe.errors import MynaError
    from playlist.network import listen

    with pytest.raises(MynaError, match=r"cannot listen on 192.0.2.1:0 .* give --host an address of this machine"):
        listen("192.0.2.1", 0)  # TEST-NET-1: never this machine's
