"""`myna subsonic …`: the playlist verbs on a Subsonic / OpenSubsonic server, and the proxy that
gives any such server sonic similarity. Thin: sign in, open the library, call
`playlist.subsonic`, print."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.table import Table

from cli.app import app
from cli.console import console, counted, err_console, progress
from cli.playlist_cmd import (
    AlbumCap,
    ArtistCap,
    DbOption,
    DryRunOption,
    NearOption,
    OffSpanOption,
    SeedOption,
    _describe,
    _print_picks,
    _rules,
    _tolerance,
)
from cli.values import device as device_option
from cli.values import existing_folder, number

subsonic_app = typer.Typer(help="Sonic playlists on a Subsonic / OpenSubsonic server (Navidrome, Gonic, Airsonic, "
                                "Ampache…), and a proxy that adds sonic similarity to it.", no_args_is_help=True)
app.add_typer(subsonic_app, name="subsonic")

ServerOption = typer.Option(None, "--server", help="The server's base URL, before /rest/ (default: "
                                                   "MYNA_SUBSONIC_URL, else the one of `myna subsonic login`).")
UserOption = typer.Option(None, "--user", help="User name (default: MYNA_SUBSONIC_USER, else the stored sign-in). "
                                               "The password: MYNA_SUBSONIC_PASSWORD or the stored sign-in; "
                                               "an API key: MYNA_SUBSONIC_API_KEY.")
def _name(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise typer.BadParameter("a playlist needs a name that is not blank (leave --name out for the default)")
    return value


NameOption = typer.Option(None, "--name", callback=_name,
                          help="Name of the playlist to write (default: a name saying what made it).")
ReplaceOption = typer.Option(False, "--replace", help="Overwrite a playlist of that name even if Myna did not make it.")
_STYLE = {"path": "green", "isrc": "green", "artist+title": "cyan"}


def _url(flag: str, url: str | None) -> str | None:
    """`url` (None too) if it is a server's base URL; a usage error naming `flag` otherwise."""
    from playlist.subsonic.credentials import url_problem

    if url is not None and (problem := url_problem(url)):
        raise typer.BadParameter(problem, param_hint=f"'{flag}'" if flag.startswith("-") else flag)
    return url


def _client(server: str | None, user: str | None):
    from playlist.subsonic.client import SubsonicClient
    from playlist.subsonic.credentials import ENV_URL, resolve

    # --server, else the environment's URL: a bad one is a usage error before any request
    server = _url("--server", server) if server is not None else _url(ENV_URL, os.environ.get(ENV_URL) or None)
    return SubsonicClient(resolve(server, user)).connect()


def _library(db: Path | None):
    from playlist.library import Library
    from playlist.library.locate_store import locate_store

    existing_folder("--db", db)
    return Library.open(locate_store(db))


def _signed_in(client) -> str:
    how = {"token": "a salted token", "password": "the password as p=enc:HEX (the server predates API 1.13)",
           "apiKey": "an API key"}[client.auth]
    who = f" as {client.credentials.user}" if client.auth != "apiKey" else ""
    return f"{client.base}{who}, API {'.'.join(map(str, client.version))}, signed in with {how}"


@contextmanager
def _session(server, user, db):
    from playlist.subsonic.links import Links
    from playlist.subsonic.verbs import ServerSession

    existing_folder("--db", db)
    client = _client(server, user)
    with _library(db) as lib:
        links = Links.load(lib.store.db_dir, client.base)
        console.print(f"{(_signed_in(client))}; library {(str(lib.store.root))}, "
                      f"{len(links.tracks)} linked songs", style="dim", highlight=False)
        session = ServerSession(client, lib, links)
        stale = sum(1 for t in links.tracks.values() if t not in session.linked)
        if stale:
            err_console.print(f"{counted(stale, 'linked song')} of a track the library no longer has, left out "
                              "(`myna subsonic link` brings the links up to date)", style="yellow", highlight=False)
        yield session


def _finish(session, written, title: str, what: str, dry_run: bool, replace: bool) -> None:
    _describe(written.source, written.outcome.hull, written.seeds)
    if written.left_out:
        count = len(written.left_out)
        err_console.print(f"{count} song{' is' if count == 1 else 's are'} not linked to indexed tracks and left out "
                          f"(first: {(written.left_out[0].label)})", style="yellow", highlight=False)
    _print_picks(written.outcome, title)
    if dry_run:
        target = session.target(written, replace)  # refused as the real run would be
        verb = "replace the songs of" if target else "create"
        console.print(f"dry run: would {verb} the playlist '{written.name}' "
                      f"({counted(len(written.song_ids), 'song')})", style="dim", highlight=False)
        return
    session.write(written, what, replace=replace)
    verb = "replaced the songs of" if written.replaced else "created"
    console.print(f"{verb} the playlist '{written.name}' ({counted(len(written.song_ids), 'song')}, id "
                  f"{(written.playlist_id)}) on {(session.client.base)}", highlight=False)


