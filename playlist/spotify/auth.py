"""Spotify sign-in: Authorization Code with PKCE through spotipy, token cached privately.

No client secret exists in this flow; the client id comes from `SPOTIPY_CLIENT_ID` and
the redirect URI from `SPOTIPY_REDIRECT_URI` (default a loopback address, which
Spotify requires for non-HTTPS redirects). The token lives in
`user_config_dir("myna")/spotify-token.json`, written with mode 0600 from the first
byte. Tokens never reach output or logs: spotipy logs request headers and token
request bodies at DEBUG level, so a filter on its loggers redacts them.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from platformdirs import user_config_dir
from spotipy.cache_handler import CacheFileHandler
from spotipy.oauth2 import SpotifyPKCE

from myna_rpe.errors import SpotifyError
from myna_rpe.fileio import atomic_write_text
from playlist.network import failure_reason

DEFAULT_REDIRECT_URI = "http://127.0.0.1:8888/callback"
# Read for import, write for export: one sign-in serves both commands.
SCOPES = (
    "playlist-read-private",
    "playlist-read-collaborative",
    "playlist-modify-private",
    "playlist-modify-public",
)
TOKEN_FILE = "spotify-token.json"
CREDENTIALS_FIX = (
    "create an app at https://developer.spotify.com/dashboard with redirect URI "
    f"{DEFAULT_REDIRECT_URI}, then `export SPOTIPY_CLIENT_ID=<its client id>`"
)


def default_token_path() -> Path:
    return Path(user_config_dir("myna")) / TOKEN_FILE


class PrivateTokenCache(CacheFileHandler):
    """spotipy's file cache, but the file is created 0600 and replaced atomically.

    spotipy opens the file with the process umask and chmods afterwards, which leaves a
    window where the token is world-readable, and a crash mid-write corrupts it.
    """

    def __init__(self, path: Path):
        super().__init__(cache_path=str(path))
        self.path = path

    def save_token_to_cache(self, token_info: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            atomic_write_text(self.path, json.dumps(token_info), mode=0o600)
        except OSError as exc:
            raise SpotifyError(f"cannot save the Spotify token: {exc.strerror}", path=self.path) from exc

    def clear(self) -> bool:
        """Forget the token (sign out). True when there was one."""
        try:
            self.path.unlink()
            return True
        except FileNotFoundError:
            return False


class MynaPKCE(SpotifyPKCE):
    """SpotifyPKCE that refuses to start a browser sign-in unless asked to.

    `import`/`export` must not stop halfway to wait for a browser; they use the cached
    token (refreshing it when expired) and ask the user to run `myna spotify login`.
    """

    def __init__(self, *args, interactive: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.interactive = interactive
        self.pasted: str | None = None

    def get_authorization_code(self, response=None):
        if response is None and not self.interactive:
            raise SpotifyError("not signed in to Spotify", fix="run `myna spotify login` first")
        code = super().get_authorization_code(response)
        if not code:  # spotipy would send the token endpoint no code at all
            pasted = (self.pasted or "").strip()
            raise SpotifyError(f"{pasted[:80]!r} is not the address the browser was sent to after signing in "
                               "(it has no code=)" if pasted else "nothing was pasted",
                               fix=f"paste the whole address from the browser's address bar; it starts with "
                                   f"{self.redirect_uri}?code=")
        return code

    def _get_user_input(self, prompt):  # spotipy's prompt for that address: kept for the error above
        self.pasted = super()._get_user_input(prompt)
        return self.pasted


@dataclass(frozen=True)
class AuthSettings:
    """Where to sign in and where the token lives; every field has a sensible default."""

    client_id: str | None = None  # None: SPOTIPY_CLIENT_ID
    redirect_uri: str | None = None  # None: SPOTIPY_REDIRECT_URI or DEFAULT_REDIRECT_URI
    token_path: Path | None = None  # None: default_token_path()
    accounts_url: str | None = None  # None: MYNA_SPOTIFY_ACCOUNTS_URL or accounts.spotify.com


def make_auth_manager(
    settings: AuthSettings = AuthSettings(), *, interactive: bool = False, open_browser: bool = True
) -> MynaPKCE:
    """A PKCE auth manager for `spotipy.Spotify`; raises SpotifyError without a client id."""
    client_id = settings.client_id or os.environ.get("SPOTIPY_CLIENT_ID")
    if not client_id:
        raise SpotifyError("no Spotify client id (SPOTIPY_CLIENT_ID is not set)", fix=CREDENTIALS_FIX)
    redirect = settings.redirect_uri or os.environ.get("SPOTIPY_REDIRECT_URI") or DEFAULT_REDIRECT_URI
    install_log_redaction()
    manager = MynaPKCE(
        client_id=client_id,
        redirect_uri=redirect,
        scope=list(SCOPES),
        cache_handler=PrivateTokenCache(settings.token_path or default_token_path()),
        open_browser=open_browser,
        requests_timeout=10,
        interactive=interactive,
    )
    accounts = settings.accounts_url or os.environ.get("MYNA_SPOTIFY_ACCOUNTS_URL")
    if accounts:  # a local test server or a proxy in place of accounts.spotify.com
        base = accounts.rstrip("/")
        manager.OAUTH_AUTHORIZE_URL = f"{base}/authorize"
        manager.OAUTH_TOKEN_URL = f"{base}/api/token"
    return manager


class _RedactSecrets(logging.Filter):
    """Blank out bearer tokens, refresh tokens, codes and verifiers in spotipy's log lines."""

    _PATTERNS = (
        re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+"),
        re.compile(r"""(['"]?(?:access_token|refresh_token|code_verifier|code)['"]?\s*[:=]\s*['"]?)[^'",&\s}]+"""),
    )

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        for pattern in self._PATTERNS:
            text = pattern.sub(r"\1<redacted>", text)
        record.msg, record.args = text, None
        return True


