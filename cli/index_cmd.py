"""`myna index LIBRARY` (build/update the store; --status, --errors, --rebuild-index) and
`myna similar TRACK_OR_PATH`."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from cli.app import app
from cli.console import console, counted, err_console, progress
from cli.token_budget import BUDGET, DRAWS, SPREAD, token_budget
from cli.values import MAX_BATCH, MAX_TRACKS, folder_to_create, output_file
from cli.values import device as device_option
from myna_rpe.fileio import expand_user


class IndexType(str, Enum):
    auto = "auto"
    flat = "flat"
    hnsw = "hnsw"
    ivf = "ivf"


class _RichHook:
    """Adapts the indexer's progress hook to one rich bar per phase."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task: TaskID | None = None

    def phase(self, name: str, total: int) -> None:
        if self.task is not None:
            self.bar.update(self.task, visible=False)
        self.task = self.bar.add_task(name, total=total) if total else None

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.bar.advance(self.task, n)

    def note(self, message: str) -> None:
        self.bar.console.print(message, highlight=False)

    def working(self, name: str) -> None:
        if self.task is not None:
            self.bar.update(self.task, description=f"embedding {name}")


def _db_dir(library: Path | None, db: Path | None, tracks: tuple[Path, ...] = ()) -> Path:
    """--db wins; else LIBRARY/.myna; else the store above `tracks`, the cwd, or the default library."""
    from playlist.library.locate_store import locate_store
    from playlist.library.store import default_db_dir

    folder_to_create("--db", db)
    if db is None and library is not None:
        return default_db_dir(library)
    return locate_store(db, entries=tracks)


@app.command("index")
def index_cmd(
    ctx: typer.Context,
    library: Path | None = typer.Argument(None, help="Music folder to index (recursively).", show_default=False),
    db: Path | None = typer.Option(None, "--db", help="Store folder; default LIBRARY/.myna."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", "-c",
                                           help="Encoder checkpoint folder, or 'bundled'; default: the bundled model "
                                                "(a library whose current model is another one asks for it)."),
    status: bool = typer.Option(False, "--status", help="Show counts, model, size and last run; index nothing."),
    errors: bool = typer.Option(False, "--errors", help="List the files that could not be indexed."),
    rebuild_index: bool = typer.Option(False, "--rebuild-index", help="Rebuild the FAISS index from the store only."),
    index_type: IndexType | None = typer.Option(None, "--index-type",
                                                help="auto (the default: exact below 100,000 tracks, approximate above), flat "
                                                     "(exact), hnsw or ivf (approximate); a library keeps its choice."),
    workers: int | None = typer.Option(None, "--workers", min=0, help="Decoding processes (0 = decode inline); default: three quarters of the cores, at least 1."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, max=MAX_BATCH, help="Tracks per forward pass and per commit."),
    retry_errors: bool = typer.Option(False, "--retry-errors", help="Try again files that failed before."),
    prune: bool = typer.Option(False, "--prune", help="Remove the tracks of missing files even when they are all, "
                               "or half or more, of the library's (a run refuses that otherwise: an unmounted drive "
                               "looks the same)."),
    model: str | None = typer.Option(None, "--model", help="With --status or --rebuild-index: that model's set "
                                                           "(an id or its prefix); default: the current model."),
    drop_model: str | None = typer.Option(None, "--drop-model", help="Delete one model's embeddings and index "
                                                                     "(an id or its prefix); index nothing."),
    import_dir: Path | None = typer.Option(None, "--import", help="Merge the Parquet shards of `myna embed-catalog` "
                                                                "(fingerprints and model checked); embed nothing."),
    device: str = typer.Option("cpu", "--device", callback=device_option, help="torch device for the encoder."),
    budget: str = BUDGET,
    draws: int = DRAWS,
    spread: str = SPREAD,
) -> None:
    """Embed every audio file of LIBRARY into LIBRARY/.myna (incremental: only new or changed files).

    Another checkpoint or token budget adds its own set of embeddings beside the others and
    becomes the current model; `--status` lists the sets (vectors of two models never mix)."""
    from myna_rpe.errors import LibraryError
    from playlist.library.vector_index import IndexSpec

    db_dir = _db_dir(library, db)
    spec = None if index_type is None else IndexSpec(kind=index_type.value)
    if status:
        return _print_status(db_dir, model)
    if errors:
        return _print_errors(db_dir)
    if drop_model is not None:
        from playlist.library.indexer import drop_store_model

        dropped, n, current = drop_store_model(db_dir, drop_model)
        console.print(f"dropped model {dropped}: {n} embeddings; current model now "
                      f"{current or '– (none left: `myna index LIBRARY` embeds again)'}", highlight=False)
        return
    if rebuild_index:
        from playlist.library.indexer import rebuild_store_index

        n = rebuild_store_index(db_dir, spec, model)
        console.print(f"rebuilt the index of {db_dir}: {counted(n, 'track')}")
        return
    if library is None:
        raise LibraryError("which folder?", fix="pass the music folder: `myna index ./library`")
    if import_dir is not None:
        from cli.embed_catalog_cmd import print_import

        return print_import(library, db_dir, import_dir, spec)

    from myna_rpe.checkpoint_config import checkpoint_model_id
    from playlist.library.indexer import IndexOptions, LazyEmbedder, index_library
    from playlist.library.track_vectors import TrackEmbedder, track_model_id

    chosen = token_budget(budget, draws, spread)
    # by name: typer carries its own copy of click, whose ParameterSource is not click's
    if checkpoint is None and all(ctx.get_parameter_source(k).name == "DEFAULT" for k in ("budget", "draws", "spread")):
        chosen = _library_budget(library, db_dir, chosen)

    def load():  # torch and the model only when a file needs embedding, or the model changed
        from myna_rpe.embed import Embedder

        return TrackEmbedder(Embedder.load(checkpoint, device=device, budget=chosen))

    embedder = LazyEmbedder(load, track_model_id(checkpoint_model_id(checkpoint, chosen)))
    options = IndexOptions(workers=workers, batch_size=batch_size, retry_errors=retry_errors, prune=prune,
                           index=spec)
    with progress("tracks") as bar:
        report = index_library(library, embedder, db_dir=db_dir, options=options, progress=_RichHook(bar))

    table = Table(title=f"indexed {library}", show_header=False)
    rows = [("files", report.files), ("unchanged", report.unchanged), ("embedded", report.embedded),
            ("moved/renamed", report.moved), ("copies (embedding reused)", report.copied),
            ("touched (same content)", report.touched), ("removed", report.removed),
            ("failed", report.failed), ("known errors (skipped)", report.known_errors)]
    for name, value in rows:
        table.add_row(name, str(value))
    if report.embedded:
        rate = report.embedded / report.seconds if report.seconds else 0.0
        table.add_row("time", f"{report.seconds:.1f} s ({rate:.2f} tracks/s; in the model {report.model_seconds:.1f} s, "
                              f"waiting for decoded audio {report.decode_wait_seconds:.1f} s)")
    else:
        table.add_row("time", f"{report.seconds:.2f} s")
    console.print(table)
    if report.files == 0 and not report.skipped:
        from myna_rpe.audio import AUDIO_EXTENSIONS

        err_console.print(f"no audio files under {library} (looked for {' '.join(sorted(AUDIO_EXTENSIONS))}; "
                          f"names starting with a dot are skipped) — is it the right folder?",
                          style="yellow", highlight=False)
    problems = report.failed + report.known_errors + len(report.skipped)
    if problems:
        err_console.print(f"{problems} file(s) could not be indexed; see `myna index {library} --errors`",
                          style="yellow", highlight=False)
    _remember_default(library.resolve() if db is None else db_dir.resolve())


