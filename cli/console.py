"""Shared rich consoles and progress bars, so every command looks the same; the one output
layer for text from users' files, tags and servers.

Every string printed through `console` / `err_console` (a line, a table cell, a title, a
progress description) is shown exactly: never read as rich markup or emoji codes
(`Song [live].mp3` prints as itself), and with control and format characters made visible
as escapes (`visible`), so a file name cannot move the cursor, clear the screen or set the
window title. Style comes from `style=` or from `styled(...)` pieces, never from markup in
a string.
"""

from __future__ import annotations

import logging
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

from myna_rpe.text import VisibleLogHandler, visible



def counted(n: int, noun: str, plural: str | None = None) -> str:
    """"1 track", "3 tracks", "1 entry", "2 entries"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def styled(*parts: str | tuple[str, str]) -> Text:
    """One line of pieces, each text or (text, style), every piece shown with `visible`."""
    return Text.assemble(*((visible(p), "") if isinstance(p, str) else (visible(p[0]), p[1]) for p in parts))


class UserTextConsole(Console):
    """A console for which every string is user text: no markup, no emoji codes, `visible`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(markup=False, emoji=False, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        kwargs["markup"] = kwargs["emoji"] = False
        return super().render_str(visible(text), **kwargs)


console = UserTextConsole()
err_console = UserTextConsole(stderr=True)


def show_library_warnings() -> None:
    """The library's log warnings (a file decoded up to where it was cut...) as yellow lines on
    `err_console`, shown with `visible`, instead of Python's raw last-resort output."""
    handler = VisibleLogHandler(lambda line: err_console.print(line, style="yellow", highlight=False,
                                                               soft_wrap=True))
    for name in ("myna_rpe", "playlist"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, VisibleLogHandler) for h in logger.handlers):
            logger.addHandler(handler)
        logger.propagate = False


class DescriptionColumn(ProgressColumn):
    """A task's description in bold, shown with `visible` (it may name a user's file)."""

    def __init__(self) -> None:
        # shares the line's free width with the bar, cut with an ellipsis: a long file name
        # wrapped the whole bar onto two lines at 80 columns
        super().__init__(table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1))

    def render(self, task: Task) -> Text:
        return Text(visible(task.description), style="bold", no_wrap=True, overflow="ellipsis")


class RateColumn(ProgressColumn):
    """Items per second in the caller's unit ("tracks/s", "pairs/s"), averaged since the task
    started: work that lands in batches (a decoded batch, a Ray shard) made rich's windowed
    speed read hundreds of times the real rate just after each one."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed
        if not task.completed or not elapsed:
            return Text("–", style="cyan")
        speed = task.completed / elapsed
        return Text(f"{speed:.2f} {self.unit}/s" if speed < 100 else f"{speed:,.0f} {self.unit}/s", style="cyan")


def progress(unit: str = "items", *extra: ProgressColumn, compact: bool = False) -> Progress:
    """A progress bar with count, rate and ETA on stderr. Use as a context manager. `compact`: for
    many `extra` columns, one of them the rate: no rate or elapsed time of its own, and the bar
    takes what is left, so the line still fits 80 columns."""
    return Progress(
        DescriptionColumn(),
        BarColumn(bar_width=10) if compact else BarColumn(bar_width=None, table_column=Column(ratio=1)),
        MofNCompleteColumn(),
        *(() if compact else (RateColumn(unit),)),
        *extra,
        *(() if compact else (TimeElapsedColumn(),)),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
        expand=True,  # the line is the terminal's width: the ratio columns take what the others leave
    )
