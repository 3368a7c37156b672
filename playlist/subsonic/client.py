"""A client of the Subsonic REST API (and OpenSubsonic's additions), JSON only.

Every call is `GET BASE/rest/NAME` with `u`, `v`, `c`, `f=json` and one of three ways to
sign in, chosen once, at `connect`:
- the salted token of API 1.13+: `t = md5(password + s)`, a fresh random salt `s` per call;
- `p=enc:HEX` (the password hex-encoded) for older servers, such as supysonic 0.7 (API 1.10.2),
  and for servers that answer error 41 (no token sign-in, e.g. for LDAP users);
- an OpenSubsonic `apiKey` (no user name, no password).
The server's API version comes from an unsigned `ping` (every answer carries it, refusals
too), so the password never travels in the weaker form to a server that takes the token.

Failures a user can fix become `SubsonicError`s, one line each: the server cannot be reached,
answers HTTP errors or no JSON, refuses the credentials, or speaks an API older than 1.8.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterator
from typing import BinaryIO
from dataclasses import dataclass, field

import requests

from myna_rpe.errors import MynaError
from playlist.network import failure_reason

CLIENT_NAME = "myna"
# getAlbumList2, getStarred2, search3 and updatePlaylist arrived in 1.8.0; the salted token in 1.13.0.
MIN_API = (1, 8, 0)
TOKEN_API = (1, 13, 0)
PAGE = 500  # songs per search3 page (Navidrome's maximum)
CREDENTIALS_FIX = ("check --user and the password (MYNA_SUBSONIC_PASSWORD, or `myna subsonic login`), "
                   "or the API key (MYNA_SUBSONIC_API_KEY)")


class SubsonicError(MynaError):
    """A Subsonic server that cannot be reached, refuses the credentials, or a request."""

    def __init__(self, message: str, fix: str | None = None, code: int | None = None):
        super().__init__(message, fix=fix)
        self.code = code


@dataclass(frozen=True)
class Credentials:
    """Where the server is and who signs in: a password or an OpenSubsonic API key."""

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        """The URL without a trailing slash (the part before /rest/)."""
        return self.url.rstrip("/")


@dataclass(frozen=True)
class Song:
    """A server song (a Subsonic `Child`) with the fields linking and matching use; `child`
    keeps the server's whole object, to hand back to clients unchanged."""

    id: str
    title: str | None
    artist: str | None
    album: str | None
    duration: float | None
    path: str | None
    isrc: str | None
    child: dict

    @classmethod
    def of(cls, child: dict) -> Song:
        isrc = child.get("isrc")
        if isinstance(isrc, list):  # OpenSubsonic: a list of codes
            isrc = isrc[0] if isrc else None
        try:
            duration = float(child.get("duration"))
        except (TypeError, ValueError):  # missing, or not a number: unknown
            duration = None
        return cls(id=str(child["id"]), title=child.get("title"), artist=child.get("artist"),
                   album=child.get("album"), duration=duration if duration and math.isfinite(duration) else None,
                   path=child.get("path"), isrc=isrc, child=child)

    @property
    def label(self) -> str:
        return f"{self.artist} - {self.title}" if self.artist and self.title else self.title or self.id


def parse_version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except (AttributeError, ValueError):
        return ()


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version)) or "unknown"


