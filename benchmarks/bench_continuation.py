"""Playlist continuation on real soundtracks through the real `myna playlist extend`.

    python benchmarks/bench_continuation.py --data OUT/validation --store /tmp/val-store \\
        [--checkpoint runs/model/checkpoint] [--repeats 3]

The folder under --data is indexed with `myna index DATA --db STORE` (one sub-folder per game,
as scripts/build_training_set.py writes it). For every game with four or more tracks and each
of --repeats seeded draws, half of its tracks (rounded down) become a playlist; the other half
is hidden, and the playlist is extended by as many tracks as were hidden with `myna playlist
extend --strategy hull` and `--strategy centroid` (subprocesses, as a user runs them).
Precision = share of the added tracks that come from the playlist's game (with n = the number
hidden this is also the recall of the hidden half). Every game weighs the same; the interval
is a 95% bootstrap over the draws within each game.

`myna` searches in the library's similarity space (playlist/library/space.py), with the sound
statistics beside the model's vectors (playlist/library/track_vectors.py); the indexed model's
own vectors are also ranked by numpy, by raw cosine (the behaviour before that space), in the
space without the statistics (before them) and with them, as the same-run baselines. Peers in the same run, ranked by numpy over the
same candidates (every track not in the playlist): the centroid of the playlist's vectors (cosine, standardised over all tracks) for
the hand-crafted librosa MFCC+chroma+contrast vector, the MFCC statistics and MusiCNN (MSD; its
max_pool and penultimate layers averaged over 3-s patches, as AudioMuse-AI uses it), and musly's
mean distance to the playlist's tracks (when `pymusly` is installed). Random picks give
chance.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_retrieval import HandcraftedFeatures, MuslyTimbre, discover, embed_all, standardise  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playlist.library.space import Space  # noqa: E402
from playlist.library.track_vectors import encoder_part, stats_dim  # noqa: E402

MIN_TRACKS = 4


def myna(*args: str) -> str:
    """Run the real CLI; its output, or exit with its one-line error."""
    cmd = [sys.executable, "-m", "cli.app", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
                          env={**os.environ, "COLUMNS": "200"})
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def draws(tracks, repeats: int, seed: int) -> list[tuple[str, list[int], list[int]]]:
    """(game, playlist indices, hidden indices) for each game with enough tracks and each draw."""
    rng = np.random.default_rng(seed)
    out = []
    for game in sorted({t.work for t in tracks}):
        idx = [i for i, t in enumerate(tracks) if t.work == game]
        if len(idx) < MIN_TRACKS:
            continue
        for _ in range(repeats):
            order = rng.permutation(idx).tolist()
            half = len(order) // 2
            out.append((game, sorted(order[:half]), sorted(order[half:])))
    return out


def extend_with_cli(tracks, playlist: list[int], n: int, strategy: str, store: Path, work: Path, key: str) -> list[Path]:
    from playlist.m3u import read_m3u

    pl = work / f"{key}.m3u"
    pl.write_text("".join(f"{tracks[i].path.absolute()}\n" for i in playlist), encoding="utf-8")
    out = work / f"{key}.{strategy}.m3u8"
    myna("playlist", "extend", str(pl), "--n", str(n), "--strategy", strategy, "--db", str(store),
         "--out", str(out), "--absolute")
    added = [e.path for e in read_m3u(out)][len(playlist):]
    return [Path(p) for p in added if p is not None]


def store_vectors(store: Path, tracks) -> tuple[np.ndarray, int]:
    """The stored (L2-normalised) rows of `tracks`, in their order, from the store `myna index` wrote,
    and how many of each row's values are sound statistics."""
    from playlist.library.store import LibraryStore

    with LibraryStore.open(store, readonly=True) as st:
        by_path = {os.path.realpath(t.path): t.id for t in st.tracks()}
        ids, X = st.embeddings()
        n_stats = stats_dim(st.model_config)
    row = {int(i): r for r, i in enumerate(ids)}
    missing = [t.path for t in tracks if by_path.get(os.path.realpath(t.path)) not in row]
    if missing:
        raise SystemExit(f"{len(missing)} tracks have no stored embedding, e.g. {missing[0]}")
    return X[[row[by_path[os.path.realpath(t.path)]] for t in tracks]], n_stats


def centroid_picks(Z: np.ndarray, playlist: list[int], n: int) -> list[int]:
    Zn = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    c = Zn[playlist].mean(axis=0)
    score = Zn @ c
    score[playlist] = -np.inf
    return np.argsort(-score, kind="stable")[:n].tolist()


def distance_picks(D: np.ndarray, playlist: list[int], n: int) -> list[int]:
    score = -D[:, playlist].mean(axis=1)
    score[playlist] = -np.inf
    return np.argsort(-score, kind="stable")[:n].tolist()


