"""Server songs ↔ indexed tracks: which local file each song of a Subsonic server is.

A song names its file by `path`, relative to the server's music folder (some servers give
it absolute). A `PathMap` says where those files are on this machine: `LOCAL` (the server's
paths are relative to LOCAL) or `SERVER=LOCAL` (a leading SERVER part is replaced by LOCAL,
for servers that report absolute paths or whose folder is mounted elsewhere here). Without
one, paths are taken relative to the library's root. A song no map leads to an indexed track
is matched by its tags (`playlist.track_matching`: ISRC, else title and artist) with the
duration as the check: a same-named track whose length differs by more than the tolerance is
not linked.

The links are kept per server in the store folder (`.myna/subsonic/<host>-<hash>.json`): the
verbs and the proxy read them, `myna subsonic link` rewrites them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from myna_rpe.errors import LibraryError
from myna_rpe.fileio import atomic_write_text
from playlist.subsonic.client import Song
from playlist.track_matching import DEFAULT_DURATION_TOLERANCE, TrackMatcher

BY_PATH = "path"
LINKS_FOLDER = "subsonic"


@dataclass(frozen=True)
class PathMap:
    server: str  # the leading part of the server's paths to replace ("" for relative paths)
    local: Path

    @classmethod
    def parse(cls, text: str) -> PathMap:
        """'LOCAL' or 'SERVER=LOCAL' (split at the first '=')."""
        server, sep, local = text.partition("=")
        if not sep:
            server, local = "", text
        return cls(server.replace("\\", "/").rstrip("/"), Path(local).expanduser().absolute())

    def local_path(self, path: str) -> Path | None:
        path = path.replace("\\", "/")
        if self.server:
            if path != self.server and not path.startswith(self.server + "/"):
                return None
            path = path[len(self.server):]
        return self.local / path.lstrip("/")


@dataclass
class Links:
    """One server's links: song id → track id, and why the other songs are not linked."""

    server: str
    tracks: dict[str, int] = field(default_factory=dict)
    methods: Counter = field(default_factory=Counter)  # how many linked by path / isrc / artist+title
    unlinked: list[tuple[str, str, str]] = field(default_factory=list)  # (song id, label, reason)

    def track_of(self, song_id: str) -> int | None:
        return self.tracks.get(song_id)

    def songs_of(self) -> dict[int, str]:
        """track id → the first song id linked to it (a file the server lists twice is one track)."""
        out: dict[int, str] = {}
        for song_id, track_id in self.tracks.items():
            out.setdefault(track_id, song_id)
        return out

    def save(self, db_dir: Path) -> Path:
        data = {"server": self.server, "tracks": self.tracks, "methods": dict(self.methods),
                "unlinked": [list(u) for u in self.unlinked]}
        return atomic_write_text(links_path(db_dir, self.server), json.dumps(data, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, db_dir: Path, server: str) -> Links:
        path = links_path(db_dir, server)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(server=data["server"], tracks={str(k): int(v) for k, v in data["tracks"].items()},
                       methods=Counter(data.get("methods", {})),
                       unlinked=[tuple(u) for u in data.get("unlinked", [])])
        except FileNotFoundError:
            raise LibraryError(f"the library is not linked to the Subsonic server at {server} yet", path=db_dir,
                               fix=f"run `myna subsonic link --server {server}` first") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LibraryError(f"cannot read the links to {server} ({exc})", path=path,
                               fix="run `myna subsonic link` again to rewrite them") from None


def links_path(db_dir: Path, server: str) -> Path:
    host = re.sub(r"[^A-Za-z0-9.-]+", "_", urlsplit(server).netloc or "server")
    digest = hashlib.sha1(server.encode("utf-8")).hexdigest()[:10]
    return Path(db_dir) / LINKS_FOLDER / f"{host}-{digest}.json"


def link_songs(server: str, songs: Iterable[Song], store, embedded: set[int], maps: Sequence[PathMap],
               tolerance: float = DEFAULT_DURATION_TOLERANCE) -> Links:
    """Link every song to an indexed track with an embedding: by path through `maps`, else by tags."""
    links = Links(server=server)
    candidates = [t for t in store.tracks() if t.id in embedded]
    matcher = TrackMatcher(candidates, duration_tolerance=tolerance)
    for song in songs:
        track, reason = _by_path(song, store, embedded, maps)
        if track is not None:
            links.tracks[song.id] = track
            links.methods[BY_PATH] += 1
            continue
        match = matcher.match(song)
        if match.matched and (match.duration_delta is None or match.duration_delta <= tolerance):
            links.tracks[song.id] = match.candidate.id
            links.methods[match.method] += 1
        elif match.matched:
            links.unlinked.append((song.id, song.label, f"{reason}; same tags, but the duration differs by "
                                                        f"{match.duration_delta:.0f} s"))
        else:
            links.unlinked.append((song.id, song.label, f"{reason}; by tags: {match.reason}"))
    return links


def _by_path(song: Song, store, embedded: set[int], maps: Sequence[PathMap]) -> tuple[int | None, str]:
    """(track id, None) when a map leads to an indexed, embedded track; else (None, why not)."""
    if not song.path:
        return None, "the server gives no path"
    reason = f"no indexed file for {song.path!r}"
    for path_map in maps:
        local = path_map.local_path(song.path)
        if local is None:
            continue
        track = store.track_by_path(local)
        if track is not None and track.id in embedded:
            return track.id, ""
        if track is not None:
            reason = f"{local} is indexed but has no embedding yet (run `myna index`)"
    return None, reason
