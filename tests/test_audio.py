"""Decoding real files of every format, chunked reads, and every way a file can be bad."""

from __future__ import annotations

import io
import logging
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from myna_rpe.audio import (
    AUDIO_EXTENSIONS,
    WRITABLE_EXTENSIONS,
    audio_duration,
    is_audio_file,
    load_audio,
    write_audio,
)
from myna_rpe.errors import AudioError
from tests.conftest import sine

FORMATS = ("wav", "flac", "mp3", "ogg", "opus", "m4a", "aiff")
LOSSLESS = ("wav", "flac", "aiff")


def peak_hz(x: np.ndarray, sample_rate: int) -> float:
    """Frequency of the strongest FFT bin, refined by parabolic interpolation."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=4 * len(x)))
    i = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[i - 1 : i + 2] + 1e-12)
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * sample_rate / (4 * len(x))


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_round_trips_a_tone(tone_file, fmt):
    path = tone_file(523.25, fmt, seconds=1.0)
    x = load_audio(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) / 16000 - 1.0) < 0.08  # AAC/Opus may add a few ms of codec padding
    assert abs(peak_hz(x[1600:-1600], 16000) - 523.25) < 2.0
    body = x[1600:-1600]
    assert 0.3 < np.abs(body).max() <= 0.6  # amplitude 0.5 survives the codec
    assert abs(audio_duration(path) - 1.0) < 0.08


def test_lossless_decode_is_sample_exact(tmp_path):
    x = sine(440, 0.5, 16000, 0.7)
    for fmt in LOSSLESS:
        y = load_audio(write_audio(tmp_path / f"t.{fmt}", x, 16000))
        np.testing.assert_allclose(y, x, atol=1.0 / 32768)  # 16-bit quantisation


@pytest.mark.parametrize("fmt", ("flac", "mp3", "m4a"))
def test_resampling_44k1_to_16k_and_back_up(tone_file, fmt):
    path = tone_file(1000.0, fmt, seconds=1.0, sample_rate=44100)
    x = load_audio(path, sample_rate=16000)
    assert abs(len(x) - 16000) < 16000 * 0.08
    assert abs(peak_hz(x[1600:-1600], 16000) - 1000.0) < 2.0
    y = load_audio(path, sample_rate=22050)
    assert abs(peak_hz(y[2205:-2205], 22050) - 1000.0) < 2.0


def test_stereo_is_downmixed_to_mono(tmp_path):
    left = sine(300, 1.0, 16000, 0.4)
    path = write_audio(tmp_path / "st.wav", np.stack([left, left]), 16000)
    np.testing.assert_allclose(load_audio(path), left, atol=2.0 / 32768)


def _chords(seconds: float, sr: int) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    f = np.where((t % 2) < 1, 330.0, 392.0)  # changes every second, so a misplaced chunk shows
    phase = 2 * np.pi * np.cumsum(f) / sr
    return (0.3 * np.sin(phase) + 0.2 * np.sin(2.01 * phase) + 0.1 * np.sin(2 * np.pi * 97 * t)).astype(np.float32)


@pytest.mark.parametrize("fmt", FORMATS)
def test_chunk_equals_slice_of_full_decode(tmp_path, fmt):
    path = write_audio(tmp_path / f"long.{fmt}", _chords(9.0, 44100), 44100)
    full = load_audio(path)
    for offset, duration in [(0.3, 1.0), (3.7, 2.0), (6.05, 1.5)]:  # 3.7 and 6.05 seek
        chunk = load_audio(path, offset=offset, duration=duration)
        a = round(offset * 16000)
        ref = full[a : a + round(duration * 16000)]
        assert len(chunk) == len(ref) == round(duration * 16000)
        np.testing.assert_allclose(chunk, ref, atol=1e-4, err_msg=f"{fmt} @ {offset}s")


def test_chunk_at_the_end_is_short_and_past_the_end_is_empty(tone_file):
    path = tone_file(440, "flac", seconds=4.0)
    assert len(load_audio(path, offset=3.5, duration=2.0)) == 8000
    assert len(load_audio(path, offset=10.0, duration=1.0)) == 0
    assert len(load_audio(path, offset=1.0)) == 3 * 16000


def test_content_is_sniffed_not_the_extension(tone_file, tmp_path):
    src = tone_file(440, "mp3", seconds=1.0)
    reference = load_audio(src)
    for name in ("noextension", "wrong.flac", "wrong.txt", "a: colon é.mp3"):
        dst = tmp_path / name
        shutil.copy(src, dst)
        assert is_audio_file(dst)
        np.testing.assert_array_equal(load_audio(dst), reference)


def test_silence_decodes_to_zeros(tmp_path):
    for fmt in ("wav", "flac", "mp3", "m4a"):
        path = write_audio(tmp_path / f"silence.{fmt}", np.zeros(16000, np.float32), 16000)
        x = load_audio(path)
        assert len(x) > 15000 and np.abs(x).max() < 1e-4, fmt


def test_output_is_clipped_to_unit_range(tmp_path):
    loud = np.sign(sine(200, 1.0, 16000)) * 0.999  # a square wave: lossy codecs overshoot it
    x = load_audio(write_audio(tmp_path / "loud.mp3", loud, 16000))
    assert np.abs(x).max() <= 1.0


# --- bad inputs -------------------------------------------------------------------------


def _jpeg_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buf, format="JPEG")
    return buf.getvalue()


def _zero_length_wav(path: Path) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)


def _bad_file(kind: str, tmp_path: Path, tone_file) -> Path:
    """Make one kind of bad input and return its path."""
    if kind == "missing":
        return tmp_path / "does not exist.mp3"
    if kind == "directory":
        (tmp_path / "folder.mp3").mkdir()
        return tmp_path / "folder.mp3"
    if kind == "empty":
        path = tmp_path / "empty.flac"
        path.touch()
        return path
    if kind == "zero_length_wav":
        _zero_length_wav(path := tmp_path / "zero.wav")
        return path
    if kind == "text":
        (path := tmp_path / "notes.mp3").write_text("not audio at all\n" * 40)
        return path
    if kind == "text_txt":
        (path := tmp_path / "notes.txt").write_text("not audio at all\n" * 40)
        return path
    if kind == "jpeg":
        (path := tmp_path / "cover.ogg").write_bytes(_jpeg_bytes())
        return path
    if kind == "random_bytes":
        (path := tmp_path / "noise.m4a").write_bytes(np.random.default_rng(0).bytes(20000))
        return path
    if kind.startswith("header_only_"):  # truncated right after the header: nothing decodes
        fmt = kind.removeprefix("header_only_")
        src = tone_file(440, fmt, seconds=1.0)
        (path := tmp_path / f"cut.{fmt}").write_bytes(src.read_bytes()[:60])
        return path
    if kind == "truncated_m4a":  # the index (moov) is at the end: half a file is unreadable
        src = tone_file(440, "m4a", seconds=2.0)
        data = src.read_bytes()
        (path := tmp_path / "half.m4a").write_bytes(data[: len(data) // 2])
        return path
    if kind == "garbage_after_header":  # FLAC header intact, every frame destroyed
        src = tone_file(440, "flac", seconds=2.0)
        data = bytearray(src.read_bytes())
        data[200:] = np.random.default_rng(1).bytes(len(data) - 200)
        (path := tmp_path / "garbage.flac").write_bytes(bytes(data))
        return path
    raise AssertionError(kind)


BAD_KINDS = (
    "missing",
    "directory",
    "empty",
    "zero_length_wav",
    "text",
    "text_txt",
    "jpeg",
    "random_bytes",
    "header_only_wav",
    "header_only_mp3",
    "header_only_flac",
    "header_only_ogg",
    "truncated_m4a",
    "garbage_after_header",
)


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_input_raises_audio_error_naming_the_path(kind, tmp_path, tone_file):
    path = _bad_file(kind, tmp_path, tone_file)
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert str(path) in str(info.value)
    assert info.value.path == path
    assert "\n" not in str(info.value)
    with pytest.raises(AudioError) as info:
        load_audio(path, offset=0.5, duration=0.25)
    assert info.value.path == path
    if kind != "garbage_after_header":  # its header still states a duration
        with pytest.raises(AudioError):
            audio_duration(path)


@pytest.mark.parametrize(
    "kind", ("missing", "directory", "empty", "text", "text_txt", "jpeg", "random_bytes", "header_only_mp3")
)
def test_is_audio_file_rejects_non_audio(kind, tmp_path, tone_file):
    assert not is_audio_file(_bad_file(kind, tmp_path, tone_file))


@pytest.mark.parametrize("fmt", ("wav", "mp3", "flac", "ogg"))
def test_truncated_file_returns_the_audio_before_the_cut(tmp_path, tone_file, fmt):
    src = tone_file(440, fmt, seconds=4.0)
    data = src.read_bytes()
    path = tmp_path / f"truncated.{fmt}"
    # Cut at 3/4: past the headers (Vorbis' are ~3.4 kB) and a whole Ogg page (~1 s here).
    path.write_bytes(data[: 3 * len(data) // 4])
    x = load_audio(path)
    assert 1.0 < len(x) / 16000 < 3.5
    assert abs(peak_hz(x[800:-800], 16000) - 440) < 3.0


def test_corrupt_packets_are_skipped(tmp_path, tone_file, caplog):
    src = tone_file(440, "mp3", seconds=3.0)
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(3)
    for i in rng.integers(2000, len(data) - 2000, 40):
        data[i] ^= 0xFF
    path = tmp_path / "damaged.mp3"
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="myna_rpe.audio"):
        x = load_audio(path)
    assert "undecodable" in caplog.text
    assert len(x) > 16000
    assert abs(peak_hz(x[:16000], 16000) - 440) < 3.0


def test_argument_errors():
    with pytest.raises(ValueError):
        write_audio("x.xyz", np.zeros(10), 16000)
    with pytest.raises(ValueError):
        write_audio("x.wav", np.array([0.0, np.nan]), 16000)
    with pytest.raises(ValueError):
        load_audio("x.wav", offset=-1.0)


def test_extension_sets():
    assert WRITABLE_EXTENSIONS <= AUDIO_EXTENSIONS
    assert all(e == e.lower() and e.startswith(".") for e in AUDIO_EXTENSIONS)
    assert {f".{f}" for f in FORMATS} <= AUDIO_EXTENSIONS