_REDACTION = _RedactSecrets()


def install_log_redaction() -> None:
    """Attach the redacting filter to every spotipy logger that can see a secret (idempotent)."""
    for name in ("spotipy.client", "spotipy.oauth2", "spotipy.util", "spotipy.cache_handler"):
        logger = logging.getLogger(name)
        if _REDACTION not in logger.filters:
            logger.addFilter(_REDACTION)


def sign_in(manager: MynaPKCE) -> None:
    """Run the browser (or copy-paste) PKCE sign-in and cache the new token."""
    from spotipy.oauth2 import SpotifyOauthError

    redirect = urlsplit(manager.redirect_uri)
    if redirect.scheme == "http" and redirect.hostname == "localhost":  # Spotify refuses it (docs/spotify.md)
        loopback = redirect._replace(netloc=redirect.netloc.replace("localhost", "127.0.0.1", 1)).geturl()
        raise SpotifyError(f"redirect URI {manager.redirect_uri}: Spotify does not accept localhost",
                           fix=f"register {loopback} for the app and set SPOTIPY_REDIRECT_URI={loopback}")
    try:
        manager.get_access_token(check_cache=False)
    except SpotifyOauthError as exc:
        raise SpotifyError(f"Spotify sign-in failed ({getattr(exc, 'error', None) or exc})",
                           fix="check the app's redirect URI and that your account is allowed to use it") from None
    except requests.exceptions.Timeout:  # requests' errors are OSErrors too: before the port's
        raise SpotifyError(f"Spotify's token endpoint {manager.OAUTH_TOKEN_URL} did not answer within "
                           f"{manager.requests_timeout:g} s",
                           fix="check your network connection and try again") from None
    except requests.exceptions.RequestException as exc:
        raise SpotifyError(f"cannot reach Spotify's token endpoint {manager.OAUTH_TOKEN_URL} ({failure_reason(exc)})",
                           fix="check your network connection and try again") from None
    except OSError as exc:  # the loopback server could not listen on the redirect port
        raise SpotifyError(f"cannot listen for the sign-in redirect on {manager.redirect_uri} ({exc.strerror or exc})",
                           fix="free that port or set SPOTIPY_REDIRECT_URI to another loopback port "
                               "registered for the app") from None
    except (EOFError, KeyboardInterrupt):
        raise SpotifyError("sign-in cancelled") from None
