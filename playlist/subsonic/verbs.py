"""The playlist verbs on a Subsonic server: read its playlists and songs, run the geometry
(`playlist.geometry`) on the linked tracks, and write the result as a new server playlist.

The verbs search only the tracks the server has (the linked ones), so every pick can be
written back. A result goes to a playlist with a clear name ("Calm (extended by Myna)") whose
comment starts with `MADE_BY`; running the verb again replaces that playlist's songs. A
playlist of the same name that Myna did not make is never touched unless `replace` is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from playlist.geometry.catalog import ArrayCatalog, TrackMeta
from playlist.geometry.extend import extend
from playlist.library.track_vectors import encoder_part, stats_dim
from playlist.geometry.fill import fill
from playlist.geometry.hull import HullTolerance
from playlist.geometry.region import Outcome
from playlist.geometry.selection import SelectionRules
from playlist.geometry.transition import transition
from playlist.subsonic.client import Song, SubsonicClient, SubsonicError
from playlist.subsonic.links import Links
from playlist.subsonic.streamed import STREAMED_BASE, Streamed, streamed_rows
from playlist.track_matching import fold

MADE_BY = "Made by Myna"


def linked_catalog(library, links: Links) -> ArrayCatalog:
    """The library's embedded tracks that the server has, and the songs streamed from it, as a
    catalog of their own."""
    store = library.store
    local = sorted({t for t in links.tracks.values() if t < STREAMED_BASE} & store.embedded_ids())
    streamed_ids, streamed_X, tags = streamed_rows(links, Streamed.load(store.db_dir, links.server, store.model_id))
    if not local and not streamed_ids:
        raise SubsonicError(f"no song of the Subsonic server at {links.server} is linked to an indexed track",
                            fix="run `myna subsonic link` (with --prefix where the server's files are here, or "
                                "--stream)")
    got, raw = store.embeddings(local)
    X = library.to_space(raw) if len(got) else raw
    streamed_raw = streamed_X
    if len(streamed_ids):
        streamed_X = library.to_space(streamed_X)
    tracks = store.tracks_by_id(got)
    meta = [TrackMeta(id=t.id, path=t.path, title=t.title, artist=t.artist, album=t.album, duration=t.duration)
            for t in (tracks[int(i)] for i in got)]
    meta += [TrackMeta(id=i, path=Path("subsonic") / tag["id"], title=tag.get("title"), artist=tag.get("artist"),
                       album=tag.get("album"), duration=tag.get("duration")) for i, tag in zip(streamed_ids, tags)]
    def both(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.vstack([a, b]) if len(streamed_ids) and len(got) else (a if len(got) else b)

    def recording(rows: np.ndarray) -> np.ndarray:  # the encoder's part: what tells recordings apart
        return encoder_part(rows, stats_dim(store.model_config)) if len(rows) else rows

    return ArrayCatalog(np.array([*got, *streamed_ids], dtype=np.int64), both(X, streamed_X), meta,
                        recording=both(recording(raw), recording(streamed_raw)))


@dataclass
class Written:
    """What a verb did: the geometry's outcome, what it started from (a name, how many linked
    tracks), the playlist it wrote (or would write), and the source songs not linked (left out)."""

    outcome: Outcome
    source: str
    seeds: int
    name: str
    song_ids: list[str]
    playlist_id: str | None = None
    replaced: bool = False
    left_out: list[Song] = field(default_factory=list)


class ServerSession:
    """One signed-in server, the opened library and the links joining them."""

    def __init__(self, client: SubsonicClient, library, links: Links) -> None:
        self.client = client
        self.library = library
        self.links = links
        self.catalog = linked_catalog(library, links)
        self.linked = set(int(i) for i in self.catalog.all_ids())  # the tracks the verbs can use
        self._song_of = links.songs_of()

    # Reading the server ------------------------------------------------------------------

    def find_playlist(self, ref: str) -> dict:
        """A server playlist by id or by exact name."""
        playlists = self.client.playlists()
        by_id = [p for p in playlists if str(p.get("id")) == ref]
        named = by_id or [p for p in playlists if p.get("name") == ref]
        if not named:
            raise SubsonicError(f"the Subsonic server at {self.client.base} has no playlist '{ref}'",
                                fix="give a playlist's name or id as the server lists them")
        if len(named) > 1:
            ids = ", ".join(str(p.get("id")) for p in named)
            raise SubsonicError(f"{len(named)} playlists on {self.client.base} are named '{ref}' (ids {ids})",
                                fix="give the id of the one you mean")
        return named[0]

    def playlist_tracks(self, ref: str) -> tuple[dict, list[Song], list[int], list[Song]]:
        """(the playlist, its songs, its linked track ids in order without repeats, its songs left out)."""
        found = self.find_playlist(ref)
        _, songs = self.client.playlist(str(found["id"]))
        ids, left_out = self._tracks(songs)
        if not songs:
            raise SubsonicError(f"the playlist '{found.get('name')}' on {self.client.base} has no songs",
                                fix="add songs to it, or give another playlist")
        if not ids:
            raise SubsonicError(f"none of the {len(songs)} songs of the playlist '{found.get('name')}' are linked "
                                "to indexed tracks", fix="run `myna subsonic link`, or index the folder they are in")
        return found, songs, ids, left_out

    def _tracks(self, songs: Sequence[Song]) -> tuple[list[int], list[Song]]:
        ids: list[int] = []
        left_out: list[Song] = []
        for song in songs:
            track = self.links.track_of(song.id)
            if track is None or track not in self.linked:
                left_out.append(song)
            elif track not in ids:
                ids.append(track)
        return ids, left_out

    def find_song(self, ref: str) -> Song:
        """A linked song by id, or by 'artist - title' / title through the server's search."""
        if ref in self.links.tracks:
            song = self.client.song(ref)
        else:
            wanted = fold(ref)
            hits = [s for s in self.client.search_songs(ref.split(" - ", 1)[-1], count=50)
                    if s.id in self.links.tracks and wanted in (fold(s.label), fold(s.title or ""))]
            if len(hits) != 1:
                raise SubsonicError(f"{len(hits)} linked songs on {self.client.base} are '{ref}'",
                                    fix="give the song's id, or its exact 'artist - title'")
            song = hits[0]
        if self.links.track_of(song.id) not in self.linked:  # linked before `myna index` removed its track
            raise SubsonicError(f"the song '{song.label}' is linked to a track the library no longer has",
                                fix="run `myna subsonic link` again to bring the links up to date")
        return song

    # The verbs -----------------------------------------------------------------------------

    def extend(self, ref: str, n: int, strategy: str = "hull", rules: SelectionRules | None = None,
               tolerance: HullTolerance | None = None, seed: int = 0, name: str | None = None) -> Written:
        """The playlist and N songs that continue its hull."""
        found, songs, ids, left_out = self.playlist_tracks(ref)
        outcome = extend(self.catalog, ids, n, strategy=strategy, rules=rules, tolerance=tolerance, seed=seed)
        return Written(outcome, str(found.get("name")), len(ids), name or f"{found.get('name')} (extended by Myna)",
                       [s.id for s in songs] + self._songs(outcome), left_out=left_out)

    def mix(self, ref: str, n: int, rules: SelectionRules | None = None, seed: int = 0,
            name: str | None = None) -> Written:
        """An instant mix: the song and the N tracks nearest it."""
        song = self.find_song(ref)
        outcome = extend(self.catalog, [self.links.tracks[song.id]], n, rules=rules, seed=seed)
        return Written(outcome, song.label, 1, name or f"Myna mix: {song.label}", [song.id] + self._songs(outcome))

    def transition(self, a: str, b: str, n: int, smoothness: float = 1.0, rules: SelectionRules | None = None,
                   full: bool = False, name: str | None = None) -> Written:
        """A bridge of N songs from playlist A's hull to B's (with `full`: A, the bridge, B)."""
        found_a, _, ids_a, left_a = self.playlist_tracks(a)
        found_b, _, ids_b, left_b = self.playlist_tracks(b)
        outcome = transition(self.catalog, ids_a, ids_b, n, smoothness=smoothness, rules=rules)
        bridge = self._songs(outcome)
        if full:
            bridge = ([self._song_of[i] for i in ids_a if i in self._song_of] + bridge
                      + [self._song_of[i] for i in ids_b if i in self._song_of])
        return Written(outcome, str(found_a.get("name")), len(ids_a),
                       name or f"{found_a.get('name')} → {found_b.get('name')} (Myna)", bridge,
                       left_out=left_a + left_b)

    def fill(self, ref: str, n: int, max_distance: float = 1.0, rules: SelectionRules | None = None,
             seed: int = 0, name: str | None = None) -> Written:
        """N songs covering the playlist's hull."""
        found, _, ids, left_out = self.playlist_tracks(ref)
        outcome = fill(self.catalog, ids, n, max_distance=max_distance, rules=rules, seed=seed)
        return Written(outcome, str(found.get("name")), len(ids), name or f"{found.get('name')} (filled by Myna)",
                       self._songs(outcome),
                       left_out=left_out)

    def fingerprint(self, n: int, albums: int = 5, max_distance: float = 1.0, rules: SelectionRules | None = None,
                    seed: int = 0, name: str | None = None) -> Written:
        """N songs covering the hull of what the user plays most and stars."""
        ids, left_out = self._tracks(self.fingerprint_songs(albums))
        if not ids:
            raise SubsonicError(f"the user {self.client.credentials.user!r} has no played or starred song on "
                                f"{self.client.base} that is linked to an indexed track",
                                fix="star a few songs or play some, then run it again")
        outcome = fill(self.catalog, ids, n, max_distance=max_distance, rules=rules, seed=seed)
        return Written(outcome, "most played and starred", len(ids), name or "Myna fingerprint", self._songs(outcome),
                       left_out=left_out)

    def fingerprint_songs(self, albums: int) -> list[Song]:
        """The songs of the user's `albums` most played albums (those with plays, where the server
        counts them per album or song) and the user's starred songs."""
        songs: list[Song] = []
        for album in self.client.frequent_albums(albums):
            if album.get("playCount") == 0:
                continue
            tracks = self.client.album(str(album["id"]))
            played = [s for s in tracks if s.child.get("playCount", 1) > 0]
            songs += played
        return songs + self.client.starred_songs()

    def _songs(self, outcome: Outcome) -> list[str]:
        return [self._song_of[p.id] for p in outcome.picks]

    # Writing -------------------------------------------------------------------------------

    def target(self, written: Written, replace: bool = False) -> str | None:
        """The id of the playlist `write` would replace (None: it would create one). Refuses
        a playlist of that name that Myna did not make, unless `replace`; a verb that picked
        nothing, so that the server is never given an empty or unchanged playlist."""
        if not written.outcome.picks:
            raise SubsonicError(f"no song was picked: no linked song outside '{written.source}' fits",
                                fix="link or index more music (`myna subsonic link`, `myna index`), or relax "
                                    "--max-per-artist / --max-per-album; the server was not changed")
        same = [p for p in self.client.playlists() if p.get("name") == written.name
                and p.get("owner") in (None, self.client.credentials.user)]
        if not same:
            return None
        info, _ = self.client.playlist(str(same[0]["id"]))
        if not str(info.get("comment") or "").startswith(MADE_BY) and not replace:
            raise SubsonicError(f"the server already has a playlist named '{written.name}' that Myna did not "
                                "make", fix="choose another --name, or pass --replace to overwrite it")
        return str(same[0]["id"])

    def write(self, written: Written, what: str, replace: bool = False) -> Written:
        """Create the playlist, or replace the songs of the one of that name Myna made (or, with
        `replace`, of any of the user's playlists of that name)."""
        target = self.target(written, replace)
        if target is not None:
            self.client.replace_playlist(target, written.song_ids)
            written.playlist_id, written.replaced = target, True
        else:
            written.playlist_id = self.client.create_playlist(written.name, written.song_ids)
        try:
            self.client.set_comment(written.playlist_id, f"{MADE_BY}: {what}")
        except SubsonicError as exc:
            if target is None:  # unmarked, a new playlist would be refused as the user's: take it back
                try:
                    self.client.delete_playlist(written.playlist_id)
                except SubsonicError:
                    raise SubsonicError(f"{exc}; the playlist '{written.name}' (id {written.playlist_id}) was made "
                                        "but not marked as Myna's", fix="run again with --replace, or delete it "
                                        "on the server") from None
            raise
        return written
