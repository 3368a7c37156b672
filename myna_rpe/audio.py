"""Audio files in and out, through PyAV (the FFmpeg inside its wheel).

`load_audio` decodes any common format to mono float32 at the model's sample rate.
The container is sniffed from the content, so a wrong or missing extension does not
matter. Everything a user's file can do wrong becomes an `AudioError` naming the path
and the problem; no PyAV/FFmpeg exception escapes.

Policy for damaged files: packets that fail to decode are skipped, and a stream that
ends early (truncated file) returns the audio decoded up to that point, with a warning
in the log. A file from which no sample at all decodes is an `AudioError`.
"""

from __future__ import annotations

import errno
import itertools
import logging
import math
import os
import stat
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from myna_rpe.errors import AudioError

log = logging.getLogger(__name__)

# Suffixes a library scan treats as audio. Decoding never trusts them (content is sniffed).
AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".m4b", ".aac",
        ".wav", ".wave", ".aif", ".aiff", ".aifc", ".wma", ".wv", ".ape", ".mka",
    }
)  # fmt: skip

# Decoding starts this long before a requested offset and the excess is trimmed: it covers
# codec pre-roll (Opus 80 ms, MP3 bit reservoir, AAC overlap) and resampler warm-up, so a
# chunk equals the same slice of a full decode.
_PREROLL_S = 0.5
# Below this offset, seeking saves little; decode from the start and trim.
_MIN_SEEK_S = 2.0

# Worded for every command that reads audio (embed, index, check...), not only a library's.
_FIX_DECODE = "re-encode or replace the file, or leave it out"
# Below this a header's sample rate is no audio anyone records (telephony is 8 kHz): it would
# make the resampler multiply a small file into gigabytes.
_MIN_RATE_HZ = 4000
_FIX_KIND = "give it the extension of what it is, or leave it out"
_FIX_LINK = "point the link at an audio file, or remove it"

# Everything a path can be instead of decodable audio: kind -> (what it is, the fix). The
# one table for these messages: the decoder (`_open`, `_decode_error`) and the library walk
# (`playlist.library.scan`) both word them from here.
FILE_PROBLEMS: dict[str, tuple[str, str]] = {
    "missing": ("file not found", "check the path"),
    "dangling_link": ("a symbolic link whose target does not exist", _FIX_LINK),
    "link_loop": ("a symbolic link loop (the link leads back to itself)", _FIX_LINK),
    "unreadable": ("permission denied", "make the file readable (e.g. chmod a+r), or remove it"),
    "folder": ("a folder, not an audio file", "pass an audio file"),
    "fifo": ("a named pipe (FIFO), not an audio file; it is never read", "pass a regular file"),
    "special": ("a socket or device, not an audio file; it is never read", "pass a regular file"),
    "empty": ("an empty file (0 bytes)", _FIX_DECODE),
    "text": ("a text file, not audio", _FIX_KIND),
    "pdf": ("a PDF document, not audio", _FIX_KIND),
    "image": ("an image, not audio", _FIX_KIND),
    "truncated": ("the file ends before any audio (truncated or corrupt)", _FIX_DECODE),
    "undecodable": ("not a decodable audio file (corrupt, truncated or an unsupported format)", _FIX_DECODE),
    "no_audio": ("no audio could be decoded", _FIX_DECODE),
    "non_finite": ("the audio holds NaN or infinite samples (a damaged floating-point file)", _FIX_DECODE),
    "low_rate": (f"a sample rate below {_MIN_RATE_HZ} Hz: not audio (a damaged or forged header)", _FIX_DECODE),
}
_MAGIC = ((b"%PDF", "pdf"), (b"\x89PNG", "image"), (b"\xff\xd8\xff", "image"), (b"GIF8", "image"))


def describe(kind: str) -> str:
    """"what it is — the fix" for a kind of `FILE_PROBLEMS`, without the path."""
    return " — ".join(FILE_PROBLEMS[kind])


def file_problem(path: str | Path) -> str | None:
    """The kind of problem (a key of `FILE_PROBLEMS`) that the file system entry at `path`
    has, or None for a non-empty regular file. Only stats: never opens (a FIFO would block)."""
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "link_loop"
        if e.errno in (errno.EACCES, errno.EPERM):
            return "unreadable"
        return "dangling_link" if os.path.islink(path) else "missing"
    if stat.S_ISDIR(st.st_mode):
        return "folder"
    if stat.S_ISFIFO(st.st_mode):
        return "fifo"
    if not stat.S_ISREG(st.st_mode):
        return "special"
    return "empty" if st.st_size == 0 else None


