"""`myna mpd …`: the playlist verbs on MPD's queue (extend it, keep it ahead, bridge it).
Thin: connect, open the library, call `playlist.players.mpd`, print."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import typer

from cli.app import app
from cli.console import console, counted, err_console, styled
from cli.playlist_cmd import (
    AlbumCap,
    ArtistCap,
    DbOption,
    NearOption,
    OffSpanOption,
    SeedOption,
    _describe,
    _load,
    _print_picks,
    _rules,
    _tolerance,
    bridge_shortfall,
)
from cli.values import MAX_TRACKS, existing_folder, number

mpd_app = typer.Typer(help="Auto-DJ for MPD: extend its queue, keep it playing, bridge to a playlist.",
                      no_args_is_help=True)
app.add_typer(mpd_app, name="mpd")

HostOption = typer.Option(None, "--host", help="MPD host or socket path (default: MPD_HOST, else localhost).")
PortOption = typer.Option(None, "--port", min=1, max=65535, help="MPD port (default: MPD_PORT, else 6600).")
PasswordOption = typer.Option(None, "--password", help="MPD password (default: the 'password@' part of MPD_HOST).")
MusicDirOption = typer.Option(None, "--music-dir", help="MPD's music_directory (default: asked from MPD on a "
                                                        "local socket, else read from its mpd.conf).")
ConfOption = typer.Option(None, "--mpd-conf", help="MPD config file to read music_directory from.")
WindowOption = typer.Option(0, "--window", min=0, max=MAX_TRACKS, help="Use only the last N indexed queue tracks as the "
                                                       "playlist (0: the whole queue).")


@contextmanager
def _session(host, port, password, music_dir, mpd_conf, db):
    """A connected MPD, the library that holds its queue's tracks, and the folder joining them."""
    from playlist.library import Library
    from playlist.library.locate_store import locate_store
    from playlist.players.mpd import (
        MpdAddress,
        QueueSession,
        connect,
        mpd_errors,
        music_directory,
        read_queue,
        uri_path,
    )

    existing_folder("--db", db)
    existing_folder("--music-dir", music_dir)
    if mpd_conf is not None and not mpd_conf.is_file():
        raise typer.BadParameter(f"{mpd_conf} is no file: give MPD's config file (e.g. /etc/mpd.conf)",
                                 param_hint="'--mpd-conf'")
    address = MpdAddress.resolve(host, port, password)
    client = connect(address)
    try:
        folder, source = music_directory(client, address, music_dir, mpd_conf)
        with mpd_errors(address):
            uris = read_queue(client).uris
        paths = [p for p in (uri_path(u, folder) for u in uris) if p is not None]
        with Library.open(locate_store(db, entries=paths, near=[folder])) as lib:
            console.print(f"MPD at {address}, music folder {folder} (from {source}), library {lib.store.root}",
                          style="dim", highlight=False)
            yield QueueSession(client, address, lib, folder)
    finally:
        try:
            client.disconnect()
        except Exception:  # noqa: BLE001 (already gone: nothing left to close)
            pass


def _report(result, title: str) -> None:
    outcome = result.outcome
    _describe("queue", outcome.hull, len(result.queue.ids))
    if result.queue.unmatched:
        err_console.print(f"{len(result.queue.unmatched)} queued songs are not indexed tracks and were left out "
                          f"(first: {result.queue.unmatched[0]})", style="yellow", highlight=False)
    outcome.picks = [replace(p, note="not queued") if p.id in result.failed_ids else p for p in outcome.picks]
    _print_picks(outcome, title)
    console.print(f"queued {counted(len(result.queued), 'song')}", highlight=False)
    if result.not_queued:
        reasons = ", ".join(f"{n} × {why}" for why, n in sorted(result.not_queued.items()))
        if not result.queued:  # picks, and none reached the queue: the command did nothing
            err_console.print(styled(("error:", "red"), f" none of the picks could be queued: {reasons}"),
                              highlight=False, soft_wrap=True)
            raise typer.Exit(1)
        err_console.print(f"not queued: {reasons}", style="yellow", highlight=False)


