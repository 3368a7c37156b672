"""A disk cache of log-mel spectrograms, so training decodes every file once.

Layout: `ROOT/<frontend key>/<sha[:2]>/<sha>.npy`, where `sha` is the SHA-256 of the
audio file's bytes and the frontend key a hash of the FrontendConfig (plus a format
version). Renaming or copying a file reuses its entry; editing it, or changing any
frontend setting, makes a new one. Each entry is a float16 (frames, n_mels) array:
time-major so a chunk is one contiguous read, half precision because the normalised
log-mel needs ~3 significant digits and a large corpus then takes half the disk.
Training reads entries through `np.load(mmap_mode="r")`, never into memory whole.

Every entry is written to a temporary file and renamed into place, so an interrupted
build leaves whole entries or none, and the next build carries on where it stopped.
`manifest.json` remembers (path, size, mtime) → sha so unchanged files are not re-hashed,
and which contents failed to decode, so a broken file is reported once and not retried
until it changes.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from myna_rpe.config import FrontendConfig
from myna_rpe.errors import AudioError
from myna_rpe.fileio import atomic_write
from myna_rpe.worker_guard import started_pool

CACHE_FORMAT = 1
MANIFEST = "manifest.json"


def frontend_key(cfg: FrontendConfig) -> str:
    doc = json.dumps({"format": CACHE_FORMAT, "frontend": asdict(cfg)}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def content_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class CachedTrack:
    path: Path
    sha: str
    frames: int


@dataclass
class BuildReport:
    tracks: list[CachedTrack]
    failed: list[tuple[Path, str]]  # unreadable audio: (path, reason)
    too_short: list[Path]
    computed: int  # entries decoded in this build (the rest were cached)


def _compute(path: Path, cfg: FrontendConfig) -> np.ndarray:
    """Decode a file and return its (frames, n_mels) float16 log-mel."""
    from myna_rpe.audio import load_audio
    from myna_rpe.frontend import log_mel

    wave = load_audio(path, sample_rate=cfg.sample_rate)
    mel = log_mel(wave, cfg)  # (n_mels, T)
    return np.ascontiguousarray(mel.numpy().T.astype(np.float16))


def _write_npy_atomic(target: Path, array: np.ndarray) -> None:
    with atomic_write(target) as fh:
        np.save(fh, array)


def _compute_and_store(path: Path, target: Path, cfg: FrontendConfig) -> tuple[int | None, str | None]:
    """Worker: (frames, None) on success, (None, reason) for a file that does not decode."""
    try:
        mel = _compute(path, cfg)
    except AudioError as exc:
        return None, str(exc)
    _write_npy_atomic(target, mel)
    return mel.shape[0], None


class MelCache:
    def __init__(self, root: str | Path, frontend: FrontendConfig) -> None:
        self.frontend = frontend
        self.dir = Path(root).expanduser() / frontend_key(frontend)
        self._maps: OrderedDict[str, np.ndarray] = OrderedDict()
        self.max_open = 1024  # memory maps kept open (the OS limits how many a process may hold)

    def entry(self, sha: str) -> Path:
        return self.dir / sha[:2] / f"{sha}.npy"

    # -- manifest --------------------------------------------------------------------
    def _read_manifest(self) -> dict:
        try:
            doc = json.loads((self.dir / MANIFEST).read_text())
            if doc.get("format") == CACHE_FORMAT:
                return doc
        except (OSError, ValueError, RecursionError):
            pass  # a missing or damaged manifest only costs re-hashing
        return {"format": CACHE_FORMAT, "frontend": asdict(self.frontend), "files": {}, "failed": {}}

    def _write_manifest(self, doc: dict) -> None:
        from myna_rpe.checkpoint import atomic_write_bytes

        atomic_write_bytes(self.dir / MANIFEST, json.dumps(doc).encode())

    # -- build -----------------------------------------------------------------------
    def build(
        self,
        paths: Sequence[Path],
        min_frames: int = 1,
        workers: int = 0,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> BuildReport:
        """Make sure every file has an entry; returns the usable tracks in input order."""
        self.dir.mkdir(parents=True, exist_ok=True)
        doc = self._read_manifest()
        files, failed_shas = doc["files"], doc["failed"]
        shas: dict[Path, str] = {}
        failed: list[tuple[Path, str]] = []
        todo: list[tuple[Path, str]] = []
        for p in paths:
            try:
                st = p.stat()
                memo = files.get(str(p))
                if memo and memo[0] == st.st_size and memo[1] == st.st_mtime_ns:
                    sha = memo[2]
                else:
                    sha = content_sha256(p)
                    files[str(p)] = [st.st_size, st.st_mtime_ns, sha]
            except OSError as exc:
                failed.append((p, f"{p}: cannot read ({exc.strerror})"))
                continue
            shas[p] = sha
            if sha in failed_shas:
                failed.append((p, failed_shas[sha]))
            elif not self.entry(sha).is_file():
                todo.append((p, sha))
        total, done, computed = len(todo), 0, 0
        if on_progress:
            on_progress(0, total)

        def record(p: Path, sha: str, reason: str | None) -> None:
            nonlocal done, computed
            done += 1
            if reason is None:
                computed += 1
            else:
                failed_shas[sha] = reason
                failed.append((p, reason))
            if done % 50 == 0:
                self._write_manifest(doc)
            if on_progress:
                on_progress(done, total)

        try:
            if workers > 1 and total > 1:
                # spawn, not fork: a forked child of a process that has run OpenMP/torch code can hang.
                with started_pool(workers) as pool:
                    futures = [(p, sha, pool.submit(_compute_and_store, p, self.entry(sha), self.frontend)) for p, sha in todo]
                    for p, sha, fut in futures:
                        record(p, sha, fut.result()[1])
            else:
                for p, sha in todo:
                    record(p, sha, _compute_and_store(p, self.entry(sha), self.frontend)[1])
        finally:
            self._write_manifest(doc)

        tracks, too_short, bad = [], [], {p for p, _ in failed}
        for p in paths:
            if p in bad or p not in shas:
                continue
            frames = self.frames(shas[p])
            if frames < min_frames:
                too_short.append(p)
            else:
                tracks.append(CachedTrack(p, shas[p], frames))
        return BuildReport(tracks, failed, too_short, computed)

    # -- read ------------------------------------------------------------------------
    def open(self, sha: str) -> np.ndarray:
        """The (frames, n_mels) float16 memory map of an entry (kept open, LRU)."""
        m = self._maps.get(sha)
        if m is None:
            m = np.load(self.entry(sha), mmap_mode="r")
            self._maps[sha] = m
            if len(self._maps) > self.max_open:
                self._maps.popitem(last=False)
        else:
            self._maps.move_to_end(sha)
        return m

    def frames(self, sha: str) -> int:
        return int(self.open(sha).shape[0])

    def read(self, sha: str, start: int, length: int) -> np.ndarray:
        """Frames [start, start + length) as a float32 (n_mels, length) array."""
        return np.asarray(self.open(sha)[start : start + length], dtype=np.float32).T
