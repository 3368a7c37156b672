"""Which Subsonic server, and who signs in: flags first, then the environment, then the sign-in
stored by `myna subsonic login` in `user_config_dir("myna")/subsonic.json`.

The stored file holds one server's URL, user and password (or API key); it is written with
mode 0600 from the first byte (the password must stay readable to sign in with a fresh salted
token each time, as every Subsonic client does). Secrets are read from the environment
(`MYNA_SUBSONIC_PASSWORD`, `MYNA_SUBSONIC_API_KEY`) or the file, never from the command line,
and never printed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import requests
from platformdirs import user_config_dir

from myna_rpe.errors import ConfigError
from myna_rpe.fileio import atomic_write_text
from playlist.subsonic.client import Credentials, SubsonicError

ENV_URL = "MYNA_SUBSONIC_URL"
ENV_USER = "MYNA_SUBSONIC_USER"
ENV_PASSWORD = "MYNA_SUBSONIC_PASSWORD"
ENV_API_KEY = "MYNA_SUBSONIC_API_KEY"
LOGIN_FILE = "subsonic.json"


def url_problem(url: str) -> str | None:
    """What is wrong with `url` as a server's base URL, in one line with the fix; None when it is
    http(s) with a host, a port from 1 to 65535 (or none) and nothing a request cannot carry."""
    example = "give the server's address, e.g. http://127.0.0.1:4533"
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed [IPv6 bracket
        return f"{url!r} is not a URL ({exc}): {example}"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"{url!r} is not a URL: {example}"
    host_port = parts.netloc.rpartition("@")[2]
    port = (host_port.partition("]")[2] if host_port.startswith("[") else host_port).partition(":")[2]
    if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        return f"{url!r}: {port!r} is not a port: give a number from 1 to 65535"
    if not parts.hostname:
        return f"{url!r} has no host: {example}"
    if parts.query or parts.fragment:
        return f"{url!r} has a ?query or #fragment: give the base URL, the part before /rest/"
    try:  # what requests refuses later (a space or control character in the host...)
        requests.Request("GET", url).prepare()
    except requests.exceptions.RequestException as exc:
        return f"{url!r} is not a URL ({exc}): {example}"
    return None


def login_path() -> Path:
    return Path(user_config_dir("myna")) / LOGIN_FILE


def stored_login() -> dict[str, str]:
    """The stored sign-in ({} when there is none)."""
    path = login_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the Subsonic sign-in ({exc.strerror})", path, "check its permissions") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError("the Subsonic sign-in is not valid JSON", path,
                          "delete it and run `myna subsonic login` again") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError("the Subsonic sign-in must be a JSON object of strings", path,
                          "delete it and run `myna subsonic login` again")
    return data


def save_login(credentials: Credentials) -> Path:
    """Remember one server's sign-in (replacing any other), readable by this user only."""
    data = {"url": credentials.base, **({"user": credentials.user} if credentials.user else {}),
            **({"password": credentials.password} if credentials.password is not None else {}),
            **({"api_key": credentials.api_key} if credentials.api_key else {})}
    path = login_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", mode=0o600)


def forget_login() -> bool:
    """Delete the stored sign-in; True when there was one."""
    try:
        login_path().unlink()
        return True
    except FileNotFoundError:
        return False


def resolve(url: str | None = None, user: str | None = None, env: dict[str, str] | None = None) -> Credentials:
    """The server and sign-in to use. A stored password or key is used only for the server (and
    user) it was stored for."""
    env = os.environ if env is None else env
    stored = stored_login()
    url = (url or env.get(ENV_URL) or stored.get("url") or "").rstrip("/")
    if not url:
        raise SubsonicError("no Subsonic server given",
                            fix=f"pass --server URL, set {ENV_URL}, or run `myna subsonic login --server URL`")
    if url == stored.get("url") and (problem := url_problem(url)):  # flags and environment: checked by the CLI
        raise ConfigError(f"the stored Subsonic sign-in has a bad server URL: {problem}", login_path(),
                          "run `myna subsonic login --server URL` again")
    same_server = stored.get("url") == url
    user = user or env.get(ENV_USER) or (stored.get("user") if same_server else None)
    same_user = same_server and stored.get("user") == user
    password = env.get(ENV_PASSWORD)
    if password is None and same_user:
        password = stored.get("password")
    api_key = env.get(ENV_API_KEY) or (stored.get("api_key") if same_server else None)
    return Credentials(url=url, user=user, password=password, api_key=api_key)
