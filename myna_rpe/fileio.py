"""Atomic file writes: readers see the old file or the new one, never half of either.

Every file the project writes for later (checkpoints, playlists, indexes, caches,
reports, tokens) goes through `atomic_write`: a temporary file beside the target,
flushed and fsynced, then renamed over it. A crash or Ctrl-C leaves the old file.
A full disk, a read-only folder or a place where no file can be made (`/proc/...`) is a
`StorageError` (one line: the path and the fix), and the old file is left as it was.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from myna_rpe.errors import StorageError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_write(path: str | Path, mode: int | None = None) -> Iterator[BinaryIO]:
    """Open a binary file whose content replaces `path` only if the block succeeds.

    `mode` sets the permissions (default: what a plain `open` would give under the
    umask; pass 0o600 for secrets: the temporary file is private from the start).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise storage_error(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK if mode is None else mode)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # writing the temporary file or renaming it
            raise storage_error(exc, path) from None
        raise


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def storage_error(exc: OSError, path: Path) -> StorageError:
    """The one line for a write that failed: a full disk, a read-only folder, or a place where
    no file can be made (`/proc`, a name that is too long, a folder that vanished)."""
    if exc.errno in _DISK_FULL:
        return StorageError("cannot write: the disk is full", path=path,
                            fix="free some space and run the command again (the previous file is unchanged)")
    if exc.errno in _READ_ONLY:
        return StorageError(f"cannot write: {exc.strerror.lower()}", path=path,
                            fix="write to a folder you may change, or make this one writable")
    return StorageError(f"cannot write a file here ({exc.strerror or exc})", path=path,
                        fix="choose another file name or folder")


def atomic_write_bytes(path: str | Path, data: bytes, mode: int | None = None) -> Path:
    with atomic_write(path, mode) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, mode: int | None = None) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), mode)


def expand_user(path: str | Path) -> Path:
    """`path` with a leading `~` or `~user` expanded, as a shell would; where that home is not
    known (`~nobody-here/x`), the path as written (a name that starts with `~`)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:  # "Could not determine home directory"
        return Path(path)
