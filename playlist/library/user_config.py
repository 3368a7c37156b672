"""The user's settings: one JSON object in `user_config_dir("myna")/config.json`
(`~/.config/myna/config.json` on Linux, honouring `XDG_CONFIG_HOME`).

Today it holds one setting, the default library: where `myna` looks for a store
when neither `--db`, a playlist's entries nor the current folder lead to one.
`myna index LIB` remembers LIB when no default is set; `myna config` shows and sets it.
"""

from __future__ import annotations

import json
from pathlib import Path

from platformdirs import user_config_dir

from myna_rpe.errors import ConfigError
from myna_rpe.fileio import atomic_write_text, expand_user

CONFIG_FILE = "config.json"
DEFAULT_LIBRARY = "default-library"
KEYS = (DEFAULT_LIBRARY,)


def config_path() -> Path:
    return Path(user_config_dir("myna")) / CONFIG_FILE


def read_config() -> dict[str, str]:
    """The settings; {} when the file does not exist."""
    path = config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the settings ({exc.strerror})", path, "check its permissions") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(f"the settings are not valid JSON ({exc})", path,
                          "fix the file, or delete it and set the values again with `myna config`") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError("the settings must be a JSON object of strings", path,
                          "fix the file, or delete it and set the values again with `myna config`")
    return data


def set_value(key: str, value: str | None) -> Path:
    """Set (or with None remove) one setting; the file is replaced atomically."""
    if key not in KEYS:
        raise ConfigError(f"unknown setting {key!r}", fix=f"known settings: {', '.join(KEYS)}")
    data = read_config()
    if value is None:
        data.pop(key, None)
    else:
        data[key] = value
    return atomic_write_text(config_path(), json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def default_library() -> Path | None:
    value = read_config().get(DEFAULT_LIBRARY)
    return Path(value) if value else None


def set_default_library(folder: Path | None) -> Path:
    """Remember `folder` (a library or a store folder), as an absolute path; None forgets it."""
    return set_value(DEFAULT_LIBRARY, None if folder is None else str(expand_user(folder).resolve()))
