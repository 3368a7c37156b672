"""Which library store a command works on, when `--db` does not say.

In order: `--db`; the store above the tracks the playlist names (the one holding most
of them); the store above the playlist's own folder (or another folder the command is
about); the store above the current folder; the default library from the user's
settings (`playlist.library.user_config`). A store is a `.myna` folder holding `library.sqlite`
(`playlist.library.store.find_db_dir` walks up to the nearest one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from myna_rpe.errors import LibraryError
from playlist.library.store import default_db_dir, find_db_dir
from playlist.library.store_db import DB_FILENAME
from playlist.library.user_config import default_library

NOT_FOUND_FIX = ("run `myna index LIBRARY` (the first library indexed becomes the default), "
                 "set one with `myna config default-library LIBRARY`, or pass --db LIBRARY/.myna")


def store_of(folder: Path) -> Path | None:
    """The store of a library folder (FOLDER/.myna), or FOLDER itself if it is a store."""
    for candidate in (default_db_dir(folder), folder):
        if (candidate / DB_FILENAME).is_file():
            return candidate
    return None


def _above_entries(entries: Iterable[Path]) -> tuple[Path | None, int]:
    """The store above the most entries (first seen wins a tie), and how many folders were tried."""
    stores: dict[Path, Path | None] = {}  # each folder walked up once
    votes: Counter[Path] = Counter()
    for entry in entries:
        folder = Path(entry).absolute().parent
        if folder not in stores:
            try:
                stores[folder] = find_db_dir(folder)
            except OSError:  # a name too long for the system (the entry is reported as skipped later)
                stores[folder] = None
        if stores[folder] is not None:
            votes[stores[folder]] += 1
    best = max(votes, key=votes.__getitem__, default=None)  # Counter keeps first-seen order
    return best, len(stores)


def locate_store(db: Path | None = None, *, entries: Iterable[Path] = (), near: Iterable[Path] = (),
                 required: bool = True) -> Path | None:
    """The store folder to use (see the module docstring). With `required`, none found is a
    `LibraryError` naming every place tried; otherwise None."""
    if db is not None:
        return db
    tried: list[str] = []
    found, n_folders = _above_entries(entries)
    if found is not None:
        return found
    if n_folders:
        tried.append(f"above the tracks named ({n_folders} folder{'s' if n_folders > 1 else ''})")
    cwd = Path.cwd()
    for folder in dict.fromkeys([*(Path(f).absolute() for f in near), cwd]):
        if (found := find_db_dir(folder)) is not None:
            return found
        tried.append(f"above {'the current folder ' if folder == cwd else ''}{folder}")
    default = default_library()
    if default is not None:
        if (found := store_of(default)) is not None:
            return found
        tried.append(f"the default library {default} (no store there)")
    else:
        tried.append("no default library set")
    if not required:
        return None
    raise LibraryError(f"no library store found (tried: {'; '.join(tried)})", fix=NOT_FOUND_FIX)
