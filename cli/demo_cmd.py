"""`myna demo`: the whole user journey on a small generated library, one command.

It runs the same commands a user types (printed as it goes): build a library of
synthetic songs, `myna index` it with the bundled model, write a seed playlist from one
album, `myna playlist extend` it, and `myna playlist plot` the result.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path

import typer

from cli.app import app
from cli.console import console, counted, styled
from cli.values import MAX_TRACKS
from myna_rpe.fileio import atomic_write_text


def _myna_command() -> str:
    """How the user can call `myna` again: plain `myna` if it is on PATH, else its path."""
    exe = Path(sys.argv[0])
    on_path = shutil.which("myna")
    if exe.name == "myna" and (on_path is None or Path(on_path).resolve() != exe.resolve()):
        relative = os.path.relpath(exe)
        return shlex.quote(str(exe.absolute()) if relative.startswith("..") else relative)
    return "myna"


_MARK = ".myna-demo"  # in the demo's folder: the songs it generated there, so a rerun knows what is its own


def _demo_mark(folder: Path) -> dict | None:
    """What the demo generated in `folder` ({"tracks", "seed", "files"}), or None for a folder
    that does not exist or is empty. A folder with other files and no mark is the user's:
    the demo would replace files in it, so it refuses it."""
    from myna_rpe.errors import MynaError

    try:
        mark = json.loads((folder / _MARK).read_text(encoding="utf-8"))
        return {"tracks": mark["tracks"], "seed": mark["seed"], "files": list(mark["files"])}
    except (OSError, ValueError, KeyError, TypeError):  # no mark, or not one the demo wrote
        unmarked = folder.is_dir() and any(folder.iterdir())
    if unmarked:
        raise MynaError("this folder holds files that `myna demo` did not make, and it would replace them", folder,
                        "pass --dir with a new or empty folder")
    return None


def _generate(folder: Path, library: Path, tracks: int, seed: int, previous: dict | None) -> None:
    """Make the demo's songs in `library`, removing only the songs it made before (a file the
    user put there stays) and its store. They are written to a hidden folder of the demo's
    first, so a run stopped half-way leaves nothing that looks like the user's."""
    from myna_rpe.synth import make_library

    for rel in previous["files"] if previous else ():
        (library / rel).unlink(missing_ok=True)
        for parent in (library / rel).parents:  # the folders that held only its songs
            if parent == library or not parent.is_dir() or any(parent.iterdir()):
                break
            parent.rmdir()
    shutil.rmtree(library / ".myna", ignore_errors=True)  # the demo's store, made again by `myna index`
    atomic_write_text(folder / _MARK, json.dumps({"tracks": None, "seed": None, "files": []}))
    staging = folder / ".generating"
    shutil.rmtree(staging, ignore_errors=True)
    console.rule(styled(("generating a library of synthetic songs", "bold")))
    with console.status(f"writing {tracks} songs to {library}"):
        made = make_library(staging, tracks, seed=seed, duration=(20.0, 45.0))
    files = []
    for path, _ in made:
        rel = path.relative_to(staging)
        (library / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, library / rel)
        files.append(rel.as_posix())
    shutil.rmtree(staging, ignore_errors=True)
    atomic_write_text(folder / _MARK, json.dumps({"tracks": tracks, "seed": seed, "files": files}))


def _run(args: list[str]) -> None:
    console.rule(styled((f"$ myna {shlex.join(args)}", "bold")))
    app(args, standalone_mode=False)


@app.command()
def demo(
    folder: Path = typer.Option(Path("myna-demo"), "--dir", help="Where the demo library and playlists go."),
    tracks: int = typer.Option(48, min=8, max=MAX_TRACKS, help="How many synthetic songs to generate."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", "-c", help="Encoder checkpoint; default: the bundled model."),
    seed: int = typer.Option(0, help="Seed of the generated library."),
) -> None:
    """Generate a small library, index it, extend a playlist and plot it (what `./bootstrap.py demo` runs)."""
    from myna_rpe.audio import AUDIO_EXTENSIONS
    from playlist.m3u import PlaylistEntry, write_m3u8

    library = folder / "library"
    mark = _demo_mark(folder)
    if mark is None or (mark["tracks"], mark["seed"]) != (tracks, seed):
        _generate(folder, library, tracks, seed, mark)
    ckpt = ["--checkpoint", str(checkpoint)] if checkpoint else []
    _run(["index", str(library), *ckpt])

    # Seed playlist: five songs of the artist with the most songs (one timbre, several keys).
    songs_of: dict[Path, list[Path]] = {}
    for song in sorted(p for p in library.rglob("*") if p.suffix in AUDIO_EXTENSIONS):
        artist = library / song.relative_to(library).parts[0]
        songs_of.setdefault(artist, []).append(song)
    artist = max(songs_of, key=lambda a: (len(songs_of[a]), str(a)))
    songs = songs_of[artist][:5]
    seed_list = folder / "seed.m3u8"
    write_m3u8(seed_list, [PlaylistEntry(location=str(p), path=p.resolve()) for p in songs])
    console.print(f"seed playlist: {seed_list} ({counted(len(songs), 'song')} by {artist.name})", highlight=False)

    extended = folder / "seed.extended.m3u8"
    db = ["--db", str(library / ".myna")]
    _run(["playlist", "extend", str(seed_list), "--n", "6", "--out", str(extended), *db])
    plot = folder / "map.png"
    _run(["playlist", "plot", str(seed_list), "--added", str(extended), "--out", str(plot), *db])
    console.rule(styled(("done", "bold green")))
    console.print(f"extended playlist: {extended}")
    console.print(f"map of the library: {plot}")
    # soft_wrap: a command to copy must not be broken into lines inside its quoted path
    console.print(f"try: {_myna_command()} similar {shlex.quote(str(songs[0]))} --n 5 "
                  f"--db {shlex.quote(str(library / '.myna'))}", soft_wrap=True, highlight=False)
