"""`myna playlist …`: extend, check, expand, transition, fill and plot m3u playlists
against an indexed library. Thin: read the m3u, call `playlist.*`, print, write."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer
from rich.table import Table

from cli.app import app
from cli.console import console, counted, err_console, styled
from cli.values import MAX_TRACKS, existing_folder, number, output_file, same_file
from cli.values import device as device_option
from myna_rpe.fileio import expand_user
from myna_rpe.text import visible

playlist_app = typer.Typer(
    help="Playlists as regions (convex hulls) of the library's embedding space.",
    no_args_is_help=True,
)
app.add_typer(playlist_app, name="playlist")

_VERDICT_STYLE = {"inside": "green", "near": "yellow", "outside": "red"}

DbOption = typer.Option(None, "--db", help="Store folder; default: the .myna above the playlist's tracks, "
                                           "its folder or the current folder, else the default library.")
ModelOption = typer.Option(None, "--model", help="Which model's embeddings to use: an id or its prefix, as "
                                                 "`myna index --status` lists them; default: the library's current one.")
OutOption = typer.Option(None, "--out", "-o", help="Output m3u8 (default beside the input).")
DryRunOption = typer.Option(False, "--dry-run", help="Print the table only; write nothing.")
ArtistCap = typer.Option(None, "--max-per-artist", min=1, help="At most this many added tracks per artist.")
AlbumCap = typer.Option(None, "--max-per-album", min=1, help="At most this many added tracks per album.")
SeedOption = typer.Option(0, "--seed", help="Seed for random directions/samples (same seed, same result).")
AbsoluteOption = typer.Option(False, "--absolute", help="Write absolute paths instead of relative ones.")
NearOption = typer.Option(1.0, "--near", callback=number(min=0), help="Verdict 'near' up to this normalised distance.")
OffSpanOption = typer.Option(0.5, "--off-span", callback=number(min=0),
                             help="Verdict 'inside' allows this normalised distance off the playlist's span.")


def _tolerance(near: float, off_span: float):
    from playlist.geometry.hull import HullTolerance

    return HullTolerance(off_span=off_span, near=near)


def _open_library(db: Path | None, *playlists: Path, model: str | None = None):
    """--db, else the store found from the playlists' entries, folders, the cwd or the default library."""
    from playlist.library import Library
    from playlist.library.locate_store import locate_store
    from playlist.m3u import read_m3u

    existing_folder("--db", db)
    tracks = [e.path for m3u in playlists if db is None for e in read_m3u(m3u) if e.path is not None]
    return Library.open(locate_store(db, entries=tracks, near=[m.parent for m in playlists]), model=model)


def _load(lib, m3u: Path, out: Path | None = None):
    """(entries, track ids found in the index); prints the skipped entries and the ignored
    lines with their line numbers and reasons (warnings: the good entries are used).
    `out`, the playlist the command will write, must not be one that `m3u` includes.

    Entries without an #EXTINF get the library's tags, so rewritten playlists show names."""
    from myna_rpe.errors import PlaylistError
    from playlist.geometry.catalog import resolve_playlist
    from playlist.m3u import read_playlist

    playlist = read_playlist(m3u)
    if out is not None and any(same_file(out, nested) for nested in playlist.nested):
        raise typer.BadParameter(f"{visible(out)} is a playlist that {visible(m3u)} includes, so it is an input and "
                                 "would be replaced: choose another name", param_hint="'--out'")
    entries = playlist.entries
    if not entries:
        raise PlaylistError("the playlist has no track entries (only comments or blank lines)", m3u,
                            "add track paths to it, one a line")
    ids, skipped = resolve_playlist(entries, lib.store, lib.store.embedded_ids())
    rows = [(_where(s.entry.source, s.entry.line or 0), s.entry.location, s.reason) for s in skipped]
    rows = sorted(rows + [(_where(w.source, w.line), w.text, w.reason) for w in playlist.warnings])
    if rows:
        table = Table(title=f"{m3u.name}: {counted(len(skipped), 'entry', 'entries')} skipped, "
                            f"{counted(len(playlist.warnings), 'line')} ignored",
                      title_style="yellow")
        table.add_column("line", justify="right")  # "nested.m3u:3" for a line of a nested playlist
        table.add_column("entry")
        table.add_column("reason", style="yellow")
        for line, text, reason in rows:
            table.add_row((line[1]), (text if len(text) <= 100 else text[:99] + "…"), (reason))
        err_console.print(table)
    if not ids:
        raise PlaylistError("none of the playlist's tracks are in the library index", m3u,
                            "index the folder holding them with `myna index`")
    tagged = []
    for entry in entries:
        track = lib.store.track_by_path(entry.path) if entry.path is not None and entry.title is None else None
        tagged.append(entry if track is None else replace(entry, duration=track.duration, artist=track.artist,
                                                          title=track.title))
    return tagged, ids


