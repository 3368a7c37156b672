"""One writer per store: a non-blocking `flock` on `DB_DIR/lock`.

The kernel drops the lock when the holder exits, however it exits (SIGKILL included),
so a stale lock file never blocks the next run; the pid inside is only for the message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from myna_rpe.errors import LibraryError
from playlist.library.sqlite_guard import FIX_NO_STORE_HERE, FIX_READ_ONLY

LOCK_FILENAME = "lock"


class LibraryLock:
    def __init__(self, db_dir: Path) -> None:
        self.path = Path(db_dir) / LOCK_FILENAME
        self._fd: int | None = None

    def acquire(self) -> None:
        new_store = not self.path.parent.is_dir()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a read-only folder (another user's library, read-only media)
            if new_store:
                raise LibraryError(f"cannot create the store here: {exc.strerror.lower()}", path=self.path.parent,
                                   fix=FIX_NO_STORE_HERE) from None
            raise LibraryError(f"cannot update this store: {exc.strerror.lower()}", path=self.path.parent,
                               fix=FIX_READ_ONLY) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise LibraryError(f"another `myna index` (pid {holder}) is updating this library",
                               path=self.path.parent, fix="wait for it to finish, then run again") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:  # a full disk: the pid is only for the message above
            pass
        self._fd = fd

    def try_acquire(self) -> bool:
        """True if the lock is now held; False if another process holds it or it cannot be created."""
        try:
            self.acquire()
        except LibraryError:
            return False
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> LibraryLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
