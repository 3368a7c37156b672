"""The `myna` entry point: user errors are one red line, usage errors exit 2, the demo runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from myna_rpe.audio import write_audio
from myna_rpe.checkpoint import save_checkpoint
from myna_rpe.config import EncoderConfig, ModelConfig
from myna_rpe.embed import Embedder


def myna(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", "from cli.app import main; main()", *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=600,
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    emb = Embedder.random(EncoderConfig(model=ModelConfig.from_preset("tiny", "alibi2d")), seed=0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", emb.model, emb.config)


def test_user_error_is_one_line_without_traceback(tmp_path, checkpoint):
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"not audio at all" * 10)
    out = myna("embed", str(broken), "--checkpoint", str(checkpoint))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and str(broken) in lines[0]


def test_missing_checkpoint_names_the_path_and_the_fix(tmp_path):
    out = myna("embed", str(tmp_path / "x.wav"), "--checkpoint", str(tmp_path / "nowhere"))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "nowhere" in out.stderr and "checkpoint not found" in out.stderr


def test_usage_error_exits_2_without_traceback():
    out = myna("playlist", "extend", "x.m3u", "--n", "abc")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "--n" in out.stderr


def test_embed_writes_npy(tmp_path, checkpoint):
    wave = (0.3 * np.sin(2 * np.pi * 330 * np.arange(16000) / 16000)).astype(np.float32)
    a = write_audio(tmp_path / "a.ogg", wave, 16000)
    b = write_audio(tmp_path / "b.wav", wave[:8000], 16000)
    out = myna("embed", str(a), str(b), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "e.npy"))
    assert out.returncode == 0, out.stderr
    assert np.load(tmp_path / "e.npy").shape == (2, 64)


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path, checkpoint):
    out = myna("demo", "--dir", str(tmp_path / "demo"), "--tracks", "10", "--checkpoint", str(checkpoint))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "$ myna index" in out.stdout and "[bold" not in out.stdout  # styled, never markup shown as text
    extended = (tmp_path / "demo" / "seed.extended.m3u8").read_text(encoding="utf-8")
    assert extended.startswith("#EXTM3U") and extended.count("#EXTINF") >= 3
    assert (tmp_path / "demo" / "map.png").stat().st_size > 10_000
    # Run again: nothing is regenerated or re-embedded.
    again = myna("demo", "--dir", str(tmp_path / "demo"), "--tracks", "10", "--checkpoint", str(checkpoint))
    assert again.returncode == 0 and "generating" not in again.stdout
    # Other settings: its own songs are made again, as asked; a song the user put there stays.
    mine = tmp_path / "demo" / "library" / "mine" / "my song.flac"
    mine.parent.mkdir()
    mine.write_bytes(b"the user's")
    other = myna("demo", "--dir", str(tmp_path / "demo"), "--tracks", "12", "--checkpoint", str(checkpoint))
    assert other.returncode == 0 and "generating" in other.stdout, other.stderr
    songs = [p for p in (tmp_path / "demo" / "library").rglob("*") if p.suffix in (".mp3", ".flac", ".ogg", ".m4a")]
    assert len(songs) == 13 and mine.read_bytes() == b"the user's"


def test_demo_refuses_a_folder_of_the_users(tmp_path):
    mine = tmp_path / "mine"
    (mine / "library").mkdir(parents=True)
    (mine / "seed.m3u8").write_text("my playlist\n", encoding="utf-8")
    (mine / "library" / "song.flac").write_bytes(b"not touched")
    out = myna("demo", "--dir", str(mine), "--tracks", "8")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert f"{mine}: this folder holds files that `myna demo` did not make" in out.stderr
    assert (mine / "seed.m3u8").read_text(encoding="utf-8") == "my playlist\n"
    assert sorted(p.name for p in mine.rglob("*")) == ["library", "seed.m3u8", "song.flac"]


def test_the_progress_rate_is_the_average_since_the_start():
    """Work landing in batches: the rate is what was done over the time taken, not the
    burst of the last batch (rich's own speed read 80 tracks/s here)."""
    from rich.progress import Progress

    from cli.console import RateColumn

    now = [0.0]
    bar = Progress(RateColumn("tracks"), get_time=lambda: now[0])
    task = bar.add_task("embedding", total=100)
    now[0] = 50.0
    bar.advance(task, 8)
    now[0] = 50.1
    bar.advance(task, 8)
    assert bar.columns[0].render(bar.tasks[task]).plain == "0.32 tracks/s"