def _where(source: Path | None, line: int) -> tuple[tuple[str, int], str]:
    """(sort key, label) of a line: the playlist's own lines first, then each nested file's."""
    name = "" if source is None else str(source)
    return (name, line), (f"{source.name}:{line}" if source is not None else str(line))


def _rules(max_per_artist: int | None, max_per_album: int | None):
    from playlist.geometry.selection import SelectionRules

    return SelectionRules(max_per_artist=max_per_artist, max_per_album=max_per_album)


def _describe(name: str, hull, n_ids: int) -> None:
    source = {"playlist": "median neighbour distance", "fallback": "library's neighbour distance: one distinct track",
              "given": "given"}[hull.scale_source]
    console.print(styled((name, "bold"), f": {counted(n_ids, 'track')}, span dimension {hull.rank} of {hull.dim}, "
                                f"scale {hull.scale:.4f} ({source})"))


def _print_picks(outcome, title: str) -> None:
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("track")
    table.add_column("verdict")
    table.add_column("distance", justify="right")
    table.add_column("in span", justify="right")
    table.add_column("off span", justify="right")
    notes = any(p.note for p in outcome.picks)
    if notes:
        table.add_column("note")
    for k, p in enumerate(outcome.picks, start=1):
        row = [str(k), p.track.label, styled((p.verdict.value, _VERDICT_STYLE[p.verdict.value])),
               f"{p.distance:.3f}", f"{p.in_span:.3f}", f"{p.off_span:.3f}"]
        table.add_row(*row, *([(p.note)] if notes else []))
    console.print(table)
    if outcome.refused:
        console.print("refused: " + ", ".join(f"{n} × {why}" for why, n in sorted(outcome.refused.items())),
                      style="dim", highlight=False)
    if outcome.info:
        console.print("  ".join(f"{k} {v:.3g}" for k, v in outcome.info.items()), style="dim", highlight=False)


def bridge_shortfall(outcome, n: int, a: str, b: str, nothing: str, path: Path | None = None) -> str | None:
    """Why a bridge from `a` to `b` has fewer than n tracks (None: it has n). No bridge at all
    raises PlaylistError; `nothing` says what was left undone ("nothing was written")."""
    from myna_rpe.errors import PlaylistError

    if not outcome.picks:
        if outcome.info.get("free_tracks") == 0:
            raise PlaylistError(f"no bridge: every library track is in {a} or {b}", path,
                                f"index more music, or bridge shorter playlists; {nothing}")
        refused = ", ".join(f"{k} × {why}" for why, k in sorted(outcome.refused.items()))
        raise PlaylistError(f"no bridge: some step has no track the rules allow ({refused or 'none near'})", path,
                            f"relax --max-per-artist / --max-per-album, or ask for a shorter --n; {nothing}")
    if len(outcome.picks) >= n:
        return None
    free = int(outcome.info["free_tracks"])
    why = (f"only {free} library tracks are outside {a} and {b}" if free < n else
           "no longer one was found that repeats no track and keeps the rules")
    return f"the bridge has {counted(len(outcome.picks), 'track')}, not {n}: {why}"


def _entries_for(picks):
    from playlist.m3u import PlaylistEntry

    return [PlaylistEntry.of_track(p.track) for p in picks]


_M3U_SUFFIXES = (".m3u8", ".m3u")


def _out(out: Path | None, default: Path, *inputs: Path) -> Path:
    """The playlist to write, checked before any work (never one of the inputs)."""
    return output_file("--out", out or default, _M3U_SUFFIXES, inputs)


def _write(out: Path, entries, absolute: bool, dry_run: bool) -> None:
    from playlist.m3u import write_m3u8

    if dry_run:
        console.print(f"dry run: would write {counted(len(entries), 'entry', 'entries')} to {out}", style="dim", highlight=False)
        return
    write_m3u8(out, entries, absolute=absolute)
    console.print(f"wrote {counted(len(entries), 'entry', 'entries')} to {out}", highlight=False)