def _content_problem(path: Path) -> str | None:
    """A regular file whose first bytes say it is not audio: text, a PDF, an image."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except PermissionError:
        return "unreadable"
    except OSError:
        return None  # let FFmpeg report it
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        return None
    for cut in range(4):  # the 4 KiB may end inside a UTF-8 character
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return "text" if all(c.isprintable() or c.isspace() for c in text) else None
    return None


def _problem(path: Path, kind: str) -> AudioError:
    message, fix = FILE_PROBLEMS[kind]
    return AudioError(message, path=path, fix=fix)


def _open(path: str | Path) -> tuple[Path, av.container.InputContainer]:
    """Open `path` for reading, turning every failure into an AudioError."""
    p = Path(path)
    kind = file_problem(p) or _content_problem(p)
    if kind is not None:
        raise _problem(p, kind)
    try:
        # An absolute path: FFmpeg would read "name:rest" in a relative path as a protocol.
        container = av.open(str(p.resolve()), metadata_errors="replace")
    except av.FFmpegError as e:
        raise _decode_error(p, e, "cannot open") from None
    return p, container


def _decode_error(path: Path, e: Exception, what: str) -> AudioError:
    if isinstance(e, av.error.PermissionError):
        return _problem(path, "unreadable")
    if isinstance(e, av.error.EOFError):
        kind = "truncated"
    elif isinstance(e, av.error.InvalidDataError):
        kind = "undecodable"
    else:
        return AudioError(f"{what}: {getattr(e, 'strerror', None) or e}", path=path, fix=_FIX_DECODE)
    message, fix = FILE_PROBLEMS[kind]
    return AudioError(f"{what}: {message}", path=path, fix=fix)


def _audio_stream(path: Path, container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
        raise AudioError(
            f"no audio stream (FFmpeg sees a {container.format.name} file with {kinds})",
            path=path,
            fix="pass an audio file",
        )
    return container.streams.audio[0]


def _frames(path: Path, container, stream) -> Iterator[av.AudioFrame]:
    """Decoded frames; bad packets are skipped, a demuxer error ends the stream."""
    bad = 0
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.FFmpegError as e:  # truncated/corrupt container: keep what we have
            log.warning("%s: stream ends early (%s); using the audio before it", path, e)
            break
        try:
            frames = packet.decode()
        except av.FFmpegError:
            bad += 1
            continue
        for frame in frames:
            if frame.sample_rate < _MIN_RATE_HZ:
                raise _problem(path, "low_rate")
            yield frame
    if bad:
        log.warning("%s: skipped %d undecodable packet(s)", path, bad)


def load_audio(
    path: str | Path,
    sample_rate: int = 16000,
    offset: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Decode `path` to mono float32 in [-1, 1] at `sample_rate`.

    `offset` and `duration` (seconds) select a chunk: the decoder seeks near `offset`
    (never decoding the whole file for a chunk late in it) and trims to the exact
    sample, so the result equals the same slice of a full decode. Time 0 is the first
    sample a full decode returns (after encoder delay is removed). A chunk past the end
    is shorter than `duration`, possibly empty.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if offset < 0 or (duration is not None and duration < 0):
        raise ValueError(f"offset and duration must be >= 0, got {offset}, {duration}")
    wave = _load(path, sample_rate, offset, duration, seek=True)
    if wave is None:  # the seek could not be placed on the time line: decode from the start
        wave = _load(path, sample_rate, offset, duration, seek=False)
    return _finite(wave, path)


def _finite(wave: np.ndarray, path: str | Path) -> np.ndarray:
    """`wave` clipped to [-1, 1] (lossy decoders overshoot slightly); an AudioError if any
    sample is NaN or infinite (a float file can hold them; they would poison every vector)."""
    if not np.isfinite(wave).all():
        raise _problem(Path(path), "non_finite")
    return np.clip(wave, -1.0, 1.0, out=wave)


def stream_audio(path: str | Path, sample_rate: int = 16000) -> Iterator[np.ndarray]:
    """The whole of `path` as consecutive mono float32 pieces (about one second each).

    Their concatenation equals `load_audio(path, sample_rate)`, but a long file is never
    held whole in memory (a 60-min file is 230 MB of float32 at 16 kHz). The file is
    opened before the first piece is asked for, so a missing file fails at the call.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    p, container = _open(path)
    return _stream(p, container, sample_rate)


