"""`import_catalog`: merge the shards of `myna embed-catalog` into a library's store.

Nothing is written until every check has passed, so a refused import leaves the store
as it was:

1. The model: every row must carry the catalogue's model id (`catalog.json`). A store that
   holds another model's vectors keeps them: the catalogue's become a second set beside
   them and the current one, as `myna index` with another checkpoint does (models never mix
   within a set).
2. The files: each shard path is looked up in the library (relative paths against its
   root). A file that is there must have the fingerprint (`playlist.library.scan.content_hash`)
   of one of its rows — else it changed since it was embedded, and the import is refused.
   A file that is not there is skipped and counted (a catalogue may be larger than one
   library), unless no file at all is found: then it is the wrong library.
3. The shards: every column has its type, and every vector is finite
   (`catalog_shards.read_checked_shard`).
4. The merge: one transaction for all shards, through `LibraryStore.add_track`, with the
   library file's own size, mtime and tags, so a following `myna index` finds these
   tracks unchanged and embeds only what the catalogue lacked. An import is all or
   nothing: refused or killed, the store is as it was. The FAISS index is rebuilt.

A track already stored with the same fingerprint is left alone, so an import can be rerun.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from myna_rpe.errors import LibraryError
from myna_rpe.fileio import expand_user
from playlist.library.catalog_shards import META_FILENAME, iter_rows, read_checked_shard, read_meta, shard_paths
from playlist.library.opened import rebuild_index, stored_spec
from playlist.library.lock import LibraryLock
from playlist.library.scan import content_hash, walk_library
from playlist.library.store import DB_FILENAME, LibraryStore, TrackInfo, default_db_dir
from playlist.library.tags import read_tags
from playlist.library.vector_index import IndexSpec

_SHOWN = 3  # example paths named in a refusal


@dataclass
class ImportReport:
    rows: int = 0  # in the shards
    imported: int = 0
    already: int = 0  # stored before with the same fingerprint
    not_in_library: list[str] = field(default_factory=list)
    failed_rows: int = 0  # files the catalogue run could not embed (no vector to import)
    library_files: int = 0
    not_in_catalogue: int = 0  # library files with no vector yet (`myna index` embeds them)
    model_id: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class _Chosen:
    rel_path: str
    file: Path
    fingerprint: str
    size: int
    mtime_ns: int


def import_catalog(root: str | Path, shard_dir: str | Path, db_dir: str | Path | None = None,
                   index: IndexSpec | None = None) -> ImportReport:
    """Merge `shard_dir`'s shards into the store of the library at `root` (see module doc)."""
    started = time.perf_counter()
    root = expand_user(root).resolve()
    shard_dir = expand_user(shard_dir)
    if not root.is_dir():
        raise LibraryError("not a folder", path=root, fix="pass the folder that holds your music")
    meta = read_meta(shard_dir)
    if meta is None or not shard_paths(shard_dir):
        raise LibraryError(f"no catalogue shards here (no {META_FILENAME} and part-*.parquet)", path=shard_dir,
                           fix="pass the --out folder of `myna embed-catalog`")
    report = ImportReport(model_id=meta.model_id)
    db_dir = expand_user(db_dir).absolute() if db_dir is not None else default_db_dir(root)
    if not (db_dir / DB_FILENAME).is_file():  # a new store: check first, so a refusal creates nothing
        _check_rows(None, root, shard_dir, meta.model_id, meta.dim, ImportReport())
    with LibraryLock(db_dir), LibraryStore.open(db_dir, root=root, create=True) as store:
        chosen = _check_rows(store, root, shard_dir, meta.model_id, meta.dim, report)
        by_shard: dict[Path, dict[str, _Chosen]] = defaultdict(dict)
        for shard, c in chosen:
            by_shard[shard][c.rel_path] = c
        with store.transaction():
            if store.model_id != meta.model_id:
                store.set_model(meta.model_id, meta.model_config, meta.dim)
            for shard, wanted in sorted(by_shard.items()):
                _merge_shard(store, shard, wanted, report)
        rebuild_index(store, index or stored_spec(store), save=True)
        files, _ = walk_library(root)
        stored = store.embedded_ids()
        stored_paths = {t.rel_path for t in store.tracks() if t.id in stored}
        report.library_files = len(files)
        report.not_in_catalogue = sum(f.rel_path not in stored_paths for f in files)
        report.seconds = time.perf_counter() - started
        store.set_meta("last_import", {"finished_at": time.time(), "from": str(shard_dir.resolve()),
                                       "imported": report.imported, "model_id": meta.model_id})
    return report


