"""Deterministic music-like audio for tests, demos and benchmarks.

A track is a small band playing a chord progression in one key: three chord voices,
a bass line on the chord roots, a melody walking the scale, and drums on the beat
grid. What a listener (or an encoder) can learn from the audio is set by `TrackSpec`:

- key and mode: the tonic and the major/minor scale, heard through the chords
  (the third of the tonic triad), the melody's notes and the progressions;
- tempo: the note onset rate and the kick/snare/hi-hat grid;
- timbre: the harmonic amplitude profile of every pitched voice (brightness);
- loudness: the track's RMS level in dBFS.

The same spec (its `seed` included) always gives the same samples. The progression
is re-chosen every 4-bar section and the melody is a random walk, so two chunks of a
track share key, tempo and timbre without being copies of each other.

Rendering is vectorised: each voice is one wavetable oscillator driven by a per-sample
frequency array, so a 3-minute track takes a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODES = ("major", "minor")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
# Chord progressions as scale degrees (0 = tonic); one chord per bar. Each starts on the
# tonic and minor ones reach the major dominant (V, harmonic minor's raised 7th), so the
# key is not ambiguous with its relative major or minor.
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 0), (0, 5, 3, 4), (0, 3, 0, 4), (0, 1, 4, 0)),
    "minor": ((0, 5, 3, 4), (0, 3, 4, 0), (0, 6, 5, 4), (0, 3, 0, 4), (0, 5, 2, 4)),
}

TIMBRES = ("sine", "square", "bright", "mellow")


def _harmonics(timbre: str) -> np.ndarray:
    k = np.arange(1, 17, dtype=np.float64)
    if timbre == "sine":
        a = np.where(k == 1, 1.0, 0.0) + np.where(k == 2, 0.05, 0.0)
    elif timbre == "square":  # odd harmonics, 1/k: hollow, clarinet-like
        a = np.where(k % 2 == 1, 1.0 / k, 0.0)
    elif timbre == "bright":  # every harmonic, slowly falling: brassy, sawtooth-like
        a = k**-0.6
    elif timbre == "mellow":  # energy in the first few harmonics: soft, flute-like
        a = k**-2.5
    else:
        raise ValueError(f"unknown timbre {timbre!r}; choose from {', '.join(TIMBRES)}")
    return a / np.abs(a).sum()


@dataclass(frozen=True)
class TrackSpec:
    """What makes a synthetic track sound the way it does."""

    tonic: int  # 0 = C ... 11 = B
    mode: str  # "major" | "minor"
    tempo_bpm: float
    timbre: str  # one of TIMBRES
    loudness_db: float  # RMS level, dBFS
    seed: int  # melody, progressions, drum noise

    def __post_init__(self) -> None:
        if not 0 <= self.tonic <= 11:
            raise ValueError(f"tonic must be 0..11, got {self.tonic}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be major or minor, got {self.mode!r}")
        if not 30 <= self.tempo_bpm <= 300:
            raise ValueError(f"tempo_bpm must be in 30..300, got {self.tempo_bpm}")
        if self.timbre not in TIMBRES:
            raise ValueError(f"unknown timbre {self.timbre!r}; choose from {', '.join(TIMBRES)}")
        if not -60 <= self.loudness_db <= -3:
            raise ValueError(f"loudness_db must be in -60..-3 dBFS, got {self.loudness_db}")

    @property
    def key(self) -> str:
        """E.g. 'A minor'."""
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"

    @classmethod
    def random(cls, rng: np.random.Generator) -> "TrackSpec":
        return cls(
            tonic=int(rng.integers(12)),
            mode=str(rng.choice(MODES)),
            tempo_bpm=round(float(rng.uniform(70, 160)), 1),
            timbre=str(rng.choice(TIMBRES)),
            loudness_db=round(float(rng.uniform(-26, -14)), 1),
            seed=int(rng.integers(2**31)),
        )


def synth_track(
    spec: TrackSpec | int,
    duration: float,
    sample_rate: int = 16000,
    *,
    key: int | None = None,
    mode: str | None = None,
    tempo: float | None = None,
    timbre: str | None = None,
) -> np.ndarray:
    """Render `duration` seconds of the track `spec` as float32 mono in [-1, 1].

    `spec` may also be an int seed (a random spec drawn from it); the keyword
    arguments then override its tonic, mode, tempo or timbre.
    """
    if not isinstance(spec, TrackSpec):
        spec = TrackSpec.random(np.random.default_rng(int(spec)))
    overrides = {"tonic": key, "mode": mode, "tempo_bpm": tempo, "timbre": timbre}
    spec = replace(spec, **{k: v for k, v in overrides.items() if v is not None})
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    sr = sample_rate
    n = max(1, round(duration * sr))
    rng = np.random.default_rng(spec.seed)
    beat = 60.0 / spec.tempo_bpm
    n_bars = int(np.ceil(duration / (4 * beat))) + 1
    score = _compose(spec, n_bars, rng)
    harm = _harmonics(spec.timbre)

    bar_starts = (np.arange(n_bars) * 4 * beat * sr).astype(np.int64)
    chords = _voices(bar_starts, score["chords"].T, np.full(n_bars, 0.22), n, sr, harm, 0.02, 10 * beat)
    half_bars = (np.arange(2 * n_bars) * 2 * beat * sr).astype(np.int64)
    bass = _voices(half_bars, score["bass"], np.full(2 * n_bars, 0.35), n, sr, harm, 0.005, 0.6 * beat)
    mel_starts = (score["melody_t"] * beat * sr).astype(np.int64)
    melody = _voices(mel_starts, score["melody"], score["melody_amp"], n, sr, harm, 0.01, 0.8 * beat)
    drums = _drums(n_bars, beat, n, sr, rng, score["hat_eighths"])

    mix = chords + bass + melody + drums
    rms = float(np.sqrt(np.mean(mix.astype(np.float64) ** 2)))
    if rms > 0:
        mix *= 10 ** (spec.loudness_db / 20) / rms
    return np.clip(mix, -1.0, 1.0).astype(np.float32)


def synth_note(
    midi: int,
    timbre: str,
    duration: float,
    sample_rate: int = 16000,
    loudness_db: float = -20.0,
    vibrato_cents: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """One held note, NSynth/TinySOL style: MIDI pitch `midi` with the harmonic profile of
    `timbre`, a 10 ms attack, a slow decay and a 50 ms release, at `loudness_db` RMS.
    `vibrato_cents` adds a 5 Hz vibrato of that depth with a seeded phase (takes differ)."""
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    n = max(1, round(duration * sample_rate))
    t = np.arange(n) / sample_rate
    f0 = 440.0 * 2.0 ** ((midi - 69) / 12)
    phase0 = np.random.default_rng(seed).uniform(0, 2 * np.pi)
    freq = f0 * 2.0 ** (vibrato_cents / 1200 * np.sin(2 * np.pi * 5.0 * t + phase0))
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate
    harm = _harmonics(timbre)
    out = np.zeros(n)
    for k, a in enumerate(harm, start=1):
        if a and k * f0 < 0.45 * sample_rate:  # band-limited: no aliasing
            out += a * np.sin(k * phase)
    env = (1 - np.exp(-t / 0.01)) * np.exp(-t / max(duration, 0.1)) * np.clip((duration - t) / 0.05, 0, 1)
    out *= env
    rms = float(np.sqrt(np.mean(out**2)))
    if rms > 0:
        out *= 10 ** (loudness_db / 20) / rms
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def _compose(spec: TrackSpec, n_bars: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Chords, bass and melody as MIDI notes on the beat grid, section by section."""
    scale = np.array(SCALES[spec.mode])
    progs = PROGRESSIONS[spec.mode]
    degrees = np.concatenate([progs[rng.integers(len(progs))] for _ in range(0, n_bars, 4)])[:n_bars]

    # In minor, the dominant chord and the melody over it take the raised 7th.
    leading = np.zeros(n_bars, bool) if spec.mode == "major" else degrees == 4

    def pitch(deg: np.ndarray, base: int, raise7: np.ndarray | bool = False) -> np.ndarray:
        deg = np.asarray(deg)
        return base + spec.tonic + 12 * (deg // 7) + scale[deg % 7] + ((deg % 7 == 6) & raise7)

    triads = degrees[:, None] + np.array([0, 2, 4])  # root, third, fifth
    chords = pitch(triads, 48, leading[:, None])
    bass = np.repeat(pitch(degrees, 36), 2)  # chord root on beats 1 and 3

    # Melody: per beat one quarter or two eighths; strong beats take a chord tone, the
    # rest step through the scale (a bounded random walk), and each 4-bar section ends
    # on the tonic.
    times, notes, raised, amps = [], [], [], []
    deg = 7
    for bar in range(n_bars):
        chord_tones = triads[bar] % 7
        for b in range(4):
            split = 2 if rng.random() < 0.4 else 1
            for s in range(split):
                if bar % 4 == 3 and b == 3:
                    deg = 7 if deg < 11 else 14
                elif s == 0 and b in (0, 2):
                    options = [d for d in range(deg - 4, deg + 5) if d % 7 in chord_tones and 3 <= d <= 14]
                    deg = int(options[rng.integers(len(options))])
                else:
                    deg = int(np.clip(deg + rng.choice((-2, -1, -1, 1, 1, 2)), 3, 14))
                rest = rng.random() < 0.1
                times.append(bar * 4 + b + s / split)
                notes.append(deg)
                raised.append(leading[bar])
                amps.append(0.0 if rest else (0.3 if b == 0 and s == 0 else 0.24))
    melody = pitch(np.array(notes), 60, np.array(raised))
    hat_eighths = rng.random(int(np.ceil(n_bars / 4))) < 0.6  # per section: 8ths or quarters
    return {
        "chords": chords,
        "bass": bass,
        "melody": melody,
        "melody_t": np.array(times),
        "melody_amp": np.array(amps),
        "hat_eighths": hat_eighths,
    }


def _voices(
    starts: np.ndarray,
    midi: np.ndarray,
    amps: np.ndarray,
    n: int,
    sr: int,
    harm: np.ndarray,
    attack_s: float,
    decay_s: float,
) -> np.ndarray:
    """Monophonic voices sharing one rhythm: note j of voice v plays MIDI note midi[v, j]
    from starts[j] (samples, ascending) to the next start, with loudness amps[j]."""
    keep = starts < n
    starts, midi, amps = starts[keep], np.atleast_2d(midi)[:, keep], amps[keep]
    starts[0] = 0
    lengths = np.diff(np.append(starts, n))
    # np.repeat spreads per-note values over samples (much faster than fancy indexing).
    since = np.arange(n, dtype=np.int32) - np.repeat(starts.astype(np.int32), lengths)  # into the note
    left = np.repeat(lengths.astype(np.int32), lengths) - since  # samples to the note's end

    # Envelopes come from two lookup tables instead of exp() per sample.
    t = np.arange(lengths.max(), dtype=np.float32) / sr
    attack_decay = (1 - np.exp(-t / attack_s)) * np.exp(-t / decay_s)
    ramp = int(0.01 * sr)  # 10 ms release: no clicks at note changes
    release = np.minimum(np.arange(ramp + 1, dtype=np.float32) / max(ramp, 1), 1.0)
    env = np.repeat(amps.astype(np.float32), lengths)
    env *= np.take(attack_decay, since)
    env *= np.take(release, np.minimum(left, ramp))

    # One wavetable for all voices, band-limited to the highest note.
    freqs = 440.0 * 2.0 ** ((midi - 69) / 12)
    h = harm[: max(1, int(0.45 * sr / freqs.max()))]
    size = 4096
    k = np.arange(1, len(h) + 1)
    table = (h[:, None] * np.sin(k[:, None] * np.arange(size + 1) * (2 * np.pi / size))).sum(0).astype(np.float32)

    out = np.zeros(n, np.float32)
    sincef = since.astype(np.float32)
    for f in freqs:
        step = f / sr  # cycles per sample, per note
        # Phase is continuous across notes: each note starts where the previous one ended.
        phase0 = np.concatenate([[0.0], np.cumsum(step * lengths)[:-1]]) % 1.0
        pos = np.repeat(step.astype(np.float32), lengths) * sincef
        pos += np.repeat(phase0.astype(np.float32), lengths)
        pos -= np.floor(pos)
        pos *= size
        i0 = pos.astype(np.int32)
        pos -= i0  # now the fraction between table entries
        lo = np.take(table, i0)
        out += lo
        out += pos * (np.take(table, i0 + 1) - lo)
    return out * env


def _drums(
    n_bars: int, beat: float, n: int, sr: int, rng: np.random.Generator, hat_eighths: np.ndarray
) -> np.ndarray:
    """Kick on beats 1 and 3, snare on 2 and 4, hi-hat on 8ths or quarters per section."""
    t = np.arange(int(0.25 * sr)) / sr
    kick = (np.sin(2 * np.pi * np.cumsum(45 + 65 * np.exp(-t / 0.03)) / sr) * np.exp(-t / 0.08)).astype(np.float32)
    noise = rng.standard_normal(len(t)).astype(np.float32)
    snare = (0.7 * noise * np.exp(-t / 0.05) + 0.3 * np.sin(2 * np.pi * 185 * t) * np.exp(-t / 0.04)).astype(np.float32)
    hat = (np.diff(noise, prepend=0) * np.exp(-t / 0.012)).astype(np.float32)
    out = np.zeros(n, np.float32)
    events = []
    for bar in range(n_bars):
        b0 = bar * 4
        events += [(b0, kick, 0.9), (b0 + 2, kick, 0.9), (b0 + 1, snare, 0.45), (b0 + 3, snare, 0.45)]
        step = 0.5 if hat_eighths[bar // 4] else 1.0
        events += [(b0 + s, hat, 0.12) for s in np.arange(0, 4, step)]
    for at, sound, gain in events:
        i = int(round(at * beat * sr))
        if i >= n:
            continue
        m = min(len(sound), n - i)
        out[i : i + m] += gain * sound[:m]
    return out


# Words for titles; some non-ASCII on purpose, so path and tag handling gets exercised.
_TITLE_A = ("Quiet", "Golden", "Späte", "Blue", "Night", "Café", "Lost", "Île", "Northern", "夜の")
_TITLE_B = ("Harbour", "Étude", "Lights", "Dance", "Road", "Morgen", "Garden", "Wave", "Søndag", "歌")
_ARTISTS = {
    "sine": "The Sine Ensemble",
    "square": "Square Wave Quartet",
    "bright": "Brightside Brass",
    "mellow": "Mellow Flutes",
}


def make_library(
    root: Path,
    n: int,
    seed: int = 0,
    *,
    formats: tuple[str, ...] = ("mp3", "flac", "ogg", "m4a"),
    duration: tuple[float, float] = (8.0, 20.0),
    nested: bool = True,
    tags: bool = True,
    sample_rate: int = 16000,
) -> list[tuple[Path, TrackSpec]]:
    """Write `n` synthetic tracks under `root` as real audio files; returns (path, spec) pairs.

    Nested layout: root/<artist>/<album>/<NN> <title>.<ext>, where the artist is the
    timbre family and the album the key (e.g. 'A minor'), so tag groups follow what
    the audio really shares. Formats cycle through `formats`; durations are uniform in
    `duration` seconds. Tags (title, artist, album, tracknumber) are written with
    mutagen when `tags` is true.
    """
    from myna_rpe.audio import write_audio  # PyAV is needed only to write files

    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    lo, hi = duration
    root = Path(root)
    rng = np.random.default_rng(seed)
    out: list[tuple[Path, TrackSpec]] = []
    track_no: dict[tuple[str, str], int] = {}
    for i in range(n):
        spec = TrackSpec.random(rng)
        secs = float(rng.uniform(lo, hi))
        ext = formats[i % len(formats)].lower().lstrip(".")
        title = f"{_TITLE_A[rng.integers(len(_TITLE_A))]} {_TITLE_B[rng.integers(len(_TITLE_B))]} {i + 1}"
        artist, album = _ARTISTS[spec.timbre], spec.key
        no = track_no[(artist, album)] = track_no.get((artist, album), 0) + 1
        if nested:
            path = root / artist / album / f"{no:02d} {title}.{ext}"
        else:
            path = root / f"{i + 1:03d} {artist} - {title}.{ext}"
        write_audio(path, synth_track(spec, secs, sample_rate), sample_rate)
        if tags:
            _tag(path, {"title": title, "artist": artist, "album": album, "tracknumber": str(no)})
        out.append((path, spec))
    return out


def _tag(path: Path, values: dict[str, str]) -> None:
    import mutagen
    from mutagen.id3 import ID3, TALB, TIT2, TPE1, TRCK

    f = mutagen.File(path, easy=True)
    if f is None:
        raise ValueError(f"mutagen cannot tag {path}")
    if f.tags is None:
        f.add_tags()
    if isinstance(f.tags, ID3):  # WAVE/AIFF: ID3 without the "easy" key mapping
        frames = {"title": TIT2, "artist": TPE1, "album": TALB, "tracknumber": TRCK}
        for key, value in values.items():
            f.tags.add(frames[key](encoding=3, text=value))
    else:
        for key, value in values.items():
            f[key] = value
    f.save()


__all__ = ["TrackSpec", "synth_track", "synth_note", "make_library", "TIMBRES", "MODES", "NOTE_NAMES", "SCALES"]
