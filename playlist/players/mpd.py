"""MPD's queue as a playlist: map its songs to indexed tracks, extend it, keep it ahead, bridge it.

MPD names a song by its URI relative to its `music_directory`; the store names a track by
its path relative to the library root. The two folders need not be the same: a URI is
looked up as MUSIC_DIR/URI by absolute path (so a library inside MPD's music folder, or
around it, works), and a chosen track is queued by its path relative to MUSIC_DIR (a track
outside that folder cannot be queued over TCP, and is counted as refused).

The verbs are the playlist verbs (`playlist.geometry.extend`, `playlist.geometry.transition`) run on the
queue's tracks; every track already in the queue (or queued earlier by the radio) is
hidden from their searches, so nothing is queued twice.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from mpd import CommandError, ConnectionError as MpdConnectionError, MPDClient, ProtocolError

from myna_rpe.errors import MynaError
from myna_rpe.fileio import expand_user
from playlist.geometry.catalog import Catalog, LibraryCatalog, TrackMeta
from playlist.geometry.extend import extend
from playlist.geometry.hull import HullTolerance
from playlist.geometry.region import Outcome
from playlist.geometry.selection import SelectionRules
from playlist.track_matching import fold
from playlist.geometry.transition import transition

DEFAULT_PORT = 6600
# Where MPD looks for its configuration, in its own order (mpd(1)).
CONFIG_FILES = ("$XDG_CONFIG_HOME/mpd/mpd.conf", "~/.config/mpd/mpd.conf", "~/.mpdconf", "~/.mpd/mpd.conf",
                "/etc/mpd.conf")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class MpdError(MynaError):
    """MPD cannot be reached, refuses a command, or its queue has nothing the library knows."""


@dataclass(frozen=True)
class MpdAddress:
    host: str = "localhost"
    port: int = DEFAULT_PORT
    password: str | None = None

    @classmethod
    def resolve(cls, host: str | None = None, port: int | None = None, password: str | None = None,
                env: dict[str, str] | None = None) -> MpdAddress:
        """Flags first, then MPD_HOST (`[password@]host`, a socket path allowed) and MPD_PORT,
        as mpc and other MPD clients read them."""
        env = os.environ if env is None else env
        env_host = env.get("MPD_HOST") or ""
        env_password = None
        # "password@host"; a leading "@" is an abstract socket, not an empty password.
        if "@" in env_host[1:]:
            env_password, env_host = env_host.rsplit("@", 1)
        env_port = env.get("MPD_PORT")
        if port is None and env_port:
            try:
                port = int(env_port)
            except ValueError:
                raise MpdError(f"MPD_PORT={env_port!r} is not a port number",
                               fix="set MPD_PORT to a number such as 6600, or pass --port") from None
        return cls(host=host or env_host or "localhost", port=port or DEFAULT_PORT,
                   password=password if password is not None else env_password)

    @property
    def local(self) -> bool:
        return self.host in _LOCAL_HOSTS or self.host.startswith(("/", "@"))

    def __str__(self) -> str:
        return self.host if self.host.startswith(("/", "@")) else f"{self.host}:{self.port}"


@contextmanager
def mpd_errors(address: MpdAddress) -> Iterator[None]:
    """Turn the client's failures into one-line `MpdError`s naming the server and the fix."""
    try:
        yield
    except CommandError as exc:
        text = str(exc)
        if "incorrect password" in text:
            raise MpdError(f"MPD at {address} refused the password", fix="check --password, or the "
                           "password part of MPD_HOST (password@host)") from None
        if "permission" in text:
            raise MpdError(f"MPD at {address} refused a command: {_ack_message(text)}",
                           fix="give the password with --password or MPD_HOST=password@host") from None
        raise MpdError(f"MPD at {address} refused a command: {_ack_message(text)}") from None
    except (ProtocolError, UnicodeDecodeError) as exc:  # another server on that port (HTTP, SSH...)
        raise MpdError(f"what answers at {address} is not MPD ({str(exc)[:80]})",
                       fix="point --host/--port (or MPD_HOST/MPD_PORT) at MPD (its port is 6600 unless "
                           "mpd.conf says otherwise)") from None
    except (MpdConnectionError, OSError) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise MpdError(f"cannot talk to MPD at {address} ({why})",
                       fix="start mpd, or point --host/--port (or MPD_HOST/MPD_PORT) at it") from None


def _ack_message(text: str) -> str:
    """'[4@0] {add} you don't have permission' -> 'add: you don't have permission'."""
    m = re.match(r"\[\d+@\d+\] \{(\w*)\} (.*)", text)
    return f"{m.group(1)}: {m.group(2)}" if m else text


