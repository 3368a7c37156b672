"""Walking a library folder and fingerprinting its files.

Walk: every regular file (symlinks to files included) whose suffix is an audio
extension, recursively; folders and files starting with "." are skipped (the
store's own `.myna/`, macOS `._*` resource forks). Symlinked folders are not
followed, so a link loop cannot make the walk endless.

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
from dataclasses import dataclass
from pathlib import Path

from myna_rpe.audio import AUDIO_EXTENSIONS

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


def walk_library(root: Path) -> tuple[list[FileStat], list[str]]:
    """(audio files sorted by relative path, names skipped because they are not valid UTF-8)."""
    root = Path(root)
    files: list[FileStat] = []
    bad_names: list[str] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in AUDIO_EXTENSIONS:
                continue
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:  # undecodable bytes in the name: SQLite text must be UTF-8
                bad_names.append(rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
                continue
            try:
                st = path.stat()
            except OSError:  # dangling symlink or a file removed during the walk
                continue
            if not os.path.isfile(path):
                continue
            files.append(FileStat(path=path, rel_path=rel, size=st.st_size, mtime_ns=st.st_mtime_ns))
    files.sort(key=lambda f: f.rel_path)
    return files, bad_names


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