def _stream(p: Path, container, sample_rate: int) -> Iterator[np.ndarray]:
    with container:
        stream = _audio_stream(p, container)
        resampler = av.AudioResampler(
            format="flt", layout="mono", rate=sample_rate, frame_size=sample_rate,
            options={"rematrix_maxval": "1.0"},  # as in _decode_range: a mean, not a sum
        )
        got = 0
        try:
            for frame in itertools.chain(_frames(p, container, stream), [None]):  # None flushes
                for out in resampler.resample(frame):
                    piece = out.to_ndarray().reshape(-1)
                    got += len(piece)
                    yield _finite(np.array(piece, dtype=np.float32), p)
        except av.FFmpegError as e:
            raise _decode_error(p, e, "cannot decode") from None
        if not got:
            raise AudioError("no audio could be decoded", path=p, fix=_FIX_DECODE)


def _load(path, sample_rate: int, offset: float, duration: float | None, seek: bool) -> np.ndarray | None:
    p, container = _open(path)
    with container:
        stream = _audio_stream(p, container)
        try:
            return _decode_range(p, container, stream, sample_rate, offset, duration, seek)
        except av.FFmpegError as e:  # decoder or resampler failure not caught per packet
            raise _decode_error(p, e, "cannot decode") from None


def _decode_range(
    path: Path, container, stream, sr: int, offset: float, duration: float | None, seek: bool
) -> np.ndarray | None:
    """Decode [offset, offset+duration); None when a seek's position cannot be known."""
    tb = stream.time_base
    origin = float(stream.start_time * tb) if stream.start_time is not None and tb else 0.0
    seeked = False
    if seek and tb and offset - _PREROLL_S >= _MIN_SEEK_S:
        target = origin + offset - _PREROLL_S
        try:
            container.seek(int(target / tb), stream=stream, backward=True)
        except av.FFmpegError:  # unseekable
            return None
        seeked = True

    # One-second output frames: far fewer Python round trips than one per codec frame.
    # rematrix_maxval=1 makes the downmix a weighted mean (stereo: (L+R)/2) instead of
    # FFmpeg's default (L+R)/sqrt(2), which lifts identical channels by 3 dB.
    resampler = av.AudioResampler(
        format="flt", layout="mono", rate=sr, frame_size=sr, options={"rematrix_maxval": "1.0"}
    )
    chunks: list[np.ndarray] = []
    t0: float | None = None  # time of the first decoded sample, relative to origin
    skip = 0  # input samples still to drop to reach the output grid
    got = 0
    stop = None if duration is None else offset + duration
    complete = True
    for frame in _frames(path, container, stream):
        if t0 is None:
            if frame.pts is None or frame.time_base is None:
                if seeked:
                    return None
                t0 = 0.0
            else:
                # A full decode starts at time 0 by definition; after a seek, the frame's
                # timestamp places it (stream start_time = the first sample's time).
                t0 = float(frame.pts * frame.time_base) - origin if seeked else 0.0
                if seeked:
                    # Start on an input sample that falls on the output grid, or every
                    # resampled sample would sit a fraction of a sample off a full decode's.
                    step = frame.sample_rate // math.gcd(frame.sample_rate, sr)
                    skip = -round(t0 * frame.sample_rate) % step
                    t0 += skip / frame.sample_rate
                    if t0 > offset + 0.5 / sr:  # landed after the offset: the seek is of no use
                        return None
        if skip:
            frame, skip = _drop_head(frame, skip)
            if frame is None:
                continue
        for out in resampler.resample(frame):
            chunks.append(out.to_ndarray().reshape(-1))
            got += out.samples
        if stop is not None and t0 + got / sr >= stop + 0.05:
            complete = False  # enough audio; skip the rest of the file
            break
    if complete:
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:
        if seeked:  # perhaps past the end; a decode from the start tells
            return None
        raise _problem(path, "no_audio")
    wave = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    start = max(0, round((offset - (t0 or 0.0)) * sr))
    end = None if duration is None else start + round(duration * sr)
    if start == 0 and end is None:
        return np.ascontiguousarray(wave, dtype=np.float32)
    return np.array(wave[start:end], dtype=np.float32)


def _drop_head(frame: av.AudioFrame, n: int) -> tuple[av.AudioFrame | None, int]:
    """Drop the first `n` samples of `frame`; returns the rest (or None) and what is left to drop."""
    if n >= frame.samples:
        return None, n - frame.samples
    a = frame.to_ndarray()
    a = a[:, n:] if frame.format.is_planar else a[:, n * len(frame.layout.channels) :]
    rest = av.AudioFrame.from_ndarray(np.ascontiguousarray(a), format=frame.format.name, layout=frame.layout.name)
    rest.sample_rate = frame.sample_rate
    return rest, 0


