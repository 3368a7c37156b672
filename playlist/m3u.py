"""Read and write m3u / m3u8 playlists.

Reading accepts what players and taggers actually write: `#EXTM3U` headers and
`#EXTINF:duration key="value" ...,Artist - Title` lines (attributes are kept, and a comma
inside a quoted value does not end them), other `#` comments, blank lines, a UTF-8 BOM,
relative paths (resolved against the playlist's folder), absolute paths, `file://` URLs,
Windows separators, and legacy `.m3u` files in cp1252 / latin-1. Non-file URLs (http,
spotify...) are kept as entries without a local path, so callers can list them as skipped.

A line naming another .m3u/.m3u8 file is a nested playlist: its entries take its place,
in order, expanded the same way. A playlist that includes itself (directly or through
others) is a cycle, and one nested deeper than `MAX_DEPTH` is too deep: that line is
skipped with a warning, and everything else is kept. Only regular files are read (a FIFO,
device or socket would block or never end), and one read is bounded: at most
`MAX_BYTES` read and `MAX_ENTRIES` entries over all its nested playlists, and at most
`MAX_NESTED_READS` nested files (playlists that include each other twice would otherwise
grow exponentially). Past a bound the read is refused with a `PlaylistError`.

Writing always produces UTF-8 `#EXTM3U` with one `#EXTINF` per track (with its
attributes), paths relative to the output file's folder unless asked for absolute ones,
replaced atomically. Every entry is exactly two lines: display text is flattened to one
printable line, and a path that a plain line cannot carry (a line break or other control
character, a leading `#` or `~`, edge spaces, a backslash, not UTF-8) is written as a
percent-encoded `file://` URL, which reading turns back into the same path.
"""

from __future__ import annotations

import errno
import math
import os
import re
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from urllib.parse import unquote_to_bytes, urlsplit

from myna_rpe.errors import PlaylistError
from myna_rpe.fileio import atomic_write_bytes, expand_user

_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_ON_WINDOWS = sys.platform.startswith("win")


@dataclass(frozen=True)
class PlaylistEntry:
    """One track line of a playlist.

    location: the line as written. path: the local file it names (absolute, not required
    to exist), or None when it is not a local path (then `note` says why).
    line: 1-based line number in the file it came from (None for entries built in code).
    foreign: a local path written on another system (a Windows drive or share), which
    cannot be opened here but may still name a library file by its path tail.
    attributes: the #EXTINF's key="value" pairs (e.g. tvg-logo, group-title), in order.
    source: the nested playlist the entry came from (None: the playlist that was read).
    """

    location: str
    path: Path | None
    line: int | None = None
    duration: float | None = None
    artist: str | None = None
    title: str | None = None
    note: str | None = None
    foreign: bool = False
    attributes: tuple[tuple[str, str], ...] = ()
    source: Path | None = None

    @classmethod
    def of_track(cls, track) -> PlaylistEntry:
        """The entry naming a library track (anything with path, duration, artist and title)."""
        return cls(location=str(track.path), path=Path(track.path), duration=track.duration, artist=track.artist,
                   title=track.title or None)

    @property
    def name(self) -> str:
        """The file name, also for Windows paths that cannot be resolved here."""
        return self.path.name if self.path is not None else PureWindowsPath(self.location).name


@dataclass(frozen=True)
class LineWarning:
    """A line that was read but ignored (a malformed #EXTINF); the entries around it are kept."""

    line: int
    text: str
    reason: str
    source: Path | None = None  # the nested playlist holding the line (None: the one read)


@dataclass(frozen=True)
class M3U:
    entries: list[PlaylistEntry]
    warnings: list[LineWarning]
    nested: list[Path] = field(default_factory=list)  # the nested playlists read (resolved): inputs too


def read_m3u(path: str | Path) -> list[PlaylistEntry]:
    """The entries of an m3u/m3u8 file, in order (see `read_playlist`)."""
    return read_playlist(path).entries


NESTED_SUFFIXES = (".m3u", ".m3u8")
MAX_DEPTH = 16
MAX_NESTED_READS = 1000
MAX_ENTRIES = 200_000
MAX_BYTES = 64 * 2**20


class PlaylistTooLarge(PlaylistError):
    """A read past one of the bounds of a whole `read_playlist` (not the fault of one nested file)."""


