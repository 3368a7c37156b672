"""Text from users' files reaches the terminal exactly and inert: rich markup and emoji codes
are not read, escape sequences and line breaks are shown as escapes (cli/console.py)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from rich.progress import Progress
from rich.table import Table

from cli.console import UserTextConsole, progress, styled, visible
from tests.faults.helpers import myna
from tests.library_helpers import write_track

HOSTILE = "Artist [live]/bad [bold]x :fire: \x1b]0;pwned\x07\x1b[2J\r\nnext\u202eline"
SHOWN = "Artist [live]/bad [bold]x :fire: \\x1b]0;pwned\\x07\\x1b[2J\\r\\nnext\\u202eline"


def test_visible_shows_control_characters_as_escapes() -> None:
    assert visible(HOSTILE) == SHOWN
    assert visible("Ärtist – 歌手 [live]") == "Ärtist – 歌手 [live]"
    assert visible("caf\udce9.mp3") == "caf\\xe9.mp3"  # a latin-1 byte in a file name, as os.fsdecode keeps it


def _printed(*renderables) -> str:
    out = io.StringIO()
    console = UserTextConsole(file=out, width=300, color_system=None)
    for r in renderables:
        console.print(r)
    return out.getvalue()


def test_lines_tables_and_styled_pieces_show_user_text_exactly() -> None:
    table = Table(title="title [b]x\x1b[2J")
    table.add_column("track")
    table.add_row(HOSTILE)
    printed = _printed(HOSTILE, table, styled(("error:", "red"), f" {HOSTILE} — pip install 'myna-rpe[onnx]'"))
    assert "\x1b" not in printed and "\x07" not in printed and "\u202e" not in printed
    assert printed.count(SHOWN) == 3 and "title [b]x\\x1b[2J" in printed, printed
    assert "pip install 'myna-rpe[onnx]'" in printed


def test_progress_descriptions_show_file_names_exactly() -> None:
    bar: Progress = progress("tracks")
    task = bar.add_task(f"embedding {HOSTILE}", total=1)
    column = bar.columns[0]
    assert column.render(bar.tasks[task]).plain == f"embedding {SHOWN}"


def test_an_error_naming_a_hostile_path_is_one_visible_line(tmp_path: Path, checkpoint: Path, capsys) -> None:
    from cli.app import main

    path = tmp_path / "Artist [live]" / "bad [bold]x\x1b]0;pwned\x07.mp3"
    argv, sys.argv = sys.argv, ["myna", "embed", str(path), "-c", str(checkpoint)]
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = argv
    err = capsys.readouterr().err
    assert code == 1 and "\x1b" not in err and "\x07" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert visible(path) in lines[0] and "[live]" in lines[0] and "[bold]" in lines[0]


def test_index_errors_list_a_hostile_file_name_visibly(tmp_path: Path, checkpoint: Path) -> None:
    root = tmp_path / "lib"
    write_track(root / "good.flac", 0, 1.0)
    bad = root / "notes [b]x\x1b[2J.mp3"
    bad.write_text("liner notes, not audio\n" * 10)
    assert myna("index", root, "-c", checkpoint, "--workers", "0").returncode == 0
    listed = myna("index", root, "--errors")
    assert listed.returncode == 0 and "\x1b" not in listed.stdout, listed.stdout
    assert "notes [b]x\\x1b[2J.mp3" in listed.stdout, listed.stdout


def warn_about(name: str) -> int:
    """In a decode worker: the warning the decoder logs for a file cut short."""
    import logging

    logging.getLogger("myna_rpe.audio").warning("%s: stream ends early (%s); using the audio before it", name, "EOF")
    return 0


def test_library_warnings_show_file_names_visibly(capfd) -> None:
    from cli.console import show_library_warnings
    from myna_rpe.worker_guard import started_pool

    show_library_warnings()
    warn_about(HOSTILE)
    pool = started_pool(1)
    try:
        pool.submit(warn_about, HOSTILE).result(timeout=120)
    finally:
        pool.shutdown()
    err = capfd.readouterr().err
    assert "\x1b" not in err and "\x07" not in err, err
    assert err.count(f"warning: {SHOWN}: stream ends early") == 2, err  # here and in the worker
