"""The ASGI app behind `myna serve`: the page, its JSON API, and audio by track id.

Safety, for a server on the user's own machine (`playlist.web.guards`):
- it answers only requests whose Host header names the address it is bound to (a page on
  another site that rebinds its DNS name to 127.0.0.1 sends its own name, and is refused);
- the API and the audio answer only this server's own page, never a page of another site;
- POST bodies must be JSON, at most 16 MiB: a cross-site form cannot send that without a
  CORS preflight, which this server never grants;
- audio (and its embedded cover) is served by track id, for indexed tracks only: no endpoint
  takes a file path, and the file is served only while it is the one indexed (the size and
  mtime the store recorded, checked at open, after links are followed: a swapped link is
  refused).
Everything the page needs (HTML, JavaScript, CSS) is served from the installed package.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import re
import stat
from pathlib import Path
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from myna_rpe.errors import MynaError
from playlist.geometry.catalog import TrackMeta
from playlist.library.tags import embedded_cover
from playlist.web.guards import HostGuard, OriginGuard, allowed_hosts, read_body
from playlist.web.service import MAX_TRACKS, OPERATIONS, LibraryService, OpRequest

STATIC = Path(__file__).parent / "static"
AUDIO_TYPES = {".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg",
               ".opus": "audio/ogg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".wav": "audio/wav",
               ".aif": "audio/aiff", ".aiff": "audio/aiff", ".webm": "audio/webm"}


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json(request: Request) -> dict:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(415, "send JSON (Content-Type: application/json)")
    try:
        body = json.loads(await read_body(request))
    except (ValueError, RecursionError):
        raise HTTPException(400, "the body is not valid JSON (or nests too deep)") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return body


def _int(body: dict, key: str, default: int | None, low: int, high: int) -> int | None:
    value = body.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise HTTPException(400, f"{key} must be a whole number from {low} to {high}")
    return value


def create_app(service: LibraryService, host: str, port: int, playlist: list[int] | None = None,
               playlist_name: str = "") -> Starlette:
    """The app for `service`'s library bound at host:port; `playlist` is shown at start.
    A page loaded before `myna index` changed the library is told to reload (409) when it
    asks for work on its old track list; the library's list and map are always the current."""

    started_generation = service.generation

    async def current(request: Request) -> None:
        if await service.call(service.refresh) and request.url.path not in ("/api/library", "/api/map"):
            raise HTTPException(409, "the library changed since this page was loaded (`myna index` ran): "
                                     "reload the page")

    def track_ids(body: dict, key: str, required: bool = True) -> list[int]:
        value = body.get(key, [])
        if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
            raise HTTPException(400, f"{key} must be a list of track ids")
        unknown = [i for i in value if i not in service.tracks]
        if unknown and service.generation != started_generation:  # this page may predate the change
            raise HTTPException(409, f"{key}: unknown track id {unknown[0]}: the library changed since the server "
                                     "started (`myna index` ran): reload the page")
        if unknown:
            raise HTTPException(400, f"{key}: unknown track id {unknown[0]}")
        if required and not value:
            raise HTTPException(400, f"{key} is empty: add tracks first")
        return list(dict.fromkeys(value))

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def library(request: Request) -> Response:
        await current(request)
        tracks = [{"id": t.id, "label": t.label, "title": t.title, "artist": t.artist, "album": t.album,
                   "duration": t.duration}
                  for t in (service.tracks[int(i)] for i in service.ids)]
        return JSONResponse({"root": str(service.root), "model": service.model_id, "tracks": tracks,
                             "playlist": playlist or [], "playlist_name": playlist_name})

    async def map_(request: Request) -> Response:
        await current(request)
        method = request.query_params.get("method", "pca")
        try:
            found = await service.map_of(method)
        except MynaError as exc:
            return _error(str(exc))
        return JSONResponse({"method": method, "ids": service.ids.tolist(), "xy": found.xy.round(4).tolist(),
                             "cluster": found.cluster.tolist(), "clusters": found.names})

    async def progress(request: Request) -> Response:
        return JSONResponse({"progress": service.progress()})

    async def resolve(request: Request) -> Response:
        await current(request)
        body = await _json(request)
        name, data = body.get("name", "upload.m3u8"), body.get("data")
        try:
            raw = base64.b64decode(data, validate=True) if isinstance(data, str) else None
        except binascii.Error:
            raw = None
        if not isinstance(name, str) or raw is None:
            raise HTTPException(400, "send {name, data}: the m3u's file name and its bytes in base64")
        ids, skipped = await service.call(service.resolve, name, raw)
        return JSONResponse({"ids": ids, "skipped": [list(s) for s in skipped]})

    async def operation(request: Request) -> Response:
        await current(request)
        body = await _json(request)
        op = body.get("op")
        if op not in OPERATIONS:
            raise HTTPException(400, f"op must be one of {', '.join(OPERATIONS)}")
        req = OpRequest(op=op, ids=track_ids(body, "ids"), n=_int(body, "n", 10, 1, MAX_TRACKS),
                        target=tuple(track_ids(body, "target", required=op == "transition")),
                        tracks=tuple(track_ids(body, "tracks", required=op == "check")),
                        max_per_artist=_int(body, "max_per_artist", None, 1, 10_000),
                        max_per_album=_int(body, "max_per_album", None, 1, 10_000),
                        seed=_int(body, "seed", 0, 0, 2**31 - 1))
        try:
            outcome = await service.call(service.run, req)
        except MynaError as exc:
            return _error(str(exc))
        hull = outcome.hull
        return JSONResponse({
            "op": op,
            "picks": [{"id": p.id, "label": p.track.label, "verdict": p.verdict.value,
                       "distance": round(p.distance, 4), "note": p.note} for p in outcome.picks],
            "hull": {"rank": hull.rank, "dim": hull.dim, "scale": hull.scale},
            "refused": dict(outcome.refused), "info": outcome.info,
        })

    async def save(request: Request) -> Response:
        await current(request)
        body = await _json(request)
        ids = track_ids(body, "ids")
        name = body.get("name") or "playlist"
        stem = re.sub(r"[^\w .-]+", "_", re.sub(r"(?i)\.m3u8?$", "", str(name))).strip(" .")[:100] or "playlist"
        data = await service.call(service.m3u8, ids)
        fallback = stem.encode("ascii", "replace").decode().replace("?", "_")
        return Response(data, media_type="audio/x-mpegurl; charset=utf-8", headers={
            "Content-Disposition": f"attachment; filename=\"{fallback}.m3u8\"; filename*=UTF-8''{quote(stem)}.m3u8"})

    def indexed_file(request: Request) -> tuple[TrackMeta, Path, os.stat_result]:
        """The file of the track the URL names, while it is the one indexed; else 404."""
        track = service.tracks.get(request.path_params["track_id"])
        if track is None:
            raise HTTPException(404, "no such track")
        try:
            real = track.path.resolve(strict=True)
            st = os.stat(real)
        except (OSError, RuntimeError):
            st = None
        if st is None or not stat.S_ISREG(st.st_mode) or (st.st_size, st.st_mtime_ns) != service.stamps[track.id]:
            raise HTTPException(404, f"the file of track {track.id} is gone or is not the one indexed (run `myna index`)")
        return track, real, st

    async def audio(request: Request) -> Response:
        track, real, st = indexed_file(request)
        return FileResponse(real, stat_result=st, media_type=AUDIO_TYPES.get(track.path.suffix.lower(),
                                                                              "application/octet-stream"))

    async def cover(request: Request) -> Response:
        _, real, _ = indexed_file(request)
        found = await asyncio.to_thread(embedded_cover, real)
        if found is None:
            return _error("this track has no embedded cover", 404)
        data, kind = found
        return Response(data, media_type=kind, headers={"X-Content-Type-Options": "nosniff",
                                                        "Cache-Control": "private, max-age=3600"})

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(exc.detail, exc.status_code)

    app = Starlette(routes=[
        Route("/", index),
        Route("/api/library", library),
        Route("/api/map", map_),
        Route("/api/progress", progress),
        Route("/api/resolve", resolve, methods=["POST"]),
        Route("/api/op", operation, methods=["POST"]),
        Route("/api/save", save, methods=["POST"]),
        Route("/audio/{track_id:int}", audio),
        Route("/api/cover/{track_id:int}", cover),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ], exception_handlers={HTTPException: http_error})
    app.add_middleware(OriginGuard)
    app.add_middleware(HostGuard, allowed=allowed_hosts(host, port), port=port, any_ip=host in ("0.0.0.0", "::"))
    return app