class SubsonicClient:
    """One signed-in connection to a Subsonic server. `connect()` before the first call."""

    def __init__(self, credentials: Credentials, timeout: float = 30.0) -> None:
        if not credentials.api_key and not (credentials.user and credentials.password is not None):
            raise SubsonicError(f"no credentials for the Subsonic server at {credentials.base}",
                                fix="give --user and set MYNA_SUBSONIC_PASSWORD (or run `myna subsonic login`), "
                                    "or set MYNA_SUBSONIC_API_KEY")
        self.credentials = credentials
        self.timeout = timeout
        self.http = requests.Session()
        self.version: tuple[int, ...] = ()
        self.auth = ""  # "token", "password" or "apiKey", once connected

    @property
    def base(self) -> str:
        return self.credentials.base

    def connect(self) -> SubsonicClient:
        """Learn the server's API version, check it, and sign in (a `ping`)."""
        answer = self._get("ping", {"v": version_text(MIN_API), "c": CLIENT_NAME, "f": "json"})
        self.version = parse_version(answer.get("version", ""))
        if not self.version:
            raise SubsonicError(f"{self.base} answered ping without an API version it could say "
                                f"({answer.get('version')!r})", fix="check that --server names a Subsonic server")
        if self.version < MIN_API:
            raise SubsonicError(f"the Subsonic server at {self.base} speaks API {version_text(self.version)}, "
                                f"older than the {version_text(MIN_API)} myna needs",
                                fix="upgrade the server (Navidrome, Gonic, Airsonic and Ampache all qualify)")
        if self.credentials.api_key:
            if answer.get("openSubsonic") is not True:  # API keys are OpenSubsonic's; others answer "missing parameter"
                raise SubsonicError(f"the Subsonic server at {self.base} takes no API keys (it is not OpenSubsonic)",
                                    fix="sign in with --user and a password instead")
            self.auth = "apiKey"
        else:
            self.auth = "token" if self.version >= TOKEN_API else "password"
        try:
            self.call("ping")
        except SubsonicError as exc:
            if exc.code != 41 or self.auth != "token":
                raise
            self.auth = "password"  # token sign-in not supported for this user (e.g. LDAP)
            self.call("ping")
        return self

    def auth_params(self) -> dict[str, str]:
        params = {"v": version_text(self.version), "c": CLIENT_NAME, "f": "json"}
        creds = self.credentials
        if self.auth == "apiKey":
            params["apiKey"] = creds.api_key or ""
        elif self.auth == "token":
            salt = secrets.token_hex(8)
            params |= {"u": creds.user or "", "s": salt,
                       "t": hashlib.md5(((creds.password or "") + salt).encode("utf-8")).hexdigest()}
        else:
            params |= {"u": creds.user or "", "p": "enc:" + (creds.password or "").encode("utf-8").hex()}
        return params

    def call(self, method: str, params: dict | list[tuple[str, str]] | None = None) -> dict:
        """The `subsonic-response` object of one signed call; a refusal is a SubsonicError."""
        items = list(params.items()) if isinstance(params, dict) else list(params or [])
        answer = self._get(method, [*self.auth_params().items(), *items])
        if answer.get("status") != "ok":
            raise refusal(self.base, method, answer, self.credentials.user)
        return answer

    def _get(self, method: str, params) -> dict:
        url = f"{self.base}/rest/{method}"
        where = f"the Subsonic server at {self.base}"
        try:
            response = self.http.get(url, params=params, timeout=self.timeout)
        except requests.exceptions.Timeout:
            raise SubsonicError(f"{where} did not answer {method} within {self.timeout:g} s",
                                fix="check that it is running and not overloaded") from None
        except requests.exceptions.RequestException as exc:
            raise SubsonicError(f"cannot reach {where} ({failure_reason(exc)})",
                                fix="start the server, or check --server (or MYNA_SUBSONIC_URL)") from None
        if response.status_code != 200:
            # 5xx: the server failed on this call (its URL is right); else the URL is likely not its base
            fix = ("the server failed on this call: its log says why; run again once it is fixed"
                   if response.status_code >= 500 else
                   "give the server's base URL, the part before /rest/ (check --server)")
            raise SubsonicError(f"{where} answered HTTP {response.status_code} {response.reason} to {method}", fix=fix)
        try:
            answer = response.json()["subsonic-response"]
        except (ValueError, KeyError, TypeError):
            raise SubsonicError(f"{where} did not answer {method} with a Subsonic JSON response",
                                fix="give the base URL of a Subsonic server, the part before /rest/") from None
        if not isinstance(answer, dict):
            raise SubsonicError(f"{where} answered {method} with something that is not a Subsonic response")
        return answer

    # The calls the verbs use -------------------------------------------------------------

    def songs(self) -> Iterator[Song]:
        """Every song of the library: search3 with an empty query, page by page (the way
        OpenSubsonic clients sync); a server that answers that with nothing, or refuses an empty
        query, is walked album by album (getAlbumList2 + getAlbum)."""
        try:
            page = self._song_page(0)
        except SubsonicError as exc:
            if exc.code not in (0, 10):  # 10: "required parameter missing", 0: any other refusal
                raise
            page = []
        if not page:
            yield from self.album_songs()
            return
        offset = 0
        while True:
            yield from page
            if len(page) < PAGE:
                return
            offset += PAGE
            page = self._song_page(offset)

    def _song_page(self, offset: int) -> list[Song]:
        found = self.call("search3", {"query": "", "songCount": PAGE, "songOffset": offset,
                                      "artistCount": 0, "albumCount": 0})
        return self._songs("search3", found.get("searchResult3", {}).get("song"))

    def _songs(self, method: str, items) -> list[Song]:
        """The songs of an answer. One song may come as an object rather than a list (servers
        whose JSON is converted from XML do so); anything else is one line, not a traceback."""
        if items is None:
            return []
        if isinstance(items, dict):
            items = [items]
        try:
            return [Song.of(child) for child in items]
        except (TypeError, KeyError, AttributeError):
            raise SubsonicError(f"the Subsonic server at {self.base} answered {method} with a malformed song list",
                                fix="check that it is a Subsonic server (its logs say more)") from None

    def album_songs(self) -> Iterator[Song]:
        """Every song, album by album."""
        offset = 0
        while True:
            albums = self.call("getAlbumList2", {"type": "alphabeticalByName", "size": PAGE, "offset": offset})
            batch = albums.get("albumList2", {}).get("album", [])
            for album in batch:
                yield from self.album(str(album["id"]))
            if len(batch) < PAGE:
                return
            offset += PAGE

    def album(self, album_id: str) -> list[Song]:
        return self._songs("getAlbum", self.call("getAlbum", {"id": album_id}).get("album", {}).get("song"))

    def song(self, song_id: str) -> Song:
        songs = self._songs("getSong", self.call("getSong", {"id": song_id}).get("song"))
        if not songs:
            raise SubsonicError(f"the Subsonic server at {self.base} answered getSong without the song",
                                fix="check that it is a Subsonic server (its logs say more)")
        return songs[0]

    def search_songs(self, query: str, count: int = 20) -> list[Song]:
        found = self.call("search3", {"query": query, "songCount": count, "artistCount": 0, "albumCount": 0})
        return self._songs("search3", found.get("searchResult3", {}).get("song"))

    def playlists(self) -> list[dict]:
        return self.call("getPlaylists").get("playlists", {}).get("playlist", [])

    def playlist(self, playlist_id: str) -> tuple[dict, list[Song]]:
        found = self.call("getPlaylist", {"id": playlist_id})["playlist"]
        return found, self._songs("getPlaylist", found.get("entry"))

    def create_playlist(self, name: str, song_ids: list[str]) -> str:
        """A new playlist; its id (servers before 1.14 answer no playlist: then found by name)."""
        answer = self.call("createPlaylist", [("name", name), *(("songId", s) for s in song_ids)])
        if "playlist" in answer:
            return str(answer["playlist"]["id"])
        mine = [p for p in self.playlists()
                if p.get("name") == name and p.get("owner") in (None, self.credentials.user)]
        return str(max(mine, key=lambda p: p.get("created", ""))["id"])

    def replace_playlist(self, playlist_id: str, song_ids: list[str]) -> None:
        """Replace a playlist's songs (createPlaylist with playlistId, as the API defines it)."""
        self.call("createPlaylist", [("playlistId", playlist_id), *(("songId", s) for s in song_ids)])

    def set_comment(self, playlist_id: str, comment: str) -> None:
        self.call("updatePlaylist", {"playlistId": playlist_id, "comment": comment})

    def delete_playlist(self, playlist_id: str) -> None:
        self.call("deletePlaylist", {"id": playlist_id})

    def stream_to(self, song: Song, out: BinaryIO) -> None:
        """The song's file as the server has it (`stream` with format=raw, no transcoding) into `out`."""
        params = {**self.auth_params(), "id": song.id, "format": "raw"}
        try:
            with self.http.get(f"{self.base}/rest/stream", params=params, stream=True, timeout=self.timeout) as got:
                kind = got.headers.get("content-type", "")
                if got.status_code != 200 or kind.startswith(("application/json", "text/xml", "application/xml")):
                    try:
                        answer = got.json()["subsonic-response"]
                    except (ValueError, KeyError, TypeError):
                        answer = {"error": {"message": f"HTTP {got.status_code} {got.reason}"}}
                    raise refusal(self.base, "stream", answer, self.credentials.user)
                for chunk in got.iter_content(256 * 1024):
                    out.write(chunk)
        except requests.exceptions.RequestException as exc:
            raise SubsonicError(f"streaming song {song.id} from {self.base} failed ({failure_reason(exc)})") from None

    def frequent_albums(self, size: int) -> list[dict]:
        return self.call("getAlbumList2", {"type": "frequent", "size": size}).get("albumList2", {}).get("album", [])

    def starred_songs(self) -> list[Song]:
        return self._songs("getStarred2", self.call("getStarred2").get("starred2", {}).get("song"))


def refusal(base: str, method: str, answer: dict, user: str | None) -> SubsonicError:
    """The one line for a `status: failed` answer, with the server's own message."""
    error = answer.get("error") or {}
    code = error.get("code")
    message = str(error.get("message") or "no message")
    where = f"the Subsonic server at {base}"
    if code == 40:
        return SubsonicError(f"{where} refused user {user!r}: {message}", fix=CREDENTIALS_FIX, code=code)
    if code in (42, 43, 44):
        return SubsonicError(f"{where} refused the API key: {message}", fix=CREDENTIALS_FIX, code=code)
    if code == 50:
        return SubsonicError(f"{where} does not allow {method} for user {user!r}: {message}",
                             fix="ask the server's admin for the permission", code=code)
    return SubsonicError(f"{where} refused {method} (error {code}): {message}", code=code)