def connect(address: MpdAddress, need: Sequence[str] = ("add",), timeout: float = 10.0) -> MPDClient:
    """A connected (and, with a password, authenticated) client allowed the commands `need`:
    checked now, so a missing password fails before any work rather than at the first add."""
    client = MPDClient()
    client.timeout = timeout
    with mpd_errors(address):
        client.connect(address.host, address.port)
        if address.password:
            client.password(address.password)
        allowed = set(client.commands())
    missing = [c for c in need if c not in allowed]
    if missing:
        client.disconnect()
        raise MpdError(f"MPD at {address} does not allow {', '.join(missing)!s} without a password"
                       if not address.password else f"MPD at {address} does not allow {', '.join(missing)} "
                       "with this password", fix="give the password with --password or MPD_HOST=password@host")
    return client


def music_directory(client: MPDClient, address: MpdAddress, given: Path | None = None,
                    config_file: Path | None = None) -> tuple[Path, str]:
    """(MPD's music folder, where that came from): `given`; else MPD itself (it tells clients
    on a local socket); else the `music_directory` of its config file, for a local MPD."""
    if given is not None:
        return expand_user(given).absolute(), "--music-dir"
    try:
        folder = client.config()
        if isinstance(folder, dict):
            folder = folder.get("music_directory")
        if folder:
            return Path(folder), "MPD"
    except CommandError:  # only answered on local socket connections
        pass
    candidates = [config_file] if config_file is not None else (
        [Path(os.path.expandvars(os.path.expanduser(p))) for p in CONFIG_FILES] if address.local else [])
    for conf in candidates:
        folder = config_music_directory(conf)
        if folder is not None:
            return folder, str(conf)
    if config_file is not None:
        raise MpdError("no music_directory line in this MPD config", config_file,
                       "pass --music-dir MPD_MUSIC_FOLDER")
    raise MpdError(f"cannot tell MPD's music folder (MPD at {address} does not say over TCP, and no MPD config "
                   "file here names it)", fix="pass --music-dir MPD_MUSIC_FOLDER (its music_directory)")


def config_music_directory(conf: Path) -> Path | None:
    """The `music_directory "..."` of an mpd.conf, or None if the file or the line is missing."""
    try:
        text = conf.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        m = re.match(r'\s*music_directory\s+"((?:[^"\\]|\\.)*)"', line)
        if m:
            return Path(os.path.expanduser(m.group(1).replace('\\"', '"').replace("\\\\", "\\")))
    return None


@dataclass
class Queue:
    """MPD's queue as the library sees it."""

    uris: list[str]
    current: int | None          # position of the current song, None when there is none
    ids: list[int] = field(default_factory=list)       # indexed tracks, queue order, first occurrence
    unmatched: list[str] = field(default_factory=list)  # URIs the index does not know (or streams)

    @property
    def ahead(self) -> int:
        """Songs queued after the current one (the whole queue when nothing is current)."""
        return len(self.uris) - (self.current + 1 if self.current is not None else 0)


def read_queue(client: MPDClient) -> Queue:
    songs = client.playlistinfo()
    status = client.status()
    current = int(status["song"]) if "song" in status else None
    return Queue(uris=[s["file"] for s in songs], current=current)


def uri_path(uri: str, music_dir: Path) -> Path | None:
    """The local file a queue URI names, or None for a stream."""
    if "://" in uri:
        return Path(uri[len("file://"):]) if uri.startswith("file://") else None
    return music_dir / uri


def match_queue(queue: Queue, store, embedded: set[int], music_dir: Path) -> Queue:
    """Fill in which queued songs are indexed tracks with an embedding."""
    queue.ids, queue.unmatched = [], []
    for uri in queue.uris:
        path = uri_path(uri, music_dir)
        track = store.track_by_path(path) if path is not None else None
        if track is None or track.id not in embedded:
            queue.unmatched.append(uri)
        elif track.id not in queue.ids:
            queue.ids.append(track.id)
    return queue


def uri_of(path: Path, music_dir: Path, links: Sequence[tuple[str, Path]] = ()) -> str | None:
    """The URI MPD knows a file by, or None when the file is outside its music folder. `links`
    (`linked_folders`): folders of the music folder that are symbolic links, by which MPD
    reaches files kept elsewhere (it follows links inside its music folder)."""
    real = path.resolve()
    if real.is_relative_to(music_dir.resolve()):
        return real.relative_to(music_dir.resolve()).as_posix()
    for uri_prefix, target in links:
        if real.is_relative_to(target):
            return (PurePosixPath(uri_prefix) / real.relative_to(target).as_posix()).as_posix()
    return None