@dataclass
class _Budget:
    """What one `read_playlist` may still read, over the playlist and all its nested ones."""

    top: Path
    nested: list[Path] = field(default_factory=list)  # read so far (resolved)
    nested_reads: int = MAX_NESTED_READS
    bytes: int = MAX_BYTES

    def refuse(self, what: str) -> PlaylistTooLarge:
        return PlaylistTooLarge(f"{what}, over this playlist and the playlists it includes", self.top,
                             "split it, or check that its nested playlists do not include each other "
                             "over and over")


def read_playlist(path: str | Path) -> M3U:
    """Parse an m3u/m3u8 file, nested playlists expanded. An unreadable file (or one that is
    not a regular file) raises PlaylistError, as does a read past the bounds above; a nested
    playlist that cannot be read is a warning.

    A bad line never rejects the playlist: a path line that cannot name a local file
    (too long, NUL bytes, not UTF-8 in an .m3u8, a URL) becomes an entry without a path
    whose `note` says why, and a malformed `#EXTINF` is ignored with a `LineWarning`.
    """
    path = Path(path)
    entries: list[PlaylistEntry] = []
    warnings: list[LineWarning] = []
    budget = _Budget(path)
    _read_into(path, entries, warnings, chain=(), budget=budget)
    return M3U(entries, warnings, budget.nested)


def _read_regular(path: Path, budget: _Budget) -> bytes:
    """The bytes of `path` if it is a regular file within the budget. Anything else is refused
    before it is opened (opening a device can have effects of its own); the file is opened
    without blocking and checked again after opening (so one swapped for a FIFO in between is
    still refused)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode) and not os.path.isdir(path):
            raise PlaylistError("not a regular file (a named pipe, socket or device); it is never read", path,
                                "pass an .m3u or .m3u8 file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise PlaylistError("playlist not found", path, "check the path") from None
    except IsADirectoryError:
        raise PlaylistError("this is a folder, not a playlist", path, "pass an .m3u or .m3u8 file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PlaylistError("a symbolic link loop (the link leads back to itself)", path,
                                "point the link at a playlist file, or remove it") from None
        raise PlaylistError(f"cannot read playlist ({exc.strerror})", path, "check the file's permissions") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise PlaylistError("this is a folder, not a playlist", path, "pass an .m3u or .m3u8 file")
        raise PlaylistError("not a regular file (a named pipe, socket or device); it is never read", path,
                            "pass an .m3u or .m3u8 file")
    with os.fdopen(fd, "rb") as fh:
        try:
            raw = fh.read(budget.bytes + 1)
        except OSError as exc:
            raise PlaylistError(f"cannot read playlist ({exc.strerror})", path, "check the file") from None
    if len(raw) > budget.bytes:
        raise budget.refuse(f"more than {MAX_BYTES // 2**20} MiB of playlist text")
    budget.bytes -= len(raw)
    return raw


def _read_into(path: Path, entries: list[PlaylistEntry], warnings: list[LineWarning],
               chain: tuple[Path, ...], budget: _Budget) -> None:
    """Append the entries of `path`; `chain` is the nesting that led here (resolved paths:
    for cycles), empty for the playlist that was asked for."""
    source = path if chain else None
    raw = _read_regular(path, budget)
    here = path.resolve()  # the file was opened, so its path holds no link loop
    if chain:
        budget.nested.append(here)
    chain = (*chain, here)
    base = here.parent
    info: Extinf | None = None
    for number, (line, bad_utf8) in enumerate(_lines(raw, path), start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.upper().startswith("#EXTINF:"):
                info, problem = _parse_extinf(line)
                if problem:
                    warnings.append(LineWarning(number, line, f"#EXTINF ignored: {problem}", source))
            continue
        extinf, info = info or Extinf(), None
        if bad_utf8:
            location, local, note, foreign = line, None, "not valid UTF-8 (an .m3u8 must be UTF-8: re-save it, " \
                                                          "or rename it .m3u)", False
        else:
            location, local, note, foreign = _locate(line, base)
        if local is not None and local.suffix.lower() in NESTED_SUFFIXES and not local.is_dir():
            _nest(local, number, line, entries, warnings, chain, source, budget)
            continue
        if len(entries) >= MAX_ENTRIES:
            raise budget.refuse(f"more than {MAX_ENTRIES} entries")
        entries.append(PlaylistEntry(location=location, path=local, line=number, duration=extinf.duration,
                                     artist=extinf.artist, title=extinf.title, note=note, foreign=foreign,
                                     attributes=extinf.attributes, source=source))


def _nest(nested: Path, number: int, line: str, entries: list[PlaylistEntry], warnings: list[LineWarning],
          chain: tuple[Path, ...], source: Path | None, budget: _Budget) -> None:
    """Expand a nested playlist in place, or say in one warning why not. A bound of the whole
    read (`_Budget`) is not the nested file's fault: it refuses the read."""
    if nested in chain:
        loop = " -> ".join(p.name for p in (*chain[chain.index(nested):], nested))
        warnings.append(LineWarning(number, line, f"nested playlist skipped: it includes itself ({loop})", source))
        return
    if len(chain) > MAX_DEPTH:
        warnings.append(LineWarning(number, line, f"nested playlist skipped: nested more than {MAX_DEPTH} deep",
                                    source))
        return
    if budget.nested_reads == 0:
        raise budget.refuse(f"more than {MAX_NESTED_READS} nested playlists read")
    budget.nested_reads -= 1
    try:
        _read_into(nested, entries, warnings, chain, budget)
    except PlaylistTooLarge:
        raise
    except PlaylistError as exc:
        warnings.append(LineWarning(number, line, f"nested playlist skipped: {exc}", source))


