"""`myna serve`'s HTTP side against the real server (uvicorn in a child process): the Host
guard, audio by id with range requests, the verbs, m3u upload, the cached maps, saving."""

from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request

import numpy as np
import pytest

import cli.serve_cmd  # noqa: F401  (registers the command on the app)
from playlist.geometry.catalog import LibraryCatalog
from playlist.geometry.extend import extend
from playlist.library import Library
from playlist.m3u import read_m3u
from playlist.geometry.selection import SelectionRules
from playlist.synthetic import SyntheticSpec
from playlist.web.app import allowed_hosts
from tests.cli_helpers import myna, wide_console  # noqa: F401 (autouse fixture)
from tests.player_helpers import audible_synthetic_store, start_serve, stop_serve

SPEC = SyntheticSpec(dim=16, genres=2, styles_per_genre=2, artists_per_style=3, tracks_per_artist=6, album_size=3)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("web") / "music"
    lib = audible_synthetic_store(root, SPEC, seconds=1.0)
    server = start_serve(root)
    yield root, lib, server
    out = stop_serve(server)
    assert server.process.returncode == 130 and "interrupted" in out and "Traceback" not in out, out


def get(server, path: str, headers: dict | None = None):
    req = urllib.request.Request(server.url.rstrip("/") + path, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def post(server, path: str, body, content_type: str = "application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(server.url.rstrip("/") + path, data=data, method="POST",
                                 headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def raw_request(port: int, text: str) -> bytes:
    """An HTTP request written by hand (urllib always sends the Host it connects to)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(text.encode())
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_host_header_must_name_the_bound_address(served) -> None:
    _, _, server = served
    assert allowed_hosts("127.0.0.1", 8765) == {"127.0.0.1:8765", "localhost:8765"}
    for host in ("evil.example", f"evil.example:{server.port}", f"127.0.0.1:{server.port + 1}", ""):
        answer = raw_request(server.port, f"GET /api/library HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 421"), (host, answer[:200])
    answer = raw_request(server.port, f"GET /api/library HTTP/1.1\r\nHost: localhost:{server.port}\r\n"
                                      "Connection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")


def test_audio_by_track_id_with_range_requests(served) -> None:
    root, lib, server = served
    data = (root / lib.tracks[0].path.relative_to("/synthetic")).read_bytes()
    status, headers, body = get(server, "/audio/1")
    assert status == 200 and body == data and headers["content-type"] == "audio/flac"
    assert headers["accept-ranges"] == "bytes"
    status, headers, body = get(server, "/audio/1", {"Range": "bytes=100-199"})
    assert status == 206 and body == data[100:200]
    assert headers["content-range"] == f"bytes 100-199/{len(data)}"
    status, _, body = get(server, "/audio/1", {"Range": f"bytes={len(data) + 10}-"})
    assert status == 416
    # Only ids of indexed tracks; nothing that looks like a path reaches a file.
    for path in ("/audio/0", "/audio/99999", "/audio/abc", "/audio/..%2f..%2fetc%2fpasswd",
                 "/static/..%2f..%2f..%2fpyproject.toml", "/audio/1/../../etc/passwd"):
        status, _, body = get(server, path)
        assert status == 404, (path, status, body[:100])


def test_posts_must_be_json(served) -> None:
    _, _, server = served
    status, _, body = post(server, "/api/op", b"op=extend&ids=1", "application/x-www-form-urlencoded")
    assert status == 415 and b"send JSON" in body
    status, _, body = post(server, "/api/op", {"op": "extend", "ids": [1, 10**9]})
    assert status == 400 and b"unknown track id 1000000000" in body
    status, _, body = post(server, "/api/op", {"op": "extend", "ids": [1], "n": 0})
    assert status == 400 and b"n must be a whole number from 1 to 500" in body
    status, _, body = post(server, "/api/op", {"op": "delete", "ids": [1]})
    assert status == 400 and b"op must be one of" in body


def test_extend_answers_what_playlist_extend_picks(served) -> None:
    root, lib, server = served
    ids = [int(i) for i in lib.ids[np.flatnonzero(lib.artist == 2)[:3]]]
    status, _, body = post(server, "/api/op", {"op": "extend", "ids": ids, "n": 4, "max_per_artist": 2})
    assert status == 200, body
    answer = json.loads(body)
    with Library.open(root / ".myna") as library:
        want = extend(LibraryCatalog(library), ids, 4, rules=SelectionRules(max_per_artist=2))
    assert [p["id"] for p in answer["picks"]] == [p.id for p in want.picks]
    assert [p["verdict"] for p in answer["picks"]] == [p.verdict.value for p in want.picks]
    for op, extra in (("expand", {}), ("fill", {}), ("transition", {"target": [int(lib.ids[-1])]}),
                      ("check", {"tracks": [int(lib.ids[-1])]})):
        status, _, body = post(server, "/api/op", {"op": op, "ids": ids, "n": 3, **extra})
        assert status == 200, (op, body)
        assert json.loads(body)["picks"], op


def test_uploaded_m3u_matches_tracks_by_path_tail(served) -> None:
    root, lib, server = served
    rels = [t.path.relative_to("/synthetic").as_posix() for t in lib.tracks[:3]]
    # A legacy .m3u in cp1252 (the #EXTINF's "é" is one byte), a relative, a Windows and a missing path.
    text = "#EXTM3U\n#EXTINF:10,Café - Crème\n" + "\n".join([
        "../music/" + rels[0], rels[1], "C:\\Music\\" + rels[2].replace("/", "\\"), "nowhere/missing.flac"]) + "\n"
    data = base64.b64encode(text.encode("cp1252")).decode()
    status, _, body = post(server, "/api/resolve", {"name": "mine.m3u", "data": data})
    assert status == 200, body
    answer = json.loads(body)
    assert answer["ids"] == [int(i) for i in lib.ids[:3]]
    assert [row[2] for row in answer["skipped"]] == ["file not found"]
    status, _, body = post(server, "/api/resolve", {"name": "x.m3u8", "data": "not base64!"})
    assert status == 400 and b"base64" in body


def test_maps_are_computed_once_per_model_and_cached(served) -> None:
    root, lib, server = served
    for method in ("pca", "tsne"):
        status, _, body = get(server, f"/api/map?method={method}")
        assert status == 200, body
        answer = json.loads(body)
        xy = np.array(answer["xy"])
        assert answer["ids"] == lib.ids.tolist() and xy.shape == (len(lib.ids), 2) and np.isfinite(xy).all()
        assert xy.std(axis=0).min() > 0
        # k-means clusters, numbered largest first, each named by its most common artist
        cluster = np.array(answer["cluster"])
        assert len(cluster) == len(lib.ids) and len(answer["clusters"]) == cluster.max() + 1 >= 2
        assert (np.diff(np.bincount(cluster)) <= 0).all()
        artists = {t.artist for t in lib.tracks}
        assert all(name.split(" · ")[0] in artists for name in answer["clusters"]), answer["clusters"]
        again = json.loads(get(server, f"/api/map?method={method}")[2])
        assert again == answer
    assert sorted(p.name.split("-")[0] for p in (root / ".myna" / "maps").glob("*.npz")) == ["clusters", "pca", "tsne"]
    assert json.loads(get(server, "/api/progress")[2]) == {"progress": None}
    status, _, body = get(server, "/api/map?method=umap")
    assert status == 400 and b"unknown map 'umap'" in body


def test_save_returns_a_utf8_m3u8(served, tmp_path) -> None:
    root, lib, server = served
    status, headers, body = post(server, "/api/save", {"ids": [3, 1, 2], "name": "Mix/../ 曲ï"})
    assert status == 200
    assert headers["content-disposition"] == ("attachment; filename=\"Mix_.._ __.m3u8\"; "
                                              "filename*=UTF-8''Mix_.._%20%E6%9B%B2%C3%AF.m3u8")
    named = post(server, "/api/save", {"ids": [1], "name": "evening.M3U8"})[1]["content-disposition"]
    assert 'filename="evening.m3u8"' in named  # the extension is not doubled
    out = tmp_path / "saved.m3u8"
    out.write_bytes(body)
    assert body.startswith(b"#EXTM3U\n")
    assert [e.path for e in read_m3u(out)] == [(root / lib.tracks[i - 1].path.relative_to("/synthetic"))
                                              for i in (3, 1, 2)]


def test_serve_errors_are_one_line(served, capsys, tmp_path) -> None:
    root, _, server = served
    code, out = myna(capsys, "serve", str(tmp_path))
    assert code == 1 and "no library store here" in out and len(out.strip().splitlines()) == 1, out
    code, out = myna(capsys, "serve", str(root), "--port", str(server.port))
    assert code == 1 and f"cannot listen on 127.0.0.1:{server.port}" in out and "another --port" in out, out


def test_map_cache_that_cannot_be_written_stays_in_memory(tmp_path) -> None:
    from playlist.web.projection import ProjectionCache, project

    blocker = tmp_path / "maps"
    blocker.write_text("a file where the cache folder would be")
    ids = np.arange(1, 11)
    X = np.random.default_rng(0).normal(size=(10, 4))
    cache = ProjectionCache(blocker, "m", 1, ids)
    xy = cache.get("pca", lambda: project(X, "pca"))
    assert xy.shape == (10, 2) and cache.get("pca", lambda: project(X, "pca")) is xy
    assert blocker.read_text().startswith("a file")


def test_only_the_page_itself_may_use_the_api_and_the_audio(served) -> None:
    _, _, server = served
    own = f"http://127.0.0.1:{server.port}"
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": "http://evil.example"}, {"Origin": "null"}):
        for path in ("/audio/1", "/api/cover/1", "/api/library", "/api/map?method=tsne"):
            status, _, _ = get(server, path, headers)
            assert status == 403, (path, headers, status)
    assert get(server, "/audio/1", {"Sec-Fetch-Site": "same-origin", "Origin": own})[0] == 200
    assert get(server, "/", {"Sec-Fetch-Site": "cross-site"})[0] == 200  # a link to the page still opens it


def test_request_bodies_are_bounded_and_deep_json_is_a_400(served) -> None:
    from playlist.web.guards import MAX_BODY

    _, _, server = served
    declared = raw_request(server.port, f"POST /api/resolve HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                                         f"Content-Type: application/json\r\nContent-Length: {MAX_BODY + 1}\r\n"
                                         "Connection: close\r\n\r\n{}")
    assert declared.startswith(b"HTTP/1.1 413"), declared[:200]  # refused before the body is read
    status, _, body = post(server, "/api/op", b"[" * 100_000 + b"]" * 100_000)
    assert status == 400 and b"not valid JSON" in body


def test_a_track_whose_file_was_swapped_for_a_link_is_not_served(served) -> None:
    root, lib, server = served
    track = lib.tracks[-1]
    path = root / track.path.relative_to("/synthetic")
    kept = path.with_name(path.name + ".kept")
    secret = root / "secret.txt"
    secret.write_text("not music")
    path.rename(kept)
    try:
        path.symlink_to(secret)
        status, _, body = get(server, f"/audio/{track.id}")
        assert status == 404 and b"not the one indexed" in body and b"not music" not in body
    finally:
        path.unlink()
        kept.rename(path)
    assert get(server, f"/audio/{track.id}")[0] == 200


def test_the_names_a_user_types_for_the_bound_address_are_answered() -> None:
    import socket

    from playlist.web.guards import HostGuard, allowed_hosts

    local = HostGuard(None, allowed_hosts("localhost", 80), 80)
    assert local._accepts("localhost:80") and local._accepts("127.0.0.1:80") and not local._accepts("evil:80")
    everywhere = HostGuard(None, allowed_hosts("0.0.0.0", 80), 80, any_ip=True)
    for host in ("0.0.0.0:80", "192.168.1.20:80", "[fe80::1]:80", "localhost:80", f"{socket.gethostname()}:80"):
        assert everywhere._accepts(host.lower()), host
    assert not everywhere._accepts("evil.example:80") and not everywhere._accepts("192.168.1.20:81")


def test_a_body_without_a_length_is_counted_while_it_is_read() -> None:
    import asyncio

    from starlette.exceptions import HTTPException
    from starlette.requests import Request

    from playlist.web.guards import MAX_BODY, read_body

    chunk = b"x" * (1 << 20)
    messages = [{"type": "http.request", "body": chunk, "more_body": True}] * (MAX_BODY // len(chunk) + 4)
    sent = iter([*messages, {"type": "http.request", "body": b"", "more_body": False}])

    async def receive():
        return next(sent)

    with pytest.raises(HTTPException) as refused:
        asyncio.run(read_body(Request({"type": "http", "method": "POST", "headers": []}, receive)))
    assert refused.value.status_code == 413
    assert next(sent)["more_body"]  # it stopped reading at the bound


def test_an_upload_naming_a_fifo_blocks_nothing(served, tmp_path) -> None:
    import os

    _, _, server = served
    fifo = tmp_path / "pipe.m3u8"
    os.mkfifo(fifo)
    data = base64.b64encode(f"#EXTM3U\n{fifo}\n".encode()).decode()
    status, _, body = post(server, "/api/resolve", {"name": "up.m3u8", "data": data})
    assert status == 200 and b"not a regular file" in body, body
    assert get(server, "/api/library")[0] == 200  # the library's worker is free


def test_a_long_map_does_not_hold_up_the_verbs(served, monkeypatch, tmp_path) -> None:
    import asyncio
    import threading

    from playlist.web import projection
    from playlist.web.service import LibraryService, OpRequest

    root, lib, _ = served
    release = threading.Event()
    real = projection.project

    def slow(X, method, seed=0, report=None):
        report(f"{method} (held by the test)")
        release.wait(60)
        return real(X, method, seed)

    monkeypatch.setattr(projection, "project", slow)
    service = LibraryService(root / ".myna")
    service.maps.folder = tmp_path / "maps"  # compute: nothing cached there

    async def scenario():
        mapping = asyncio.ensure_future(service.map_of("tsne"))
        outcome = await asyncio.wait_for(service.call(service.run, OpRequest(op="extend", ids=[1, 2], n=2)), 60)
        assert not mapping.done()  # the verb answered while the map was still being computed
        for _ in range(600):  # what the page shows meanwhile (once the map's thread has begun)
            if service.progress():
                break
            await asyncio.sleep(0.05)
        assert service.progress()["stage"] == "tsne (held by the test)"
        release.set()
        found = await asyncio.wait_for(mapping, 120)
        return outcome, found

    try:
        outcome, found = asyncio.run(scenario())
    finally:
        release.set()
        service.close()
    assert outcome.picks and found.xy.shape == (len(lib.ids), 2) and service.progress() is None


def test_a_host_that_is_not_this_machine_says_so(served, capsys) -> None:
    root, _, _ = served
    for host in ("999.1.1.1", "192.0.2.1"):  # no address at all; a documentation address, not ours
        code, out = myna(capsys, "serve", str(root), "--host", host, "--port", "0")
        assert code == 1 and "give --host an address of this machine" in out and "Traceback" not in out, out


def test_tsne_of_a_large_library_runs_on_a_sample_and_places_the_rest(monkeypatch) -> None:
    """Above TSNE_SAMPLE tracks, t-SNE sees a seeded sample; every other track lands among its
    nearest sampled neighbours, so clusters of the full space stay together on the map."""
    from dataclasses import replace

    from playlist.synthetic import synthetic_library
    from playlist.web import projection

    monkeypatch.setattr(projection, "TSNE_SAMPLE", 120)
    lib = synthetic_library(replace(SPEC, genres=3, tracks_per_artist=20), seed=1)
    stages = []
    xy = projection.project(lib.vectors.astype(np.float64), "tsne", seed=0, report=stages.append)
    assert xy.shape == (len(lib.ids), 2) and np.isfinite(xy).all()
    assert [s.split(" ")[0] for s in stages] == ["PCA", "t-SNE", "placing"], stages
    again = projection.project(lib.vectors.astype(np.float64), "tsne", seed=0)
    assert np.array_equal(xy, again)  # seeded
    # each track's nearest neighbour on the map is mostly of its own genre
    d = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (lib.genre[d.argmin(axis=1)] == lib.genre).mean() > 0.9


def test_clusters_are_seeded_and_named_by_their_tags() -> None:
    from playlist.geometry.catalog import TrackMeta
    from playlist.synthetic import synthetic_library
    from playlist.web.clusters import cluster_count, cluster_names, kmeans_labels

    lib = synthetic_library(SPEC, seed=0)
    labels = kmeans_labels(lib.vectors, seed=0)
    assert np.array_equal(labels, kmeans_labels(lib.vectors, seed=0)) and labels.max() + 1 == cluster_count(len(lib.ids))
    names = cluster_names(labels, lib.tracks)
    assert len(set(names)) == len(names)
    for c, name in enumerate(names):
        members = [lib.tracks[i].artist for i in np.flatnonzero(labels == c)]
        top = max(members.count(a) for a in members)
        assert members.count(name.split(" · ")[0]) == top
    untagged = [TrackMeta(id=1, path=lib.tracks[0].path), TrackMeta(id=2, path=lib.tracks[1].path, album="<b>A</b>")]
    assert cluster_names(np.array([0, 1]), untagged) == ["cluster 1", "<b>A</b>"]
    assert cluster_count(0) == 0 and cluster_count(1) == 1 and cluster_count(10**6) == 24


def test_embedded_cover_by_track_id(tmp_path) -> None:
    """/api/cover/ID answers the picture embedded in the track's file (typed from its bytes,
    not trusted from the tag), 404 where there is none or the file is not the one indexed."""
    import io

    from mutagen.flac import FLAC, Picture
    from PIL import Image

    from playlist.library.store import LibraryStore

    root = tmp_path / "music"
    lib = audible_synthetic_store(root, SyntheticSpec(dim=8, genres=1, styles_per_genre=1, artists_per_style=2,
                                                      tracks_per_artist=2, album_size=2), seconds=0.5)
    file = root / lib.tracks[1].path.relative_to("/synthetic")
    png = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(png, "PNG")
    flac = FLAC(file)
    picture = Picture()
    picture.type, picture.mime, picture.data = 3, "text/html", png.getvalue()  # a lying tag
    flac.add_picture(picture)
    flac.save()
    with LibraryStore.open(root / ".myna", root=root) as store, store.transaction():
        store.touch_track(lib.tracks[1].id, file.stat().st_size, file.stat().st_mtime_ns)
    server = start_serve(root)
    try:
        status, headers, body = get(server, f"/api/cover/{lib.tracks[1].id}")
        assert status == 200 and body == png.getvalue() and headers["content-type"] == "image/png"
        assert headers["x-content-type-options"] == "nosniff"
        status, _, body = get(server, f"/api/cover/{lib.tracks[0].id}")
        assert status == 404 and b"no embedded cover" in body
        assert get(server, "/api/cover/999")[0] == 404
        file.write_bytes(file.read_bytes() + b"\0")  # no longer the file indexed
        assert get(server, f"/api/cover/{lib.tracks[1].id}")[0] == 404
    finally:
        stop_serve(server)


def test_a_library_changed_while_serving_asks_the_page_to_reload(tmp_path) -> None:
    """`myna index` removed a track while the server ran: the old page's next verb is told to
    reload (409, not a 500 from a track the index still held), and the new list lacks it."""
    from playlist.library.store import LibraryStore

    root = tmp_path / "music"
    lib = audible_synthetic_store(root, SPEC, seconds=1.0)
    server = start_serve(root)
    try:
        ids = [int(i) for i in lib.ids[:4]]
        assert post(server, "/api/op", {"op": "extend", "ids": ids[1:], "n": 3})[0] == 200
        with LibraryStore.open(root / ".myna") as store:  # as `myna index` does for a deleted file
            assert store.delete_tracks([ids[0]]) == 1
        status, _, body = post(server, "/api/op", {"op": "extend", "ids": ids[1:], "n": 3})
        assert status == 409 and "reload the page" in json.loads(body)["error"], body
        tracks = json.loads(get(server, "/api/library")[2])["tracks"]
        assert ids[0] not in {t["id"] for t in tracks} and len(tracks) == len(lib.ids) - 1
        status, _, body = post(server, "/api/op", {"op": "extend", "ids": ids[1:], "n": 3})
        assert status == 200 and ids[0] not in [p["id"] for p in json.loads(body)["picks"]], body
        status, _, body = post(server, "/api/op", {"op": "extend", "ids": ids[:2], "n": 3})  # another old page
        assert status == 409 and f"unknown track id {ids[0]}: the library changed" in json.loads(body)["error"]
    finally:
        out = stop_serve(server)
    assert "Traceback" not in out, out