@mpd_app.command("extend")
def extend_cmd(
    n: int = typer.Option(20, "--n", "-n", min=1, max=MAX_TRACKS, help="How many songs to add."),
    strategy: str = typer.Option("hull", "--strategy", help="hull (nearest the hull), centroid, or random."),
    window: int = WindowOption, max_per_artist: int | None = ArtistCap, max_per_album: int | None = AlbumCap,
    seed: int = SeedOption, near: float = NearOption, off_span: float = OffSpanOption,
    host: str | None = HostOption, port: int | None = PortOption, password: str | None = PasswordOption,
    music_dir: Path | None = MusicDirOption, mpd_conf: Path | None = ConfOption, db: Path | None = DbOption,
) -> None:
    """Append N songs that continue the hull of MPD's queue."""
    from myna_rpe.errors import PlaylistError
    from playlist.geometry.extend import STRATEGIES

    if strategy not in STRATEGIES:
        raise PlaylistError(f"unknown strategy {strategy!r}", fix=f"choose one of {', '.join(STRATEGIES)}")
    with _session(host, port, password, music_dir, mpd_conf, db) as session:
        result = session.extend(n, window=window, strategy=strategy, rules=_rules(max_per_artist, max_per_album),
                                tolerance=_tolerance(near, off_span), seed=seed)
    _report(result, f"{counted(len(result.outcome.picks), 'song')} picked ({strategy})")


@mpd_app.command("radio")
def radio_cmd(
    ahead: int = typer.Option(10, "--ahead", min=1, max=MAX_TRACKS, help="Keep this many songs queued after the playing one."),
    window: int = typer.Option(20, "--window", min=0, max=MAX_TRACKS, help="Continue the hull of the last N indexed queue "
                                                           "tracks (0: the whole queue)."),
    max_per_artist: int | None = ArtistCap, max_per_album: int | None = AlbumCap, seed: int = SeedOption,
    near: float = NearOption, off_span: float = OffSpanOption,
    host: str | None = HostOption, port: int | None = PortOption, password: str | None = PasswordOption,
    music_dir: Path | None = MusicDirOption, mpd_conf: Path | None = ConfOption, db: Path | None = DbOption,
) -> None:
    """Don't stop the music: keep the queue AHEAD songs ahead of the playing one, until Ctrl-C."""
    with _session(host, port, password, music_dir, mpd_conf, db) as session:
        console.print(f"radio: keeping {ahead} songs ahead; Ctrl-C to stop", highlight=False)

        def report(result) -> None:
            _report(result, f"{counted(len(result.queued), 'song')} queued")

        session.radio(ahead, window=window, rules=_rules(max_per_artist, max_per_album),
                      tolerance=_tolerance(near, off_span), seed=seed, report=report)


@mpd_app.command("transition")
def transition_cmd(
    target: str = typer.Argument(..., help="An MPD stored playlist's name, or an m3u/m3u8 file."),
    n: int = typer.Option(15, "--n", "-n", min=1, max=MAX_TRACKS, help="Bridge length."),
    smoothness: float = typer.Option(1.0, "--smoothness", callback=number(min=0),
                                     help="Weight of the step-size penalty."),
    then_target: bool = typer.Option(False, "--then-target", help="Also queue the target's songs after the bridge."),
    window: int = WindowOption, max_per_artist: int | None = ArtistCap, max_per_album: int | None = AlbumCap,
    host: str | None = HostOption, port: int | None = PortOption, password: str | None = PasswordOption,
    music_dir: Path | None = MusicDirOption, mpd_conf: Path | None = ConfOption, db: Path | None = DbOption,
) -> None:
    """Queue an ordered bridge of N songs from the queue's hull to TARGET's."""
    from myna_rpe.errors import PlaylistError

    file = Path(target)
    with _session(host, port, password, music_dir, mpd_conf, db) as session:
        if file.suffix.lower() in (".m3u", ".m3u8") and file.exists():
            _, ids = _load(session.library, file)
        else:
            ids, unmatched = session.stored_playlist(target)
            if unmatched:
                err_console.print(f"{len(unmatched)} songs of {target!r} are not indexed tracks and were left out",
                                  style="yellow", highlight=False)
            if not ids:
                raise PlaylistError(f"none of the songs of MPD's stored playlist {target!r} are indexed tracks",
                                    fix="index MPD's music folder with `myna index`")
        result = session.bridge(ids, n, window=window, smoothness=smoothness,
                                rules=_rules(max_per_artist, max_per_album), then_target=then_target)
    shorter = bridge_shortfall(result.outcome, n, "the queue", repr(target), "nothing was queued")
    _report(result, f"bridge queue → {target} (distances to the interpolated hull at t)")
    if shorter:
        err_console.print(shorter, style="yellow", highlight=False)
