"""Read and write m3u / m3u8 playlists.

Reading accepts what players and taggers actually write: `#EXTM3U` headers and
`#EXTINF:duration,Artist - Title` lines (attributes between the duration and the comma
are ignored), other `#` comments, blank lines, a UTF-8 BOM, relative paths (resolved
against the playlist's folder), absolute paths, `file://` URLs, Windows separators,
and legacy `.m3u` files in cp1252 / latin-1. Non-file URLs (http, spotify...) are kept
as entries without a local path, so callers can list them as skipped.

Writing always produces UTF-8 `#EXTM3U` with one `#EXTINF` per track, paths relative
to the output file's folder unless asked for absolute ones, replaced atomically.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from urllib.parse import unquote, urlsplit

from myna_rpe.errors import PlaylistError
from myna_rpe.fileio import atomic_write_bytes

_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_ON_WINDOWS = sys.platform.startswith("win")


@dataclass(frozen=True)
class PlaylistEntry:
    """One track line of a playlist.

    location: the line as written. path: the local file it names (absolute, not required
    to exist), or None when it is not a local path (then `note` says why).
    line: 1-based line number in the file it came from (None for entries built in code).
    """

    location: str
    path: Path | None
    line: int | None = None
    duration: float | None = None
    artist: str | None = None
    title: str | None = None
    note: str | None = None

    @property
    def name(self) -> str:
        """The file name, also for Windows paths that cannot be resolved here."""
        return self.path.name if self.path is not None else PureWindowsPath(self.location).name


def read_m3u(path: str | Path) -> list[PlaylistEntry]:
    """Parse an m3u/m3u8 file into entries, in order. Raises PlaylistError on a bad line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PlaylistError("playlist not found", path, "check the path") from None
    except OSError as exc:
        raise PlaylistError(f"cannot read playlist ({exc.strerror})", path) from None
    text = _decode(raw, path)
    base = path.resolve().parent
    entries: list[PlaylistEntry] = []
    info: tuple[float | None, str | None, str | None] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if "\x00" in line:
            raise PlaylistError(f"line {number}: NUL byte in playlist line", path,
                                "the file is binary or UTF-16; save it as UTF-8 m3u8")
        if not line:
            continue
        if line.startswith("#"):
            if line.upper().startswith("#EXTINF:"):
                info = _parse_extinf(line, number, path)
            continue
        duration, artist, title = info or (None, None, None)
        location, local, note = _locate(line, base, number, path)
        entries.append(PlaylistEntry(location=location, path=local, line=number, duration=duration,
                                     artist=artist, title=title, note=note))
        info = None
    return entries


def _decode(raw: bytes, path: Path) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if path.suffix.lower() == ".m3u8":  # m3u8 means UTF-8: a bad byte is a bad line
            number = raw[:exc.start].count(b"\n") + 1
            raise PlaylistError(f"line {number}: not valid UTF-8", path,
                                "an .m3u8 playlist must be UTF-8; re-save it, or rename it .m3u") from None
    try:  # legacy .m3u: Windows players wrote cp1252; latin-1 decodes any byte
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _parse_extinf(line: str, number: int, path: Path) -> tuple[float | None, str | None, str | None]:
    body = line[len("#EXTINF:"):]
    head, comma, display = body.partition(",")
    if not comma:
        raise PlaylistError(f"line {number}: #EXTINF without a comma: {line!r}", path,
                            "write it as #EXTINF:seconds,Artist - Title")
    fields = head.split()
    try:
        seconds = float(fields[0]) if fields else -1.0
    except ValueError:
        raise PlaylistError(f"line {number}: #EXTINF duration {fields[0]!r} is not a number", path,
                            "write it as #EXTINF:seconds,Artist - Title") from None
    display = display.strip()
    artist, sep, title = display.partition(" - ")
    if not sep:
        artist, title = "", display
    return (seconds if seconds >= 0 else None), (artist.strip() or None), (title.strip() or None)


def _locate(line: str, base: Path, number: int, path: Path) -> tuple[str, Path | None, str | None]:
    """Turn a path line into (location, local absolute path or None, note)."""
    match = _URL_SCHEME.match(line)
    if match:
        if match.group(1).lower() != "file":
            return line, None, f"{match.group(1)} URL, not a local file"
        parts = urlsplit(line)
        if parts.netloc not in ("", "localhost"):
            return line, None, f"file URL on another host ({parts.netloc})"
        local = unquote(parts.path)
        if re.match(r"^/[A-Za-z]:/", local):  # file:///C:/Music/x.mp3
            local = local[1:]
        line_path = local
    else:
        line_path = line
    if _DRIVE.match(line_path) or line_path.startswith("\\\\"):
        if _ON_WINDOWS:
            return line, Path(line_path).resolve(), None
        return line, None, "Windows path (drive letter or share) cannot be opened on this system"
    if not _ON_WINDOWS:
        line_path = line_path.replace("\\", "/")
    try:
        local_path = (base / Path(line_path).expanduser()).resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise PlaylistError(f"line {number}: bad path {line!r} ({exc})", path) from None
    return line, local_path, None


def write_m3u8(path: str | Path, entries: Iterable[PlaylistEntry], absolute: bool = False) -> Path:
    """Write a UTF-8 `#EXTM3U` playlist atomically; returns the path written.

    Paths are written relative to the playlist's folder (forward slashes, so the file
    works on every system) unless `absolute` is set or the track is on another drive.
    Entries without a local path (URLs, foreign Windows paths) are kept as written.
    """
    out = Path(path)
    folder = out.resolve().parent
    lines = ["#EXTM3U"]
    for entry in entries:
        seconds = -1 if entry.duration is None else int(round(entry.duration))
        display = " - ".join(x for x in (entry.artist, entry.title) if x) or entry.name.rsplit(".", 1)[0]
        lines.append(f"#EXTINF:{seconds},{_one_line(display)}")
        if entry.path is None:
            lines.append(_one_line(entry.location))
        else:
            lines.append(_relative_or_absolute(entry.path, folder, absolute))
    data = ("\n".join(lines) + "\n").encode("utf-8")
    try:
        atomic_write_bytes(out, data)
    except OSError as exc:
        raise PlaylistError(f"cannot write playlist ({exc.strerror})", out, "check the folder's permissions") from None
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _relative_or_absolute(track: Path, folder: Path, absolute: bool) -> str:
    track = track.resolve()
    if absolute:
        return str(track)
    try:
        return Path(os.path.relpath(track, folder)).as_posix()
    except ValueError:  # another drive on Windows: no relative path exists
        return str(track)
