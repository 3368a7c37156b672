"""Checks of option values, shared by every command, done before any work starts.

A bad value is a usage error: Typer prints `Invalid value for '--option': what is wrong
and the fix` and the command exits 2, like any other usage error (a missing argument,
an unknown option). Errors found later, in the work itself, are `MynaError`s (exit 1).

Numbers: `typer.Option(..., callback=number(min=0))`. Typer's own `min=` lets NaN
through with a misleading "should be greater than" message, so every float option here
goes through `number`; int options may keep `min=`.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import typer

from myna_rpe.text import visible

# The most tracks one command may list, add or generate, and the largest batches: every
# count option has a bound, so no value can make a command allocate without limit.
MAX_TRACKS = 10_000
MAX_BATCH = 1024


def number(min: float | None = None, max: float | None = None,
           above: float | None = None) -> Callable[[float | None], float | None]:
    """A callback accepting finite numbers with min <= x <= max and x > above (and None, for
    options without a default)."""

    def check(value: float | None) -> float | None:
        if value is None:
            return None
        bounds = [f">= {min:g}"] if min is not None else []
        bounds += [f"> {above:g}"] if above is not None else []
        bounds += [f"<= {max:g}"] if max is not None else []
        wanted = "a finite number" + (f" {' and '.join(bounds)}" if bounds else "")
        if (not math.isfinite(value) or (min is not None and value < min) or (max is not None and value > max)
                or (above is not None and value <= above)):
            raise typer.BadParameter(f"{value:g} is not allowed: give {wanted}")
        return value

    return check


def existing_folder(flag: str, path: Path | None) -> Path | None:
    """`path` if it is None or a folder; a usage error naming `flag` otherwise."""
    if path is not None and not path.is_dir():
        what = "does not exist" if not path.exists() else "is a file, not a folder"
        raise typer.BadParameter(f"{visible(path)} {what}: give an existing folder", param_hint=f"'{flag}'")
    return path


def folder_to_create(flag: str, path: Path | None) -> Path | None:
    """`path` if it is None, a folder, or a name where a folder can be made (nothing there, and
    no file on the way to it); a usage error naming `flag` otherwise."""
    if path is None:
        return None
    for part in (path, *path.absolute().parents):
        if part.exists():
            if not part.is_dir():
                where = "is a file" if part == path else f"is under {visible(part)}, a file"
                raise typer.BadParameter(f"{visible(path)} {where}: give a folder", param_hint=f"'{flag}'")
            break
    return path


def device(value: str | None) -> str | None:
    """A callback for `--device`: cpu, cuda, cuda:N or mps, present on this machine (and None)."""
    return _device(value, auto=False)


def device_or_auto(value: str | None) -> str | None:
    """`device`, and auto (`myna train`: the GPU if there is one)."""
    return _device(value, auto=True)


def _device(value: str | None, auto: bool) -> str | None:  # typer passes callbacks what their signature asks
    from myna_rpe.devices import device_problem

    if value is not None and (problem := device_problem(value, auto)):
        raise typer.BadParameter(problem)
    return value


def output_file(flag: str, out: Path, suffixes: Sequence[str], inputs: Sequence[Path] = (),
                probe: bool = False) -> Path:
    """Check an output path before any work: a known suffix, not a folder, not one of the
    inputs (writing it would replace what was read). Missing parent folders are created
    when the file is written. `probe`, for commands whose work takes long (eval, embed):
    also try writing a file where it will go, so a read-only or full place fails now, not
    after the work."""
    if out.is_dir():
        raise typer.BadParameter(f"{visible(out)} is a folder: give a file name", param_hint=f"'{flag}'")
    if out.suffix.lower() not in suffixes:
        raise typer.BadParameter(f"{visible(out)}: unknown file type {visible(out.suffix) or '(none)'!r}: end the name with "
                                 f"{' or '.join(suffixes)}", param_hint=f"'{flag}'")
    for parent in out.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise typer.BadParameter(f"{visible(parent)} is a file, so {visible(out)} cannot be written: choose another "
                                         "folder", param_hint=f"'{flag}'")
            break
    for source in inputs:
        if same_file(out, source):
            raise typer.BadParameter(f"{visible(out)} is an input of this command and would be replaced: choose another "
                                     "name", param_hint=f"'{flag}'")
    if probe:
        _probe_write(flag, out)
    return out


def _probe_write(flag: str, out: Path) -> None:
    """Create and remove a small file in the folder `out` goes to (its nearest existing one:
    the missing ones are made later), which is what the atomic write will do there."""
    folder = next(p for p in out.absolute().parents if p.exists())
    try:
        tempfile.NamedTemporaryFile(dir=folder, prefix=".myna-probe-").close()  # deleted on close
    except OSError as exc:
        raise typer.BadParameter(f"{visible(out)} cannot be written ({exc.strerror or exc}): choose a writable "
                                 "place, or free space there", param_hint=f"'{flag}'") from None


def same_file(a: Path, b: Path) -> bool:
    """Whether `a` and `b` name one file, now (links, hard links) or once `a`'s missing folders
    are made (`new/../x.m3u8` is `x.m3u8`): resolve() walks `..` past a folder that does not exist."""
    try:
        both_there = a.exists() and b.exists()
        return a.samefile(b) if both_there else a.resolve() == b.resolve()
    except OSError:
        return a.resolve() == b.resolve()