def linked_folders(music_dir: Path, depth: int = 2) -> list[tuple[str, Path]]:
    """(URI prefix, resolved target) of each folder link in the top `depth` levels of the music
    folder (where people link their collections in), deepest target first."""
    found: list[tuple[str, Path]] = []
    level = [music_dir]
    for _ in range(depth):
        below = []
        for folder in level:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                try:
                    if not entry.is_dir():
                        continue
                    if entry.is_symlink():
                        found.append((Path(entry.path).relative_to(music_dir).as_posix(), Path(entry.path).resolve()))
                    else:
                        below.append(Path(entry.path))
                except OSError:
                    continue
        level = below
    return sorted(found, key=lambda link: len(link[1].parts), reverse=True)


class HidingCatalog:
    """A catalog whose searches never return `hidden` ids: the queue's tracks that are not the
    playlist the verb works on, so the verbs never queue them again."""

    def __init__(self, catalog: Catalog, hidden: set[int]) -> None:
        self.catalog = catalog
        self.hidden = {int(i) for i in hidden}
        self.dim = catalog.dim

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self.catalog.search(queries, k + len(self.hidden))
        k = min(k, ids.shape[1])
        out_s = np.full((len(ids), k), -np.inf, dtype=scores.dtype)
        out_i = np.full((len(ids), k), -1, dtype=ids.dtype)
        for r in range(len(ids)):
            keep = [c for c in range(ids.shape[1]) if int(ids[r, c]) not in self.hidden][:k]
            out_s[r, :len(keep)], out_i[r, :len(keep)] = scores[r, keep], ids[r, keep]
        return out_s, out_i

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        return self.catalog.vectors(ids)

    def recording_vectors(self, ids: Sequence[int]) -> np.ndarray:
        return self.catalog.recording_vectors(ids)

    def meta(self, ids: Sequence[int]) -> dict[int, TrackMeta]:
        return self.catalog.meta(ids)

    def all_ids(self) -> np.ndarray:
        return np.array([i for i in self.catalog.all_ids() if int(i) not in self.hidden], dtype=np.int64)


@dataclass
class QueueResult:
    """What a verb did to the queue: the verb's outcome, the tracks MPD accepted (ids, in
    queue order), and why the others were not queued (by reason)."""

    outcome: Outcome
    queue: Queue
    queued: list[int] = field(default_factory=list)
    not_queued: Counter = field(default_factory=Counter)
    failed_ids: set[int] = field(default_factory=set)


NOT_IN_MPD = "not in MPD's database (run `mpc update`)"
OUTSIDE_MUSIC_DIR = "outside MPD's music folder"


