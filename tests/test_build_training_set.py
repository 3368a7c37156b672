"""scripts/build_training_set.py on tiny local package trees: reserved packages, licences,
rendering of tracker modules and MIDI, versions of one composition. No network, no apt."""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from myna_rpe.audio import write_audio
from tests.player_helpers import require_program, require_real

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_training_set", ROOT / "scripts" / "build_training_set.py")
bts = importlib.util.module_from_spec(_spec)
sys.modules["build_training_set"] = bts
_spec.loader.exec_module(bts)

SR = 16000
INSTALLED_FONTS = [f for f, _, _ in bts.SOUNDFONTS if Path(f).is_file()]


# -- tiny symbolic music, written byte by byte ---------------------------------------------

def tiny_midi(notes=(60, 64, 67, 72), seconds_per_note=0.5) -> bytes:
    """A format-0 MIDI file: piano, one note after another, at 120 bpm (480 ticks a beat)."""
    def vlq(n: int) -> bytes:
        out = [n & 0x7F]
        while n > 0x7F:
            n >>= 7
            out.append(0x80 | (n & 0x7F))
        return bytes(reversed(out))

    ticks = round(seconds_per_note * 960)  # 960 ticks a second at 120 bpm
    ev = b"\x00\xff\x51\x03" + (500000).to_bytes(3, "big") + b"\x00\xc0\x00"
    for n in notes:
        ev += b"\x00\x90" + bytes([n, 100]) + vlq(ticks) + b"\x80" + bytes([n, 0])
    ev += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(ev)) + ev


