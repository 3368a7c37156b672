"""The Spotify bridge: bring a Spotify playlist onto the local library, and back.

`import_playlist` reads every item of a Spotify playlist, matches each to a local
track (`playlist.track_matching`), and writes the matched files as an m3u8, atomically and
only once matching is complete. `export_playlist` finds each track of a local
playlist on Spotify (ISRC search first, then title + artist, every hit verified by
the same matching rules) and creates a playlist for the signed-in user.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from myna_rpe.errors import PlaylistError, SpotifyError
from playlist.m3u import PlaylistEntry, write_m3u8
from playlist.spotify.client import CreatedPlaylist, RemoteTrack, SpotifyClient, parse_playlist_ref
from playlist.track_matching import (
    DEFAULT_DURATION_TOLERANCE,
    Match,
    TrackLike,
    TrackMatcher,
    normalise_isrc,
    primary_artist,
    strip_title_noise,
)
from playlist.library.store import LibraryStore
from playlist.library.tags import Tags, read_tags

Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class ImportRow:
    remote: RemoteTrack
    match: Match  # Match[local track]


@dataclass
class ImportReport:
    playlist_id: str
    name: str
    rows: list[ImportRow]
    out: Path | None = None

    @property
    def matched(self) -> list:
        return [r.match.candidate for r in self.rows if r.match.matched]

    @property
    def unplayable(self) -> list[int]:
        """1-based positions of the items Spotify greys out for this user."""
        return [i for i, r in enumerate(self.rows, 1) if r.remote.unplayable]


def unplayable_note(remote: RemoteTrack) -> str:
    return f"not playable on Spotify ({remote.restriction or 'no reason given'})"


def match_remote(matcher: TrackMatcher, remote: RemoteTrack) -> Match:
    """Match one Spotify playlist entry to the library; episodes and gaps never match.

    An item Spotify cannot play for this user (`is_playable: false`) is still matched:
    it is in the playlist, and the local file plays fine. Its reason says so, so the
    report can flag it."""
    if remote.kind == "episode":
        return Match(None, None, "podcast episode")
    if remote.kind == "unavailable":
        return Match(None, None, "no longer available on Spotify")
    match = matcher.match(remote)
    if remote.unplayable:
        match = replace(match, reason=f"{match.reason}; {unplayable_note(remote)}")
    return match


def import_playlist(
    client: SpotifyClient,
    ref: str,
    library: Sequence[TrackLike],
    *,
    tolerance: float = DEFAULT_DURATION_TOLERANCE,
    on_progress: Progress | None = None,
) -> ImportReport:
    """Read a Spotify playlist (URL, URI or id) and match every entry to `library`."""
    playlist_id = parse_playlist_ref(ref)
    name = client.playlist_name(playlist_id)
    remote = client.playlist_tracks(playlist_id, on_page=on_progress)
    matcher = TrackMatcher(library, tolerance)
    rows = [ImportRow(r, match_remote(matcher, r)) for r in remote]
    return ImportReport(playlist_id, name, rows)


def write_import(report: ImportReport, out: Path) -> Path:
    """Write the matched tracks of `report` to `out` as m3u8 (atomically); refuse an empty list."""
    tracks = report.matched
    if not tracks:
        raise PlaylistError(
            f"none of the {len(report.rows)} items of {report.name!r} matched a local track; nothing written",
            path=out,
            fix="index the folder that holds these songs (`myna index`), or check their tags",
        )
    entries = [PlaylistEntry.of_track(t) for t in tracks]
    report.out = write_m3u8(out, entries)
    return report.out


# ---------------------------------------------------------------- export


@dataclass(frozen=True)
class ExportRow:
    entry: PlaylistEntry  # the line of the local playlist
    track: TrackLike | None  # the metadata searched with, None when there was none
    source: str  # where that metadata came from: "library", "tags", "#EXTINF" or ""
    match: Match  # Match[RemoteTrack]


def describe_entry(entry: PlaylistEntry, store: LibraryStore | None) -> tuple[TrackLike | None, str]:
    """The best metadata for a playlist line: the library's record, the file's tags, or
    the playlist's own `#EXTINF` "Artist - Title"."""
    if entry.path is not None:
        if store is not None and (track := store.track_by_path(entry.path)) is not None:
            return track, "library"
        if entry.path.is_file():
            tags = read_tags(entry.path)
            if tags.title and tags.artist:
                return tags, "tags"
    if entry.title and entry.artist:
        return Tags(title=entry.title, artist=entry.artist, duration=entry.duration), "#EXTINF"
    return None, ""


