"""A real Subsonic server for the tests: Debian's supysonic (API 1.10.2) on 127.0.0.1, served by
waitress, with its own database, a user and a scanned music folder. supysonic reads its config
from `./supysonic.conf` (among fixed places), so it runs with its folder as the working
directory and as HOME (no ~/.supysonic of the machine's user is read)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.library_helpers import write_track
from tests.player_helpers import free_port, require_program, require_real, stop_process

USER = "listener"
PASSWORD = "pa ss [wörd]"  # a space, brackets and a non-ASCII letter: the enc:HEX form must carry them
ARTISTS, ALBUMS, TRACKS = 4, 2, 3  # 24 indexed songs; one more on the server only


def title(artist: int, album: int, track: int) -> str:
    return f"Song [{artist}{album}{track}]"  # brackets: shown as themselves, never read as markup


@dataclass
class SupysonicServer:
    process: subprocess.Popen
    url: str
    folder: Path
    music_dir: Path

    def cli(self, *args: str) -> str:
        return supysonic_cli(self.folder, *args)


def supysonic_cli(folder: Path, *args: str) -> str:
    cli = require_program("supysonic-cli", "the Subsonic tests drive a real supysonic server")
    done = subprocess.run([cli, *args], cwd=folder, env={**os.environ, "HOME": str(folder)},
                          capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(f"supysonic-cli {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


def start_supysonic(folder: Path, music_dir: Path) -> SupysonicServer:
    """supysonic with `music_dir` added as its folder "music", scanned, and USER/PASSWORD."""
    server_cmd = require_program("supysonic-server", "the Subsonic tests drive a real supysonic server")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cache").mkdir(exist_ok=True)
    (folder / "supysonic.conf").write_text(f"""[base]
database_uri = sqlite:///{folder / 'supysonic.db'}
[webapp]
cache_dir = {folder / 'cache'}
mount_webui = no
log_level = WARNING
[daemon]
socket = {folder / 'daemon.sock'}
run_watcher = no
""", encoding="utf-8")
    supysonic_cli(folder, "user", "add", USER, "--password", PASSWORD)
    supysonic_cli(folder, "folder", "add", "music", str(music_dir))
    supysonic_cli(folder, "folder", "scan", "--foreground", "music")
    port = free_port()
    log = open(folder / "server.log", "wb")
    process = subprocess.Popen([server_cmd, "-S", "waitress", "-h", "127.0.0.1", "-p", str(port)], cwd=folder,
                               env={**os.environ, "HOME": str(folder)}, stdout=log, stderr=subprocess.STDOUT)
    server = SupysonicServer(process, f"http://127.0.0.1:{port}", folder, music_dir)
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{server.url}/rest/ping", timeout=5)
            return server
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_supysonic(server)
                text = (folder / "server.log").read_text(errors="replace")
                if "Couldn't load waitress" in text:
                    require_real(False, "python3-waitress is not installed (supysonic-server serves with it); apt-get install "
                            "it, as .ci/run does")
                raise RuntimeError(f"supysonic did not start: {text}")
            time.sleep(0.1)


def stop_supysonic(server: SupysonicServer) -> None:
    stop_process(server.process)


def served_library(base: Path) -> SupysonicServer:
    """A folder of tagged audio (ARTISTS × ALBUMS × TRACKS songs) indexed by `myna index` with the
    bundled model, one more file the library does not index, and supysonic serving it all."""
    for program in ("supysonic-cli", "supysonic-server"):  # before any work: a skip (or, in CI, a failure)
        require_program(program, "the Subsonic tests drive a real supysonic server")
    root = base / "music"
    for a in range(ARTISTS):
        for b in range(ALBUMS):
            for t in range(TRACKS):
                write_track(root / f"Artist {a}" / f"Album {a}-{b}" / f"{t + 1:02d} {title(a, b, t)}.flac",
                            a * 100 + b * 10 + t, 2.0, {"title": title(a, b, t), "artist": f"Artist {a}",
                                                       "album": f"Album {a}-{b}", "tracknumber": str(t + 1)})
    done = subprocess.run([sys.executable, "-m", "cli.app", "index", str(root), "--workers", "0"],
                          capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stdout + done.stderr
    write_track(root / "stray" / "not indexed.flac", 999, 2.0, {"title": "Stray", "artist": "Nobody"})
    return start_supysonic(base / "server", root)
