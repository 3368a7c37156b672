"""Network helpers shared by the servers and bridges: why an HTTP request failed, in a few
words ('Connection refused' rather than urllib3's nested repr), and a listening socket whose
failure names the option to change."""

from __future__ import annotations

import errno
import socket

import requests

from myna_rpe.errors import MynaError

_KNOWN = ("Connection refused", "Name or service not known", "No route to host",
          "Temporary failure in name resolution", "certificate verify failed")


def failure_reason(exc: requests.exceptions.RequestException) -> str:
    text = str(exc)
    return next((known for known in _KNOWN if known in text), type(exc).__name__)


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port (port 0: a free one), for `myna serve` and the proxy."""
    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        # not this machine's address, or no address at all (name lookup errors are negative)
        wrong_host = exc.errno == errno.EADDRNOTAVAIL or (exc.errno or 0) < 0
        raise MynaError(f"cannot listen on {host}:{port} ({exc.strerror})",
                        fix="give --host an address of this machine (127.0.0.1, localhost, 0.0.0.0)" if wrong_host
                        else "pass another --port (0 picks a free one)") from None
