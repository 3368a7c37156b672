"""Does an embedding keep tonal information? A key probe on rendered, transposed MIDI.

    python benchmarks/bench_key.py --midi-dir ~/.cache/myna-rpe/debs/x/openttd-openmsx/usr/share/games/openttd/baseset/openmsx \\
        --work /tmp/keyset --checkpoint current=myna_rpe/pretrained --checkpoint student=runs/s/checkpoint

Every MIDI file under --midi-dir is a piece. Each piece is transposed by --transpositions
distinct shifts (−5…+6 semitones, drawn per piece from a seeded stream; drum channel left
alone), rendered with FluidSynth and one General MIDI soundfont, and cut to a 30-s excerpt
(from 10 s in, or the start of a short piece). Its label is the key (24 classes: 12 tonics ×
major/minor) that Krumhansl–Kessler profiles give the excerpt's duration-weighted pitch
classes; a transposition moves the label with it. The probe is a standardised logistic
regression, scored by accuracy under 5-fold cross-validation with every transposition of a
piece in the same fold (so a piece is never both learned and tested). Chance is the
most frequent key's share.

MusiCNN is key-blind by its training (tags), and a student that only imitated it would lose
what the contrastive objective keeps; this table watches that, beside chroma, the
hand-crafted vector, MFCC statistics and the untrained twin. The MIDI files the default
command names (OpenTTD's openMSX) are in the training set in their original key and one
soundfont per piece; the probe's labels come from the transpositions, which no model heard.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_retrieval as br  # noqa: E402

MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
EXCERPT_S, START_S, SR = 30.0, 10.0, 22050
DRUMS = 9


def pitch_class_weights(midi, start: float, end: float) -> np.ndarray:
    """Seconds each pitch class sounds within [start, end), drums left out."""
    hist = np.zeros(12)
    on: dict[tuple[int, int], float] = {}
    now = 0.0
    for msg in midi:  # mido yields messages with .time in seconds (tempo applied)
        now += msg.time
        if msg.type not in ("note_on", "note_off") or msg.channel == DRUMS:
            continue
        key = (msg.channel, msg.note)
        if msg.type == "note_on" and msg.velocity > 0:
            on.setdefault(key, now)
        elif key in on:
            t0 = on.pop(key)
            hist[msg.note % 12] += max(0.0, min(now, end) - max(t0, start))
    return hist


def estimate_key(hist: np.ndarray) -> int:
    """0–11 major, 12–23 minor (tonic = index mod 12), by correlation with the rotated profiles."""
    scores = [np.corrcoef(hist, np.roll(p, k))[0, 1] for p in (MAJOR, MINOR) for k in range(12)]
    return int(np.nanargmax(scores))


def transpose(src: Path, dst: Path, shift: int, until_s: float | None = None) -> None:
    """Write `src` moved by `shift` semitones (drums left alone) as one track, cut after `until_s`
    seconds when given (the renderer then has no more than the excerpt to play)."""
    import mido

    midi = mido.MidiFile(str(src))
    out = mido.MidiFile(type=0, ticks_per_beat=midi.ticks_per_beat)
    track = mido.MidiTrack()
    out.tracks.append(track)
    tempo, now, channels = 500000, 0.0, set()
    for msg in mido.merge_tracks(midi.tracks):
        now += mido.tick2second(msg.time, midi.ticks_per_beat, tempo)
        if until_s is not None and now > until_s:
            break
        if msg.type == "set_tempo":
            tempo = msg.tempo
        if msg.type in ("note_on", "note_off", "polytouch") and msg.channel != DRUMS:
            msg = msg.copy(note=min(127, max(0, msg.note + shift)))
        if hasattr(msg, "channel"):
            channels.add(msg.channel)
        track.append(msg)
    # Cut mid-piece: silence every channel, or held notes (an organ's never decay) keep the renderer going.
    for ch in sorted(channels):
        track.append(mido.Message("control_change", channel=ch, control=123, value=0, time=0))
        track.append(mido.Message("control_change", channel=ch, control=120, value=0, time=0))
    out.save(str(dst))


def build_set(midi_dir: Path, work: Path, per_piece: int, soundfont: Path, seed: int) -> list[tuple[Path, int, str]]:
    """(excerpt wav, key label, piece) for every rendered transposition (cached in `work`)."""
    import mido

    from myna_rpe.audio import load_audio, write_audio

    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None:
        raise SystemExit("fluidsynth is not installed (apt-get install --no-install-recommends fluidsynth)")
    work.mkdir(parents=True, exist_ok=True)
    pieces = sorted(midi_dir.rglob("*.mid"))
    if not pieces:
        raise SystemExit(f"{midi_dir}: no .mid files")
    out = []
    for i, src in enumerate(pieces):
        try:
            length = mido.MidiFile(str(src)).length
        except (OSError, ValueError, EOFError) as exc:
            print(f"skipped {src}: {exc}", file=sys.stderr)
            continue
        start = START_S if length >= START_S + EXCERPT_S else 0.0
        hist = pitch_class_weights(mido.MidiFile(str(src)), start, start + EXCERPT_S)
        if hist.sum() == 0:
            continue
        key0 = estimate_key(hist)
        shifts = np.random.default_rng([seed, i]).choice(np.arange(-5, 7), size=per_piece, replace=False)
        for shift in shifts.tolist():
            wav = work / f"{src.stem}.{shift:+d}.wav"
            if not wav.is_file():
                mid, full = work / f".{src.stem}.{shift:+d}.mid", work / f".{src.stem}.{shift:+d}.full.wav"
                transpose(src, mid, shift, until_s=start + EXCERPT_S)
                subprocess.run([fluidsynth, "-q", "-n", "-i", "-F", str(full), "-T", "wav", "-r", str(SR),
                                str(soundfont), str(mid)], check=True, capture_output=True)
                write_audio(wav, load_audio(full, SR, offset=start, duration=EXCERPT_S), SR)
                mid.unlink()
                full.unlink()
            label = (key0 % 12 + shift) % 12 + 12 * (key0 // 12)
            out.append((wav, label, src.stem))
        print(f"\r  rendered {i + 1}/{len(pieces)} pieces", end="", file=sys.stderr)
    print(file=sys.stderr)
    return out


def chroma_features(path: Path) -> np.ndarray:
    import librosa

    from myna_rpe.audio import load_audio

    c = librosa.feature.chroma_cqt(y=load_audio(path, SR), sr=SR)
    return np.concatenate([c.mean(axis=1), c.std(axis=1)]).astype(np.float32)


chroma_features.id = "chroma-cqt-meanstd-v1"


def probe(X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    accs = []
    for train, test in GroupKFold(n_splits=5).split(X, y, groups):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000))
        clf.fit(X[train], y[train])
        accs.append(float((clf.predict(X[test]) == y[test]).mean()))
    return float(np.mean(accs)), float(np.std(accs))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--midi-dir", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True, help="where the renders are kept (reused)")
    ap.add_argument("--checkpoint", action="append", default=[], metavar="[LABEL=]PATH")
    ap.add_argument("--transpositions", type=int, default=6, help="distinct shifts per piece (at most 12)")
    ap.add_argument("--soundfont", type=Path, default=Path("/usr/share/sounds/sf2/TimGM6mb.sf2"))
    ap.add_argument("--musicnn-layers", type=br._layer_list, default=["max_pool", "penultimate"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    if not 1 <= args.transpositions <= 12:
        raise SystemExit("--transpositions takes 1 to 12")

    from myna_rpe.evaluation.features import EmbeddingCache, default_cache_dir

    items = build_set(args.midi_dir, args.work, args.transpositions, args.soundfont, args.seed)
    tracks = [br.Track(p, p.name, piece, piece, p.name) for p, _, piece in items]
    y = np.array([label for _, label, _ in items])
    groups = np.array([piece for _, _, piece in items])
    ex_args = argparse.Namespace(
        checkpoint=args.checkpoint, chunk_averages=[], device=args.device, protocol="budget", no_mfcc=False,
        no_handcrafted=False, no_musly=True, musicnn_layers=args.musicnn_layers, no_random=False, seed=args.seed,
        random_size="mini", random_pe="alibi2d",
    )
    cache = EmbeddingCache(default_cache_dir())
    dataset = f"keyprobe-{args.work.resolve().name}"
    rows = [(label, ex) for label, _, ex in br.extractors(ex_args)] + [("chroma (CQT) mean+std", chroma_features)]
    print(f"\nkey probe: {len(items)} excerpts of {EXCERPT_S:g} s, {len(set(groups))} pieces × "
          f"{args.transpositions} transpositions, {len(set(y))} keys present; 24-way accuracy, 5 folds grouped by "
          f"piece (mean ± std over folds); chance {np.bincount(y).max() / len(y):.3f}\n")
    print("| row | accuracy |")
    print("|---|---|")
    from myna_rpe.evaluation.features import EncoderFeatures, TrackStatsFeatures
    from playlist.library.track_vectors import track_rows

    stats = None
    for label, ex in rows:
        X, kept, _ = br.embed_all(tracks, ex, cache, dataset)
        acc, sd = probe(X, y[kept], groups[kept])
        print(f"| {label} | {acc:.3f} ± {sd:.3f} |", flush=True)
        if isinstance(ex, EncoderFeatures) and not label.startswith("untrained"):
            # the row a library keeps for the track: the vector with the sound statistics beside it
            if stats is None:
                stats, stats_kept, _ = br.embed_all(tracks, TrackStatsFeatures(), cache, dataset)
                if len(stats_kept) != len(tracks):
                    raise SystemExit(f"sound statistics: {len(tracks) - len(stats_kept)} excerpts did not decode")
            acc, sd = probe(track_rows(X, stats[kept]), y[kept], groups[kept])
            print(f"| {label} with statistics (as a library keeps it) | {acc:.3f} ± {sd:.3f} |", flush=True)


if __name__ == "__main__":
    main()
