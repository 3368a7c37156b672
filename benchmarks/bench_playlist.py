"""Playlist continuation quality and `extend` latency.

1. Continuation on generated playlists. A clustered synthetic library (genres → styles →
   artists → tracks, `playlist.synthetic`); each playlist is all tracks of 1 or 3 artists,
   half shown, half hidden. Every method extends the shown half by R = |hidden| tracks
   (and by 5R for recall). Reported per scenario, averaged over playlists:
     R-prec     hidden tracks among the first R picks / R
     recall@5R  hidden tracks among the first 5R picks / R
     style@R    picks from one of the playlist's styles among the first R / R
   Methods: hull (default extend), centroid (cosine to the mean), nearest-track (distance
   to the closest playlist track: the usual k-NN-union baseline) and random.
2. Latency of `extend --n 20` for a 20-track playlist over 10^4, 10^5, 10^6 random unit
   vectors (d = 128) in an exact FAISS flat index, split into the FAISS short-list search
   and the exact hull ranking, against the centroid method (FAISS only) in the same run.

    python benchmarks/bench_playlist.py [--quick] [--max-n 1000000] [--playlists 40]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from playlist.catalog import ArrayCatalog
from playlist.extend import extend
from playlist.hull import PlaylistHull
from playlist.region import playlist_hull, shortlist
from playlist.synthetic import SyntheticSpec, synthetic_library


def nearest_track(catalog: ArrayCatalog, shown: list[int], n: int) -> list[int]:
    """Baseline: rank the short list by distance to the closest playlist track."""
    X = catalog.vectors(shown)
    ids = shortlist(catalog, X, max(4 * n, 50), set(shown))
    C = catalog.vectors(ids)
    d = np.min(np.linalg.norm(C[:, None, :] - X[None, :, :], axis=2), axis=1)
    return ids[np.lexsort((ids, d))][:n].tolist()


def continuation(spec: SyntheticSpec, playlists: int, seed: int) -> list[tuple]:
    lib = synthetic_library(spec, seed=seed)
    catalog = ArrayCatalog(lib.ids, lib.vectors, lib.tracks)
    rng = np.random.default_rng(seed + 1)
    n_artists = lib.artist.max() + 1
    artist_style = np.array([lib.style[lib.artist == a][0] for a in range(n_artists)])
    artist_genre = np.array([lib.genre[lib.artist == a][0] for a in range(n_artists)])
    scenarios = {
        "1 artist": lambda: [int(rng.integers(n_artists))],
        "3 artists, 1 style": lambda: list(rng.choice(np.flatnonzero(artist_style == rng.integers(artist_style.max() + 1)),
                                                     3, replace=False)),
        "3 artists, 3 genres": lambda: [int(rng.choice(np.flatnonzero(artist_genre == g)))
                                        for g in rng.choice(artist_genre.max() + 1, 3, replace=False)],
    }
    rows = []
    for name, draw in scenarios.items():
        scores: dict[str, list[tuple[float, float, float]]] = {}
        timing: dict[str, float] = {}
        for _ in range(playlists):
            shown, hidden = [], []
            for a in draw():
                ids = rng.permutation(lib.ids[lib.artist == a])
                shown += ids[: len(ids) // 2].tolist()
                hidden += ids[len(ids) // 2:].tolist()
            styles = set(lib.style[np.isin(lib.ids, shown)].tolist())
            R = len(hidden)
            for method in ("hull", "centroid", "nearest-track", "random"):
                t0 = time.perf_counter()
                if method == "nearest-track":
                    got = nearest_track(catalog, shown, 5 * R)
                else:
                    got = [p.id for p in extend(catalog, shown, 5 * R, strategy=method, seed=int(rng.integers(1 << 30))).picks]
                timing[method] = timing.get(method, 0.0) + time.perf_counter() - t0
                first = got[:R]
                hid = set(hidden)
                scores.setdefault(method, []).append((
                    len(hid & set(first)) / R, len(hid & set(got)) / R,
                    float(np.mean([lib.style[i - 1] in styles for i in first])),
                ))
        for method, vals in scores.items():
            v = np.array(vals)
            rows.append((name, method, *v.mean(axis=0), 1000 * timing[method] / playlists))
    return rows


def latency(sizes: list[int], dim: int, repeats: int, seed: int) -> list[tuple]:
    rows = []
    solves = [0]
    measure = PlaylistHull.measure

    def counting(self, candidates):  # counts the exact QP solves that `ranked` makes
        solves[0] += len(np.atleast_2d(candidates))
        return measure(self, candidates)

    PlaylistHull.measure = counting
    for size in sizes:
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(size, dim)).astype(np.float32)
        t0 = time.perf_counter()
        catalog = ArrayCatalog(np.arange(size, dtype=np.int64), X)
        build = time.perf_counter() - t0
        hull_t, search_t, rank_t, cent_t, solved = [], [], [], [], []
        for r in range(repeats):
            shown = rng.choice(size, 20, replace=False).tolist()
            t0 = time.perf_counter()
            extend(catalog, shown, 20)
            hull_t.append(time.perf_counter() - t0)
            # The same work in two parts, to show where the time goes.
            t0 = time.perf_counter()
            hull = playlist_hull(catalog, shown)
            ids = shortlist(catalog, np.vstack([hull.points, hull.points.mean(axis=0)]), 80, set(shown))
            t1 = time.perf_counter()
            C = catalog.vectors(ids)
            before = solves[0]
            for _ in zip(range(20), hull.ranked(C)):
                pass
            t2 = time.perf_counter()
            search_t.append(t1 - t0)
            rank_t.append(t2 - t1)
            solved.append((solves[0] - before, len(ids)))
            t0 = time.perf_counter()
            extend(catalog, shown, 20, strategy="centroid")
            cent_t.append(time.perf_counter() - t0)
        med = lambda v: 1000 * float(np.median(v))  # noqa: E731
        exact, listed = np.median([a for a, _ in solved]), np.median([b for _, b in solved])
        rows.append((size, build, med(hull_t), med(search_t), med(rank_t), f"{exact:.0f} / {listed:.0f}",
                     med(cent_t), med(hull_t) / med(cent_t)))
        del catalog, X
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--playlists", type=int, default=40)
    parser.add_argument("--max-n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    playlists = 5 if args.quick else args.playlists
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"numpy {np.__version__}, python {platform.python_version()}")
    for label, noise in (("moderate", 1.0), ("hard", 1.5)):
        spec = SyntheticSpec(dim=64, genres=10, styles_per_genre=5, artists_per_style=8, tracks_per_artist=12,
                             artist_spread=0.45, track_noise=noise)
        n_tracks = spec.genres * spec.styles_per_genre * spec.artists_per_style * spec.tracks_per_artist
        print(f"\n## Continuation ({label}: track noise {noise}): {n_tracks} synthetic tracks, d={spec.dim}, "
              f"{playlists} playlists per scenario, 12 tracks per artist (6 shown, 6 hidden)\n")
        print("| scenario | method | R-prec | recall@5R | style@R | ms / playlist |")
        print("|---|---|---:|---:|---:|---:|")
        for name, method, rprec, rec, style, ms in continuation(spec, playlists, args.seed):
            print(f"| {name} | {method} | {rprec:.3f} | {rec:.3f} | {style:.3f} | {ms:.1f} |")

    sizes = [n for n in (10_000, 100_000, 1_000_000) if n <= (20_000 if args.quick else args.max_n)]
    print("\n## extend --n 20, 20-track playlist, random unit vectors d=128, FAISS flat (exact)\n")
    print("| tracks | index build s | hull extend ms | of which FAISS ms | exact hull ms | QP solves / short list "
          "| centroid ms | hull / centroid |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, build, hull_ms, search_ms, rank_ms, solved, cent_ms, ratio in latency(
            sizes, 128, 3 if args.quick else 5, args.seed):
        print(f"| {size:,} | {build:.2f} | {hull_ms:.1f} | {search_ms:.1f} | {rank_ms:.1f} | {solved} "
              f"| {cent_ms:.1f} | {ratio:.1f}× |")


if __name__ == "__main__":
    main()
