"""scripts/build_fresh_games.py on a tiny local package tree: which files are music, a copy of a
training file left out, the layout the benchmarks read. No network, no apt."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import sys
from pathlib import Path

import numpy as np

from myna_rpe.audio import write_audio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
_spec = importlib.util.spec_from_file_location("build_fresh_games", ROOT / "scripts" / "build_fresh_games.py")
fresh = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fresh)
import build_training_set as bts  # noqa: E402  (the module the script reads its helpers from)

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_retrieval as br  # noqa: E402

SR = 16000


def _tone(path: Path, hz: float, seconds: float = 2.0) -> None:
    t = np.arange(int(seconds * SR)) / SR
    path.parent.mkdir(parents=True, exist_ok=True)
    write_audio(path, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), SR)


def test_fresh_games_are_never_training_or_reserved_packages():
    assert not set(fresh.FRESH) & set(bts.PACKAGES)
    assert not [p for p in fresh.FRESH if bts.reserved_reason(p)]


def test_music_folder_only_and_training_copies_left_out(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    music = cache / "x" / "fake-data" / "usr/share/games/fake/music"
    _tone(music / "theme.ogg", 330)
    _tone(music / "boss.ogg", 440)
    _tone(music / "short.ogg", 550, seconds=0.5)  # a jingle: under --min-seconds
    _tone(music / "sequencer" / "guitar.ogg", 660)  # a stem of a piece, not a piece
    _tone(music / "shared.ogg", 770)  # the same bytes as a training file
    digest = hashlib.sha256((music / "shared.ogg").read_bytes()).hexdigest()
    against = tmp_path / "manifest.tsv"
    against.write_text("split\tpath\tsha256\ntrain\ttrain/other-data/song.ogg\t" + digest + "\n")
    monkeypatch.setattr(fresh, "FRESH", {"fake-data": ("usr/share/games/fake/music", ["*.ogg"])})
    monkeypatch.setattr(fresh, "fetch_deb", lambda package, c: c / f"{package}_1_all.deb")
    monkeypatch.setattr(fresh, "extract_deb", lambda deb, dest: dest)
    out = tmp_path / "out"
    stale = out / "fresh" / "gone-data" / "old.ogg"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"")

    fresh.main(["--out", str(out), "--cache", str(cache), "--against", str(against), "--min-seconds", "1"])

    err = capsys.readouterr().err
    assert "left out fake-data/shared.ogg: identical to train train/other-data/song.ogg" in err
    with open(out / "manifest.tsv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [r["path"] for r in rows] == ["fresh/fake-data/boss.ogg", "fresh/fake-data/theme.ogg"]
    assert rows[0]["source"] == "usr/share/games/fake/music/boss.ogg" and float(rows[0]["duration_s"]) > 1.9
    assert not stale.exists()  # a rebuild keeps no file a changed rule now drops
    tracks = br.discover(out / "fresh", out / "manifest.tsv")
    assert [(t.work, t.variant) for t in tracks] == [("fake-data", "fake-data/boss.ogg"), ("fake-data", "fake-data/theme.ogg")]
    assert (out / "fresh" / "fake-data" / "theme.ogg").resolve() == (music / "theme.ogg").resolve()
