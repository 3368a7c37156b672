"""Running the real `myna` entry point in-process, as a user's shell would."""

from __future__ import annotations

import sys

import pytest

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


@pytest.fixture(autouse=True)
def wide_console():
    """Import into a test module: tables wrap at 80 columns otherwise, splitting rows."""
    from cli.console import console, err_console

    saved = console.width, err_console.width
    console.width = err_console.width = 250
    yield
    console.width, err_console.width = saved