@dataclass
class ExportReport:
    name: str
    rows: list[ExportRow]
    playlist: CreatedPlaylist | None = None
    added: int = 0
    searches: int = 0

    @property
    def found(self) -> list[RemoteTrack]:
        return [r.match.candidate for r in self.rows if r.match.matched]


def _quoted(text: str) -> str:
    # Double quotes delimit field filters in Spotify's query syntax.
    return " ".join(text.replace('"', " ").split())


def find_on_spotify(
    client: SpotifyClient, track: TrackLike, tolerance: float = DEFAULT_DURATION_TOLERANCE
) -> tuple[Match, int]:
    """The Spotify track for a local one, and the number of searches it took.

    ISRC search first (`isrc:CODE`); otherwise, or when that finds nothing with the
    same ISRC, a field search on the cleaned title and first artist, whose results
    must pass the same artist + title rules as import.
    """
    searches = 0
    code = normalise_isrc(track.isrc)
    if code:
        hits = client.search_tracks(f"isrc:{code}")
        searches += 1
        found = TrackMatcher(hits, tolerance).match(track)
        if found.method == "isrc":
            return found, searches
    artist = primary_artist(track.artist)
    if not track.title or not artist:
        return Match(None, None, "no title or artist tag to search with"), searches
    query = f'track:"{_quoted(strip_title_noise(track.title))}" artist:"{_quoted(artist)}"'
    hits = client.search_tracks(query)
    searches += 1
    if not hits:
        reason = "no search results" + (" (ISRC unknown to Spotify)" if code else "")
        return Match(None, None, reason), searches
    found = TrackMatcher(hits, tolerance).match(track)
    if not found.matched:
        results = "1 result" if len(hits) == 1 else f"{len(hits)} results"
        found = Match(None, None, f"{results}, none by this artist with this title")
    return found, searches


def export_playlist(
    client: SpotifyClient,
    entries: Sequence[PlaylistEntry],
    name: str,
    *,
    store: LibraryStore | None = None,
    public: bool = False,
    description: str = "",
    dry_run: bool = False,
    tolerance: float = DEFAULT_DURATION_TOLERANCE,
    on_progress: Progress | None = None,
) -> ExportReport:
    """Find each playlist entry on Spotify; unless `dry_run`, create `name` with the hits.

    Nothing is created when no entry is found. If adding fails after the playlist was
    created, the error says so and how many tracks made it.
    """
    report = ExportReport(name, [])
    seen: dict[tuple, Match] = {}
    for i, entry in enumerate(entries):
        track, source = describe_entry(entry, store)
        if track is None:
            match = Match(None, None, entry.note or "no title/artist: not indexed, no tags, no #EXTINF")
        else:
            key = (track.title, track.artist, track.isrc)
            if key not in seen:
                seen[key], n = find_on_spotify(client, track, tolerance)
                report.searches += n
            match = seen[key]
        report.rows.append(ExportRow(entry, track, source, match))
        if on_progress:
            on_progress(i + 1, len(entries))
    uris = [t.uri for t in report.found if t.uri]
    if dry_run or not uris:
        return report
    report.playlist = client.create_playlist(name, public=public, description=description)

    def count(done: int) -> None:
        report.added = done

    try:
        client.add_items(report.playlist.id, uris, on_batch=count)
    except SpotifyError as exc:
        raise SpotifyError(
            f"{exc} — playlist {name!r} ({report.playlist.uri}) was created but holds only "
            f"{report.added} of {len(uris)} tracks"
        ) from None
    return report