@playlist_app.command("extend")
def extend_cmd(
    playlist: Path = typer.Argument(..., help="The m3u/m3u8 playlist to extend."),
    n: int = typer.Option(20, "--n", "-n", min=1, max=MAX_TRACKS, help="How many tracks to add."),
    strategy: str = typer.Option("hull", "--strategy",
                                 help="hull (nearest the hull, inside first), centroid, or random."),
    out: Path | None = OutOption, dry_run: bool = DryRunOption, max_per_artist: int | None = ArtistCap,
    max_per_album: int | None = AlbumCap, seed: int = SeedOption, absolute: bool = AbsoluteOption,
    near: float = NearOption, off_span: float = OffSpanOption, db: Path | None = DbOption,
    model: str | None = ModelOption,
) -> None:
    """Add N library tracks that fit the playlist; writes PLAYLIST.extended.m3u8."""
    from myna_rpe.errors import PlaylistError
    from playlist.geometry.catalog import LibraryCatalog
    from playlist.geometry.extend import STRATEGIES, extend

    if strategy not in STRATEGIES:
        raise PlaylistError(f"unknown strategy {strategy!r}", fix=f"choose one of {', '.join(STRATEGIES)}")
    out = _out(out, playlist.with_name(f"{playlist.stem}.extended.m3u8"), playlist)
    with _open_library(db, playlist, model=model) as lib:
        entries, ids = _load(lib, playlist, out)
        outcome = extend(LibraryCatalog(lib), ids, n, strategy=strategy,
                         rules=_rules(max_per_artist, max_per_album), tolerance=_tolerance(near, off_span),
                         seed=seed)
    _describe(playlist.name, outcome.hull, len(ids))
    _print_picks(outcome, f"{counted(len(outcome.picks), 'track')} added ({strategy})")
    _write(out, [*entries, *_entries_for(outcome.picks)], absolute, dry_run)


