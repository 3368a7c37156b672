"""A local stand-in for the Spotify Web API and accounts service, for tests.

It serves the endpoints the bridge uses, in the shapes the Web API has used since
February 2026, on 127.0.0.1 at a random port, so the real spotipy client (its
requests session, urllib3 retries, pagination by absolute `next` URLs) runs
unchanged against it:

    GET  /v1/me                        current user
    GET  /v1/playlists/{id}            playlist metadata (404 when unknown)
    GET  /v1/playlists/{id}/items      entries with `item` (and optionally `track`), paged by limit/offset;
                                       with `market`, tracks carry `is_playable` and relinked
                                       tracks come back as their replacement with `linked_from`
    GET  /v1/search?q=...&type=track   `isrc:CODE` or `track:"..." artist:"..."`
    POST /v1/me/playlists              create a playlist for the current user
    POST /v1/playlists/{id}/items      add at most 100 URIs
    POST /api/token                    PKCE code exchange and refresh

The retired endpoints (`/playlists/{id}/tracks`, `/users/{id}/playlists`) answer 403,
as they do for Development Mode apps. Every request is recorded; `fail()` scripts
error answers (429 with Retry-After, 401, 5xx...) for the next matching requests.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ITEMS_MAX_LIMIT = 50
SEARCH_MAX_LIMIT = 10
ADD_MAX = 100


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: object
    authorization: str | None


@dataclass
class Failure:
    method: str
    path: str  # a regex matched against the request path
    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "scripted failure"
    skip: int = 0  # let this many matching requests through first


class FakeSpotify:
    def __init__(self, *, entry_shape: str = "item", page_size_cap: int = ITEMS_MAX_LIMIT):
        self.entry_shape = entry_shape  # "item", "track" or "both"
        self.page_size_cap = page_size_cap
        self.user = {"id": "tester", "display_name": "Test User", "type": "user"}
        self.catalogue: dict[str, dict] = {}
        self.relinks: dict[str, str] = {}  # original track id -> the id Spotify delivers in its place
        self.playlists: dict[str, dict] = {}
        self.valid_tokens: set[str] = {"access-1"}
        self.refresh_tokens: set[str] = {"refresh-1"}
        self.requests: list[Recorded] = []
        self.failures: list[Failure] = []
        self._issued = 1
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeSpotify:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v1/"

    @property
    def accounts_url(self) -> str:
        return self.base_url

    # ---------------------------------------------------------------- content

    def add_track(self, tid: str, title: str, artists: list[str], duration_s: float,
                  isrc: str | None = None, album: str = "Album", restriction: str | None = None) -> dict:
        """`restriction` ("market", "product", ...) makes the track unplayable for this user."""
        obj = {
            "type": "track", "id": tid, "uri": f"spotify:track:{tid}", "name": title,
            "artists": [{"name": a, "type": "artist"} for a in artists],
            "album": {"name": album}, "duration_ms": int(duration_s * 1000),
            "external_ids": {"isrc": isrc} if isrc else {}, "is_local": False,
            "is_playable": restriction is None,
        }
        if restriction:
            obj["restrictions"] = {"reason": restriction}
        self.catalogue[tid] = obj
        return obj

    def relink(self, original: str, delivered: str) -> None:
        """Track relinking: in the user's market, `original` is served as `delivered`."""
        self.relinks[original] = delivered

    def add_playlist(self, pid: str, name: str, entries: list[dict | str | None]) -> None:
        """`entries`: catalogue ids, raw item objects (episodes, local files) or None."""
        items = [self.catalogue[e] if isinstance(e, str) else e for e in entries]
        self.playlists[pid] = {"id": pid, "name": name, "owner": self.user["id"], "items": items,
                               "public": False, "description": ""}

    def fail(self, method: str, path: str, status: int, times: int = 1,
             headers: dict[str, str] | None = None, message: str = "scripted failure", skip: int = 0) -> None:
        self.failures.append(Failure(method, path, status, times, headers or {}, message, skip))

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """Recorded requests, optionally filtered by method and a path regex."""
        return [r for r in self.requests
                if (method is None or r.method == method) and (path is None or re.fullmatch(path, r.path))]

    # ---------------------------------------------------------------- responses

    def _as_served(self, obj: dict | None, market: str | None) -> dict | None:
        """What the API returns for a playlist's track: without a market, no playability
        fields; with one, relinked tracks replaced, naming the original in `linked_from`."""
        if not obj or obj.get("type") != "track" or obj.get("is_local"):
            return obj
        if market is None:
            return {k: v for k, v in obj.items() if k not in ("is_playable", "restrictions")}
        if (delivered := self.relinks.get(obj["id"])) is not None:
            return {**self.catalogue[delivered], "linked_from": {
                "type": "track", "id": obj["id"], "uri": obj["uri"],
                "href": f"{self.api_url}tracks/{obj['id']}"}}
        return obj

    def _entry(self, obj: dict | None) -> dict:
        entry: dict = {"added_at": "2026-01-01T00:00:00Z", "is_local": bool(obj and obj.get("is_local"))}
        if self.entry_shape in ("item", "both"):
            entry["item"] = obj
        if self.entry_shape in ("track", "both"):
            entry["track"] = obj
        return entry

    def handle(self, method: str, path: str, query: dict[str, str], body: object,
               auth: str | None) -> tuple[int, dict[str, str], object]:
        with self._lock:
            self.requests.append(Recorded(method, path, query, body, auth))
            for f in self.failures:
                if f.times > 0 and f.method == method and re.fullmatch(f.path, path):
                    if f.skip > 0:
                        f.skip -= 1
                        continue
                    f.times -= 1
                    return f.status, f.headers, {"error": {"status": f.status, "message": f.message}}
            if path == "/api/token" and method == "POST":
                return self._token(body)
            if not path.startswith("/v1/"):
                return 404, {}, {"error": {"status": 404, "message": "Service not found"}}
            token = (auth or "").removeprefix("Bearer ")
            if token not in self.valid_tokens:
                return 401, {}, {"error": {"status": 401, "message": "The access token expired"}}
            return self._api(method, path[len("/v1"):].rstrip("/") or "/", query, body)

    def _token(self, form: object) -> tuple[int, dict[str, str], object]:
        form = form if isinstance(form, dict) else {}
        grant = form.get("grant_type")
        ok = (grant == "refresh_token" and form.get("refresh_token") in self.refresh_tokens) or (
            grant == "authorization_code" and form.get("code") and form.get("code_verifier"))
        if not ok or not form.get("client_id"):
            return 400, {}, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
        self._issued += 1
        access = f"access-{self._issued}"
        self.valid_tokens.add(access)
        answer = {"access_token": access, "token_type": "Bearer", "expires_in": 3600,
                  "scope": "playlist-modify-private playlist-modify-public "
                           "playlist-read-collaborative playlist-read-private"}
        if grant == "authorization_code":
            answer["refresh_token"] = f"refresh-{self._issued}"
            self.refresh_tokens.add(answer["refresh_token"])
        return 200, {}, answer

    def _api(self, method: str, path: str, query: dict[str, str], body: object):
        not_found = (404, {}, {"error": {"status": 404, "message": "Resource not found"}})
        if re.fullmatch(r"/playlists/[^/]+/tracks|/users/[^/]+/playlists", path):
            return 403, {}, {"error": {"status": 403, "message": "Forbidden"}}
        if method == "GET" and path == "/me":
            return 200, {}, self.user
        if m := re.fullmatch(r"/playlists/([^/]+)", path):
            pl = self.playlists.get(m.group(1))
            return (200, {}, {"id": pl["id"], "name": pl["name"]}) if pl and method == "GET" else not_found
        if m := re.fullmatch(r"/playlists/([^/]+)/items", path):
            pl = self.playlists.get(m.group(1))
            if pl is None:
                return not_found
            return self._items(pl, query) if method == "GET" else self._add(pl, body)
        if method == "GET" and path == "/search":
            return self._search(query)
        if method == "POST" and path == "/me/playlists":
            pid = f"new{len(self.playlists) + 1}"
            data = body if isinstance(body, dict) else {}
            self.playlists[pid] = {"id": pid, "name": data.get("name"), "owner": self.user["id"], "items": [],
                                   "public": data.get("public"), "description": data.get("description")}
            return 201, {}, {"id": pid, "uri": f"spotify:playlist:{pid}", "name": data.get("name"),
                             "external_urls": {"spotify": f"https://open.spotify.com/playlist/{pid}"}}
        return not_found

    def _items(self, pl: dict, query: dict[str, str]):
        limit, offset = int(query.get("limit", 20)), int(query.get("offset", 0))
        if not 1 <= limit <= self.page_size_cap:
            return 400, {}, {"error": {"status": 400, "message": "Invalid limit"}}
        items = pl["items"]
        page = items[offset:offset + limit]
        market = query.get("market")
        nxt = (f"{self.api_url}playlists/{pl['id']}/items?offset={offset + limit}&limit={limit}"
               + (f"&market={market}" if market else "") if offset + limit < len(items) else None)
        return 200, {}, {"items": [self._entry(self._as_served(o, market)) for o in page],
                         "limit": limit, "offset": offset,
                         "total": len(items), "next": nxt, "previous": None}

    def _add(self, pl: dict, body: object):
        uris = body.get("uris") if isinstance(body, dict) else body
        if not isinstance(uris, list) or not 1 <= len(uris) <= ADD_MAX:
            return 400, {}, {"error": {"status": 400, "message": "You can add a maximum of 100 tracks per request."}}
        for uri in uris:
            tid = uri.rsplit(":", 1)[-1]
            if tid not in self.catalogue:
                return 400, {}, {"error": {"status": 400, "message": f"Invalid base62 id {tid}"}}
        pl["items"].extend(self.catalogue[u.rsplit(":", 1)[-1]] for u in uris)
        return 201, {}, {"snapshot_id": f"snap{len(pl['items'])}"}

    def _search(self, query: dict[str, str]):
        limit = int(query.get("limit", 20))
        if query.get("type") != "track" or not 1 <= limit <= SEARCH_MAX_LIMIT:
            return 400, {}, {"error": {"status": 400, "message": "Invalid limit"}}
        q = query.get("q", "")
        if m := re.fullmatch(r"isrc:(\w+)", q):
            hits = [t for t in self.catalogue.values() if t["external_ids"].get("isrc") == m.group(1)]
        elif m := re.fullmatch(r'track:"([^"]*)" artist:"([^"]*)"', q):
            title, artist = m.group(1).casefold(), m.group(2).casefold()
            hits = [t for t in self.catalogue.values()
                    if title in t["name"].casefold() and any(artist in a["name"].casefold() for a in t["artists"])]
        else:
            hits = []
        hits = [self._as_served(t, query.get("market")) for t in hits]
        return 200, {}, {"tracks": {"items": hits[:limit], "total": len(hits), "limit": limit,
                                    "offset": 0, "next": None}}


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeSpotify
    protocol_version = "HTTP/1.1"  # keep-alive, as spotipy's session expects
    disable_nagle_algorithm = True  # headers and body go out as separate writes; don't stall on ACKs

    def _serve(self) -> None:
        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body: object = None
        if raw:
            if "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
                body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            else:
                body = json.loads(raw)
        status, headers, payload = self.server_fake.handle(
            self.command, split.path, query, body, self.headers.get("Authorization"))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        return
