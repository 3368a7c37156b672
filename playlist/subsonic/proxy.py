"""`myna subsonic proxy`: sonic similarity for any Subsonic server, as a reverse proxy.

Every request passes to the upstream server unchanged (method, path, query, body, headers but
the hop-by-hop ones) and its answer comes back unchanged, streamed: audio, cover art, the web
UI. Three OpenSubsonic calls are answered here instead:
- `getSonicSimilarTracks(id, count=10)`: the `count` linked songs nearest the song;
- `findSonicPath(startSongId, endSongId, count=25)`: the start song, a bridge of count - 2
  songs (`playlist.geometry.transition`), the end song;
- `getOpenSubsonicExtensions`: the upstream's list with `sonicSimilarity` added (or that alone,
  for a server that predates OpenSubsonic).
Both sonic answers are `sonicMatch` lists of `{entry, similarity}`: `entry` is the upstream's
own `getSong` object for the caller (a song the caller may not see is left out), `similarity`
is (1 + cosine) / 2 of the two embeddings, 1.0 for the same sound — to the queried song for
`getSonicSimilarTracks`, to the start song for `findSonicPath` (as the OpenSubsonic
`sonicMatch` page defines it; 1.0 for the start itself).

Before answering, the proxy checks the caller's own credentials (the request's `u`/`t`/`s`,
`u`/`p` or `apiKey`) with an upstream `ping` and uses them for the `getSong` calls; it keeps
no password. Answers are JSON for `f=json`, XML otherwise, as the Subsonic API does.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import requests
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from playlist.geometry.catalog import ArrayCatalog
from playlist.geometry.transition import transition
from playlist.subsonic.links import Links

EXTENSION = {"name": "sonicSimilarity", "versions": [1]}
AUTH_KEYS = ("u", "p", "t", "s", "apiKey", "v", "c")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "trailers", "transfer-encoding", "upgrade", "host"}
XMLNS = "http://subsonic.org/restapi"
CHUNK = 64 * 1024


def similarity(cosine: float) -> float:
    return round(float(np.clip((1.0 + cosine) / 2.0, 0.0, 1.0)), 4)


def to_xml(name: str, value) -> str:
    """A Subsonic XML element: scalars as attributes, objects and lists as child elements."""
    attrs, children = [], []
    for key, item in value.items():
        if isinstance(item, dict):
            children.append(to_xml(key, item))
        elif isinstance(item, list):
            children += [to_xml(key, v) if isinstance(v, dict) else f"<{key}>{escape(_text(v))}</{key}>" for v in item]
        else:
            attrs.append(f" {key}={quoteattr(_text(item))}")  # quoteattr escapes: once, not twice
    return f"<{name}{''.join(attrs)}>{''.join(children)}</{name}>" if children else f"<{name}{''.join(attrs)}/>"


def _text(value) -> str:
    return "true" if value is True else "false" if value is False else str(value)


class SonicProxy:
    """The proxy's state: the upstream's base URL, the linked catalog and the links."""

    def __init__(self, upstream: str, catalog: ArrayCatalog, links: Links, timeout: float = 60.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.catalog = catalog
        self.links = links
        self.song_of = links.songs_of()
        self.timeout = timeout
        self.http = requests.Session()

    # Talking to the upstream (blocking; called in the thread pool) ----------------------------

    def upstream_json(self, method: str, params: dict[str, str]) -> dict:
        """The upstream's `subsonic-response` to a JSON call; a failed one as its own error object."""
        try:
            response = self.http.get(f"{self.upstream}/rest/{method}", params={**params, "f": "json"},
                                     timeout=self.timeout)
            return response.json()["subsonic-response"]
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            return {"status": "failed", "version": "1.8.0",
                    "error": {"code": 0, "message": f"the upstream server {self.upstream} did not answer "
                                                    f"{method} ({type(exc).__name__})"}}

    def entries(self, auth: dict[str, str], song_ids: list[str]) -> dict[str, dict]:
        """song id → the upstream's song object for this caller (songs it refuses are left out)."""
        out = {}
        for song_id in dict.fromkeys(song_ids):
            answer = self.upstream_json("getSong", {**auth, "id": song_id})
            if answer.get("status") == "ok" and "song" in answer:
                out[song_id] = answer["song"]
        return out

    # The sonic answers ---------------------------------------------------------------------

    def similar(self, song_id: str, count: int) -> list[tuple[str, float]]:
        track = self.links.track_of(song_id)
        if track is None or track not in self.catalog.row:
            return []
        scores, ids = self.catalog.search(self.catalog.vectors([track]), count + 1)
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0 and int(i) != track]
        return [(self.song_of[i], similarity(s)) for i, s in pairs[:count]]

    def path(self, start: str, end: str, count: int) -> list[tuple[str, float]]:
        a, b = self.links.track_of(start), self.links.track_of(end)
        if a is None or b is None or a not in self.catalog.row or b not in self.catalog.row:
            return []
        middle = [p.id for p in transition(self.catalog, [a], [b], count - 2).picks] if count > 2 else []
        tracks = [a, *middle, b]
        X = self.catalog.vectors(tracks)
        steps = [1.0] + [similarity(float(X[k] @ X[0])) for k in range(1, len(tracks))]
        return [(self.song_of[t], s) for t, s in zip(tracks, steps)]