@subsonic_app.command("login")
def login_cmd(
    server: str = typer.Option(..., "--server", help="The server's base URL, before /rest/."),
    user: str | None = typer.Option(None, "--user", help="User name (not needed with --api-key)."),
    api_key: bool = typer.Option(False, "--api-key", help="Sign in with an OpenSubsonic API key, not a password."),
    stdin: bool = typer.Option(False, "--stdin", help="Read the password (or key) from standard input, not a prompt."),
) -> None:
    """Check a sign-in with the server and store it (readable by you only) for the other commands."""
    from myna_rpe.errors import ConfigError
    from playlist.subsonic.client import Credentials, SubsonicClient
    from playlist.subsonic.credentials import save_login

    _url("--server", server)
    if not api_key and not user:
        raise typer.BadParameter("give the user name to sign in as (or --api-key)", param_hint="'--user'")
    what = "API key" if api_key else "password"
    if stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
        if not secret:
            raise ConfigError(f"no {what} on standard input", fix=f"pipe the {what} in, one line")
    elif sys.stdin.isatty():
        secret = typer.prompt(f"{what} for {user or server}", hide_input=True)
    else:
        raise ConfigError(f"no terminal to ask for the {what}", fix="pass --stdin and pipe it in")
    creds = Credentials(server, None if api_key else user, None if api_key else secret, secret if api_key else None)
    client = SubsonicClient(creds).connect()
    path = save_login(creds)
    console.print(f"{(_signed_in(client))}; saved to {(str(path))} (mode 600)", highlight=False)


@subsonic_app.command("logout")
def logout_cmd() -> None:
    """Delete the stored sign-in."""
    from playlist.subsonic.credentials import forget_login, login_path

    console.print(f"{'deleted the' if forget_login() else 'there was no'} stored sign-in "
                  f"({(str(login_path()))})", highlight=False)


@subsonic_app.command("link")
def link_cmd(
    prefix: list[str] = typer.Option([], "--prefix", help="Where the server's files are here: LOCAL (its paths are "
                                                          "relative to LOCAL) or SERVER_PATH=LOCAL; repeatable. "
                                                          "Default: the library's root."),
    tolerance: float = typer.Option(5.0, "--tolerance", callback=number(min=0),
                                    help="Tag matches: the most the durations may differ, in seconds."),
    show: int = typer.Option(20, "--show", min=0, help="List at most this many unlinked songs."),
    stream: bool = typer.Option(False, "--stream", help="Embed the songs not found here by streaming them from the "
                                                        "server (kept: the vectors only; resumable)."),
    pause: float = typer.Option(0.5, "--pause", callback=number(min=0),
                                help="With --stream: seconds to wait between songs, to spare the server."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", "-c", help="With --stream: the checkpoint of the "
                                           "library's model (default: the bundled model)."),
    device: str = typer.Option("cpu", "--device", callback=device_option,
                               help="With --stream: torch device for the encoder."),
    server: str | None = ServerOption, user: str | None = UserOption, db: Path | None = DbOption,
) -> None:
    """Map the server's songs to indexed tracks (by path, else by tags and duration; with --stream,
    embed the rest from the server) and save the links."""
    from myna_rpe.errors import LibraryError
    from playlist.library.outside import library_embedder
    from playlist.subsonic.links import PathMap, link_songs
    from playlist.subsonic.streamed import Streamed, add_streamed, stream_songs

    for value in prefix:
        local = value.partition("=")[2] if "=" in value else value
        if not local.strip() or not Path(local).expanduser().is_dir():
            raise typer.BadParameter(f"{value}: {local} is no folder here: give LOCAL or SERVER_PATH=LOCAL with "
                                     "LOCAL an existing folder", param_hint="'--prefix'")
    existing_folder("--db", db)
    client = _client(server, user)
    with _library(db) as lib:
        maps = [PathMap.parse(p) for p in prefix] or [PathMap("", lib.store.root)]
        console.print((_signed_in(client)), style="dim", highlight=False)
        with progress("songs") as bar:
            task = bar.add_task("reading the server's songs", total=None)
            songs = []
            for song in client.songs():
                songs.append(song)
                bar.advance(task)
        links = link_songs(client.base, songs, lib.store, lib.store.embedded_ids(), maps, tolerance)
        streamed = Streamed.load(lib.store.db_dir, client.base, lib.store.model_id)
        failed: dict[str, str] = {}
        if stream and links.unlinked:
            embedder = library_embedder(lib.store, checkpoint, device, lib.store.db_dir,
                                        "songs streamed from the server are embedded with the library's model")
            by_id = {s.id: s for s in songs}
            wanted = [by_id[song_id] for song_id, _, _ in links.unlinked]
            with progress("songs") as bar:
                task = bar.add_task("streaming the songs not found here", total=len(wanted))
                failed = stream_songs(client, wanted, streamed, embedder, lib.store.db_dir, pause,
                                      done=lambda song, error: bar.advance(task))
        add_streamed(links, streamed, failed)
        path = links.save(lib.store.db_dir)
    total = len(links.tracks) + len(links.unlinked)
    how = ", ".join(f"{n} by {m}" for m, n in sorted(links.methods.items()))
    console.print(f"linked {len(links.tracks)} of {total} songs ({how or 'none'}); saved to {(str(path))}",
                  highlight=False)
    if links.unlinked and show:
        count = len(links.unlinked)
        table = Table(title=f"{count} song{'s' if count > 1 else ''} not linked" + (f" (first {show})"
                                                                   if count > show else ""),
                      title_style="yellow")
        table.add_column("song")
        table.add_column("id", style="dim")
        table.add_column("why", style="yellow")
        for song_id, label, reason in links.unlinked[:show]:
            table.add_row((label), (song_id), (reason))
        err_console.print(table)
    if total and not links.tracks:
        raise LibraryError(f"none of the {total} songs of {client.base} is an indexed track", path=lib.store.root,
                           fix="pass --prefix with the folder where the server's files are on this machine, "
                               "and index it with `myna index`, or embed them by streaming with --stream")


