"""Server songs whose files are not on this machine, embedded by streaming them
(`myna subsonic link --stream`).

Each song is fetched as the file the server has (`stream` with format=raw), embedded with the
library's model from a temporary file that is deleted at once, and only its vector and tags are
kept: per server and model, in the store folder (`subsonic/<host>-<hash>.streamed.npz`), saved
every SAVE_EVERY songs and when the run stops, so an interrupted run resumes where it stopped
and a song is never fetched twice. A pause between songs keeps the load on the server low.

In the verbs' and the proxy's catalog a streamed song is a track with an id from STREAMED_BASE
up (far above any store track id), recorded in the links like any other.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from myna_rpe.errors import MynaError
from myna_rpe.fileio import atomic_write
from playlist.library.store import l2_normalise
from playlist.subsonic.client import Song, SubsonicClient
from playlist.subsonic.links import Links, links_path

STREAMED_BASE = 1 << 40
SAVE_EVERY = 20
METHOD = "streaming"
_META = ("title", "artist", "album", "duration")


@dataclass
class Streamed:
    """One server's streamed songs for one model: song id → unit vector, and their tags."""

    server: str
    model_id: str
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    tags: dict[str, dict] = field(default_factory=dict)

    @staticmethod
    def path(db_dir: Path, server: str) -> Path:
        return links_path(db_dir, server).with_suffix(".streamed.npz")

    @classmethod
    def load(cls, db_dir: Path, server: str, model_id: str) -> Streamed:
        """The saved songs; none when there are none yet, or they were embedded by another model."""
        try:
            with np.load(cls.path(db_dir, server), allow_pickle=False) as data:
                head = json.loads(str(data["head"]))
                if head["model_id"] != model_id or head["server"] != server:
                    return cls(server, model_id)
                return cls(server, model_id, dict(zip(head["ids"], data["vectors"])), head["tags"])
        except (FileNotFoundError, OSError, ValueError, KeyError):
            return cls(server, model_id)  # a cache: when it cannot be read, songs are streamed again

    def save(self, db_dir: Path) -> None:
        ids = sorted(self.vectors)
        head = json.dumps({"server": self.server, "model_id": self.model_id, "ids": ids, "tags": self.tags})
        vectors = np.stack([self.vectors[i] for i in ids]).astype(np.float32) if ids else np.zeros((0, 0), np.float32)
        with atomic_write(self.path(db_dir, self.server)) as fh:
            np.savez(fh, head=np.array(head), vectors=vectors)

    def add(self, song: Song, vector: np.ndarray) -> None:
        self.vectors[song.id] = l2_normalise(np.asarray(vector, dtype=np.float32)[None, :])[0]
        self.tags[song.id] = {k: getattr(song, k) for k in _META}


def stream_songs(client: SubsonicClient, songs: Sequence[Song], streamed: Streamed, embedder, db_dir: Path,
                 pause: float = 0.5, done: Callable[[Song, str | None], None] = lambda song, error: None,
                 ) -> dict[str, str]:
    """Embed each song not streamed yet; song id → why it failed, for those that did."""
    failed: dict[str, str] = {}
    new = 0
    try:
        for song in songs:
            if song.id in streamed.vectors:
                done(song, None)
                continue
            try:
                streamed.add(song, embed_stream(client, song, embedder))
                new += 1
            except MynaError as exc:
                failed[song.id] = str(exc)
            done(song, failed.get(song.id))
            if new and new % SAVE_EVERY == 0:
                streamed.save(db_dir)
            time.sleep(pause)
    finally:
        streamed.save(db_dir)
    return failed


def embed_stream(client: SubsonicClient, song: Song, embedder) -> np.ndarray:
    suffix = "." + str(song.child.get("suffix") or "audio")
    with tempfile.NamedTemporaryFile(suffix=suffix, prefix="myna-stream-") as tmp:
        client.stream_to(song, tmp)
        tmp.flush()
        return embedder.embed_file(Path(tmp.name))


def add_streamed(links: Links, streamed: Streamed, failed: dict[str, str]) -> None:
    """Link the unlinked songs that were streamed; say why for those that failed."""
    still = []
    position = {song_id: k for k, song_id in enumerate(sorted(streamed.vectors))}
    for song_id, label, reason in links.unlinked:
        if song_id in position:
            links.tracks[song_id] = STREAMED_BASE + position[song_id]
            links.methods[METHOD] += 1
        else:
            still.append((song_id, label, f"{reason}; streamed, but {failed[song_id]}" if song_id in failed
                          else reason))
    links.unlinked = still


def streamed_rows(links: Links, streamed: Streamed) -> tuple[list[int], np.ndarray, list[dict]]:
    """(catalog ids, vectors, tags with the song id) of the linked streamed songs."""
    order = sorted(streamed.vectors)
    rows = [(t, s) for s, t in links.tracks.items() if t >= STREAMED_BASE and t - STREAMED_BASE < len(order)
            and order[t - STREAMED_BASE] == s]
    ids = [t for t, _ in rows]
    X = np.stack([streamed.vectors[s] for _, s in rows]) if rows else np.zeros((0, 0), np.float32)
    return ids, X, [{"id": s, **streamed.tags.get(s, {})} for _, s in rows]
