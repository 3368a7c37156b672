"""What `myna serve` checks before a request reaches the app (ASGI middleware), and the
bounded reading of request bodies.

- `HostGuard`: the Host header must name the address the server is bound to, by a name a
  user would type for it (a page on another site that rebinds its DNS name to this
  machine sends its own name, and is refused with 421). A server bound to every interface
  (0.0.0.0, ::) answers to IP addresses, `localhost` and this machine's names.
- `OriginGuard`: the API and the audio answer only the page itself. A browser marks a
  request that a page of another site makes (`Sec-Fetch-Site: cross-site` or `same-site`,
  an `Origin` that is not this server's): 403, so another site can neither play nor list
  the library, nor start work on it.
- `read_body`: at most `MAX_BODY` bytes (413 past it).
"""

from __future__ import annotations

import ipaddress
import socket

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

MAX_BODY = 16 * 2**20  # an uploaded m3u in base64: a 12 MB playlist is ~100,000 entries
_LOOPBACK = {"127.0.0.1": ("localhost",), "::1": ("localhost",), "localhost": ("127.0.0.1",)}
_EVERYWHERE = ("0.0.0.0", "::", "")


def _name(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def allowed_hosts(host: str, port: int) -> set[str]:
    """The Host headers (`name:port`) a browser sends for this address; for a server bound to
    every interface, the names of this machine (IP addresses are accepted besides)."""
    if host in _EVERYWHERE:
        host_name = socket.gethostname()  # (not getfqdn: a DNS lookup that can hang without a network)
        names = {"localhost", "127.0.0.1", "::1", host_name, f"{host_name}.local"}
    else:
        names = {host, *_LOOPBACK.get(host, ())}
    return {f"{_name(n)}:{port}".lower() for n in names if n}


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False


class HostGuard:
    """421 for a Host header that is not one of `allowed` ("name:port"); with `any_ip`, also
    any IP address with the server's port (an address cannot be rebound to another site)."""

    def __init__(self, app, allowed: set[str], port: int, any_ip: bool = False) -> None:
        self.app = app
        self.allowed = {a.lower() for a in allowed}
        self.port = port
        self.any_ip = any_ip

    def _accepts(self, host: str) -> bool:
        if host in self.allowed:
            return True
        name, _, port = host.rpartition(":")
        return self.any_ip and port == str(self.port) and _is_ip(name)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()
            if not self._accepts(host):
                shown = " or ".join(sorted(self.allowed)) + (" or an IP address" if self.any_ip else "")
                response = Response(f"421 Misdirected Request: this server answers only to {shown}\n",
                                    status_code=421, media_type="text/plain")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class OriginGuard:
    """403 for an API or audio request that a page of another origin made."""

    GUARDED = ("/api/", "/audio/")

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.GUARDED):
            headers = dict(scope["headers"])
            site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
            origin = headers.get(b"origin", b"").decode("latin-1").lower()
            own = "http://" + headers.get(b"host", b"").decode("latin-1").lower()
            if site in ("cross-site", "same-site") or (origin and origin != own):
                response = Response("403 Forbidden: only this server's own page may ask this\n",
                                    status_code=403, media_type="text/plain")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def read_body(request: Request) -> bytes:
    """The request's body, refused (413) past `MAX_BODY` bytes without reading the rest."""
    too_big = HTTPException(413, f"the body is larger than {MAX_BODY // 2**20} MiB")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise too_big
    return bytes(body)