@subsonic_app.command("extend")
def extend_cmd(
    playlist: str = typer.Argument(..., help="A server playlist's name or id."),
    n: int = typer.Option(20, "--n", "-n", min=1, help="How many songs to add."),
    strategy: str = typer.Option("hull", "--strategy", help="hull (nearest the hull), centroid, or random."),
    name: str | None = NameOption, replace: bool = ReplaceOption, dry_run: bool = DryRunOption,
    max_per_artist: int | None = ArtistCap, max_per_album: int | None = AlbumCap, seed: int = SeedOption,
    near: float = NearOption, off_span: float = OffSpanOption,
    server: str | None = ServerOption, user: str | None = UserOption, db: Path | None = DbOption,
) -> None:
    """Write 'PLAYLIST (extended by Myna)': the playlist and N songs that continue its hull."""
    from myna_rpe.errors import PlaylistError
    from playlist.geometry.extend import STRATEGIES

    if strategy not in STRATEGIES:
        raise PlaylistError(f"unknown strategy {strategy!r}", fix=f"choose one of {', '.join(STRATEGIES)}")
    with _session(server, user, db) as session:
        written = session.extend(playlist, n, strategy=strategy, rules=_rules(max_per_artist, max_per_album),
                                 tolerance=_tolerance(near, off_span), seed=seed, name=name)
        _finish(session, written, f"{counted(len(written.outcome.picks), 'song')} added ({strategy})",
                f"myna subsonic extend of '{playlist}'", dry_run, replace)


@subsonic_app.command("mix")
def mix_cmd(
    song: str = typer.Argument(..., help="A song's id, or its 'artist - title'."),
    n: int = typer.Option(20, "--n", "-n", min=1, help="How many songs after it."),
    name: str | None = NameOption, replace: bool = ReplaceOption, dry_run: bool = DryRunOption,
    max_per_artist: int | None = ArtistCap, max_per_album: int | None = AlbumCap, seed: int = SeedOption,
    server: str | None = ServerOption, user: str | None = UserOption, db: Path | None = DbOption,
) -> None:
    """Write 'Myna mix: SONG', an instant mix: the song and the N songs that sound nearest it."""
    with _session(server, user, db) as session:
        written = session.mix(song, n, rules=_rules(max_per_artist, max_per_album), seed=seed, name=name)
        _finish(session, written, f"{counted(len(written.outcome.picks), 'song')} after {(written.source)}",
                f"myna subsonic mix of '{song}'", dry_run, replace)


@subsonic_app.command("transition")
def transition_cmd(
    a: str = typer.Argument(..., help="The server playlist to start from (name or id)."),
    b: str = typer.Argument(..., help="The server playlist to arrive at (name or id)."),
    n: int = typer.Option(15, "--n", "-n", min=1, help="Bridge length."),
    smoothness: float = typer.Option(1.0, "--smoothness", callback=number(min=0),
                                     help="Weight of the step-size penalty."),
    full: bool = typer.Option(False, "--full", help="Write A, the bridge, then B (default: the bridge only)."),
    name: str | None = NameOption, replace: bool = ReplaceOption, dry_run: bool = DryRunOption,
    max_per_artist: int | None = ArtistCap, max_per_album: int | None = AlbumCap,
    server: str | None = ServerOption, user: str | None = UserOption, db: Path | None = DbOption,
) -> None:
    """Write 'A → B (Myna)': an ordered bridge of N songs from playlist A to playlist B."""
    with _session(server, user, db) as session:
        written = session.transition(a, b, n, smoothness=smoothness, rules=_rules(max_per_artist, max_per_album),
                                     full=full, name=name)
        _finish(session, written, f"bridge {(a)} → {(b)} (distances to the interpolated hull at t)",
                f"myna subsonic transition '{a}' → '{b}'", dry_run, replace)