def create_proxy_app(proxy: SonicProxy) -> Starlette:
    async def params_of(request: Request) -> dict[str, str]:
        params = dict(request.query_params)
        if request.method == "POST" and request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):  # OpenSubsonic's formPost
            params.update(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
        return params

    def answer(params: dict[str, str], body: dict, version: str, status: int = 200) -> Response:
        payload = {"status": body.pop("status", "ok"), "version": version, "type": "myna",
                   "openSubsonic": True, **body}
        if params.get("f") == "json":
            return Response(json.dumps({"subsonic-response": payload}, ensure_ascii=False), status_code=status,
                            media_type="application/json")
        xml = to_xml("subsonic-response", {"xmlns": XMLNS, **payload})
        return Response('<?xml version="1.0" encoding="UTF-8"?>' + xml, status_code=status,
                        media_type="application/xml")

    def error(params: dict[str, str], code: int, message: str, version: str = "1.8.0") -> Response:
        return answer(params, {"status": "failed", "error": {"code": code, "message": message}}, version)

    async def signed_in(params: dict[str, str]) -> tuple[dict[str, str], dict]:
        """(the caller's own auth parameters, the upstream's answer to a ping made with them)."""
        auth = {k: params[k] for k in AUTH_KEYS if k in params}
        return auth, await run_in_threadpool(proxy.upstream_json, "ping", auth)

    def number(params: dict[str, str], key: str, default: int) -> int | None:
        try:
            value = int(params.get(key, default))
        except ValueError:
            return None
        return value if 1 <= value <= 500 else None

    async def sonic(request: Request, similar_call: bool) -> Response:
        params = await params_of(request)
        auth, ping = await signed_in(params)
        version = str(ping.get("version", "1.8.0"))
        if ping.get("status") != "ok":
            err = ping.get("error") or {}
            return error(params, int(err.get("code", 0)), str(err.get("message", "not signed in")), version)
        keys = ("id",) if similar_call else ("startSongId", "endSongId")
        if any(not params.get(k) for k in keys):
            return error(params, 10, f"required parameter is missing: {' and '.join(keys)}", version)
        count = number(params, "count", 10 if similar_call else 25)
        if count is None or (not similar_call and count < 2):
            return error(params, 0, "count must be a whole number from 1 (2 for a path) to 500", version)
        if similar_call:
            matches = proxy.similar(params["id"], count)
        else:
            matches = proxy.path(params["startSongId"], params["endSongId"], count)
        if not matches:
            missing = [params[k] for k in keys if proxy.links.track_of(params[k]) is None]
            return error(params, 70, f"song {missing[0] if missing else params[keys[0]]} has no embedding here "
                                      "(not linked: run `myna subsonic link`)", version)
        entries = await run_in_threadpool(proxy.entries, auth, [song for song, _ in matches])
        found = [{"entry": entries[song], "similarity": s} for song, s in matches if song in entries]
        return answer(params, {"sonicMatch": found}, version)

    async def extensions(request: Request) -> Response:
        params = await params_of(request)
        upstream = await run_in_threadpool(proxy.upstream_json, "getOpenSubsonicExtensions", params)
        listed = upstream.get("openSubsonicExtensions", []) if upstream.get("status") == "ok" else []
        listed = [e for e in listed if e.get("name") != EXTENSION["name"]] + [EXTENSION]
        return answer(params, {"openSubsonicExtensions": listed}, str(upstream.get("version", "1.8.0")))

    async def passthrough(request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = await request.body()
        url = f"{proxy.upstream}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
        try:
            upstream = await run_in_threadpool(proxy.http.request, request.method, url, headers=headers, data=body,
                                               stream=True, allow_redirects=False, timeout=proxy.timeout)
        except requests.RequestException as exc:
            return Response(f"502 Bad Gateway: the upstream server {proxy.upstream} did not answer "
                            f"({type(exc).__name__})\n", status_code=502, media_type="text/plain")
        out_headers = [(k, v) for k, v in upstream.raw.headers.items() if k.lower() not in HOP_BY_HOP]
        response = StreamingResponse(upstream.raw.stream(CHUNK, decode_content=False), status_code=upstream.status_code,
                                     background=BackgroundTask(upstream.close))
        response.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in out_headers]
        return response

    async def similar_tracks(request: Request) -> Response:
        return await sonic(request, similar_call=True)

    async def sonic_path(request: Request) -> Response:
        return await sonic(request, similar_call=False)

    own = {"getSonicSimilarTracks": similar_tracks, "findSonicPath": sonic_path,
           "getOpenSubsonicExtensions": extensions}
    routes = [Route(f"/rest/{name}{view}", endpoint, methods=["GET", "POST"])
              for name, endpoint in own.items() for view in ("", ".view")]
    everything = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    return Starlette(routes=[*routes, Route("/{path:path}", passthrough, methods=everything)])
