"""A thin wrapper over `spotipy.Spotify` for the calls the bridge makes.

Everything goes through spotipy's own HTTP code (its requests session and urllib3
`Retry`, which retries 429/5xx and sleeps for the server's Retry-After). This module
adds three things: the endpoints the Web API now requires (`/playlists/{id}/items`,
`POST /me/playlists`), parsing of both item shapes (`item` and the deprecated
`track`), and translation of every failure into one-line `SpotifyError`s.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlparse

import requests
import spotipy
from spotipy.exceptions import SpotifyException
from spotipy.oauth2 import SpotifyOauthError

from myna_rpe.errors import MynaError, SpotifyError
from playlist.spotify.auth import install_log_redaction

DEFAULT_API_URL = "https://api.spotify.com/v1/"
ADD_BATCH = 100  # the Web API's maximum number of URIs per "add items" request
ITEMS_PAGE = 50  # playlist items per page
SEARCH_LIMIT = 10  # Development Mode apps may not ask for more search results

_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")
_URL = re.compile(r"^(?:https?://)?open\.spotify\.com/(?:intl-[\w-]+/)?(?:user/[^/]+/)?playlist/([0-9A-Za-z]+)/?(?:\?.*)?$")
_URI = re.compile(r"^spotify:(?:user:[^:]+:)?playlist:([0-9A-Za-z]+)$")


def parse_playlist_ref(ref: str) -> str:
    """The playlist id in an open.spotify.com URL, a spotify:playlist: URI or a bare id."""
    text = ref.strip()
    for pattern in (_URL, _URI):
        if m := pattern.match(text):
            return m.group(1)
    if _ID.match(text):
        return text
    raise SpotifyError(
        f"not a Spotify playlist link, URI or id: {ref!r}",
        fix="use e.g. https://open.spotify.com/playlist/<id>, spotify:playlist:<id> or the id itself",
    )


@dataclass(frozen=True)
class RemoteTrack:
    """One Spotify track (or playlist entry) with the fields matching uses."""

    uri: str | None
    title: str | None
    artist: str | None  # credited artists joined with ", "
    album: str | None
    duration: float | None  # seconds
    isrc: str | None
    kind: str = "track"  # "track", "local" (a local file in a Spotify playlist), "episode", "unavailable"
    # Only present when the request named a market (we ask with market=from_token):
    playable: bool | None = None  # False: greyed out in the user's market
    restriction: str | None = None  # why not playable: "market", "product", "explicit", ...

    @property
    def unplayable(self) -> bool:
        return self.playable is False

    @classmethod
    def from_api(cls, obj: dict | None, is_local: bool = False) -> RemoteTrack:
        """A track or episode object. Under track relinking Spotify delivers another
        track than the one in the playlist and names the original in `linked_from`:
        the original's URI identifies the entry (it is what the playlist holds and
        what adding takes), the delivered track's name/artists/ISRC are used to match."""
        if not obj:
            return cls(None, None, None, None, None, None, kind="unavailable")
        ms = obj.get("duration_ms")
        if obj.get("type") == "episode":
            show = (obj.get("show") or {}).get("name")
            return cls(obj.get("uri"), obj.get("name"), show, None, ms / 1000 if ms else None, None, "episode")
        artists = ", ".join(a["name"] for a in obj.get("artists") or [] if a.get("name"))
        playable = obj.get("is_playable")
        return cls(
            uri=(obj.get("linked_from") or {}).get("uri") or obj.get("uri"),
            title=obj.get("name"),
            artist=artists or None,
            album=(obj.get("album") or {}).get("name"),
            duration=ms / 1000 if ms else None,
            isrc=(obj.get("external_ids") or {}).get("isrc"),
            kind="local" if is_local or obj.get("is_local") else "track",
            playable=playable if isinstance(playable, bool) else None,
            restriction=(obj.get("restrictions") or {}).get("reason") if playable is False else None,
        )

    @classmethod
    def from_entry(cls, entry: dict | None) -> RemoteTrack:
        """A playlist entry: `item` since the February 2026 API, `track` before."""
        entry = entry or {}
        return cls.from_api(entry.get("item") or entry.get("track"), bool(entry.get("is_local")))


@dataclass(frozen=True)
class CreatedPlaylist:
    id: str
    uri: str
    url: str | None


def _api_message(exc: SpotifyException) -> str:
    # spotipy's msg is "<url>:\n <message>"; keep the message, on one line.
    text = str(exc.msg).rsplit(":\n", 1)[-1]
    return " ".join(text.split()) or "no details"


