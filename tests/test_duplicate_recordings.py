"""Duplicate recordings through the real pipeline: audio encoded, tagged, indexed with the
bundled model, and a playlist extended by `myna playlist extend`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mutagen
import numpy as np

from myna_rpe.audio import load_audio, write_audio
from myna_rpe.synth import TrackSpec, synth_track
from playlist.m3u import read_m3u

SR = 22050


def myna(*args: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", "from cli.app import main; main()", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def tagged(path: Path, wave: np.ndarray, title: str, artist: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_audio(path, wave, SR)
    f = mutagen.File(path, easy=True)
    if f.tags is None:
        f.add_tags()
    f.tags["title"], f.tags["artist"] = [title], [artist]
    f.save()
    return path


def test_a_re_encoded_rip_is_refused_and_a_piece_that_shares_its_title_is_not(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    root = tmp_path / "music"
    album = [tagged(root / "album" / f"{i:02d}.flac", synth_track(TrackSpec.random(rng), 20.0), f"Piece {i}",
                    "Composer") for i in range(8)]
    # Another rip of piece 0: AAC, its title decorated and its artist in lower case (cosine 0.997).
    rip = tagged(root / "rips" / "piece 0.m4a", load_audio(album[0], sample_rate=SR), "Piece 0 (Remastered 2011)",
                 "composer")
    # A different piece with the same tags and length (one title on a whole soundtrack; cosine 0.51).
    namesake = tagged(root / "rips" / "namesake.flac", synth_track(TrackSpec.random(rng), 20.0), "Piece 0",
                      "Composer")
    indexed = myna("index", root, "--workers", "1")
    assert indexed.returncode == 0, indexed.stderr

    playlist = tmp_path / "one.m3u"
    playlist.write_text(f"{album[0]}\n", encoding="utf-8")
    out = tmp_path / "out.m3u8"
    extended = myna("playlist", "extend", playlist, "--n", "9", "--db", root / ".myna", "--out", out, "--absolute")
    assert extended.returncode == 0, extended.stderr
    added = [Path(e.path) for e in read_m3u(out)][1:]
    assert rip not in added and namesake in added
    assert sorted(added) == sorted(album[1:] + [namesake])
    assert "duplicate recording (same title, artist and duration, similar audio)" in extended.stdout
