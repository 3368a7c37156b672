"""Cost of the web map's projections (`myna serve`): PCA vs t-SNE, and the cached read.

    python benchmarks/bench_web_map.py [--sizes 1000 4000] [--dim 64]

Synthetic clustered libraries (`playlist.synthetic`) of each size. For each: wall time of
PCA (the baseline, in the same run), of t-SNE, and of reading the cached map back from
disk as a restarted `myna serve` does (`ProjectionCache`), plus the cached file's size.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playlist.synthetic import SyntheticSpec, synthetic_library  # noqa: E402
from playlist.web.projection import ProjectionCache, project  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--dim", type=int, default=64)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, d={args.dim}\n")
    project(np.eye(8), "pca")  # import scikit-learn outside the timings
    print("| tracks | PCA (s) | t-SNE (s) | t-SNE / PCA | cached read (s) | cache file (KiB) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        spec = SyntheticSpec(dim=args.dim)  # 4 styles x 6 artists x 12 tracks per genre
        per_genre = spec.styles_per_genre * spec.artists_per_style * spec.tracks_per_artist
        lib = synthetic_library(replace(spec, genres=-(-n // per_genre)), seed=0)
        X = lib.vectors[:n].astype(np.float64)
        ids = lib.ids[:n]
        _, t_pca = timed(lambda: project(X, "pca"))
        with tempfile.TemporaryDirectory() as folder:
            cache = ProjectionCache(Path(folder), "bench-model", 1, ids)
            _, t_tsne = timed(lambda: cache.get("tsne", X))
            fresh = ProjectionCache(Path(folder), "bench-model", 1, ids)  # a restarted server
            _, t_read = timed(lambda: fresh.get("tsne", X))
            size = cache.path("tsne").stat().st_size / 1024
        print(f"| {len(X)} | {t_pca:.3f} | {t_tsne:.1f} | {t_tsne / t_pca:.0f}x | {t_read:.4f} | {size:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