def tiny_mod(rows_played: int = 64) -> bytes:
    """A 4-channel ProTracker module: one pattern of 64 rows (speed 6, 125 bpm: 0.12 s a row), a looped
    square-wave sample struck on row 0 and row 32, so one pass through the song lasts 7.68 s."""
    wave = bytes([0x60] * 16 + [0xA0] * 16)  # signed 8-bit square, 32 bytes
    header = b"tiny".ljust(20, b"\0")
    sample = b"square".ljust(22, b"\0") + struct.pack(">HBBHH", len(wave) // 2, 0, 64, 0, len(wave) // 2)
    header += sample + (b"\0" * 22 + struct.pack(">HBBHH", 0, 0, 0, 0, 1)) * 30
    header += bytes([1, 127]) + bytes(128) + b"M.K."
    pattern = bytearray(64 * 4 * 4)
    for row in (0, 32):
        # sample 1, period 214 (C-3), no effect
        pattern[row * 16: row * 16 + 4] = bytes([0x00, 214, 0x10, 0x00])
    return header + bytes(pattern) + wave


def test_tiny_inputs_are_what_they_claim():
    midi = tiny_midi()
    assert midi[:4] == b"MThd" and midi[14:18] == b"MTrk" and len(midi) == 14 + 8 + struct.unpack(">I", midi[18:22])[0]
    mod = tiny_mod()
    assert len(mod) == 1084 + 1024 + 32 and mod[1080:1084] == b"M.K."


# -- a fake package ------------------------------------------------------------------------

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fake

Files: *
Copyright: 2020 Code People
License: GPL-2+

Files: data/music/nc/*
Copyright: 2020 Someone Careful
License: CC-BY-NC-SA-3.0

Files: data/music/zlib/*
Copyright: 2021 Mika
License: Zlib
"""


def _fake(tmp_path, monkeypatch, copyright_text=COPYRIGHT, plain=None, midi=True, module=True) -> Path:
    """A package tree as `dpkg -x` leaves it, served by fetch/extract stand-ins (no apt-get)."""
    root = tmp_path / "x" / "fake-data"
    data = root / "usr/share/games/fake"
    music = data / "music"
    music.mkdir(parents=True)
    t = np.arange(int(1.5 * SR)) / SR
    write_audio(music / "theme.ogg", (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), SR)
    write_audio(music / "nc" / "borrowed.ogg", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR)
    write_audio(data / "sounds" / "boom.wav", (0.3 * np.sin(2 * np.pi * 90 * t)).astype(np.float32), SR)
    if midi:
        (music / "zlib").mkdir()
        (music / "zlib" / "song.mid").write_bytes(tiny_midi())
    if module:
        (music / "loop.mod").write_bytes(tiny_mod())
    doc = root / "usr/share/doc/fake-data"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(copyright_text)
    packages = {"fake-data": bts.Package("usr/share/games/fake", "data", ("music/**",), plain=plain)}
    monkeypatch.setattr(bts, "PACKAGES", packages)
    monkeypatch.setattr(bts, "fetch_deb", lambda package, cache: cache / f"{package}_1_all.deb")
    monkeypatch.setattr(bts, "extract_deb", lambda deb, dest: dest)
    return tmp_path


def _select(cache, heldout=(), render=True):
    rows, excluded = bts.select(["fake-data"], {p: "validation" for p in heldout}, cache, min_seconds=1.0, render=render)
    return {r.rel: r for r in rows}, {e[1]: e[3] for e in excluded}


def test_music_and_licence_rules_without_rendering(tmp_path, monkeypatch):
    cache = _fake(tmp_path, monkeypatch)
    rows, excluded = _select(cache, render=False)
    assert set(rows) == {"music/theme.ogg"}  # sounds/boom.wav is outside the music locations
    assert rows["music/theme.ogg"].licence == "GPL-2+" and rows["music/theme.ogg"].rule == "Files: *"
    assert "CC-BY-NC-SA-3.0 does not allow" in excluded["music/nc/borrowed.ogg"]
    assert excluded["music/loop.mod"] == excluded["music/zlib/song.mid"] == "symbolic music not rendered (--no-render)"
    assert "music locations" in excluded["sounds/boom.wav"]


def test_missing_renderers_are_noted_not_fatal(tmp_path, monkeypatch):
    cache = _fake(tmp_path, monkeypatch)
    # A bare machine: no renderer on PATH, while a soundfont is there (so the MIDI path reaches
    # fluidsynth whichever soundfonts this machine happens to have).
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    font = tmp_path / "fonts" / "Some_GM.sf2"
    font.parent.mkdir()
    font.write_bytes(b"RIFF")
    monkeypatch.setattr(bts, "SOUNDFONTS", ((str(font), "some-soundfont", "someone"),))
    rows, excluded = _select(cache)
    assert set(rows) == {"music/theme.ogg"}
    assert excluded["music/loop.mod.flac"].startswith("openmpt123 is not installed")
    assert any(k.startswith("music/zlib/song.mid.") and v.startswith("fluidsynth is not installed")
               for k, v in excluded.items())
    monkeypatch.setattr(bts, "SOUNDFONTS", (("/nonexistent/none.sf2", "no-such-soundfont", "nobody"),))
    _, excluded = _select(cache)
    assert excluded["music/zlib/song.mid"].startswith("no General MIDI soundfont installed")


def test_tracker_module_is_rendered_once_through_and_cached(tmp_path, monkeypatch):
    require_program("openmpt123", "it renders tracker modules")
    cache = _fake(tmp_path, monkeypatch, midi=False)
    rows, _ = _select(cache)
    r = rows["music/loop.mod.flac"]
    assert r.how == "rendered" and r.source == "data/music/loop.mod" and r.licence == "GPL-2+"
    assert r.variant == "music/loop.mod" and "libopenmpt" in r.copyright
    assert r.duration == pytest.approx(7.68, abs=0.15)  # one pass: the loop point is not followed
    from myna_rpe.audio import load_audio

    wave = load_audio(r.file, SR)
    assert np.sqrt(np.mean(wave**2)) > 0.01  # the sample sounds
    monkeypatch.setattr(bts.subprocess, "run", lambda *a, **k: pytest.fail("rendered again"))
    again, _ = _select(cache)
    assert again["music/loop.mod.flac"].sha256 == r.sha256


def test_midi_renders_per_soundfont_are_versions_of_one_composition(tmp_path, monkeypatch):
    require_program("fluidsynth", "it renders MIDI")
    require_real(len(INSTALLED_FONTS) >= 2, "two of the General MIDI soundfonts are not installed "
                 "(timgm6mb-soundfont musescore-general-soundfont-small; .ci/run installs them)")
    fonts = [s for s in bts.SOUNDFONTS if Path(s[0]).is_file()]
    monkeypatch.setattr(bts, "SOUNDFONTS", tuple(sorted(fonts, key=lambda s: Path(s[0]).stat().st_size)[:2]))
    cache = _fake(tmp_path, monkeypatch, module=False)

    held, _ = _select(cache, heldout=("fake-data",))
    assert {r.split for r in held.values()} == {"validation"}
    versions = [r for r in held.values() if r.source == "data/music/zlib/song.mid"]
    assert len(versions) == 2 and len({r.sha256 for r in versions}) == 2  # two soundfonts, two sounds
    assert {r.variant for r in versions} == {"music/zlib/song.mid"}  # one composition
    assert all(r.licence == "Zlib" and "FluidSynth" in r.copyright for r in versions)
    assert {r.rel for r in versions} == {f"music/zlib/song.mid.{Path(f).stem}.ogg" for f, _, _ in bts.SOUNDFONTS}
    assert all(1.9 < r.duration < 8.0 for r in versions)  # four half-second notes, then the release and reverb tail

    train, excluded = _select(cache)
    kept = [r for r in train.values() if r.variant == "music/zlib/song.mid"]
    assert len(kept) == 1  # training never sees two versions of one piece as two tracks
    dropped = [k for k, v in excluded.items() if v.startswith("another version of fake-data/music/zlib/song.mid")]
    assert len(dropped) == 1 and dropped[0] != kept[0].rel


def test_training_keeps_one_version_per_composition_main_file_first():
    def row(rel, variant, sha):
        return bts.Row("train", "p", rel, rel, Path(rel), 60.0, "GPL-2+", "", "Files: *", ".", variant, sha, "suffix")

    rows = [row("a_fast.ogg", "a.ogg", "1"), row("a.ogg", "a.ogg", "2"),
            row("s.mid.X.ogg", "s.mid", "3"), row("s.mid.Y.ogg", "s.mid", "4"), row("t.ogg", "t.ogg", "2")]
    excluded = []
    kept = bts._drop_duplicates(rows, excluded)
    names = {r.rel for r in kept}
    assert "a.ogg" in names and "a_fast.ogg" not in names  # the main file, not its fast version
    assert len(names & {"s.mid.X.ogg", "s.mid.Y.ogg"}) == 1
    assert "t.ogg" not in names  # byte-identical to a.ogg
    assert len(excluded) == 3
    again = bts._drop_duplicates(list(reversed(rows)), [])
    assert {r.rel for r in again} == names  # the choice does not depend on order


def test_soundfonts_take_turns_across_compositions():
    rows = [bts.Row("train", "p", f"{m}.mid.{sf}.ogg", "", Path("x"), 60.0, "GPL-2+", "", "", ".", f"{m}.mid",
                    f"{m}{sf}", "rendered") for m in "abcdef" for sf in ("A", "B", "C")]
    kept = bts._drop_duplicates(rows, [])
    assert sorted(r.rel.split(".")[-2] for r in kept) == ["A", "A", "B", "B", "C", "C"]
    assert len({r.variant for r in kept}) == 6


# -- licences ------------------------------------------------------------------------------

def test_dep5_last_matching_stanza_and_new_licences():
    stanzas = bts.parse_dep5(COPYRIGHT)
    assert bts.licence_of("data/music/zlib/a.it", stanzas).licence == "Zlib"
    assert bts.licence_of("data/music/nc/a.ogg", stanzas).licence == "CC-BY-NC-SA-3.0"
    assert bts.licence_of("data/music/a.ogg", stanzas).licence == "GPL-2+"
    assert bts.licence_allows_model("Zlib") and bts.licence_allows_model("GPL-3+")
    assert bts.licence_allows_model("GPL-2+ or CC-BY-NC-3.0")
    assert bts.licence_allows_model("GPL-2 or GPL-3") and bts.licence_allows_model("ZLib")  # Ri-li, Biniax 2
    assert bts.licence_allows_model("LGPL-2.1", bts.GPL2_COMPATIBLE)  # SolarWolf
    # Amoebax's Free Art Licence is free but copyleft of its own: not in the GPL-2-compatible set.
    assert bts.licence_allows_model("Free-Art-License-1.2")
    assert not bts.licence_allows_model("Free-Art-License-1.2", bts.GPL2_COMPATIBLE)
    assert not bts.licence_allows_model("ETHYMONICS-FREE-MUSIC-LICENSE")  # unknown: left out
    assert not bts.licence_allows_model("CC-BY-NC-SA-3.0") and not bts.licence_allows_model("GPL-2+ and CC-BY-ND-4.0")


PLAIN = """This package was debianized by someone.

Copyright: 1998 The Authors

License:
   This package is free software; you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation; version 2 dated June, 1991.
"""


def test_plain_copyright_file_needs_its_phrase(tmp_path, monkeypatch):
    phrase = "the Free Software Foundation; version 2 dated June, 1991"
    cache = _fake(tmp_path, monkeypatch, copyright_text=PLAIN, plain=("GPL-2", "1998 The Authors", phrase),
                  midi=False, module=False)
    rows, _ = _select(cache)
    r = rows["music/theme.ogg"]
    assert (r.licence, r.copyright) == ("GPL-2", "1998 The Authors") and r.rule.startswith("plain copyright file")
    assert "music/nc/borrowed.ogg" in rows  # no stanzas: the one stated licence covers the package
    # The copyright file changed (the phrase is gone): nothing is guessed.
    (tmp_path / "x/fake-data/usr/share/doc/fake-data/copyright").write_text(PLAIN.replace("version 2", "version 3"))
    rows, excluded = _select(cache)
    assert not rows and excluded["music/theme.ogg"] == "no DEP-5 stanza covers it"


# -- reserved packages ---------------------------------------------------------------------

@pytest.mark.parametrize("package", [
    "wesnoth-1.16-music", "wesnoth-music", "wesnoth-1.14-music", "wesnoth-1.16-data", "planetblupi-music-midi",
    "planetblupi-common", "fb-music-high", "warzone2100-data", "ufoai-sound", "asc-data", "pingus", "nexuiz-data",
    "python3-music21", "drascula", "hyperrogue", "singularity",
])
def test_reserved_packages_are_refused_before_any_download(tmp_path, monkeypatch, package):
    monkeypatch.setattr(bts.subprocess, "run", lambda *a, **k: pytest.fail("apt-get was called"))
    assert bts.reserved_reason(package)
    with pytest.raises(SystemExit, match="reserved"):
        bts.fetch_deb(package, tmp_path)
    with pytest.raises(SystemExit, match="reserved"):
        bts.main(["--out", str(tmp_path / "out"), "--cache", str(tmp_path), "--packages", package])


def test_no_listed_package_is_reserved_and_held_out_ones_are_listed():
    assert not [p for p in bts.PACKAGES if bts.reserved_reason(p)]
    assert set(bts.DEFAULT_VALIDATION) | set(bts.DEFAULT_TEST) <= set(bts.PACKAGES)
    assert not set(bts.DEFAULT_VALIDATION) & set(bts.DEFAULT_TEST)
    assert bts.reserved_reason("frozen-bubble-data") is None  # held out, not reserved
    assert bts.reserved_reason("supertux-data") is None


def test_summary_reports_hours_per_package():
    rows = [bts.Row("train", "pkg-a", f"{i}.ogg", "", Path("x"), 1800.0, "GPL-2+", "", "", "", "", str(i), "suffix")
            for i in range(3)]
    text = bts.summary(rows, [])
    line = next(x for x in text.splitlines() if "pkg-a" in x)
    assert line.split()[2:5] == ["3", "90.0", "1.50"]


def test_dep5_patterns_written_with_dot_slash_and_stanzas_without_licence(tmp_path, monkeypatch):
    text = COPYRIGHT + "\nFiles: ./data/music/theme.ogg\nCopyright: Askyel\nLicense: CC-BY-SA-3.0\n"
    text += "\nFiles: /data/music/loop.mod\nCopyright: not-applicable\nLicense:\n"
    cache = _fake(tmp_path, monkeypatch, copyright_text=text, midi=False)
    rows, excluded = _select(cache, render=False)
    assert rows["music/theme.ogg"].licence == "CC-BY-SA-3.0" and rows["music/theme.ogg"].copyright == "Askyel"
    assert excluded["music/loop.mod"].startswith("its DEP-5 stanza (Files: data/music/loop.mod) names no licence")


def test_a_failed_download_is_one_line_that_keeps_the_cache(tmp_path, monkeypatch):
    (tmp_path / "kept-data_1_all.deb").write_bytes(b"")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "apt-get"
    fake.write_text("#!/bin/sh\necho 'E: Unable to locate package' >&2\nexit 100\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(SystemExit) as failed:
        bts.fetch_deb("missing-data", tmp_path)
    assert str(failed.value).startswith("apt-get download missing-data failed (exit 100)")
    assert str(tmp_path) in str(failed.value)
    assert bts.fetch_deb("kept-data", tmp_path).name == "kept-data_1_all.deb"  # the cache answers without apt
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(SystemExit, match="apt-get is not installed"):
        bts.fetch_deb("missing-data", tmp_path)