def summarise(per_draw: list[tuple[str, float]], seed: int, n_boot: int = 2000) -> tuple[float, list[float]]:
    rng = np.random.default_rng(seed)
    games = sorted({g for g, _ in per_draw})
    vals = [np.array([p for g2, p in per_draw if g2 == g]) for g in games]
    boot = np.mean([v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1) for v in vals], axis=0)
    return float(np.mean([v.mean() for v in vals])), np.quantile(boot, [0.025, 0.975]).tolist()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="one sub-folder per game")
    ap.add_argument("--store", type=Path, required=True, help="store folder for `myna index --db` (made if missing)")
    ap.add_argument("--checkpoint", help="encoder checkpoint for `myna index` (default: the bundled model)")
    ap.add_argument("--repeats", type=int, default=3, help="seeded draws of the visible half per game")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-musly", action="store_true")
    args = ap.parse_args(argv)

    from myna_rpe.evaluation.features import EmbeddingCache, MfccFeatures, MusicnnFeatures, default_cache_dir

    tracks = discover(args.data, None)
    index_args = ["index", str(args.data), "--db", str(args.store)]
    if args.checkpoint:
        index_args += ["--checkpoint", args.checkpoint]
    print("indexing with `myna " + " ".join(index_args) + "`", file=sys.stderr)
    myna(*index_args)

    game_of = {}
    for t in tracks:
        game_of[os.path.abspath(t.path)] = t.work
        game_of[os.path.realpath(t.path)] = t.work
    cache = EmbeddingCache(default_cache_dir())
    dataset = f"retrieval-{args.data.resolve().name}"
    peers: dict[str, tuple[str, np.ndarray]] = {}
    for name, ex in (("hand-crafted centroid", HandcraftedFeatures()), ("MFCC statistics centroid", MfccFeatures()),
                     ("MusiCNN-MSD max_pool centroid", MusicnnFeatures("musicnn-msd", "max_pool")),
                     ("MusiCNN-MSD penultimate centroid", MusicnnFeatures("musicnn-msd", "penultimate"))):
        X, kept, _ = embed_all(tracks, ex, cache, dataset)
        if len(kept) != len(tracks):
            raise SystemExit(f"{ex.id}: {len(tracks) - len(kept)} tracks did not decode")
        peers[name] = ("centroid", standardise(X))
    # the indexed model's own vectors, ranked by numpy: by raw cosine (how `myna` searched before
    # the library's space), in the space (before the sound statistics) and with the statistics
    # as `myna` joins them, so the CLI rows have their baselines in the same run
    rows_stored, n_stats = store_vectors(args.store, tracks)
    encoder = encoder_part(rows_stored, n_stats)
    peers["model centroid, raw cosine (before the library space)"] = ("centroid", encoder)
    peers["model centroid, library space, model vector alone (before the statistics)"] = (
        "centroid", Space.fit(encoder).apply(encoder))
    if n_stats:
        peers["model centroid, library space with the sound statistics (numpy)"] = (
            "centroid", Space.fit(rows_stored, n_stats).apply(rows_stored))
    if not args.no_musly and MuslyTimbre.available():
        musly = MuslyTimbre()
        X, kept, _ = embed_all(tracks, musly, cache, dataset)
        peers["musly mean distance"] = ("distance", -musly.similarity(X))

    work = args.store / "continuation"
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed + 1)
    rows: dict[str, list[tuple[str, float]]] = {}
    plan = draws(tracks, args.repeats, args.seed)
    for k, (game, playlist, hidden) in enumerate(plan):
        n = len(hidden)
        for strategy in ("hull", "centroid"):
            added = extend_with_cli(tracks, playlist, n, strategy, args.store, work, f"{k:03d}-{game}")
            hits = sum(game_of.get(os.path.abspath(p), game_of.get(os.path.realpath(p))) == game for p in added)
            rows.setdefault(f"myna playlist extend --strategy {strategy}", []).append((game, hits / n))
        for name, (kind, M) in peers.items():
            picks = centroid_picks(M, playlist, n) if kind == "centroid" else distance_picks(M, playlist, n)
            rows.setdefault(name, []).append((game, sum(tracks[i].work == game for i in picks) / n))
        others = [i for i in range(len(tracks)) if i not in playlist]
        picks = rng.choice(others, size=n, replace=False)
        rows.setdefault("random picks", []).append((game, sum(tracks[i].work == game for i in picks) / n))
        print(f"\r  {k + 1}/{len(plan)} playlists", end="", file=sys.stderr)
    print(file=sys.stderr)

    games = sorted({g for g, _, _ in plan})
    print(f"\ncontinuation on {args.data} ({len(tracks)} tracks; {len(games)} games with ≥ {MIN_TRACKS} tracks, "
          f"{args.repeats} draws each: half the game shown, as many added as hidden); model "
          f"{args.checkpoint or 'bundled'}; precision with every game weighing the same [95% bootstrap]\n")
    print("| method | precision, games equal |")
    print("|---|---|")
    for name, per_draw in rows.items():
        mean, (lo, hi) = summarise(per_draw, args.seed)
        print(f"| {name} | {mean:.3f} [{lo:.2f}, {hi:.2f}] |")


if __name__ == "__main__":
    main()