class QueueSession:
    """One MPD server and one opened library, with the music folder that joins them."""

    def __init__(self, client: MPDClient, address: MpdAddress, library, music_dir: Path) -> None:
        self.client = client
        self.address = address
        self.library = library
        self.catalog = LibraryCatalog(library)
        self.music_dir = music_dir
        self._links = linked_folders(music_dir)
        self._embedded = library.store.embedded_ids()
        self._groups: dict[str, dict[int, str]] = {}  # "artist"/"album" -> track id -> folded name

    def queue(self) -> Queue:
        with mpd_errors(self.address):
            queue = read_queue(self.client)
        return match_queue(queue, self.library.store, self._embedded, self.music_dir)

    def _seeds(self, queue: Queue, window: int) -> list[int]:
        if not queue.uris:
            raise MpdError(f"MPD's queue at {self.address} is empty", fix="add a few songs to it first (e.g. "
                           "`mpc add Artist/Album`)")
        if not queue.ids:
            raise MpdError(f"none of the {len(queue.uris)} queued songs are indexed tracks (looked for them "
                           f"under {self.music_dir})", fix="index that folder with `myna index`, or pass "
                           "--music-dir with MPD's music_directory")
        return queue.ids[-window:] if window else queue.ids

    def _add(self, tracks: Sequence[TrackMeta], result: QueueResult) -> None:
        with mpd_errors(self.address):
            for track in tracks:
                uri = uri_of(track.path, self.music_dir, self._links)
                if uri is None:
                    result.not_queued[OUTSIDE_MUSIC_DIR] += 1
                    result.failed_ids.add(track.id)
                    continue
                try:
                    self.client.add(uri)
                except CommandError as exc:
                    if "permission" in str(exc):
                        raise
                    result.not_queued[NOT_IN_MPD] += 1
                    result.failed_ids.add(track.id)
                    continue
                result.queued.append(track.id)

    def extend(self, n: int, window: int = 0, strategy: str = "hull", rules: SelectionRules | None = None,
               tolerance: HullTolerance | None = None, seed: int = 0, hide: set[int] = frozenset()) -> QueueResult:
        """Append up to `n` tracks that continue the hull of the queue (its last `window`
        indexed tracks; 0 = all of them)."""
        queue = self.queue()
        seeds = self._seeds(queue, window)
        hidden = (set(queue.ids) | set(hide)) - set(seeds)
        outcome = extend(HidingCatalog(self.catalog, hidden), seeds, n, strategy=strategy, rules=rules,
                         tolerance=tolerance, seed=seed)
        result = QueueResult(outcome, queue)
        self._add([p.track for p in outcome.picks], result)
        return result

    def radio(self, ahead: int, window: int = 0, rules: SelectionRules | None = None,
              tolerance: HullTolerance | None = None, seed: int = 0,
              report: Callable[[QueueResult], None] = lambda r: None, rounds: int | None = None) -> None:
        """Keep `ahead` songs queued after the playing one as it advances, until interrupted
        (or after `rounds` changes of the queue or the player). Songs are added one at a time,
        each continuing the hull of the last `window` queued tracks. Rules as `extend`'s, held
        across additions: a track queued once (or seen in the queue) is never queued again in
        this run, also after MPD drops it (consume mode), and the artist / album caps count the
        radio's last `window` additions (0: all of them)."""
        rules = rules or SelectionRules()
        seen: set[int] = set()
        added: list[int] = []
        done = 0
        while rounds is None or done < rounds:
            while (queue := self.queue()).ahead < ahead:
                seen |= set(queue.ids)
                recent = added[-window:] if window else added
                result = self.extend(1, window=window, rules=rules, tolerance=tolerance, seed=seed,
                                     hide=seen | self._capped(recent, rules))
                seen |= set(result.queued) | result.failed_ids
                added += result.queued
                report(result)
                if not result.outcome.picks:
                    break  # nothing left in the library that fits the rules
            with mpd_errors(self.address):
                self.client.idle("player", "playlist")
            done += 1

    def _capped(self, recent: Sequence[int], rules: SelectionRules) -> set[int]:
        """Every track of an artist (album) that already has its cap among `recent`."""
        hidden: set[int] = set()
        for cap, field_name in ((rules.max_per_artist, "artist"), (rules.max_per_album, "album")):
            if cap is None or not recent:
                continue
            if field_name not in self._groups:
                of = {t.id: fold(getattr(t, field_name) or "") for t in self.library.store.tracks()}
                self._groups[field_name] = of
            of = self._groups[field_name]
            counts = Counter(of[i] for i in recent if of.get(i))
            full = {value for value, c in counts.items() if c >= cap}
            hidden |= {i for i, value in of.items() if value in full}
        return hidden

    def bridge(self, target_ids: Sequence[int], n: int, window: int = 0, smoothness: float = 1.0,
               rules: SelectionRules | None = None, then_target: bool = False) -> QueueResult:
        """Append an ordered bridge of `n` tracks from the queue's hull to the target's (and,
        with `then_target`, the target's own tracks after it)."""
        queue = self.queue()
        seeds = self._seeds(queue, window)
        hidden = set(queue.ids) - set(seeds) - set(target_ids)
        outcome = transition(HidingCatalog(self.catalog, hidden), seeds, list(target_ids), n,
                             smoothness=smoothness, rules=rules)
        result = QueueResult(outcome, queue)
        self._add([p.track for p in outcome.picks], result)
        if then_target and outcome.picks:
            meta = self.catalog.meta(list(target_ids))
            self._add([meta[i] for i in target_ids if i in meta], result)
        return result

    def stored_playlist(self, name: str) -> tuple[list[int], list[str]]:
        """(indexed track ids, unmatched URIs) of one of MPD's stored playlists."""
        with mpd_errors(self.address):
            try:
                uris = self.client.listplaylist(name)
            except CommandError as exc:
                if "No such playlist" in str(exc):
                    raise MpdError(f"MPD at {self.address} has no stored playlist {name!r}",
                                   fix="list them with `mpc lsplaylists`, or give an m3u file") from None
                raise
        uris = [u if isinstance(u, str) else u.get("file", "") for u in uris]
        queue = match_queue(Queue(uris=uris, current=None), self.library.store, self._embedded, self.music_dir)
        return queue.ids, queue.unmatched
