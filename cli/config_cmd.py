"""`myna config`: show and set the user's settings (today: the default library)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cli.app import app
from cli.console import console, styled


@app.command("config")
def config_cmd(
    key: str | None = typer.Argument(None, help="Setting to set: default-library.", show_default=False),
    value: Path | None = typer.Argument(None, help="Its new value (a library folder).", show_default=False),
    unset: str | None = typer.Option(None, "--unset", metavar="KEY", help="Forget a setting."),
) -> None:
    """Show the settings (and the Subsonic sign-in of `myna subsonic login`); `myna config
    default-library PATH` sets the library used when no store is found from a playlist or the
    current folder; `--unset default-library` forgets it."""
    from myna_rpe.errors import ConfigError
    from playlist.library.locate_store import store_of
    from playlist.library.user_config import DEFAULT_LIBRARY, KEYS, config_path, default_library, set_default_library

    for name in (key, unset):
        if name is not None and name not in KEYS:
            raise ConfigError(f"unknown setting {name!r}", fix=f"known settings: {', '.join(KEYS)}")
    if unset is not None:
        if key is not None:
            raise ConfigError("give either a setting to change or --unset, not both")
        set_default_library(None)
        console.print(f"{DEFAULT_LIBRARY} unset ({config_path()})", highlight=False)
        return
    if key is not None:
        if value is None:
            raise ConfigError(f"{key} needs a value", fix=f"`myna config {key} PATH`, or `--unset {key}`")
        if not value.is_dir():
            raise ConfigError("not a folder", value, "give the music folder you indexed with `myna index`")
        set_default_library(value)
        console.print(f"{DEFAULT_LIBRARY} = {default_library()}", highlight=False)
        if store_of(value) is None:
            console.print(f"no library store there yet; run `myna index {value}`", style="yellow", highlight=False)
        return
    table = Table(title=f"settings ({config_path()})", show_header=False)
    library = default_library()
    if library is None:
        shown = "not set"
    else:
        shown = styled(str(library), *(() if store_of(library) else (("  (no store there)", "yellow"),)))
    table.add_row(DEFAULT_LIBRARY, shown)
    table.add_row("subsonic", _subsonic_sign_in())
    console.print(table)


def _subsonic_sign_in() -> str:
    """The stored Subsonic sign-in, its secret never shown (`myna subsonic login` sets it)."""
    from playlist.subsonic.credentials import login_path, stored_login

    login = stored_login()
    if not login:
        return "not signed in (`myna subsonic login --server URL --user NAME`)"
    who = f"{login['user']} at " if login.get("user") else ""
    secret = "API key" if login.get("api_key") else "password"
    return f"{who}{login.get('url', '?')} ({secret} stored in {login_path()}, mode 600)"