def _library_budget(library: Path, db_dir: Path, default):
    """The token budget a run without --checkpoint or budget options uses: the default one,
    unless the library's current model is the bundled model under another budget (that one
    is kept). A current model of another checkpoint stops the run: the bundled model would
    embed every track again and become current, which nobody asked for."""
    from myna_rpe.budget import TokenBudget
    from myna_rpe.checkpoint_config import checkpoint_model_id
    from myna_rpe.errors import LibraryError
    from playlist.library.store import LibraryStore
    from playlist.library.store_db import DB_FILENAME
    from playlist.library.track_vectors import track_model_id

    if not (db_dir / DB_FILENAME).is_file():
        return default
    with LibraryStore.open(db_dir, readonly=True) as store:
        current = next((m for m in store.models() if m.current), None)
    if current is None or current.model_id == track_model_id(checkpoint_model_id(None, default)):
        return default
    try:
        kept = TokenBudget(**(current.config or {})["budget"])
    except (KeyError, TypeError, ValueError):
        kept = None
    if kept is not None and current.model_id == track_model_id(checkpoint_model_id(None, kept)):
        console.print(f"the library's budget is kept: {kept.describe()} (options --budget, --draws and "
                      "--spread choose another)", style="dim", highlight=False)
        return kept
    raise LibraryError(
        f"the library's current model {current.model_id} ({counted(current.count, 'track')}) is not the bundled "
        "model; without --checkpoint this run would embed every track again with the bundled one", path=library,
        fix="pass the --checkpoint it was made with to update it, or `--checkpoint bundled` to add the bundled "
            "model's embeddings beside it")