def audio_duration(path: str | Path) -> float:
    """Duration in seconds: from the container's metadata, else by decoding.

    Metadata is trusted as is: a truncated file may report its original length.
    A file with no audio samples is an AudioError.
    """
    p, container = _open(path)
    with container:
        stream = _audio_stream(p, container)
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        if container.duration:
            return container.duration / av.time_base
        samples = sum(f.samples for f in _frames(p, container, stream))
    if samples == 0:
        raise _problem(p, "no_audio")
    return samples / stream.rate


def is_audio_file(path: str | Path) -> bool:
    """Cheap sniff: FFmpeg opens the file and finds an audio stream (no decoding)."""
    try:
        p, container = _open(path)
    except AudioError:
        return False
    with container:
        return bool(container.streams.audio)


# extension -> (container format, encoder, sample format, channels, allowed rates or None)
# Encoders checked in the PyAV 18 wheel: there is no libvorbis, only FFmpeg's native
# (experimental, stereo-only) vorbis encoder, and Opus takes 8/12/16/24/48 kHz.
_LAME_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_WRITERS: dict[str, tuple[str, str, str, int, tuple[int, ...] | None]] = {
    ".wav": ("wav", "pcm_s16le", "s16", 1, None),
    ".flac": ("flac", "flac", "s16", 1, None),
    ".mp3": ("mp3", "libmp3lame", "fltp", 1, _LAME_RATES),
    ".ogg": ("ogg", "vorbis", "fltp", 2, None),
    ".opus": ("opus", "libopus", "flt", 1, (8000, 12000, 16000, 24000, 48000)),
    ".m4a": ("ipod", "aac", "fltp", 1, None),
    ".aiff": ("aiff", "pcm_s16be", "s16", 1, None),
    ".aif": ("aiff", "pcm_s16be", "s16", 1, None),
}
WRITABLE_EXTENSIONS: frozenset[str] = frozenset(_WRITERS)


def write_audio(path: str | Path, wave: np.ndarray, sample_rate: int) -> Path:
    """Encode `wave` ((S,) mono or (C, S), float in [-1, 1]) to a file chosen by extension.

    wav/aiff: 16-bit PCM; flac: 16-bit; mp3: LAME; ogg: Vorbis (stereo: FFmpeg's
    native encoder has no mono mode); opus: libopus in Ogg (rates other than
    8/12/16/24/48 kHz are resampled to 48 kHz); m4a: AAC in MP4. Values are clipped to [-1, 1].
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in _WRITERS:
        raise ValueError(f"cannot write {ext or 'extensionless'} files; use one of {sorted(_WRITERS)}")
    fmt, codec, sample_fmt, channels, rates = _WRITERS[ext]
    x = np.asarray(wave, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"wave must be (samples,) or (channels, samples) with samples > 0, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("wave contains NaN or inf")
    x = np.clip(x, -1.0, 1.0)
    if x.shape[0] > 2:
        x = x.mean(axis=0, keepdims=True)
    channels = max(channels, x.shape[0])
    layout = "stereo" if channels == 2 else "mono"
    if x.shape[0] < channels:
        x = np.repeat(x, channels, axis=0)
    rate = sample_rate if rates is None or sample_rate in rates else max(rates)

    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        with av.open(str(p.resolve()), "w", format=fmt) as container:
            stream = container.add_stream(codec, rate=rate)
            stream.codec_context.layout = layout
            stream.codec_context.format = sample_fmt
            if codec == "vorbis":
                stream.codec_context.options = {"strict": "experimental"}
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x), format="fltp", layout=layout)
            frame.sample_rate = sample_rate
            frame.pts = 0
            frame.time_base = Fraction(1, sample_rate)
            resampler = av.AudioResampler(format=sample_fmt, layout=layout, rate=rate)
            for f in [*resampler.resample(frame), *resampler.resample(None)]:
                container.mux(stream.encode(f))
            container.mux(stream.encode(None))
    except BaseException:
        p.unlink(missing_ok=True)
        raise
    return p


__all__ = [
    "AUDIO_EXTENSIONS",
    "FILE_PROBLEMS",
    "WRITABLE_EXTENSIONS",
    "audio_duration",
    "describe",
    "file_problem",
    "is_audio_file",
    "load_audio",
    "stream_audio",
    "write_audio",
]
