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
3. Large libraries through the real store: `extend --n 20` on an opened `Library` (SQLite
   store + saved index) of 10^5 and 10^6 clustered unit vectors (d = 128), with the index
   `auto` picks (IVF, 8-bit codes, short list + exact re-rank) against flat (exact) on the
   same store in the same run: latency, and the recall of auto's short list and picks
   against flat's.

    python benchmarks/bench_playlist.py [--quick] [--max-n 1000000] [--playlists 40]
    python benchmarks/bench_playlist.py --scale-only --max-n 1000000   # part 3 only
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from playlist.geometry.catalog import ArrayCatalog, LibraryCatalog
from playlist.geometry.extend import extend
from playlist.geometry.hull import PlaylistHull
from playlist.geometry.hull_ranking import ranked
from playlist.geometry.region import playlist_hull, shortlist
from playlist.library import Library
from playlist.library.opened import index_state, rebuild_index
from playlist.library.store import LibraryStore, TrackInfo
from playlist.library.vector_index import AutoIvf, IndexSpec
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
            for _ in zip(range(20), ranked(hull, C)):
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


def clustered(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n unit vectors in ~n/12 artist clusters inside 400 styles inside 40 genres (the
    shape of `playlist.synthetic`, generated in bulk), and each vector's artist."""
    rng = np.random.default_rng(seed)
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    genres = unit(rng.normal(size=(40, dim)))
    styles = genres[rng.integers(40, size=400)] + 0.6 * unit(rng.normal(size=(400, dim)))
    n_artists = max(1, n // 12)
    artists = styles[rng.integers(400, size=n_artists)] + 0.45 * unit(rng.normal(size=(n_artists, dim)))
    artist = np.repeat(np.arange(n_artists), 12)[:n]
    X = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):  # in blocks: the float64 noise of 10^6 × 128 is 1 GB
        a = artist[start:start + 100_000]
        X[start:start + len(a)] = unit(artists[a] + 1.0 * rng.normal(size=(len(a), dim)) / np.sqrt(dim))
    return X, artist


def fill_store(db: Path, X: np.ndarray) -> None:
    """A store of len(X) tracks with one model's embeddings, as `myna index` would leave it."""
    (db.parent).mkdir(parents=True, exist_ok=True)
    with LibraryStore.open(db, create=True) as store:
        store.set_model("bench", None, X.shape[1])
        for start in range(0, len(X), 50_000):
            with store.transaction():
                for i in range(start, min(start + 50_000, len(X))):
                    store.add_track(TrackInfo(rel_path=f"a{i // 12}/{i}.flac", size=1, mtime_ns=1,
                                              content_hash=f"h{i}"), X[i])


def scale(sizes: list[int], dim: int, repeats: int, seed: int, data: str = "clustered") -> list[tuple]:
    rows = []
    for size in sizes:
        X, artist = clustered(size, dim, seed)
        if data == "random":  # no neighbourhood structure: the hard case for IVF cells
            rng = np.random.default_rng(seed)
            X = np.concatenate([rng.normal(size=(min(100_000, size - s), dim)).astype(np.float32)
                                for s in range(0, size, 100_000)])
            X /= np.linalg.norm(X, axis=1, keepdims=True)
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            db = Path(tmp) / "lib" / ".myna"
            t0 = time.perf_counter()
            fill_store(db, X)
            fill_s = time.perf_counter() - t0
            del X
            rng = np.random.default_rng(seed + size)
            playlists = []
            for _ in range(repeats):  # 20 tracks of 2 artists of the library
                a = rng.choice(artist.max() + 1, 2, replace=False)
                playlists.append([int(i) + 1 for i in rng.permutation(np.flatnonzero(np.isin(artist, a)))[:20]])
            results = {}
            for kind in ("flat", "auto"):
                spec = IndexSpec(kind=kind)
                with LibraryStore.open(db) as store:
                    t0 = time.perf_counter()
                    rebuild_index(store, spec, save=True)
                    build_s = time.perf_counter() - t0
                    built = index_state(store)["built"]
                t0 = time.perf_counter()
                lib = Library.open(db, spec=spec)
                open_s = time.perf_counter() - t0
                catalog = LibraryCatalog(lib)
                times, shorts, picks = [], [], []
                for shown in playlists:
                    t0 = time.perf_counter()
                    outcome = extend(catalog, shown, 20)
                    times.append(time.perf_counter() - t0)
                    hull = playlist_hull(catalog, shown)
                    shorts.append(set(shortlist(catalog, np.vstack([hull.points, hull.points.mean(axis=0)]), 80,
                                                set(shown)).tolist()))
                    picks.append([p.id for p in outcome.picks])
                lib.close()
                results[kind] = (built, build_s, open_s, times, shorts, picks)
            flat_short, flat_picks = results["flat"][4], results["flat"][5]
            for kind, (built, build_s, open_s, times, shorts, picks) in results.items():
                recall = np.mean([len(s & f) / len(f) for s, f in zip(shorts, flat_short)])
                same = np.mean([len(set(p) & set(f)) / len(f) for p, f in zip(picks, flat_picks)])
                params = AutoIvf.for_size(size) if built == "ivf-sq8" else None
                detail = f"nlist {params.nlist}, nprobe {params.nprobe}" if params else "exact"
                rows.append((size, kind, f"{built} ({detail})", fill_s, build_s, open_s,
                             1000 * float(np.median(times)), 1000 * float(np.max(times)), recall, same))
        print(f"  (done {size:,})", file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--playlists", type=int, default=40)
    parser.add_argument("--max-n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale-only", action="store_true", help="only part 3 (large libraries, real store)")
    parser.add_argument("--data", choices=("clustered", "random"), default="clustered",
                        help="part 3's vectors: clustered like a library, or random unit vectors")
    args = parser.parse_args()

    playlists = 5 if args.quick else args.playlists
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"numpy {np.__version__}, python {platform.python_version()}")
    if not args.scale_only:
        small(args, playlists)
    sizes = [n for n in (100_000, 1_000_000) if n <= (20_000 if args.quick else args.max_n)] or [20_000]
    print(f"\n## extend --n 20 through the store: auto index vs flat, {args.data} unit vectors d=128, "
          f"{5} playlists of 20 tracks (2 artists)\n")
    print("| tracks | index | built | store fill s | index build s | open s | extend median ms | max ms "
          "| short-list recall vs flat | picks shared with flat |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for size, kind, built, fill_s, build_s, open_s, med, mx, recall, same in scale(sizes, 128, 5, args.seed, args.data):
        print(f"| {size:,} | {kind} | {built} | {fill_s:.0f} | {build_s:.1f} | {open_s:.2f} | {med:.1f} | {mx:.1f} "
              f"| {recall:.3f} | {same:.3f} |")


def small(args: argparse.Namespace, playlists: int) -> None:
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
