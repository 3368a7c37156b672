#!/usr/bin/env python3
"""Where the duplicate-recording thresholds of playlist selection should sit.

`playlist/geometry/selection.py` refuses a candidate that is the same recording as a
playlist track: cosine >= `duplicate_cosine` (the same audio in another file), or the same
title, artist and duration and cosine >= `tag_duplicate_cosine` (another rip). Those
cosines are of the model's own vectors (`Catalog.recording_vectors`); the bench also shows
them in the library's similarity space (playlist/library/space.py), where searches run, as
the alternative. It measures both sides of each threshold on real music:

- copies: a seeded sample of --data's tracks re-encoded as a user's library holds them
  (MP3, Ogg Vorbis, Opus, AAC, FLAC 3 dB quieter, FLAC with 0.5 s of lead-in silence, FLAC
  at 22.05 kHz), each scored against its original;
- different tracks: every pair of distinct originals; those of one game (the pairs that
  share tags in a soundtrack whose files carry one title); and of those, the pairs whose
  durations are within `duplicate_seconds` (what the tag rule would then also need).

Everything (originals, hard-linked, and copies) is indexed by the real `myna index` with the
bundled model, the vectors read back from its store and mapped into the space fitted on them
all, as `myna` does. Printed: cosines of copies per encoding (raw and in the space), the
closest different tracks, and for each candidate threshold the share of copies caught and
the different-track pairs it would wrongly call duplicates.

Use held-out, non-reserved music for --data (e.g. the validation games of the training-set
build); the reserved evaluation packages are not for this.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_continuation import myna, store_vectors  # noqa: E402
from bench_retrieval import discover  # noqa: E402

from playlist.geometry.selection import SelectionRules  # noqa: E402
from playlist.library.space import Space  # noqa: E402
from playlist.library.store import LibraryStore  # noqa: E402
from playlist.library.track_vectors import encoder_part  # noqa: E402

SR = 44100
# name -> (extension, how the decoded original becomes the copy)
COPIES = {
    "MP3 (LAME)": (".mp3", lambda x: x),
    "Ogg Vorbis": (".ogg", lambda x: x),
    "Opus": (".opus", lambda x: x),
    "AAC (m4a)": (".m4a", lambda x: x),
    "FLAC, 3 dB quieter": (".flac", lambda x: x * 10 ** (-3 / 20)),
    "FLAC, 0.5 s lead-in": (".flac", lambda x: np.concatenate([np.zeros(SR // 2, np.float32), x])),
    "FLAC at 22.05 kHz": (".flac", None),  # resampled on decode, below
}
THRESHOLDS = (0.80, 0.85, 0.90, 0.93, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995)


def make_library(tracks, n: int, seed: int, lib: Path) -> list[tuple[int, str, Path]]:
    """Hard links of every original under lib/originals, copies of `n` of them under lib/copies;
    returns (original index, copy kind, copy path)."""
    from myna_rpe.audio import load_audio, write_audio

    for i, t in enumerate(tracks):
        dest = lib / "originals" / f"{i:04d}{t.path.suffix}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            try:
                os.link(t.path, dest)
            except OSError:  # another file system
                shutil.copyfile(t.path, dest)
    chosen = sorted(np.random.default_rng(seed).choice(len(tracks), size=min(n, len(tracks)), replace=False).tolist())
    copies = []
    for i in chosen:
        wave = None
        for k, (kind, (ext, change)) in enumerate(COPIES.items()):
            dest = lib / "copies" / f"{i:04d}-{k}{ext}"
            copies.append((i, kind, dest))
            if dest.exists():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            if change is None:
                write_audio(dest, load_audio(tracks[i].path, sample_rate=22050), 22050)
                continue
            if wave is None:
                wave = load_audio(tracks[i].path, sample_rate=SR)
            write_audio(dest, change(wave), SR)
    return copies


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="held-out music, one folder per game")
    ap.add_argument("--manifest", type=Path, default=None)
    ap.add_argument("--n", type=int, default=20, help="originals that get copies")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/myna-bench-duplicates"))
    args = ap.parse_args(argv)

    tracks = discover(args.data, args.manifest)
    lib, store = args.work / "lib", args.work / "store"
    copies = make_library(tracks, args.n, args.seed, lib)
    myna("index", str(lib), "--db", str(store))

    originals = [lib / "originals" / f"{i:04d}{t.path.suffix}" for i, t in enumerate(tracks)]
    stand_in = [type("T", (), {"path": p})() for p in originals + [c for _, _, c in copies]]
    stored, n_stats = store_vectors(store, stand_in)
    raw = encoder_part(stored, n_stats)  # the encoder's part: what the duplicate rules read
    with LibraryStore.open(store, readonly=True) as st:
        seconds = {os.path.realpath(t.path): t.duration for t in st.tracks()}
    durations = np.array([seconds[os.path.realpath(p)] or np.nan for p in originals])
    space = Space.fit(stored, n_stats)  # what `myna` fits: every stored row of the library
    n = len(tracks)
    rows = {}
    for name, X in (("raw cosine", raw), ("library space", space.apply(stored))):
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        S = X[:n] @ X[:n].T
        iu = np.triu_indices(n, 1)
        pairs = S[iu]
        games = np.array([t.work for t in tracks])
        one_game = games[iu[0]] == games[iu[1]]
        close = np.abs(durations[iu[0]] - durations[iu[1]]) <= SelectionRules().duplicate_seconds
        copy_cos = np.array([X[i] @ X[n + k] for k, (i, _, _) in enumerate(copies)])
        rows[name] = (pairs, pairs[one_game], pairs[one_game & close], copy_cos)

    kinds = list(COPIES)
    labels = np.array([kind for _, kind, _ in copies])
    print(f"# {n} originals ({len({t.work for t in tracks})} games), {len(copies)} copies of {args.n} of them; "
          f"bundled model, default budget\n")
    print("| copy | raw cosine: min / median | library space: min / median |")
    print("|---|---|---|")
    for kind in kinds + ["all copies"]:
        sel = labels == kind if kind != "all copies" else np.ones(len(labels), bool)
        cells = [f"{rows[s][3][sel].min():.3f} / {np.median(rows[s][3][sel]):.3f}" for s in rows]
        print(f"| {kind} | {' | '.join(cells)} |")
    print()
    for s, (pairs, one_game, close, _) in rows.items():
        top = np.sort(pairs)[::-1]
        print(f"{s}: different tracks, highest cosines {', '.join(f'{v:.3f}' for v in top[:5])} ({len(pairs)} pairs); "
              f"one game's highest {one_game.max():.3f} ({len(one_game)} pairs); of those with durations within "
              f"{SelectionRules().duplicate_seconds:g} s, {close.max() if len(close) else float('nan'):.3f} ({len(close)} pairs)")
    print()
    print("Copies caught, and pairs of different tracks at or above each threshold: all pairs / one game's /")
    print("one game's with durations within the tag rule's seconds.\n")
    print("| threshold | space: copies caught | space: different pairs ≥ | raw: copies caught | raw: different pairs ≥ |")
    print("|---:|---:|---:|---:|---:|")
    for t in THRESHOLDS:
        cells = []
        for s in ("library space", "raw cosine"):
            pairs, one_game, close, copy_cos = rows[s]
            cells += [f"{(copy_cos >= t).mean():.0%}",
                      f"{int((pairs >= t).sum())} / {int((one_game >= t).sum())} / {int((close >= t).sum())}"]
        print(f"| {t:.3f} | {' | '.join(cells)} |")
    rules = SelectionRules()
    print(f"\nshipped rules (raw cosine): duplicate_cosine {rules.duplicate_cosine}, "
          f"tag_duplicate_cosine {rules.tag_duplicate_cosine}")


if __name__ == "__main__":
    main()
