"""Why an HTTP request failed, in a few words: 'Connection refused' rather than urllib3's nested
repr. Shared by the bridges that talk to servers (Spotify's sign-in, Subsonic)."""

from __future__ import annotations

import requests

_KNOWN = ("Connection refused", "Name or service not known", "No route to host",
          "Temporary failure in name resolution", "certificate verify failed")


def failure_reason(exc: requests.exceptions.RequestException) -> str:
    text = str(exc)
    return next((known for known in _KNOWN if known in text), type(exc).__name__)
