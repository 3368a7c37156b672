"""Text from users' files (names, tags, playlist lines, server answers) made safe to show on
a terminal, exactly: the one rule, used by the CLI's consoles (cli/console.py) and by the
log lines of processes that have no console (the indexer's decode workers)."""

from __future__ import annotations

import logging


def visible(text: object) -> str:
    """`text` as it may reach a terminal: printable characters as they are; line breaks,
    escape sequences and other control or format characters as Python-style escapes
    (`\\n`, `\\x1b`, `\\u202e`); a byte of a file name that is not UTF-8 as `\\xff`."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
        return f"\\x{code - 0xDC00:02x}"
    return ch.encode("unicode_escape").decode("ascii")


class VisibleLogHandler(logging.Handler):
    """Log records as `warning: MESSAGE` lines on stderr, the message shown with `visible`
    (a file name in a warning cannot move the cursor or clear the screen)."""

    def __init__(self, write) -> None:
        super().__init__(logging.WARNING)
        self.write = write

    def emit(self, record: logging.LogRecord) -> None:
        self.write(f"warning: {visible(record.getMessage())}")
