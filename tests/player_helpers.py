"""Real players for the player tests: a synthetic library whose files are real audio, a
real `mpd --no-daemon` on 127.0.0.1 with a null output, and the switch that makes a
missing system program a failure under CI (`.ci/run` sets MYNA_REQUIRE_REAL=1)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.library_helpers import synthetic_store, write_track

MPD_PASSWORD = "s3cret"


def require_real(available: bool, message: str) -> None:
    """Nothing where `available`; else a skip saying `message`, or a failure when MYNA_REQUIRE_REAL
    is set (under CI, where everything is installed, the test must run)."""
    if available:
        return
    if os.environ.get("MYNA_REQUIRE_REAL"):
        pytest.fail(message + " — MYNA_REQUIRE_REAL is set, so this test must run")
    pytest.skip(message)


def require_program(name: str, why: str) -> str:
    """The program's path; a skip where it is missing, or a failure when MYNA_REQUIRE_REAL is set."""
    path = shutil.which(name)
    require_real(path is not None, f"{name} is not installed ({why}); apt-get install it, as .ci/run does")
    return path


def audible_synthetic_store(root: Path, spec, seconds: float = 2.0, seed: int = 0):
    """`synthetic_store` whose files are real (short) audio, so players can open them; the
    store's stamps (size, mtime) are the files', as `myna index` records them."""
    from playlist.library.store import LibraryStore

    lib = synthetic_store(root, spec, seed=seed)
    with LibraryStore.open(root / ".myna", root=root) as store, store.transaction():
        for track in lib.tracks:
            st = write_track(root / track.path.relative_to("/synthetic"), seed * 1000 + track.id, seconds).stat()
            store.touch_track(track.id, st.st_size, st.st_mtime_ns)
    return lib


def default_sigint() -> None:
    """In a child: Ctrl-C stops it (in-process `myna` calls leave SIGINT ignored in pytest,
    and children inherit an ignored signal)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MpdServer:
    process: subprocess.Popen
    port: int
    config: Path
    music_dir: Path

    def client(self, password: str | None = MPD_PASSWORD):
        from mpd import MPDClient

        client = MPDClient()
        client.timeout = 20
        client.connect("127.0.0.1", self.port)
        if password:
            client.password(password)
        return client


def start_mpd(folder: Path, music_dir: Path) -> MpdServer:
    """A real MPD on 127.0.0.1 with a null audio output, its database updated. Without the
    password a client may only read."""
    mpd = require_program("mpd", "the MPD tests drive the real server")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "playlists").mkdir(exist_ok=True)
    port = free_port()
    config = folder / "mpd.conf"
    config.write_text(f"""
music_directory "{music_dir}"
playlist_directory "{folder / 'playlists'}"
db_file "{folder / 'database'}"
log_file "{folder / 'log'}"
bind_to_address "127.0.0.1"
port "{port}"
zeroconf_enabled "no"
auto_update "no"
password "{MPD_PASSWORD}@read,add,control,admin"
default_permissions "read"
audio_output {{
    type "null"
    name "null output"
    mixer_type "none"
}}
""", encoding="utf-8")
    process = subprocess.Popen([mpd, "--no-daemon", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    server = MpdServer(process, port, config, music_dir)
    deadline = time.monotonic() + 60
    while True:
        try:
            client = server.client()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log = (folder / "log").read_text(errors="replace") if (folder / "log").exists() else ""
                raise RuntimeError(f"mpd did not start: {process.stderr.read().decode(errors='replace')} {log}")
            time.sleep(0.1)
    client.update()
    while "updating_db" in client.status():  # polled: an idle could miss an update that just ended
        time.sleep(0.05)
    client.disconnect()
    return server


def stop_process(process: subprocess.Popen) -> None:
    """Terminate a server the tests started; kill it if it has not gone after 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_mpd(server: MpdServer) -> None:
    stop_process(server.process)


@dataclass
class WebServer:
    process: subprocess.Popen
    url: str  # http://127.0.0.1:PORT/
    port: int


def start_serve(root: Path, *extra: str) -> WebServer:
    """`myna serve ROOT --port 0` as a user starts it (the real entry point, a child process)."""
    import re
    import sys

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "250"}
    process = subprocess.Popen([sys.executable, "-m", "cli.app", "serve", str(root), "--port", "0", *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               cwd=Path(__file__).parents[1], preexec_fn=default_sigint)
    lines = []
    for line in process.stdout:
        lines.append(line)
        found = re.search(r"serving (http://127\.0\.0\.1:(\d+)/)", line)
        if found:
            return WebServer(process, found.group(1), int(found.group(2)))
    process.wait()
    raise RuntimeError("myna serve did not start:\n" + "".join(lines))


def stop_serve(server: WebServer) -> str:
    """Stop it as Ctrl-C does; its remaining output."""
    import signal

    server.process.send_signal(signal.SIGINT)
    try:
        out, _ = server.process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        out, _ = server.process.communicate()
    return out
