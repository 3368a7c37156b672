"""The project's own exceptions: user-caused failures with the path and the fix.

The CLI catches `MynaError`, prints its one-line message in red and exits non-zero,
without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class MynaError(Exception):
    """A failure the user can fix. `str(err)` is one line: what, where, and the fix."""

    def __init__(self, message: str, path: str | Path | None = None, fix: str | None = None):
        self.path = Path(path) if path is not None else None
        self.fix = fix
        parts = [f"{path}: {message}" if path is not None else message]
        if fix:
            parts.append(fix)
        super().__init__(" — ".join(parts))


class StorageError(MynaError):
    """A file that cannot be written: the disk is full, or the folder is read-only."""


class AudioError(MynaError):
    """A file that cannot be decoded as audio (corrupt, empty, unsupported...)."""


class CheckpointError(MynaError):
    """A checkpoint that is missing, corrupt, or does not match the model."""


class DatasetError(MynaError):
    """An evaluation or training dataset that is missing or laid out wrongly."""


class SettingError(MynaError):
    """A run setting out of range or not fitting the others; `keys` names the settings at
    fault, so the CLI can name the flag (a usage error) or the config file that set it."""

    def __init__(self, message: str, path: str | Path | None = None, fix: str | None = None,
                 keys: tuple[str, ...] = ()):
        super().__init__(message, path, fix)
        self.message = message
        self.keys = keys


class LibraryError(MynaError):
    """A problem with the library store or its index (locked, wrong model...)."""


class PlaylistError(MynaError):
    """A playlist file that cannot be read or written."""


class SpotifyError(MynaError):
    """A failure talking to Spotify (credentials, permissions, not found...)."""


class ConfigError(MynaError):
    """The user's settings file (`myna config`) that cannot be read or holds a bad value."""
