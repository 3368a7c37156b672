"""`myna spotify login|logout|import|export`: the Spotify bridge on the command line."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from cli.app import app
from cli.console import console, err_console, progress, styled
from cli.values import existing_folder, number

spotify_app = typer.Typer(
    help="Bring Spotify playlists onto the local library and send local playlists to Spotify.",
    no_args_is_help=True,
)
app.add_typer(spotify_app, name="spotify")


class _SpotipyNotices(logging.Handler):
    """Show spotipy's rate-limit waits as one yellow line; drop its other log lines,
    which would repeat (with URLs) what our one-line error already says."""

    def emit(self, record: logging.LogRecord) -> None:
        if m := re.search(r"rate/request limit.*?after: (\S+) s", record.getMessage()):
            err_console.print(f"Spotify rate limit: waiting {m.group(1)} s, then retrying", style="yellow")


def _quiet_spotipy() -> None:
    logger = logging.getLogger("spotipy")
    if not any(isinstance(h, _SpotipyNotices) for h in logger.handlers):
        logger.addHandler(_SpotipyNotices(logging.WARNING))
    logger.propagate = False


def _client():
    from playlist.spotify.auth import make_auth_manager
    from playlist.spotify.client import SpotifyClient

    _quiet_spotipy()
    return SpotifyClient(make_auth_manager())


def _mark(matched: bool) -> Text:
    return styled(("✓", "green")) if matched else styled(("✗", "red"))


def _label(artist: str | None, title: str | None) -> str:
    return " – ".join(x for x in (artist, title) if x) or "?"


@spotify_app.command("login")
def login_cmd(
    no_browser: bool = typer.Option(False, "--no-browser",
                                    help="Print the sign-in URL and paste the redirected URL back."),
) -> None:
    """Sign in with Spotify (PKCE) and cache the token in your config folder."""
    from playlist.spotify.auth import make_auth_manager, sign_in
    from playlist.spotify.client import SpotifyClient

    _quiet_spotipy()
    manager = make_auth_manager(interactive=True, open_browser=not no_browser)
    sign_in(manager)
    user = SpotifyClient(manager).current_user()
    console.print(styled("signed in as ", (str(user.get("display_name") or user.get("id")), "bold"),
                         f"; token saved to {manager.cache_handler.path}"), highlight=False)


@spotify_app.command("logout")
def logout_cmd() -> None:
    """Forget the cached Spotify token."""
    from playlist.spotify.auth import PrivateTokenCache, default_token_path

    cache = PrivateTokenCache(default_token_path())
    console.print("signed out" if cache.clear() else "no cached token", highlight=False)


@spotify_app.command("import")
def import_cmd(
    playlist: str = typer.Argument(..., help="open.spotify.com URL, spotify:playlist: URI or id.",
                                   show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="The m3u8 to write (replaced if it exists).",
                             show_default=False),
    db: Path | None = typer.Option(None, "--db", help="Library store folder; default: the nearest .myna "
                                                      "above the output folder or the current folder, "
                                                      "else the default library."),
    tolerance: float = typer.Option(5.0, "--tolerance", callback=number(min=0),
                                    help="Seconds within which durations count as equal (tie-breaker)."),
) -> None:
    """Match every item of a Spotify playlist to your library and write the matches as m3u8."""
    from playlist.library.locate_store import locate_store
    from playlist.spotify.bridge import import_playlist, write_import
    from playlist.spotify.client import parse_playlist_ref
    from playlist.library.store import LibraryStore

    existing_folder("--db", db)
    playlist_id = parse_playlist_ref(playlist)  # a bad link fails before any work
    with LibraryStore.open(locate_store(db, near=[out.absolute().parent]), readonly=True) as store:
        library = store.tracks()
    client = _client()
    with progress("items") as bar:
        task = bar.add_task("reading playlist", total=None)
        report = import_playlist(client, playlist_id, library, tolerance=tolerance,
                                 on_progress=lambda done, total: bar.update(task, completed=done, total=total))

    table = Table(title=f"{report.name}  (spotify:playlist:{report.playlist_id})")
    table.add_column("#", justify="right")
    table.add_column("", justify="center")
    table.add_column("on Spotify")
    table.add_column("local file")
    table.add_column("how / why not")
    for i, row in enumerate(report.rows, 1):
        local = row.match.candidate
        shown = getattr(local, "rel_path", None) or (str(local.path) if local else "")
        mark = styled(("!", "yellow")) if row.match.matched and row.remote.unplayable else _mark(row.match.matched)
        table.add_row(str(i), mark, _label(row.remote.artist, row.remote.title), shown, row.match.reason)
    console.print(table)
    if greyed := report.unplayable:
        where = ", ".join(f"#{i}" for i in greyed[:10]) + (", …" if len(greyed) > 10 else "")
        err_console.print(f"warning: {len(greyed)} item(s) not playable on Spotify for this account "
                          f"({where}); local matches are kept and marked !", style="yellow", highlight=False)
    written = write_import(report, out)
    console.print(f"matched {len(report.matched)} of {len(report.rows)} items; wrote {written}", highlight=False)


@spotify_app.command("export")
def export_cmd(
    m3u: Path = typer.Argument(..., help="A local m3u/m3u8 playlist.", show_default=False),
    name: str = typer.Option(..., "--name", "-n", help="Name of the Spotify playlist to create.",
                             show_default=False),
    public: bool = typer.Option(False, "--public/--private", help="Visibility of the new playlist."),
    description: str = typer.Option("", "--description", help="Description of the new playlist."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Search and report; create nothing."),
    db: Path | None = typer.Option(None, "--db", help="Library store folder (for tags and ISRCs); default: "
                                                      "the .myna above the playlist's tracks, its folder, the "
                                                      "current folder or the default library; else file tags."),
    tolerance: float = typer.Option(5.0, "--tolerance", callback=number(min=0),
                                    help="Seconds within which durations count as equal (tie-breaker)."),
) -> None:
    """Find each track of a local playlist on Spotify and create a playlist with them."""
    from myna_rpe.errors import SpotifyError
    from playlist.library.locate_store import locate_store
    from playlist.m3u import read_m3u
    from playlist.spotify.bridge import export_playlist
    from playlist.library.store import LibraryStore

    existing_folder("--db", db)
    entries = read_m3u(m3u)
    db_dir = locate_store(db, entries=[e.path for e in entries if e.path is not None], near=[m3u.absolute().parent],
                          required=False)
    store = LibraryStore.open(db_dir, readonly=True) if db_dir is not None else None
    try:
        client = _client()
        with progress("tracks") as bar:
            task = bar.add_task("searching Spotify", total=len(entries))
            report = export_playlist(client, entries, name, store=store, public=public,
                                     description=description, dry_run=dry_run, tolerance=tolerance,
                                     on_progress=lambda done, total: bar.update(task, completed=done))
    finally:
        if store is not None:
            store.close()

    table = Table(title=f"{m3u} → Spotify")
    table.add_column("#", justify="right")
    table.add_column("", justify="center")
    table.add_column("local")
    table.add_column("on Spotify")
    table.add_column("how / why not")
    for i, row in enumerate(report.rows, 1):
        local = _label(row.track.artist, row.track.title) if row.track else row.entry.location
        hit = row.match.candidate
        how = f"{row.match.reason} ({row.source})" if row.match.matched else row.match.reason
        table.add_row(str(i), _mark(row.match.matched), local, _label(hit.artist, hit.title) if hit else "", how)
    console.print(table)
    found = len(report.found)
    summary = f"found {found} of {len(report.rows)} tracks ({report.searches} searches)"
    if dry_run:
        console.print(f"{summary}; dry run: nothing created", highlight=False)
    elif report.playlist is None:
        raise SpotifyError(f"{summary}; no playlist created")
    else:
        where = report.playlist.url or report.playlist.uri
        console.print(f"{summary}; created {name!r} with {report.added} tracks: {where}", highlight=False)
