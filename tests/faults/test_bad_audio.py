"""A zoo of files that are not (decodable) audio, each through `myna embed FILE` and through
`myna index`: one line naming the path and the fix, no traceback, nothing blocks (a FIFO
is never opened), and the index lists each with its reason."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from playlist.library.store import LibraryStore
from tests.faults.helpers import myna
from tests.library_helpers import write_track

ROOT = os.geteuid() == 0


def _wav_header(data_bytes: int) -> bytes:
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
            + b"data" + struct.pack("<I", data_bytes))


def _float_wav(samples: np.ndarray, rate: int = 16000) -> bytes:
    """A 32-bit IEEE-float WAV (format 3): the kind of file that can hold NaN and infinity."""
    data = samples.astype("<f4").tobytes()
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 3, 1, rate, 4 * rate, 4, 32) + b"data" + struct.pack("<I", len(data)) + data)


def _make(kind: str, root: Path, good: Path) -> Path:
    rng = np.random.default_rng(sum(map(ord, kind)))
    cut = {"cut.wav": 60, "cut.mp3": 60, "cut.flac": 60, "cut.ogg": 60}
    path = root / {"empty": "empty.flac", "fifo": "pipe.mp3", "link_loop": "loop.ogg", "dangling": "dangling.flac",
                   "text": "notes.mp3", "pdf": "paper.m4a", "png": "cover.ogg", "garbage": "noise.wav",
                   "zero_data": "zero.wav", "huge_header": "huge.wav", "folder": "folder.mp3",
                   "unreadable": "locked.flac", "nan": "nan.wav", "inf": "inf.wav",
                   "low_rate": "one_hertz.wav"}.get(kind, kind)
    if kind == "empty":
        path.touch()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "link_loop":
        os.symlink(path.name, path)
    elif kind == "dangling":
        os.symlink("nowhere.flac", path)
    elif kind == "text":
        path.write_text("these are liner notes, not audio\n" * 20)
    elif kind == "pdf":
        path.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + rng.bytes(2000))
    elif kind == "png":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + rng.bytes(2000))
    elif kind == "garbage":
        path.write_bytes(rng.bytes(30000))
    elif kind == "zero_data":
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
    elif kind == "huge_header":  # claims 4 GB of samples and holds none
        path.write_bytes(_wav_header(0xFFFFFF00))
    elif kind in ("nan", "inf"):  # a second of sound with one bad sample in the middle
        tone = (0.3 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 440)).astype(np.float32)
        tone[8000] = np.nan if kind == "nan" else np.inf
        path.write_bytes(_float_wav(tone))
    elif kind == "low_rate":  # 40 KB that a 1 Hz header makes 5.6 hours of 16 kHz audio (1.3 GB)
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(1)
            w.writeframes(rng.integers(-3000, 3000, 20_000, dtype=np.int16).tobytes())
    elif kind == "folder":
        path.mkdir()
    elif kind == "unreadable":
        path.write_bytes(good.read_bytes())
        path.chmod(0)
    else:  # a real file of that format cut right after its header
        write_track(root / f"src_{path.name}", 1, 1.0)
        src = root / f"src_{path.name}"
        path.write_bytes(src.read_bytes()[: cut[kind]])
        src.unlink()
    return path


# kind -> what the one line says (besides the path and " — " before its fix)
ZOO = {
    "empty": "empty file", "fifo": "named pipe", "link_loop": "symbolic link loop",
    "dangling": "target does not exist", "text": "a text file", "pdf": "a PDF document", "png": "an image",
    "garbage": "not a decodable audio file", "zero_data": "no audio", "huge_header": "no audio",
    "cut.wav": "audio", "cut.mp3": "audio", "cut.flac": "audio", "cut.ogg": "audio",
    "folder": "a folder", "unreadable": "permission denied",
    "nan": "NaN or infinite samples", "inf": "NaN or infinite samples", "low_rate": "a sample rate below",
}
if ROOT:  # root reads any file
    del ZOO["unreadable"]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("zoo") / "lib"
    root.mkdir()
    good = write_track(root / "good.flac", 0, 2.0)
    return root, {kind: _make(kind, root, good) for kind in ZOO}


def _embed_in_process(path: Path, checkpoint: Path, capsys) -> tuple[int, str]:
    from cli.app import main

    argv = sys.argv
    sys.argv = ["myna", "embed", str(path), "-c", str(checkpoint)]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.parametrize("kind", list(ZOO))
def test_embed_names_the_path_the_kind_and_the_fix(kind: str, zoo, checkpoint: Path, capsys) -> None:
    _, paths = zoo
    code, err = _embed_in_process(paths[kind], checkpoint, capsys)
    lines = [line for line in err.splitlines() if line.strip() and not line.lstrip().startswith("embedding")]
    assert code == 1 and "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert str(paths[kind]) in lines[0] and ZOO[kind] in lines[0] and " — " in lines[0], lines[0]


def test_embed_keeps_the_good_files_when_one_is_bad(zoo, checkpoint: Path, capsys, tmp_path: Path) -> None:
    import numpy as np

    from tests.cli_helpers import myna as myna_in_process

    root, paths = zoo
    good, bad = root / "good.flac", paths["garbage"]
    out = tmp_path / "e.npy"
    code, output = myna_in_process(capsys, "embed", str(good), str(bad), str(good), "-c", str(checkpoint),
                                   "--out", str(out))
    assert code == 1 and "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(bad) in errors[0] and ZOO["garbage"] in errors[0], output
    rows = np.load(out)
    assert rows.shape[0] == 3 and np.isnan(rows[1]).all() and np.isfinite(rows[[0, 2]]).all()
    np.testing.assert_array_equal(rows[0], rows[2])


def test_index_records_every_bad_file_with_its_reason(zoo, checkpoint: Path) -> None:
    root, paths = zoo
    try:
        result = myna("index", root, "-c", checkpoint, "--workers", "1")
    except subprocess.TimeoutExpired:  # a FIFO opened by the walk or the decoder blocks forever
        pytest.fail("myna index blocked")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "could not be indexed" in result.stderr
    with LibraryStore.open(root / ".myna", readonly=True) as store:
        assert [t.rel_path for t in store.tracks()] == ["good.flac"]
        errors = {e.rel_path: e.message for e in store.errors()}
    expected = {p.relative_to(root).as_posix(): ZOO[k] for k, p in paths.items() if k != "folder"}
    assert sorted(errors) == sorted(expected)  # a folder named .mp3 is a folder: walked, not an error
    for rel, fragment in expected.items():
        assert fragment in errors[rel] and " — " in errors[rel], (rel, errors[rel])
    listed = myna("index", root, "--errors")
    assert all(rel in listed.stdout for rel in expected), listed.stdout
    status = myna("index", root, "--status")
    assert f"errors   │ {len(expected)} " in status.stdout, status.stdout