def _remember_default(folder: Path) -> None:
    """The first library indexed becomes the default library (`myna config`), said in one line."""
    from myna_rpe.errors import ConfigError
    from playlist.library.user_config import default_library, set_default_library

    try:
        if default_library() is not None:
            return
        set_default_library(folder)
    except ConfigError as exc:
        err_console.print(f"warning: could not remember the default library: {exc}", style="yellow", highlight=False)
        return
    console.print(f"remembered {folder} as the default library, used for playlists kept outside it "
                  f"(`myna config` shows and changes it)", highlight=False)


def _print_status(db_dir: Path, model: str | None) -> None:
    from playlist.library.opened import index_is_fresh, index_path, stored_spec
    from playlist.library.store import LibraryStore
    from playlist.library.store_db import DB_FILENAME

    with LibraryStore.open(db_dir, readonly=True, model=model) as store:
        spec = stored_spec(store)
        sets = store.models()
        last = store.get_meta("last_run", dict) or {}
        table = Table(title=f"library {store.root}", show_header=False)
        sizes = sum(p.stat().st_size for p in db_dir.glob(DB_FILENAME + "*"))
        index_file = index_path(store)
        rows = [
            ("store", str(store.db_dir)),
            ("tracks", str(store.count_tracks())),
            ("embedded", str(store.count_embeddings())),
            ("errors", str(len(store.errors()))),
            ("model", f"{store.model_id or '–'} ({_dim_label(store)})"
                      + ("" if store.model_id == store.current_model else f"; the current model is {store.current_model}")),
            ("budget", _budget_label((store.model_config or {}).get("budget"))),
            ("index", _index_label(store, spec, index_is_fresh(store, spec))),
            ("size", (f"store {sizes / 2**20:.1f} MiB, index "
                      f"{index_file.stat().st_size / 2**20 if index_file.exists() else 0:.1f} MiB")),
        ]
        rows.append(("last run", _last_run_label(last) if last else "never finished"))
        for name, value in rows:
            table.add_row(name, value)
    console.print(table)
    if len(sets) > 1:
        _print_model_sets(sets)


def _last_run_label(last: dict) -> str:
    try:
        ago = time.time() - last["finished_at"]
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last["finished_at"]))
        return (f"{when} ({ago / 3600:.1f} h ago), {last['seconds']:.1f} s: {last['embedded']} embedded, "
                f"{last['moved']} moved, {last['removed']} removed, {last['failed']} failed")
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return "unreadable (the next `myna index` records it again)"


def _index_label(store, spec, fresh: bool) -> str:
    from playlist.library.opened import index_state
    from playlist.library.vector_index import AUTO_APPROX_FROM

    built = (index_state(store) or {}).get("built") if fresh else None
    kind = built or spec.kind
    label = f"{kind}, " + ("up to date" if fresh else "stale (rebuilt on next use)")
    if spec.kind == "auto":
        label += f" (auto: flat below {AUTO_APPROX_FROM:,} tracks, IVF with exact re-ranking above)"
    return label


def _print_model_sets(sets) -> None:
    """One row per model's set: `--model ID` on any command searches that one."""
    table = Table(title=f"{len(sets)} embedding sets (one per model; searches never mix them)")
    for column in ("model", "embedded", "dim", "budget", "added"):
        table.add_column(column)
    for m in sets:
        added = time.strftime("%Y-%m-%d %H:%M", time.localtime(m.added_at)) if m.added_at else "–"
        table.add_row(m.model_id + (" (current)" if m.current else ""), str(m.count), str(m.dim or "–"),
                      _budget_label((m.config or {}).get("budget")), added)
    console.print(table)


def _dim_label(store) -> str:
    from playlist.library.track_vectors import stats_dim

    n_stats = stats_dim(store.model_config)
    if not store.dim or not n_stats:
        return f"dim {store.dim or '–'}"
    return f"dim {store.dim}: {store.dim - n_stats} from the model + {n_stats} sound statistics"


def _budget_label(recorded: dict | None) -> str:
    from myna_rpe.budget import DENSE, TokenBudget

    if recorded is None:  # stores written before budgets existed embedded densely
        return DENSE.describe()
    try:
        return TokenBudget(**recorded).describe()
    except (TypeError, ValueError):
        return f"unreadable record {recorded!r}"


def _print_errors(db_dir: Path) -> None:
    from playlist.library.store import LibraryStore

    with LibraryStore.open(db_dir, readonly=True) as store:
        errs = store.errors()
    if not errs:
        console.print("no errors")
        return
    table = Table(title=f"{len(errs)} file(s) that could not be indexed")
    table.add_column("file")
    table.add_column("error")
    for e in errs:
        table.add_row(e.rel_path, e.message)
    console.print(table)


