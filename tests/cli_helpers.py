"""Running the real `myna` entry point in-process, as a user's shell would."""

from __future__ import annotations

import sys

from cli.app import main


def myna(capsys, *args: str) -> tuple[int, str]:
    """(exit status, stdout + stderr) of `myna ARGS`, through `cli.app.main`."""
    saved = sys.argv
    sys.argv = ["myna", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved
    out = capsys.readouterr()
    return code, out.out + out.err
