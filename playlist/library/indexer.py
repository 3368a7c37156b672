"""`index_library`: bring a library's store and FAISS index up to date with its folder.

One run, under the store's lock:

1. Model: the embedder's model becomes the store's current one; another model's
   embeddings stay beside it as their own set (a search reads one set, models never mix).
2. Plan, from a walk of the folder and the store:
   - same path, same size and mtime, embedded: unchanged (no read at all);
   - same path, new size/mtime: fingerprinted; same hash -> only the stamp is updated,
     else re-embedded (same track id);
   - new path whose hash matches a track whose file is gone: a move (id and embedding kept);
     matches a track still present: a copy (new id, embedding copied, nothing decoded);
   - new path, unknown hash: embedded;
   - a stored track whose file is gone and was not moved: deleted (not one the walk could not
     look at now: under an unreadable folder, or a permission denied; that is a recorded error);
   - a file that failed before and has the same size/mtime: skipped (listed by --errors).
   The cheap changes (stamps, moves, copies, deletions) commit together first.
3. Embed: files are grouped into batches of similar duration (less padding in the padded
   forward pass), decoded and turned into log-mels by worker processes a few batches ahead
   of the model, embedded in the main process, and committed one batch per transaction. A kill loses at most the
   batch in flight; the next run finds those files still to do.
4. Index: the FAISS index is rebuilt from the store if the embeddings changed, and
   written atomically.
"""

from __future__ import annotations

import os
import random
import shlex
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from myna_rpe.audio import describe
from myna_rpe.config import EncoderConfig, FrontendConfig
from myna_rpe.errors import LibraryError
from myna_rpe.fileio import expand_user
from playlist.library.opened import drop_index, load_index, rebuild_index, stored_spec
from playlist.library.lock import LibraryLock
from playlist.library.scan import FileStat, Skipped, content_hash, walk_library
from playlist.library.store import LibraryStore, TrackInfo, default_db_dir
from playlist.library.tags import Tags, read_tags
from playlist.library.track_vectors import model_record
from playlist.library.vector_index import IndexSpec
from myna_rpe.worker_guard import started_pool

if TYPE_CHECKING:  # torch is imported only when something needs embedding
    import torch


class EmbedderLike(Protocol):
    """What the indexer needs from `myna_rpe.embed.Embedder`."""

    model_id: str
    config: EncoderConfig

    @property
    def dim(self) -> int: ...

    def embed_mels(self, mels: Sequence[torch.Tensor]) -> np.ndarray: ...


class LazyEmbedder:
    """An embedder loaded on first use, and the model id it will have, when that is known
    without loading (`myna_rpe.checkpoint_config.checkpoint_model_id`; None: only loading
    tells). A run that finds nothing to embed in a store of that model never loads it."""

    def __init__(self, load: Callable[[], EmbedderLike], model_id: str | None) -> None:
        self._load = load
        self.model_id = model_id
        self._embedder: EmbedderLike | None = None

    def get(self) -> EmbedderLike:
        if self._embedder is None:
            embedder = self._load()
            if self.model_id is not None and embedder.model_id != self.model_id:
                raise RuntimeError(f"bug: the loaded model is {embedder.model_id}, announced as {self.model_id}")
            self._embedder, self.model_id = embedder, embedder.model_id
        return self._embedder