@app.command("similar")
def similar_cmd(
    track: str = typer.Argument(..., help="A file path (in the library or not), or a substring of "
                                          "\"artist - title\" or of the path.", show_default=False),
    n: int = typer.Option(10, "--n", "-n", min=1, max=MAX_TRACKS, help="How many similar tracks."),
    library: Path | None = typer.Option(None, "--library", "-l", help="Library folder (default: found from the path, "
                                                                      "the current folder or the default library)."),
    db: Path | None = typer.Option(None, "--db", help="Store folder; default LIBRARY/.myna."),
    model: str | None = typer.Option(None, "--model", help="Which model's embeddings (an id or its prefix); "
                                                           "default: the library's current one."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", "-c",
                                           help="For a file outside the library: the checkpoint of the library's "
                                                "model, to embed it (default: the bundled model)."),
    device: str = typer.Option("cpu", "--device", callback=device_option, help="torch device, for a file outside the library."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Also write an m3u8: TRACK first, then the similar "
                                                              "tracks, best first (an instant mix)."),
    absolute: bool = typer.Option(False, "--absolute", help="With --out: absolute paths instead of relative ones."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON lines (one object a track) "
                                                       "instead of a table, for scripts."),
) -> None:
    """The tracks of the library closest to TRACK (cosine similarity of embeddings).

    A file that is not in the library is embedded now with the library's model (not stored)."""
    from myna_rpe.audio import AUDIO_EXTENSIONS
    from myna_rpe.errors import LibraryError
    from playlist.library import Library
    from playlist.library.outside import embed_outside, is_outside

    if out is not None:
        output_file("--out", out, (".m3u8", ".m3u"))
    show = _json_similar if as_json else _print_similar
    path = expand_user(track)
    # A path that does not exist (a typo) still finds its library from the folders it names.
    path_like = path.exists() or "/" in track or path.suffix.lower() in AUDIO_EXTENSIONS
    with Library.open(_db_dir(library, db, (path,) if path_like else ()), model=model) as lib:
        if is_outside(lib.store, path):
            results = lib.nearest(embed_outside(lib, path, checkpoint, device), n)
            show(f"similar to {path.name}  (not in the library: embedded now, not stored)", results)
            return _write_mix(out, path.absolute(), results, absolute)
        hits = lib.store.find(track)
        if not hits and path_like and not path.exists():
            raise LibraryError("no such file, and no library track's path or \"artist - title\" contains it",
                               path=track, fix=f"check the name; the library is {lib.store.root}")
        if not hits:
            raise LibraryError(f"no track matches {track!r}", path=lib.store.root,
                               fix="give a path inside the library or part of \"artist - title\"")
        if len(hits) > 1 and hits[0].label.casefold() != track.casefold():
            names = "; ".join(t.rel_path for t in hits[:5])
            raise LibraryError(f"{len(hits)} tracks match {track!r} ({names}{'; …' if len(hits) > 5 else ''})",
                               fix="be more specific, or give the file path")
        query = hits[0]
        results = lib.similar(query.id, n)
    show(f"similar to {query.label}  ({query.rel_path})", results)
    _write_mix(out, query, results, absolute)


def _json_similar(title: str, results) -> None:
    import json
    import sys

    for t, score in results:
        row = {"cosine": round(score, 6), "path": str(t.path), "artist": t.artist, "title": t.title,
               "album": t.album, "duration": t.duration}
        line = json.dumps(row, ensure_ascii=False)  # control characters come out escaped, never raw
        if not line.isascii():
            try:
                line.encode(sys.stdout.encoding or "utf-8")
            except UnicodeEncodeError:  # a terminal that cannot show it, or a lone surrogate: \u escapes
                line = json.dumps(row)
        print(line)


def _write_mix(out: Path | None, first, results, absolute: bool) -> None:
    """TRACK (a library track, or the path of a file outside it), then the similar tracks, as
    an m3u8 (nothing without --out)."""
    if out is None:
        return
    from playlist.m3u import PlaylistEntry, write_m3u8

    head = PlaylistEntry(location=str(first), path=first) if isinstance(first, Path) else PlaylistEntry.of_track(first)
    entries = [head, *(PlaylistEntry.of_track(t) for t, _ in results)]
    write_m3u8(out, entries, absolute=absolute)
    err_console.print(f"wrote {counted(len(entries), 'entry', 'entries')} to {out}", highlight=False)


def _print_similar(title: str, results) -> None:
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("cosine", justify="right")
    table.add_column("artist")
    table.add_column("title")
    table.add_column("album")
    table.add_column("file")
    for rank, (t, score) in enumerate(results, 1):
        table.add_row(str(rank), f"{score:.3f}", t.artist or "", t.title or t.path.stem, t.album or "", t.rel_path)
    console.print(table)
