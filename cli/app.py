"""The `myna` command: one Typer app; each area registers its own sub-commands.

Thin by design: parse, call the library, print. A `MynaError` becomes one red line
and a non-zero exit; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import signal
import sys

import typer

from cli.console import err_console, show_library_warnings, styled

app = typer.Typer(
    name="myna",
    help="Myna-RPE: an audio encoder with relative positions, and playlists as regions of its embedding space.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    # Each module adds its commands to `app` (or a sub-app) on import.
    import importlib

    for name in ("cli.embed_cmd", "cli.train_cmd", "cli.eval_cmd", "cli.index_cmd",
                 "cli.playlist_cmd", "cli.spotify_cmd", "cli.demo_cmd", "cli.config_cmd", "cli.mpd_cmd",
                 "cli.serve_cmd", "cli.export_cmd", "cli.subsonic_cmd",
                 "cli.embed_catalog_cmd"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an area not built yet in this checkout
            if exc.name != name:
                raise


def main() -> None:
    show_library_warnings()
    _register()
    try:
        _run()
    finally:
        # The work is done (or failed): a Ctrl-C during interpreter shutdown, while Python
        # joins the decode pool's threads, would only print a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run() -> None:
    from myna_rpe.errors import MynaError

    try:
        rc = app(standalone_mode=False)
    except MynaError as exc:
        err_console.print(styled(("error:", "red"), f" {exc}"), highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted", style="yellow")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted", style="yellow")
        sys.exit(1)
    except typer.exceptions.TyperException as exc:  # usage errors (bad option, missing argument)
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        sys.exit(getattr(exc, "exit_code", 2))
    if rc == 130:  # typer turns Ctrl-C inside a command into a return value
        err_console.print("interrupted", style="yellow")
    if isinstance(rc, int) and rc:
        sys.exit(rc)


if __name__ == "__main__":
    # Run through the importable module, so `python -m cli.app` (e.g. under torchrun) and
    # the command modules share one `app`.
    from cli.app import main as _main

    _main()