def _lines(raw: bytes, path: Path) -> list[tuple[str, bool]]:
    """(text, not valid UTF-8) per line. An .m3u8 is UTF-8, so a bad byte spoils only its
    line; a legacy .m3u that is not UTF-8 is cp1252 (Windows players), else latin-1."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with its BOM (Windows Notepad)
        return [(line, False) for line in raw.decode("utf-16", errors="replace").splitlines()]
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return [(line, False) for line in raw.decode("utf-8").splitlines()]
    except UnicodeDecodeError:
        pass
    if path.suffix.lower() == ".m3u8":
        out = []
        for chunk in raw.splitlines():
            try:
                out.append((chunk.decode("utf-8"), False))
            except UnicodeDecodeError:
                out.append((chunk.decode("utf-8", errors="replace"), True))
        return out
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return [(line, False) for line in text.splitlines()]


_EXTINF_FORM = "write it as #EXTINF:seconds,Artist - Title"
_ATTRIBUTE = re.compile(r'\s*([^\s=",]+)=(?:"([^"]*)"|([^\s",]*))')


@dataclass(frozen=True)
class Extinf:
    duration: float | None = None
    artist: str | None = None
    title: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()


def _parse_extinf(line: str) -> tuple[Extinf | None, str | None]:
    """(the parsed line, None), or (None, what is wrong with the line).

    The form is `#EXTINF:duration[ key=value | key="value, with commas"]...,display`: the
    display text starts at the first comma that is not inside a quoted attribute value."""
    body = line[len("#EXTINF:"):]
    match = re.match(r"\s*([^\s,]*)", body)
    duration, pos = match.group(1), match.end()
    attributes = []
    while (attr := _ATTRIBUTE.match(body, pos)) is not None:
        value = attr.group(2) if attr.group(2) is not None else attr.group(3)
        attributes.append((attr.group(1), value))
        pos = attr.end()
    rest = body[pos:].lstrip()
    if not rest.startswith(","):
        if '"' in rest and rest.count('"') % 2:
            return None, f"an attribute's quoted value is not closed ({_EXTINF_FORM})"
        # Not the attribute form: fall back to everything up to the first comma.
        head, comma, _ = body.partition(",")
        if not comma:
            return None, f"no comma ({_EXTINF_FORM})"
        attributes, rest = [], body[len(head):]
    display = rest[1:].strip()
    try:
        seconds = float(duration) if duration else -1.0
    except ValueError:
        return None, f"duration {duration[:40]!r} is not a number ({_EXTINF_FORM})"
    if not math.isfinite(seconds):
        return None, f"duration {duration[:40]!r} is not a finite number ({_EXTINF_FORM})"
    artist, sep, title = display.partition(" - ")
    if not sep:
        artist, title = "", display
    return Extinf((seconds if seconds >= 0 else None), (artist.strip() or None), (title.strip() or None),
                  tuple(attributes)), None


_NAME_MAX = 255  # bytes per path component on every common file system


def _locate(line: str, base: Path) -> tuple[str, Path | None, str | None, bool]:
    """Turn a path line into (location, local absolute path or None, note, foreign)."""
    if any(ord(ch) < 32 and ch != "\t" or ch == "\x7f" for ch in line):
        return line, None, "control characters or NUL bytes in the line (a binary file?)", False
    match = _URL_SCHEME.match(line)
    if match:
        if match.group(1).lower() != "file":
            return line, None, f"{match.group(1)} URL, not a local file", False
        parts = urlsplit(line)
        if parts.netloc not in ("", "localhost"):
            return line, None, f"file URL on another host ({parts.netloc})", False
        # Percent-escapes are bytes of the file name: decode them as the file system does.
        line_path = os.fsdecode(unquote_to_bytes(parts.path))
        if re.match(r"^/[A-Za-z]:/", line_path):  # file:///C:/Music/x.mp3
            line_path = line_path[1:]
    else:
        line_path = line
    if _DRIVE.match(line_path) or line_path.startswith("\\\\"):
        if _ON_WINDOWS:
            return line, Path(line_path).resolve(), None, False
        return line, None, "Windows path (drive letter or share) cannot be opened on this system", True
    if not _ON_WINDOWS and not match:  # a file URL's backslash is %5C: part of the name
        line_path = line_path.replace("\\", "/")
    if any(len(os.fsencode(part)) > _NAME_MAX for part in Path(line_path).parts):
        return line, None, f"bad path: a name longer than {_NAME_MAX} bytes", False
    try:
        local_path = (base / expand_user(line_path)).resolve()
    except RuntimeError:  # Python 3.11-3.12 raise this for a symlink loop
        return line, None, "bad path: a symlink loop", False
    except (OSError, ValueError) as exc:
        return line, None, f"bad path ({exc})", False
    return line, local_path, None, False


def write_m3u8(path: str | Path, entries: Iterable[PlaylistEntry], absolute: bool = False) -> Path:
    """Write a UTF-8 `#EXTM3U` playlist atomically; returns the path written.

    Paths are written relative to the playlist's folder (forward slashes, so the file
    works on every system) unless `absolute` is set or the track is on another drive.
    Entries without a local path (URLs, foreign Windows paths) are kept as written. An
    `#EXTINF` line is written for an entry with a known duration, artist, title or attribute.
    """
    out = Path(path)
    folder = out.resolve().parent
    lines = ["#EXTM3U"]
    for entry in entries:
        known = entry.duration is not None and math.isfinite(entry.duration) and entry.duration >= 0
        seconds = int(round(entry.duration)) if known else -1
        display = " - ".join(x for x in (entry.artist, entry.title) if x) or entry.name.rsplit(".", 1)[0]
        attributes = "".join(f' {key}="{_one_line(value)}"' for key, value in entry.attributes
                             if '"' not in value and _ATTRIBUTE.fullmatch(f" {key}=x") and key.isprintable())
        if known or entry.artist or entry.title or attributes:  # nothing known: no #EXTINF made up
            lines.append(f"#EXTINF:{seconds}{attributes},{_one_line(display)}")
        if entry.path is None:
            lines.append(_one_line(entry.location))
        else:
            lines.append(_path_line(entry.path, folder, absolute))
    data = ("\n".join(lines) + "\n").encode("utf-8")
    try:
        atomic_write_bytes(out, data)
    except OSError as exc:
        raise PlaylistError(f"cannot write playlist ({exc.strerror})", out, "check the folder's permissions") from None
    return out


def _one_line(text: str) -> str:
    """One line of printable text: whitespace runs (line breaks too) become one space."""
    return " ".join("".join(ch for ch in text if ch.isprintable() or ch.isspace()).split())


def _path_line(track: Path, folder: Path, absolute: bool) -> str:
    """The line naming `track`: a relative or absolute path where a reader takes that line
    back as exactly this path, else the track's percent-encoded `file://` URL."""
    track = track.resolve()
    line = str(track)
    if not absolute:
        try:
            line = Path(os.path.relpath(track, folder)).as_posix()
        except ValueError:  # another drive on Windows: no relative path exists
            pass
    return line if _plain_path_line(line) else track.as_uri()


def _plain_path_line(line: str) -> bool:
    """Whether `_locate` reads `line` back as the same path (and nothing else, e.g. a comment)."""
    return (line.isprintable() and line == line.strip() and not line.startswith(("#", "~"))
            and _URL_SCHEME.match(line) is None and (_ON_WINDOWS or ("\\" not in line and not _DRIVE.match(line))))