class ProgressHook(Protocol):
    def phase(self, name: str, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def note(self, message: str) -> None: ...

    # Optional: `working(name)` is called with the file(s) the run is waiting for, so a
    # long file shows what is in work rather than a bar that seems stuck.


@dataclass(frozen=True)
class IndexOptions:
    workers: int | None = None  # decoding processes; None = default_workers(); 0 = in this process
    batch_size: int = 8  # tracks per forward pass and per commit
    max_batch_seconds: float = 1800.0  # cap on audio per batch, for memory
    prefetch_batches: int = 2  # batches decoded ahead of the model
    index: IndexSpec | None = None  # None: the type chosen before (flat for a new store)
    retry_errors: bool = False  # decode again files that failed before even if unchanged
    prune: bool = False  # remove the missing tracks even when they are all, or most, of the store's
    rebuild_index: bool = False  # rebuild the FAISS index even if it is fresh
    seed: int = 0  # order in which batches are processed (shuffled, so the ETA is honest)


@dataclass
class IndexReport:
    files: int = 0
    unchanged: int = 0
    embedded: int = 0
    moved: int = 0
    copied: int = 0
    touched: int = 0
    removed: int = 0
    failed: int = 0  # files that failed in this run
    known_errors: int = 0  # unchanged files that failed before (not retried)
    skipped: list[Skipped] = field(default_factory=list)  # found by the walk, not indexable (links, FIFOs...)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (relative path, message) this run
    previous_model: str | None = None  # the library's current model before this run
    model_id: str | None = None  # the model this run indexed with (current afterwards)
    kept_models: list[str] = field(default_factory=list)  # other models' sets, kept beside this one
    index_rebuilt: bool = False
    seconds: float = 0.0
    model_seconds: float = 0.0  # in the encoder's forward passes
    decode_wait_seconds: float = 0.0  # the model idle, waiting for decoded audio and its log-mel

    @property
    def model_changed(self) -> bool:
        return self.previous_model is not None and self.previous_model != self.model_id


@dataclass(frozen=True)
class _Job:
    file: FileStat
    content_hash: str
    tags: Tags


@dataclass
class _Plan:
    touch: list[tuple[int, FileStat]] = field(default_factory=list)
    move: list[tuple[int, FileStat]] = field(default_factory=list)
    copy: list[tuple[int, FileStat, str]] = field(default_factory=list)
    delete: list[int] = field(default_factory=list)
    stale_errors: list[str] = field(default_factory=list)
    embed: list[tuple[FileStat, str]] = field(default_factory=list)
    stored: int = 0  # tracks in the store before this run


def index_library(root: str | Path, embedder: EmbedderLike | LazyEmbedder, db_dir: str | Path | None = None,
                  options: IndexOptions = IndexOptions(), progress: ProgressHook | None = None) -> IndexReport:
    """Index (or update) the library at `root`; see the module docstring. A `LazyEmbedder`
    whose model id matches the store's is loaded only if some file needs embedding."""
    started = time.perf_counter()
    root = expand_user(root).resolve()
    if not root.is_dir():
        raise LibraryError("not a folder", path=root, fix="pass the folder that holds your music")
    db_dir = expand_user(db_dir).absolute() if db_dir is not None else default_db_dir(root)
    report = IndexReport()
    if not isinstance(embedder, LazyEmbedder):
        embedder = LazyEmbedder(lambda loaded=embedder: loaded, embedder.model_id)
    with LibraryLock(db_dir), LibraryStore.open(db_dir, root=root, create=True) as store:
        _choose_model(store, embedder, report, progress)
        spec = options.index or stored_spec(store)
        store.set_meta("index_spec", asdict(spec))

        files, report.skipped = walk_library(root)
        report.files = len(files)
        plan = _plan(store, files, options, report, progress)
        if not options.prune:
            _refuse_mass_removal(root, len(plan.delete), plan.stored)
        _apply_cheap_changes(store, plan, report)
        if plan.embed:
            jobs = _read_tags(plan.embed, progress)
            _embed_jobs(store, embedder.get(), jobs, options, report, progress)

        if options.rebuild_index or load_index(store, spec) is None:
            rebuild_index(store, spec, save=True)
            report.index_rebuilt = True
        report.seconds = time.perf_counter() - started
        store.set_meta("last_run", {
            "finished_at": time.time(), "seconds": round(report.seconds, 3), "files": report.files,
            "embedded": report.embedded, "moved": report.moved, "copied": report.copied,
            "removed": report.removed, "failed": report.failed, "model_id": store.model_id,
        })
    return report


def _choose_model(store: LibraryStore, embedder: LazyEmbedder, report: IndexReport,
                  progress: ProgressHook | None) -> None:
    """Make the embedder's model current. A model the store already has is chosen without
    loading it; a new one is recorded (config, budget, size) beside the others' sets, which
    are kept: a search reads one set only, so models never mix."""
    report.previous_model = store.model_id
    models = {m.model_id: m for m in store.models()}
    if embedder.model_id is None or embedder.model_id not in models:
        loaded = embedder.get()
        store.set_model(loaded.model_id, model_record(loaded), loaded.dim)
    elif embedder.model_id != store.model_id:
        store.set_model(embedder.model_id)
    report.model_id = store.model_id
    if not report.model_changed:
        return
    report.kept_models = sorted(m for m in models if m != store.model_id)
    if progress:
        have = models[store.model_id].count if store.model_id in models else 0
        kept = ", ".join(f"{m} ({models[m].count})" for m in report.kept_models)
        progress.note(f"indexing with model {store.model_id} ({have} tracks already embedded with it); kept the "
                      f"embeddings of {kept} — `--model ID` searches them, `myna index --drop-model ID` removes them")


def rebuild_store_index(db_dir: str | Path, spec: IndexSpec | None = None, model: str | None = None) -> int:
    """`myna index --rebuild-index`: rebuild one model's FAISS index from the store; returns its size."""
    with LibraryLock(Path(db_dir)), LibraryStore.open(db_dir, model=model) as store:
        index, _ = rebuild_index(store, spec or stored_spec(store), save=True)
        return int(index.ntotal)


def drop_store_model(db_dir: str | Path, model: str) -> tuple[str, int, str | None]:
    """`myna index --drop-model ID`: delete one model's embeddings and index file.
    Returns (the model id, embeddings deleted, the current model afterwards)."""
    with LibraryLock(Path(db_dir)), LibraryStore.open(db_dir) as store:
        model_id = store.resolve_model(model)
        n = store.drop_model(model_id)
        drop_index(store, model_id)
        return model_id, n, store.current_model


# ---------------------------------------------------------------------------- planning


def _plan(store: LibraryStore, files: list[FileStat], options: IndexOptions, report: IndexReport,
          progress: ProgressHook | None) -> _Plan:
    by_path = {t.rel_path: t for t in store.tracks()}
    plan = _Plan(stored=len(by_path))
    embedded = store.embedded_ids()
    known_errors = {e.rel_path: e for e in store.errors()}
    new_files: list[tuple[FileStat, str]] = []
    if progress:
        progress.phase("scanning", len(files))
    for f in files:
        if progress:
            progress.advance()
        track = by_path.get(f.rel_path)
        if track is not None and (track.size, track.mtime_ns) == (f.size, f.mtime_ns):
            if track.id in embedded:
                report.unchanged += 1
            else:
                plan.embed.append((f, track.content_hash))
            continue
        err = known_errors.get(f.rel_path)
        if track is None and err is not None and (err.size, err.mtime_ns) == (f.size, f.mtime_ns) \
                and not options.retry_errors:
            report.known_errors += 1
            continue
        try:
            h = content_hash(f.path, f.size)
        except OSError:
            plan.embed.append((f, ""))  # unreadable: the decoder fails too, and its error is recorded
            continue
        if track is None:
            new_files.append((f, h))
        elif h == track.content_hash:
            plan.touch.append((track.id, f))
            if track.id not in embedded:
                plan.embed.append((f, h))
        else:
            plan.embed.append((f, h))

    present = {f.rel_path for f in files}
    gone = [t for rel, t in by_path.items() if rel not in present and not _unreadable_now(rel, report.skipped)]
    gone_by_hash: dict[str, list] = defaultdict(list)
    for t in sorted(gone, key=lambda t: (t.id not in embedded, t.id)):  # embedded ones first
        gone_by_hash[t.content_hash].append(t)
    present_by_hash = {t.content_hash: t.id for t in by_path.values()
                       if t.rel_path in present and t.id in embedded}
    for f, h in new_files:
        if gone_by_hash.get(h):
            track = gone_by_hash[h].pop(0)
            plan.move.append((track.id, f))
            if track.id not in embedded:
                plan.embed.append((f, h))
        elif h in present_by_hash:
            plan.copy.append((present_by_hash[h], f, h))
        else:
            plan.embed.append((f, h))
    plan.delete = [t.id for ts in gone_by_hash.values() for t in ts]
    plan.stale_errors = [rel for rel in known_errors if rel not in present]
    return plan


MASS_REMOVAL_MIN = 10  # below this, losing half a small library is ordinary tidying


def _refuse_mass_removal(root: Path, missing: int, stored: int) -> None:
    """An unmounted drive or an emptied mount point looks like a library whose files were all
    deleted; removing their tracks would throw away every embedding. So a run that would remove
    all of the store's tracks, or half or more of them (at least MASS_REMOVAL_MIN), stops
    before changing anything unless `--prune` says the files are really gone."""
    if missing == 0 or (missing < stored and (missing < MASS_REMOVAL_MIN or 2 * missing < stored)):
        return
    raise LibraryError(
        f"{missing} of the store's {stored} tracks are missing from the folder; nothing was changed",
        path=root,
        fix=f"is a drive unmounted or a folder moved elsewhere? Bring it back and run again; "
            f"if those files are really gone, `myna index {shlex.quote(str(root))} --prune` removes their tracks")


def _unreadable_now(rel_path: str, skipped: list[Skipped]) -> bool:
    """Whether the walk could not look at `rel_path` this time (its folder, or the entry, cannot
    be read now): its track is kept, not deleted; the skip is recorded as an error."""
    return any(s.rel_path == "./" or (s.rel_path.endswith("/") and rel_path.startswith(s.rel_path))
               or (rel_path == s.rel_path and s.reason == describe("unreadable")) for s in skipped)


def _read_tags(files: list[tuple[FileStat, str]], progress: ProgressHook | None) -> list[_Job]:
    """Tags (and the header duration that batching sorts by) of every file to embed."""
    if progress:
        progress.phase("reading tags", len(files))
    jobs = []
    for f, h in files:
        jobs.append(_Job(f, h, read_tags(f.path)))
        if progress:
            progress.advance()
    return jobs


def _apply_cheap_changes(store: LibraryStore, plan: _Plan, report: IndexReport) -> None:
    with store.transaction():
        for track_id, f in plan.touch:
            store.touch_track(track_id, f.size, f.mtime_ns)
        report.removed = store.delete_tracks(plan.delete)  # first: a move may reuse a deleted path
        for track_id, f in plan.move:
            store.move_track(track_id, f.rel_path, f.size, f.mtime_ns)
        for source_id, f, h in plan.copy:
            source = store.track(source_id)
            store.copy_track(source_id, _info(f, h, read_tags(f.path), source.duration if source else None))
        store.delete_errors(plan.stale_errors)
        for skip in report.skipped:  # recorded each run, so --errors lists them while they last
            store.record_error(skip.rel_path, 0, 0, skip.reason)
    report.touched, report.moved, report.copied = len(plan.touch), len(plan.move), len(plan.copy)


def _info(f: FileStat, h: str, tags: Tags, duration: float | None) -> TrackInfo:
    return TrackInfo(rel_path=f.rel_path, size=f.size, mtime_ns=f.mtime_ns, content_hash=h,
                     title=tags.title, artist=tags.artist, album=tags.album, track_no=tags.track_no,
                     duration=duration if duration is not None else tags.duration, isrc=tags.isrc)


# ---------------------------------------------------------------------------- embedding


def make_batches(jobs: list[_Job], batch_size: int, max_seconds: float, seed: int = 0) -> list[list[_Job]]:
    """Jobs sorted by duration and cut into batches (so a padded batch wastes little), then
    the batches shuffled with `seed` so the rate seen early is the rate of the whole run."""
    def duration(job: _Job) -> float:
        # Header duration where mutagen finds one; else ~1 MB per minute is a fair guess.
        return job.tags.duration or job.file.size / 16_000

    ordered = sorted(jobs, key=lambda j: (duration(j), j.file.rel_path))
    batches: list[list[_Job]] = []
    current: list[_Job] = []
    seconds = 0.0
    for job in ordered:
        d = duration(job)
        if current and (len(current) >= batch_size or seconds + d > max_seconds):
            batches.append(current)
            current, seconds = [], 0.0
        current.append(job)
        seconds += d
    if current:
        batches.append(current)
    random.Random(seed).shuffle(batches)
    return batches


# (log-mel (n_mels, T) float32, seconds of audio, None) or (None, 0.0, error message)
Prepared = tuple[np.ndarray | None, float, str | None]


def prepare_file(path: str, frontend: FrontendConfig) -> Prepared:
    """Decode a file and compute the model's log-mel input, piece by piece (an hour of audio
    never sits in memory whole). Runs in a worker, so the main process only runs the
    transformer; a mel is also 4x smaller than its waveform to send. Never raises for a bad file."""
    from myna_rpe.embed import file_log_mel
    from myna_rpe.errors import MynaError

    try:
        mel, samples = file_log_mel(path, frontend)
    except MynaError as exc:
        return None, 0.0, _short(str(exc), path)
    except Exception as exc:  # a decoder bug on one odd file must not stop a whole library run
        return None, 0.0, f"{type(exc).__name__}: {exc}"
    return mel.numpy(), samples / frontend.sample_rate, None


def _short(message: str, path: str) -> str:
    """Drop the leading "path: " (the errors table has the path in its own column)."""
    prefix = f"{path}: "
    return message.removeprefix(prefix)


def default_workers(device: str = "cpu", cpus: int | None = None) -> int:
    """Decode processes for a run. Under the token budget the `mini` encoder costs about a
    fifth of what decoding plus the log-mel cost per track, so on a CPU three quarters of the
    cores decode (at least one; on 2 cores both, which made a run of real music 25-35 %
    faster than one worker: benchmarks/README.md, "Decode workers"), and the run lowers the
    encoder's torch threads to the cores left (at least one). A GPU model is fast: give
    decoding every core but one. At most 8 either way: a worker holds ~400 MiB."""
    cpus = cpus or os.cpu_count() or 1
    if device != "cpu":
        return max(1, min(8, cpus - 1))
    return max(1, min(8, cpus - cpus // 4))


Prepare = Callable[[str, FrontendConfig], Prepared]


class _Decoder:
    """Decodes batches ahead of the consumer, in worker processes (or inline if workers=0).

    A worker that dies (an FFmpeg crash on one file) breaks the whole pool and every
    future in it. Each file whose future broke is then decoded again on its own in a fresh
    pool: the innocent ones succeed, and the file that kills its worker a second time is
    recorded as an error, so one bad file never stops the run."""

    def __init__(self, workers: int, frontend: FrontendConfig, prepare: Prepare = prepare_file) -> None:
        self.workers = workers
        self.frontend = frontend
        self.prepare = prepare
        self.pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> None:
        if self.workers > 0:  # spawned: no fork of a process running torch threads
            self.pool = started_pool(self.workers)

    def submit(self, batch: list[_Job]) -> list[Future] | None:
        if self.workers == 0:
            return None
        if self.pool is None:
            self._new_pool()
        try:
            return [self.pool.submit(self.prepare, str(j.file.path), self.frontend) for j in batch]
        except BrokenProcessPool:  # a worker died since the last batch; its files are redone by _alone
            self.close()
            self._new_pool()
            return [self.pool.submit(self.prepare, str(j.file.path), self.frontend) for j in batch]

    def results(self, batch: list[_Job], futures: list[Future] | None) -> list[Prepared]:
        if futures is None:
            return [self.prepare(str(j.file.path), self.frontend) for j in batch]
        out = []
        for job, fut in zip(batch, futures):
            try:
                out.append(fut.result())
            except BrokenProcessPool:
                out.append(self._alone(job))
        return out

    def _alone(self, job: _Job) -> Prepared:
        """Decode one file in a healthy pool, waiting for it."""
        args = (self.prepare, str(job.file.path), self.frontend)
        try:
            fut = self.pool.submit(*args)
        except BrokenProcessPool:  # the pool is the broken one: replace it
            self.close()
            self._new_pool()
            fut = self.pool.submit(*args)
        try:
            return fut.result()
        except BrokenProcessPool:
            return None, 0.0, "the decoder crashed on this file (its worker process died)"

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None


def _embed_jobs(store: LibraryStore, embedder: EmbedderLike, jobs: list[_Job], options: IndexOptions,
                report: IndexReport, progress: ProgressHook | None) -> None:
    import torch

    if progress:
        progress.phase("embedding", len(jobs))
    if not jobs:
        return
    batches = make_batches(jobs, options.batch_size, options.max_batch_seconds, options.seed)
    device = str(getattr(embedder, "device", "cpu"))
    workers = min(default_workers(device) if options.workers is None else options.workers, len(jobs))
    decoder = _Decoder(workers, embedder.config.frontend)
    ahead: dict[int, list[Future] | None] = {}
    threads = torch.get_num_threads()
    if workers and device == "cpu":  # the workers have their cores; don't oversubscribe them
        torch.set_num_threads(max(1, min(threads, (os.cpu_count() or 1) - workers)))
    try:
        for i in range(min(options.prefetch_batches + 1, len(batches))):
            ahead[i] = decoder.submit(batches[i])
        working = getattr(progress, "working", None)
        for i, batch in enumerate(batches):
            if working is not None:
                working(batch[0].file.rel_path + (f" (+{len(batch) - 1})" if len(batch) > 1 else ""))
            t = time.perf_counter()
            results = decoder.results(batch, ahead.pop(i))
            report.decode_wait_seconds += time.perf_counter() - t
            nxt = i + options.prefetch_batches + 1
            if nxt < len(batches):
                ahead[nxt] = decoder.submit(batches[nxt])
            _embed_and_commit(store, embedder, batch, results, report)
            if progress:
                progress.advance(len(batch))
    finally:
        decoder.close()
        torch.set_num_threads(threads)


def _embed_and_commit(store: LibraryStore, embedder: EmbedderLike, batch: list[_Job],
                      results: list[Prepared], report: IndexReport) -> None:
    import torch

    ok = [(job, mel, seconds) for job, (mel, seconds, _) in zip(batch, results) if mel is not None]
    t = time.perf_counter()
    vectors = embedder.embed_mels([torch.from_numpy(mel) for _, mel, _ in ok]) if ok else []
    report.model_seconds += time.perf_counter() - t
    with store.transaction():
        for (job, _, seconds), vec in zip(ok, vectors):
            if not np.all(np.isfinite(vec)):
                _fail(store, job, "the model produced a non-finite embedding", report)
                continue
            store.add_track(_info(job.file, job.content_hash, job.tags, seconds), vec)
            report.embedded += 1
        for job, (mel, _, message) in zip(batch, results):
            if mel is None:
                _fail(store, job, message or "unknown decoding error", report)


def _fail(store: LibraryStore, job: _Job, message: str, report: IndexReport) -> None:
    """Record the failure; a stored track at this path no longer matches its file, so it goes."""
    old = store.track_at(job.file.rel_path)
    if old is not None:
        store.delete_tracks([old.id])
    store.record_error(job.file.rel_path, job.file.size, job.file.mtime_ns, message)
    report.failed += 1
    report.errors.append((job.file.rel_path, message))