@playlist_app.command("check")
def check_cmd(
    playlist: Path = typer.Argument(..., help="The m3u/m3u8 playlist."),
    tracks: list[str] = typer.Argument(..., help="Track paths (in the library or not) or 'artist - title' searches."),
    near: float = NearOption, off_span: float = OffSpanOption, db: Path | None = DbOption,
    model: str | None = ModelOption,
    checkpoint: Path | None = typer.Option(None, "--checkpoint", "-c",
                                           help="For files outside the library: the checkpoint of the library's "
                                                "model, to embed them (default: the bundled model)."),
    device: str = typer.Option("cpu", "--device", callback=device_option, help="torch device, for files outside the library."),
) -> None:
    """Is each TRACK inside, near or outside the playlist's hull? With normalised distances.

    A file that is not in the library is embedded now with the library's model (not stored).
    A TRACK that cannot be checked is one error line after the others' verdicts (exit 1)."""
    from myna_rpe.errors import AudioError, LibraryError, MynaError
    from playlist.geometry.catalog import LibraryCatalog, TrackMeta
    from playlist.geometry.extend import check
    from playlist.library.outside import is_outside, outside_embedder

    with _open_library(db, playlist, model=model) as lib:
        _, ids = _load(lib, playlist)
        embedded = lib.store.embedded_ids()
        embed_outside = outside_embedder(lib, checkpoint, device)
        wanted: list[int] = []
        outside: list[tuple[TrackMeta, object]] = []
        order: list[int] = []
        failed: list[MynaError] = []  # a track that cannot be checked does not hold up the others
        for query in tracks:
            path = expand_user(query)
            if is_outside(lib.store, path):  # ids below 0 are never a library track's
                meta = TrackMeta(id=-1 - len(outside), path=path.absolute(), title=f"{path.name} (not in the library)")
                try:
                    outside.append((meta, embed_outside(path)))
                except AudioError as exc:
                    failed.append(exc)
                    continue
                order.append(meta.id)
                continue
            hits = lib.store.find(query)
            if len(hits) != 1:
                failed.append(LibraryError(f"{len(hits)} library tracks match {query!r}",
                                           fix="give the file's path or a more specific 'artist - title'"))
            elif hits[0].id not in embedded:
                failed.append(LibraryError("this track has no embedding with the current model", hits[0].path,
                                           "run `myna index` to finish indexing"))
            else:
                wanted.append(hits[0].id)
                order.append(hits[0].id)
        if failed and not order:
            raise failed[0] if len(failed) == 1 else MynaError(
                f"none of the {len(failed)} tracks can be checked; the first: {failed[0]}")
        outcome = check(LibraryCatalog(lib), ids, wanted, tolerance=_tolerance(near, off_span), outside=outside)
    rank = {track_id: k for k, track_id in enumerate(order)}
    outcome.picks.sort(key=lambda p: rank[p.id])  # in the order the tracks were given
    _describe(playlist.name, outcome.hull, len(ids))
    outcome.picks = [replace(p, note="in the playlist") if p.id in ids else p for p in outcome.picks]
    _print_picks(outcome, "verdicts")
    for exc in failed:
        err_console.print(styled(("error:", "red"), f" {exc}"), highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


@playlist_app.command("expand")
def expand_cmd(
    playlist: Path = typer.Argument(..., help="The m3u/m3u8 playlist to grow outward."),
    n: int = typer.Option(20, "--n", "-n", min=1, max=MAX_TRACKS, help="How many tracks to add."),
    margin: float = typer.Option(0.5, "--margin", callback=number(min=0),
                                 help="How far past the boundary to aim, in scales."),
    max_distance: float = typer.Option(2.0, "--max-distance", callback=number(min=0),
                                       help="Farthest a new track may be from the hull, in scales."),
    out: Path | None = OutOption, dry_run: bool = DryRunOption, max_per_artist: int | None = ArtistCap,
    max_per_album: int | None = AlbumCap, seed: int = SeedOption, absolute: bool = AbsoluteOption,
    db: Path | None = DbOption,
    model: str | None = ModelOption,
) -> None:
    """Add N tracks just outside the hull, spread around it; writes PLAYLIST.expanded.m3u8."""
    from playlist.geometry.catalog import LibraryCatalog
    from playlist.geometry.expand import expand

    out = _out(out, playlist.with_name(f"{playlist.stem}.expanded.m3u8"), playlist)
    with _open_library(db, playlist, model=model) as lib:
        entries, ids = _load(lib, playlist, out)
        outcome = expand(LibraryCatalog(lib), ids, n, margin=margin, max_distance=max_distance,
                         rules=_rules(max_per_artist, max_per_album), seed=seed)
    _describe(playlist.name, outcome.hull, len(ids))
    _print_picks(outcome, f"{counted(len(outcome.picks), 'track')} added beyond the boundary")
    _write(out, [*entries, *_entries_for(outcome.picks)], absolute, dry_run)


@playlist_app.command("transition")
def transition_cmd(
    a: Path = typer.Argument(..., help="Playlist to start from."),
    b: Path = typer.Argument(..., help="Playlist to arrive at."),
    n: int = typer.Option(15, "--n", "-n", min=1, max=MAX_TRACKS, help="Bridge length."),
    smoothness: float = typer.Option(1.0, "--smoothness", callback=number(min=0),
                                     help="Weight of the step-size penalty."),
    full: bool = typer.Option(False, "--full", help="Write A, the bridge, then B (default: the bridge only)."),
    out: Path | None = OutOption, dry_run: bool = DryRunOption, max_per_artist: int | None = ArtistCap,
    max_per_album: int | None = AlbumCap, absolute: bool = AbsoluteOption, db: Path | None = DbOption,
    model: str | None = ModelOption,
) -> None:
    """An ordered bridge of N tracks from playlist A to playlist B."""
    from myna_rpe.errors import PlaylistError
    from playlist.geometry.catalog import LibraryCatalog
    from playlist.geometry.transition import transition

    out = _out(out, a.with_name(f"{a.stem}-to-{b.stem}.m3u8"), a, b)
    with _open_library(db, a, b, model=model) as lib:
        entries_a, ids_a = _load(lib, a, out)
        entries_b, ids_b = _load(lib, b, out)
        outcome = transition(LibraryCatalog(lib), ids_a, ids_b, n, smoothness=smoothness,
                             rules=_rules(max_per_artist, max_per_album))
    _describe(a.name, outcome.hull, len(ids_a))
    shorter = bridge_shortfall(outcome, n, a.name, b.name, "nothing was written", out)
    _print_picks(outcome, f"bridge {a.stem} → {b.stem} (distances to the interpolated hull at t)")
    if shorter:
        err_console.print(shorter, style="yellow", highlight=False)
    bridge = _entries_for(outcome.picks)
    _write(out, [*entries_a, *bridge, *entries_b] if full else bridge, absolute, dry_run)


@playlist_app.command("fill")
def fill_cmd(
    target: Path = typer.Argument(..., help="Playlist whose hull shape to fill."),
    n: int = typer.Option(30, "--n", "-n", min=1, max=MAX_TRACKS, help="How many tracks."),
    max_distance: float = typer.Option(1.0, "--max-distance", callback=number(min=0),
                                       help="Farthest a track may be from the target hull, in scales."),
    out: Path | None = OutOption, dry_run: bool = DryRunOption, max_per_artist: int | None = ArtistCap,
    max_per_album: int | None = AlbumCap, seed: int = SeedOption, absolute: bool = AbsoluteOption,
    db: Path | None = DbOption,
    model: str | None = ModelOption,
) -> None:
    """A new playlist of N library tracks covering TARGET's hull; writes TARGET.filled.m3u8."""
    from myna_rpe.errors import PlaylistError
    from playlist.geometry.catalog import LibraryCatalog
    from playlist.geometry.fill import fill

    out = _out(out, target.with_name(f"{target.stem}.filled.m3u8"), target)
    with _open_library(db, target, model=model) as lib:
        _, ids = _load(lib, target, out)
        outcome = fill(LibraryCatalog(lib), ids, n, max_distance=max_distance,
                       rules=_rules(max_per_artist, max_per_album), seed=seed)
    _describe(target.name, outcome.hull, len(ids))
    if not outcome.picks:  # an empty playlist is no answer
        raise PlaylistError(f"nothing to fill with: no library track outside {target.name} is within "
                            f"{max_distance:g} scales of its hull", out,
                            "raise --max-distance, or index more music; nothing was written")
    _print_picks(outcome, f"{counted(len(outcome.picks), 'track')} covering {target.stem}")
    _write(out, _entries_for(outcome.picks), absolute, dry_run)


@playlist_app.command("plot")
def plot_cmd(
    playlist: Path = typer.Argument(..., help="The m3u/m3u8 playlist to draw."),
    out: Path = typer.Option(Path("map.png"), "--out", "-o", help="Image to write (.png, .svg, .pdf, .jpg, .webp)."),
    added: Path | None = typer.Option(None, "--added", help="A playlist whose extra tracks to highlight "
                                      "(e.g. PLAYLIST.extended.m3u8)."),
    extend_n: int = typer.Option(0, "--extend", min=0, max=MAX_TRACKS, help="Also compute N extension tracks and highlight them."),
    seed: int = SeedOption, db: Path | None = DbOption,
    model: str | None = ModelOption,
) -> None:
    """A 2-D PCA map: library in grey, the playlist and its hull, added tracks highlighted."""
    import numpy as np

    from playlist.geometry.catalog import LibraryCatalog
    from playlist.geometry.extend import extend
    from playlist.geometry.plot import PLOT_SUFFIXES, plot_playlist

    out = output_file("--out", out, PLOT_SUFFIXES, [playlist, *([added] if added else [])])
    with _open_library(db, playlist, model=model) as lib:
        _, ids = _load(lib, playlist)
        catalog = LibraryCatalog(lib)
        extra: list[int] = []
        if added is not None:
            _, more = _load(lib, added)
            extra += [i for i in more if i not in ids]
        if extend_n:
            extra += [p.id for p in extend(catalog, ids, extend_n).picks if p.id not in extra]
        all_ids = catalog.all_ids()
        rng = np.random.default_rng(seed)
        sample = rng.choice(all_ids, size=min(len(all_ids), 20000), replace=False)
        meta = catalog.meta([*ids, *extra])
        path = plot_playlist(out, catalog.vectors(sample), catalog.vectors(ids),
                             catalog.vectors(extra) if extra else None,
                             playlist_labels=[meta[i].label for i in ids], added_labels=[meta[i].label for i in extra],
                             title=f"{playlist.name}: {counted(len(ids), 'track')}, {len(extra)} added")
    console.print(f"wrote {path}", highlight=False)
