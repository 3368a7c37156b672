"""`myna embed-catalog` throughput on a local Ray, 1 and 2 model actors, against `myna index`.

    python benchmarks/bench_catalog.py                    # 24 synthetic tracks of 2.5-3.5 min
    python benchmarks/bench_catalog.py --n 8 --ivfpq-n 20000

Library: `myna_rpe.synth.make_library` (mp3/flac/ogg/m4a in turn, 16 kHz), kept in --dir
for reruns. Model: the bundled default checkpoint under the default token budget. Runs,
all on the same files in the same process:

  * baseline: `index_library` into a fresh store (what `myna index` does on one machine:
    decode workers plus the model in the main process);
  * `embed_catalog` on a local Ray (`ray.init(num_cpus=CPUs)`, started once and timed
    apart) with 1 model actor (all cores) and with 2 (half the cores each), into fresh
    shard folders. Each run includes starting its actors and loading the model in them;
  * the model's own cost: `Embedder.embed_mels` on every track's log-mel, one at a time,
    on one torch thread, CPU seconds per track (the number the sizing note in docs/catalog.md scales);
  * FAISS IVF-PQ memory: an `IndexIVFPQ` (dim of the model, nlist --nlist, --pq-m bytes
    a code) trained and filled with --ivfpq-n random unit vectors; its serialised bytes
    per vector, against flat's 4·dim, and the extrapolation to 10^7 vectors.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_tracks(base: Path, n: int) -> Path:
    from myna_rpe.synth import make_library

    lib, ready = base / f"lib{n}", base / f"lib{n}.ready"
    if not ready.is_file():
        shutil.rmtree(lib, ignore_errors=True)
        t = time.perf_counter()
        make_library(lib, n, seed=0, duration=(150.0, 210.0))
        print(f"generated {n} tracks in {lib} ({time.perf_counter() - t:.1f} s)")
        ready.touch()
    return lib


def model_cost(lib: Path) -> tuple[float, float]:
    """(CPU seconds per track in the model, seconds of audio per track)."""
    from myna_rpe.embed import Embedder, file_log_mel
    from playlist.library.scan import walk_library

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in benchmarks/README.md "Token budget": CPU time of one thread
    emb = Embedder.load()
    files, _ = walk_library(lib)
    mels = [file_log_mel(f.path, emb.config.frontend) for f in files]
    emb.embed_mels([mels[0][0]])  # warm-up
    cpu = time.process_time()
    for mel, _ in mels:
        emb.embed_mels([mel])
    per_track = (time.process_time() - cpu) / len(mels)
    torch.set_num_threads(threads)
    return per_track, sum(s for _, s in mels) / len(mels) / emb.sample_rate


def ivfpq_bytes(n: int, dim: int, nlist: int, m: int) -> int:
    import faiss

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
    index.train(X)
    index.add_with_ids(X, np.arange(n, dtype=np.int64))
    return len(faiss.serialize_index(index))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=24, help="tracks")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "myna-bench-catalog")
    ap.add_argument("--ivfpq-n", type=int, default=100_000, help="vectors in the IVF-PQ memory probe")
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--pq-m", type=int, default=32, help="PQ sub-quantisers (bytes per code)")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    lib = make_tracks(args.dir, args.n)
    cpus = os.cpu_count() or 1

    import ray

    from myna_rpe.embed import Embedder
    from playlist.library.catalog_ray import embed_catalog
    from playlist.library.indexer import index_library

    rows = []
    store = args.dir / "store"
    shutil.rmtree(store, ignore_errors=True)
    t = time.perf_counter()
    report = index_library(lib, Embedder.load(), db_dir=store)
    seconds = time.perf_counter() - t
    rows.append(("myna index (baseline: one process + decode workers)", seconds, report.embedded))

    t = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - t
    for workers in (1, 2):
        out = args.dir / f"shards{workers}"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        report = embed_catalog(lib, out, workers=workers)
        rows.append((f"embed-catalog, {report.workers} actor(s) × {max(1, cpus // report.workers)} CPU",
                     time.perf_counter() - t, report.embedded))
    ray.shutdown()

    per_track, audio = model_cost(lib)
    dim = Embedder.load().dim
    size = ivfpq_bytes(args.ivfpq_n, dim, args.nlist, args.pq_m)

    print(f"\nmachine: {platform.machine()}, {cpus} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"python {platform.python_version()}, ray {ray.__version__}")
    print(f"tracks: {args.n} synthetic, {audio / 60:.1f} min on average; bundled model, default token budget")
    print(f"local Ray start (once, not in the rows): {ray_start:.1f} s\n")
    base = rows[0][1]
    print("| run | seconds | tracks/s | × baseline time |")
    print("|---|---:|---:|---:|")
    for name, seconds, n in rows:
        print(f"| {name} | {seconds:.1f} | {n / seconds:.2f} | {seconds / base:.2f} |")
    print(f"\nmodel alone: {per_track:.3f} CPU-s per track ({audio / 60:.1f}-min tracks, one at a time, one thread)")
    per_vec = size / args.ivfpq_n
    print(f"IVF-PQ (nlist {args.nlist}, {args.pq_m} B codes, dim {dim}) over {args.ivfpq_n:,} vectors: "
          f"{size / 2**20:.1f} MiB serialised, {per_vec:.1f} B/vector (flat: {4 * dim} B/vector); "
          f"at 10^7: {per_vec * 1e7 / 2**30:.2f} GiB (flat {4 * dim * 1e7 / 2**30:.2f} GiB)")


if __name__ == "__main__":
    main()