@subsonic_app.command("fill")
def fill_cmd(
    playlist: str = typer.Argument(..., help="The server playlist whose hull to fill (name or id)."),
    n: int = typer.Option(30, "--n", "-n", min=1, help="How many songs."),
    max_distance: float = typer.Option(1.0, "--max-distance", callback=number(min=0),
                                       help="Farthest a song may be from the hull, in scales."),
    name: str | None = NameOption, replace: bool = ReplaceOption, dry_run: bool = DryRunOption,
    max_per_artist: int | None = ArtistCap, max_per_album: int | None = AlbumCap, seed: int = SeedOption,
    server: str | None = ServerOption, user: str | None = UserOption, db: Path | None = DbOption,
) -> None:
    """Write 'PLAYLIST (filled by Myna)': N songs covering the playlist's hull, not just its centre."""
    with _session(server, user, db) as session:
        written = session.fill(playlist, n, max_distance=max_distance, rules=_rules(max_per_artist, max_per_album),
                               seed=seed, name=name)
        _finish(session, written, f"{counted(len(written.outcome.picks), 'song')} covering {(playlist)}",
                f"myna subsonic fill of '{playlist}'", dry_run, replace)


@subsonic_app.command("fingerprint")
def fingerprint_cmd(
    n: int = typer.Option(30, "--n", "-n", min=1, help="How many songs."),
    albums: int = typer.Option(5, "--albums", min=1, help="How many of the most played albums to take."),
    max_distance: float = typer.Option(1.0, "--max-distance", callback=number(min=0),
                                       help="Farthest a song may be from the hull, in scales."),
    name: str | None = NameOption, replace: bool = ReplaceOption, dry_run: bool = DryRunOption,
    max_per_artist: int | None = ArtistCap, max_per_album: int | None = AlbumCap, seed: int = SeedOption,
    server: str | None = ServerOption, user: str | None = UserOption, db: Path | None = DbOption,
) -> None:
    """Write 'Myna fingerprint': N songs covering the hull of your most played albums and starred songs."""
    with _session(server, user, db) as session:
        written = session.fingerprint(n, albums=albums, max_distance=max_distance,
                                      rules=_rules(max_per_artist, max_per_album), seed=seed, name=name)
        _finish(session, written, f"{counted(len(written.outcome.picks), 'song')} covering what you play and star",
                "myna subsonic fingerprint", dry_run, replace)


@subsonic_app.command("proxy")
def proxy_cmd(
    upstream: str = typer.Option(..., "--upstream", help="The Subsonic server to pass requests to (its base URL)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback lets your network "
                                                         "reach the proxy."),
    port: int = typer.Option(4041, "--port", min=0, max=65535, help="Port (0: any free one)."),
    db: Path | None = DbOption,
) -> None:
    """Serve the upstream server with sonic similarity added (getSonicSimilarTracks, findSonicPath) until Ctrl-C."""
    import uvicorn

    from playlist.network import listen
    from playlist.subsonic.links import Links
    from playlist.subsonic.proxy import SonicProxy, create_proxy_app
    from playlist.subsonic.verbs import linked_catalog

    upstream = (_url("--upstream", upstream) or "").rstrip("/")
    with _library(db) as lib:
        links = Links.load(lib.store.db_dir, upstream)
        catalog = linked_catalog(lib, links)
    sock = listen(host, port)
    port = sock.getsockname()[1]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    if host not in ("127.0.0.1", "::1", "localhost"):
        err_console.print(f"listening on {host}: other machines on your network can reach the proxy",
                          style="yellow", highlight=False)
    console.print(f"proxy for {(upstream)} with sonic similarity over {len(catalog.ids)} linked songs; point "
                  f"clients at {url} (Ctrl-C to stop)", highlight=False, soft_wrap=True)
    # No Server or Date header of its own: the upstream's pass through as they are.
    server = uvicorn.Server(uvicorn.Config(create_proxy_app(SonicProxy(upstream, catalog, links)),
                                           log_level="warning", access_log=False, server_header=False,
                                           date_header=False))
    server.run(sockets=[sock])
