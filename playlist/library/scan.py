"""Walking a library folder and fingerprinting its files.

Walk: every regular file (symlinks to files included) whose suffix is an audio
extension, recursively; folders and files starting with "." are skipped (the
store's own `.myna/`, macOS `._*` resource forks). Symlinked folders are not
followed, so a link loop cannot make the walk endless.

Nothing with an audio extension is left out without a record: a dangling symlink, a
symlink loop, a FIFO (never opened, so it cannot block), a socket or device, a name that
is not valid UTF-8 and a folder that cannot be read come back as `Skipped` entries with
their reason, and the indexer lists them in `myna index --errors`.

Fingerprint (`content_hash`): BLAKE2b-128 over the file size, the first and last MiB,
and 16 evenly spaced 64 KiB windows of the middle; files up to 3 MiB are hashed whole.
It reads ~3 MiB of a 8 MiB mp3 and ~3 MiB of a 40 MiB flac, so detecting a moved file
or a `touch`-ed one costs a few ms instead of a full read. Tag edits and re-encodes
change the head or the tail (and usually the size), so they change the hash. An in-place
edit of only unsampled middle bytes that also keeps the size would go unnoticed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from myna_rpe.audio import AUDIO_EXTENSIONS, describe, file_problem

HEAD_TAIL_BYTES = 1 << 20
WINDOW_BYTES = 64 << 10
WINDOWS = 16
_WHOLE_FILE_LIMIT = 2 * HEAD_TAIL_BYTES + WINDOWS * WINDOW_BYTES


@dataclass(frozen=True)
class FileStat:
    path: Path  # absolute
    rel_path: str  # relative to the library root, POSIX separators
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Skipped:
    rel_path: str  # relative to the library root; a folder ends with "/"
    reason: str  # one line: what it is and the fix


def walk_library(root: Path) -> tuple[list[FileStat], list[Skipped]]:
    """(audio files sorted by relative path, entries that cannot be indexed, sorted too)."""
    root = Path(root)
    files: list[FileStat] = []
    skipped: list[Skipped] = []

    def unreadable_folder(exc: OSError) -> None:
        rel = _printable(Path(exc.filename).relative_to(root).as_posix()) + "/"
        skipped.append(Skipped(rel, f"cannot read this folder ({(exc.strerror or str(exc)).lower()}) — "
                                    "make it readable (e.g. chmod a+rx) and run again"))

    for folder, dirs, names in os.walk(root, onerror=unreadable_folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in AUDIO_EXTENSIONS:
                continue
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:  # undecodable bytes in the name: SQLite text must be UTF-8
                skipped.append(Skipped(_printable(rel), "the file name is not valid UTF-8 — rename the file "
                                                        "(e.g. with convmv) and run again"))
                continue
            try:
                st = os.stat(path)  # one stat for the common case, a regular file
            except OSError:
                st = None
            if st is None or not stat.S_ISREG(st.st_mode):  # only then ask what kind of thing it is
                problem = file_problem(path)
                if problem not in (None, "empty", "missing"):  # "missing": removed during the walk
                    skipped.append(Skipped(rel, describe(problem)))
                continue
            files.append(FileStat(path=path, rel_path=rel, size=st.st_size, mtime_ns=st.st_mtime_ns))
    files.sort(key=lambda f: f.rel_path)
    skipped.sort(key=lambda s: s.rel_path)
    return files, skipped


def _printable(rel: str) -> str:
    """A name with undecodable bytes, shown with U+FFFD in their place."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def content_hash(path: Path, size: int | None = None) -> str:
    """Sampled BLAKE2b fingerprint (see module docstring); raises OSError if unreadable."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        if size is None:
            size = os.fstat(f.fileno()).st_size
        h.update(size.to_bytes(8, "little"))
        if size <= _WHOLE_FILE_LIMIT:
            h.update(f.read())
            return h.hexdigest()
        h.update(f.read(HEAD_TAIL_BYTES))
        middle = size - 2 * HEAD_TAIL_BYTES - WINDOW_BYTES
        for i in range(WINDOWS):
            f.seek(HEAD_TAIL_BYTES + middle * i // (WINDOWS - 1))
            h.update(f.read(WINDOW_BYTES))
        f.seek(size - HEAD_TAIL_BYTES)
        h.update(f.read(HEAD_TAIL_BYTES))
    return h.hexdigest()


def full_hash(path: Path) -> str:
    """BLAKE2b-128 of every byte: the baseline the sampled fingerprint is measured against."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