def _check_rows(store: LibraryStore | None, root: Path, shard_dir: Path, model_id: str, dim: int,
                report: ImportReport) -> list[tuple[Path, _Chosen]]:
    """Every check of the module docstring; returns (shard, file) pairs to import."""
    candidates: dict[str, list[tuple[Path, str]]] = defaultdict(list)  # rel path -> (shard, fingerprint)
    for shard in shard_paths(shard_dir):
        table = read_checked_shard(shard, dim).select(["path", "fingerprint", "model_id", "error"])
        for path, fingerprint, row_model, error in zip(*(table[c].to_pylist() for c in table.column_names)):
            report.rows += 1
            if row_model != model_id:
                raise LibraryError(f"this shard holds vectors of model {row_model}, the catalogue's is {model_id}",
                                   path=shard, fix="keep one model's shards per folder: move this shard aside")
            if error:
                report.failed_rows += 1
                continue
            candidates[path].append((shard, fingerprint))

    by_path = {t.rel_path: t for t in store.tracks()} if store is not None else {}
    embedded = store.embedded_ids() if store is not None and store.model_id == model_id else set()
    chosen: list[tuple[Path, _Chosen]] = []
    changed: list[str] = []
    for name, rows in sorted(candidates.items()):
        file = Path(name) if Path(name).is_absolute() else root / name
        try:
            rel = file.resolve().relative_to(root).as_posix() if file.is_absolute() else name
            st = file.stat()
        except (ValueError, OSError):  # outside the library, or not there
            report.not_in_library.append(name)
            continue
        prints = {fingerprint: shard for shard, fingerprint in rows}
        track = by_path.get(rel)
        if track is not None and track.id in embedded and (track.size, track.mtime_ns) == (st.st_size, st.st_mtime_ns) \
                and track.content_hash in prints:
            report.already += 1  # the store checked this file's fingerprint already
            continue
        try:
            fingerprint = content_hash(file, st.st_size)
        except OSError:
            report.not_in_library.append(name)
            continue
        if fingerprint not in prints:
            changed.append(name)
            continue
        if track is not None and track.id in embedded and track.content_hash == fingerprint:
            report.already += 1
            continue
        chosen.append((prints[fingerprint], _Chosen(rel, file, fingerprint, st.st_size, st.st_mtime_ns)))
    if changed:
        raise LibraryError(f"{len(changed)} file(s) of the library differ from what the catalogue embedded "
                           f"(fingerprint mismatch: {_examples(changed)})", path=root,
                           fix="run `myna embed-catalog` again on this library (it redoes only changed files), "
                               "then import again")
    if candidates and len(report.not_in_library) == len(candidates):
        raise LibraryError(f"none of the catalogue's {len(candidates)} files is in this library "
                           f"(e.g. {_examples(report.not_in_library)})", path=root,
                           fix="pass the library the catalogue was embedded from (shard paths are relative to it)")
    return chosen


def _merge_shard(store: LibraryStore, shard: Path, wanted: dict[str, _Chosen], report: ImportReport) -> None:
    """Add the wanted rows of one shard; inside the import's one transaction."""
    for _, row in iter_rows([shard]):
        c = wanted.get(_rel_of(row["path"], store.root))
        if c is None or row["fingerprint"] != c.fingerprint or row["vector"] is None:
            continue
        tags = read_tags(c.file)
        store.add_track(TrackInfo(rel_path=c.rel_path, size=c.size, mtime_ns=c.mtime_ns,
                                  content_hash=c.fingerprint, title=tags.title, artist=tags.artist,
                                  album=tags.album, track_no=tags.track_no, duration=row["duration"],
                                  isrc=tags.isrc), row["vector"])
        report.imported += 1
        del wanted[c.rel_path]  # a path listed twice with one fingerprint is imported once


def _rel_of(name: str, root: Path) -> str:
    path = Path(name)
    if not path.is_absolute():
        return name
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return name


def _examples(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")