class SpotifyClient:
    """The Spotify calls import and export need, with errors as `SpotifyError`."""

    def __init__(
        self,
        auth_manager,
        api_url: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.3,
    ):
        install_log_redaction()
        self.sp = spotipy.Spotify(
            auth_manager=auth_manager,
            requests_timeout=timeout,
            retries=retries,
            status_retries=retries,
            backoff_factor=backoff,
        )
        # spotipy joins relative endpoint paths to `prefix`; tests point it at a local server.
        base = api_url or os.environ.get("MYNA_SPOTIFY_API_URL") or DEFAULT_API_URL
        self.sp.prefix = base.rstrip("/") + "/"
        self.timeout = timeout
        self.retries = retries

    # -- reading -------------------------------------------------------------

    def playlist_name(self, playlist_id: str) -> str:
        with self._calling("read the playlist", playlist_id=playlist_id):
            info = self.sp.playlist(playlist_id, fields="name")
        return (info or {}).get("name") or playlist_id

    def playlist_tracks(
        self, playlist_id: str, on_page: Callable[[int, int], None] | None = None
    ) -> list[RemoteTrack]:
        """Every entry of a playlist, in order, following the `next` links.

        `on_page(done, total)` is called after each page, for a progress bar.
        """
        tracks: list[RemoteTrack] = []
        with self._calling("read the playlist's items", playlist_id=playlist_id):
            # A market makes Spotify relink tracks and say which are playable for this user.
            page = self.sp.playlist_items(
                playlist_id, limit=ITEMS_PAGE, market="from_token", additional_types=("track", "episode")
            )
            while page:
                tracks.extend(RemoteTrack.from_entry(e) for e in page.get("items") or [])
                if on_page:
                    on_page(len(tracks), int(page.get("total") or len(tracks)))
                page = self.sp.next(page) if page.get("next") else None
        return tracks

    def search_tracks(self, query: str, limit: int = SEARCH_LIMIT) -> list[RemoteTrack]:
        with self._calling("search"):
            result = self.sp.search(query, limit=limit, type="track")
        items = ((result or {}).get("tracks") or {}).get("items") or []
        return [RemoteTrack.from_api(obj) for obj in items if obj]

    def current_user(self) -> dict:
        with self._calling("read your Spotify profile"):
            return self.sp.current_user() or {}

    # -- writing -------------------------------------------------------------

    def create_playlist(self, name: str, public: bool, description: str = "") -> CreatedPlaylist:
        """A new playlist owned by the signed-in user (`POST /me/playlists`)."""
        with self._calling("create the playlist"):
            made = self.sp.current_user_playlist_create(name, public=public, description=description)
        return CreatedPlaylist(made["id"], made.get("uri") or f"spotify:playlist:{made['id']}",
                               (made.get("external_urls") or {}).get("spotify"))

    def add_items(
        self, playlist_id: str, uris: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> None:
        """Append `uris` in order, at most `ADD_BATCH` per request (`POST /playlists/{id}/items`)."""
        for start in range(0, len(uris), ADD_BATCH):
            batch = list(uris[start : start + ADD_BATCH])
            with self._calling("add tracks to the playlist", playlist_id=playlist_id):
                self.sp.playlist_add_items(playlist_id, batch)
            if on_batch:
                on_batch(start + len(batch))

    # -- errors --------------------------------------------------------------

    @contextmanager
    def _calling(self, action: str, playlist_id: str | None = None) -> Iterator[None]:
        try:
            yield
        except MynaError:
            raise
        except SpotifyException as exc:
            raise self._http_error(exc, action, playlist_id) from None
        except SpotifyOauthError as exc:
            detail = getattr(exc, "error", None) or "sign-in refused"
            raise SpotifyError(
                f"could not {action}: Spotify sign-in failed ({detail})",
                fix="run `myna spotify login` again",
            ) from None
        except requests.exceptions.Timeout:
            raise SpotifyError(
                f"could not {action}: Spotify did not answer within {self.timeout:g} s",
                fix="check your network connection and try again",
            ) from None
        except requests.exceptions.ConnectionError as exc:
            # The failing request may be the API call or a token refresh at the accounts service.
            request = getattr(exc, "request", None)
            host = urlparse(getattr(request, "url", None) or self.sp.prefix).netloc
            raise SpotifyError(
                f"could not {action}: cannot reach {host}",
                fix="check your network connection and try again",
            ) from None
        except requests.exceptions.RequestException as exc:
            raise SpotifyError(f"could not {action}: network error ({type(exc).__name__})") from None

    def _http_error(self, exc: SpotifyException, action: str, playlist_id: str | None) -> SpotifyError:
        status, message = exc.http_status, _api_message(exc)
        what = f"playlist {playlist_id}" if playlist_id else "Spotify"
        if status == 401:
            return SpotifyError(f"could not {action}: Spotify rejected the sign-in (401: {message})",
                                fix="run `myna spotify login` again")
        if status == 403:
            fix = ("apps in Development Mode may only read playlists you own or collaborate on; "
                   "copy it into a playlist of your own, or run `myna spotify login` again"
                   if playlist_id and "read" in action else
                   "check that your account is in the app's User Management list and "
                   "run `myna spotify login` again")
            return SpotifyError(f"could not {action}: Spotify refused access to {what} (403: {message})", fix=fix)
        if status == 404:
            return SpotifyError(f"could not {action}: {what} not found (404)",
                                fix="check the link; Spotify's own editorial and algorithmic "
                                    "playlists are not available to apps" if playlist_id else None)
        if status == 429 or (exc.reason and "too many" in str(exc.reason)):
            # spotipy reports every exhausted retry (429 or 5xx) as 429 "Max Retries".
            cause = str(exc.reason) if exc.reason else "rate limited"
            return SpotifyError(f"could not {action}: gave up after {self.retries} retries ({cause})",
                                fix="wait a few minutes and try again")
        if status == 400 and "Unsupported URL / URI" in message:
            return SpotifyError(f"not a Spotify playlist id: {playlist_id!r}")
        return SpotifyError(f"could not {action}: Spotify answered {status} ({message})")
