"""Atomic file writes: readers see the old file or the new one, never half of either.

Every file the project writes for later (checkpoints, playlists, indexes, caches,
reports, tokens) goes through `atomic_write`: a temporary file beside the target,
flushed and fsynced, then renamed over it. A crash or Ctrl-C leaves the old file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_write(path: str | Path, mode: int | None = None) -> Iterator[BinaryIO]:
    """Open a binary file whose content replaces `path` only if the block succeeds.

    `mode` sets the permissions (default: what a plain `open` would give under the
    umask; pass 0o600 for secrets: the temporary file is private from the start).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, mode: int | None = None) -> Path:
    with atomic_write(path, mode) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, mode: int | None = None) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), mode)
