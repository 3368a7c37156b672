"""Library indexing throughput and `similar` latency.

    python benchmarks/bench_index.py                 # 200 tracks of 3-4 min, vectors 1e4..1e6
    python benchmarks/bench_index.py --n 24          # fewer tracks (a shared or slow CPU)
    python benchmarks/bench_index.py --quick         # seconds: 8 short tracks, 1e4/1e5 vectors
    python benchmarks/bench_index.py --library runs/default-data/heldout --vectors   # real music
    python benchmarks/bench_index.py --library DIR --models mini --no-dense --no-musicnn --no-inline \
        --vectors --workers 1 --sweep-workers 2 1 2    # how many decode workers (each beside its decode-only floor)

Part 1, indexing: a generated library (synthetic music from `myna_rpe.synth`, 44.1 kHz
stereo, formats cycling mp3/flac/ogg/m4a, kept in --dir for reruns). Baseline measured in
the same run: decode-only, the same worker pool running `load_audio` on every file, which
is the floor no model can beat. Then `index_library` end to end (scan, hash, tags, decode,
embed, commit, FAISS) into a fresh store, with the untrained `mini` encoder (the size meant
for the default CPU model; weights do not change the cost) and the `tiny` one (to show the
pipeline's own overhead), under the default token budget and once dense (every patch),
and once with decoding inline (workers=0) to show the overlap; each with the sound statistics
beside the vector, as `myna index` keeps them, and the last model once without them (their cost;
"in the model s" counts them). `--library DIR` indexes a
folder of real music instead. Peer, where `pymusly` is installed (an optional benchmark
dependency): musly's timbre analysis of every whole file, decoded by the same decoder in
the same worker pool (musly's own decoder needs the ffmpeg program); MusiCNN (MSD, the tagger
AudioMuse-AI runs and the distillation teacher) over every 3-s patch of every file, the same way,
with its seconds in the model beside the encoder's.
Also the content fingerprint: sampled vs full-file BLAKE2b over the same files (warm cache).

Part 2, `similar`: top-10 cosine queries against n random unit vectors (dim 128), FAISS
flat (exact, the baseline) vs HNSW (M=32, efConstruction 80, efSearch 64 and 256): build
time, median single-query latency, and HNSW's recall@10 against flat. Uniform random
vectors are the hard case for HNSW (no cluster structure); real embeddings are easier.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from myna_rpe.audio import write_audio
from myna_rpe.config import EncoderConfig, ModelConfig
from myna_rpe.synth import TIMBRES, TrackSpec, synth_track
from playlist.library.indexer import (
    IndexOptions,
    IndexReport,
    index_library,
)
from myna_rpe.worker_guard import init_worker
from playlist.library.scan import content_hash, full_hash, walk_library
from playlist.library.store import l2_normalise
from playlist.library.vector_index import IndexSpec, build_index, configure_search, search

FORMATS = ("mp3", "flac", "ogg", "m4a")
SOURCE_RATE = 44100


def _write_one(args: tuple[Path, int, float]) -> None:
    path, seed, seconds = args
    spec = TrackSpec.random(np.random.default_rng(seed))
    wave = synth_track(spec, seconds, SOURCE_RATE)
    stereo = np.stack([wave, np.roll(wave, 11)])  # two slightly different channels, as in real mixes
    write_audio(path, stereo, SOURCE_RATE)


def make_bench_library(root: Path, n: int, seconds: tuple[float, float], workers: int) -> list[Path]:
    """n tracks under root/<timbre>/<NNN>.<ext>; reused when already there with the same parameters."""
    stamp = root / "params.json"
    params = {"n": n, "seconds": list(seconds), "rate": SOURCE_RATE, "formats": list(FORMATS)}
    if stamp.is_file() and json.loads(stamp.read_text()) == params:
        return [f.path for f in walk_library(root)[0]]
    rng = np.random.default_rng(0)
    jobs = []
    for i in range(n):
        ext = FORMATS[i % len(FORMATS)]
        jobs.append((root / TIMBRES[i % len(TIMBRES)] / f"{i:04d}.{ext}", int(rng.integers(2**31)),
                     float(rng.uniform(*seconds))))
    t = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_write_one, jobs))
    stamp.write_text(json.dumps(params))
    print(f"generated {n} tracks in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return [j[0] for j in jobs]


def decoded_samples(path: str, sample_rate: int) -> int:
    """Decode a whole file, piece by piece as the indexer does, and count its samples."""
    from myna_rpe.audio import stream_audio

    return sum(len(piece) for piece in stream_audio(path, sample_rate))


def decode_only(files: list[Path], workers: int, sample_rate: int = 16000) -> tuple[float, float]:
    """(seconds, audio hours) to decode every file with the indexer's worker pool."""
    t = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=init_worker, initargs=(os.getpid(),)) as pool:
        samples = list(pool.map(decoded_samples, [str(f) for f in files], [sample_rate] * len(files)))
    return time.perf_counter() - t, sum(samples) / sample_rate / 3600


def musly_analysis(path: str) -> int:
    """musly's timbre model of a whole file (decoded to 22,050 Hz mono as musly expects)."""
    import pymusly

    from myna_rpe.audio import load_audio

    global _JUKEBOX
    if _JUKEBOX is None:
        _JUKEBOX = pymusly.MuslyJukebox("timbre")
    _JUKEBOX.track_from_audiodata(load_audio(path, 22050))
    return 1


_JUKEBOX = None


def musly_only(files: list[Path], workers: int) -> float | None:
    try:
        import pymusly  # noqa: F401
    except ImportError:
        return None
    t = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=init_worker, initargs=(os.getpid(),)) as pool:
        list(pool.map(musly_analysis, [str(f) for f in files]))
    return time.perf_counter() - t


def musicnn_analysis(path: str) -> float:
    """MusiCNN (MSD) over every 3-s patch of a whole file, as AudioMuse-AI runs it; returns the
    seconds spent in the model (decoding excluded)."""
    from myna_rpe.audio import load_audio
    from myna_rpe.teacher.musicnn import load_teacher, teacher_outputs

    global _MUSICNN
    if _MUSICNN is None:
        _MUSICNN = load_teacher("musicnn-msd")
    wave = load_audio(path, 16000)
    t = time.perf_counter()
    teacher_outputs(_MUSICNN, wave)
    return time.perf_counter() - t


_MUSICNN = None


def musicnn_only(files: list[Path], workers: int) -> tuple[float, float]:
    """(wall seconds, seconds in the model) of MusiCNN over the files in the decode pool."""
    t = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=init_worker, initargs=(os.getpid(),)) as pool:
        model_s = sum(pool.map(musicnn_analysis, [str(f) for f in files]))
    return time.perf_counter() - t, model_s


def end_to_end(root: Path, size: str, workers: int, dense: bool = False, stats: bool = True) -> tuple[float, IndexReport]:
    from myna_rpe.budget import DENSE
    from myna_rpe.embed import Embedder
    from playlist.library.track_vectors import TrackEmbedder

    embedder = Embedder.random(EncoderConfig(model=ModelConfig.from_preset(size, "alibi2d")))
    if dense:
        embedder = embedder.with_budget(DENSE)
    if stats:  # as `myna index` embeds: the sound statistics beside the vector
        embedder = TrackEmbedder(embedder)
    with tempfile.TemporaryDirectory() as db:
        t = time.perf_counter()
        report = index_library(root, embedder, db_dir=Path(db), options=IndexOptions(workers=workers))
        return time.perf_counter() - t, report


def hash_speed(files: list[Path]) -> list[tuple[str, float, float]]:
    rows = []
    for name, fn in (("sampled (head+tail 1 MiB, 16×64 KiB)", content_hash), ("full file", full_hash)):
        for f in files:  # warm the page cache so both read from memory
            fn(f)
        t = time.perf_counter()
        for f in files:
            fn(f)
        rows.append((name, (time.perf_counter() - t) / len(files) * 1e3, 0.0))
    mib = sum(f.stat().st_size for f in files) / len(files) / 2**20
    return [(name, ms, mib) for name, ms, _ in rows]


def similar_latency(n: int, dim: int, hnsw: bool, queries: int = 200, seed: int = 0) -> list[dict]:
    """Queries are stored vectors, as in `myna similar`; one query per call, as a user runs it."""
    rng = np.random.default_rng(seed)
    X = l2_normalise(rng.standard_normal((n, dim), dtype=np.float32))
    ids = np.arange(1, n + 1, dtype=np.int64)
    Q = X[rng.choice(n, queries, replace=False)]
    rows, truth = [], None
    for kind, ef_searches in (("flat", [None]), ("hnsw", [64, 256]) if hnsw else ("hnsw", [])):
        if not ef_searches:
            continue
        t = time.perf_counter()
        index = build_index(ids, X, IndexSpec(kind=kind))
        build = time.perf_counter() - t
        for ef in ef_searches:
            if ef is not None:
                configure_search(index, IndexSpec(kind=kind, hnsw_ef_search=ef))
            lat, found = [], []
            for q in Q:
                t = time.perf_counter()
                _, got = search(index, q[None], 10)
                lat.append(time.perf_counter() - t)
                found.append(got[0])
            if truth is None:
                truth = found
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))
            rows.append({"n": n, "kind": kind if ef is None else f"hnsw (efSearch {ef})", "build_s": build,
                         "query_ms": statistics.median(lat) * 1e3, "recall": recall})
        del index
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="tracks in the generated library")
    ap.add_argument("--seconds", type=float, nargs=2, default=(180.0, 240.0), help="track length range")
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                    help="decoding processes for the pooled runs (the inline run uses none)")
    ap.add_argument("--models", nargs="+", default=["tiny", "mini"], help="encoder sizes to time")
    ap.add_argument("--no-inline", action="store_true", help="skip the workers=0 run")
    ap.add_argument("--vectors", type=float, nargs="*", default=[1e4, 1e5, 1e6], help="library sizes for part 2 (similar latency); the flag alone, with no sizes, skips it")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--hnsw-max", type=float, default=1e6, help="skip HNSW builds above this many vectors")
    ap.add_argument("--dir", type=Path, default=None, help="where the generated library is kept")
    ap.add_argument("--library", type=Path, default=None, help="index this folder of real music instead")
    ap.add_argument("--no-dense", action="store_true", help="skip the dense (no token budget) run")
    ap.add_argument("--no-musicnn", action="store_true", help="skip the MusiCNN peer")
    ap.add_argument("--sweep-workers", type=int, nargs="+", default=[],
                    help="also time decode-only and the last model end to end with these decode worker counts")
    ap.add_argument("--quick", action="store_true", help="8 tracks of 20-30 s, 1e4/1e5 vectors, tiny model")
    args = ap.parse_args()
    if args.quick:
        args.n, args.seconds, args.vectors, args.models, args.no_inline = 8, (20.0, 30.0), [1e4, 1e5], ["tiny"], True
    import torch

    root = args.dir or Path(tempfile.gettempdir()) / f"myna-bench-library-{args.n}"
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"torch threads {torch.get_num_threads()} (fewer while decode workers run: cores - workers), "
          f"python {platform.python_version()}")
    if args.library:
        root = args.library.resolve()
        files = [f.path for f in walk_library(root)[0]]
        what = f"the real music under {args.library}"
    else:
        files = make_bench_library(root, args.n, tuple(args.seconds), max(1, args.workers))
        what = f"{args.seconds[0]:.0f}-{args.seconds[1]:.0f} s ({', '.join(FORMATS)}, {SOURCE_RATE} Hz stereo)"

    print(f"\n## indexing {len(files)} tracks: {what}\n")
    print("| run | seconds | tracks/s | × decode-only time | in the model s | model waiting for audio s |")
    print("|---|---:|---:|---:|---:|---:|")
    dec_s, hours = decode_only(files, max(1, args.workers))
    print(f"| decode only ({args.workers} workers; baseline) | {dec_s:.1f} | {len(files) / dec_s:.2f} | 1.00 | – | – |",
          flush=True)
    musly_s = musly_only(files, max(1, args.workers))
    if musly_s is None:
        print("| musly (pymusly not installed) | – | – | – | – | – |")
    else:
        print(f"| musly timbre analysis, whole files, same decoder ({args.workers} workers; peer) | {musly_s:.1f} | "
              f"{len(files) / musly_s:.2f} | {musly_s / dec_s:.2f} | – | – |", flush=True)
    if not args.no_musicnn:
        mc_s, mc_model = musicnn_only(files, max(1, args.workers))
        print(f"| MusiCNN (MSD) every 3-s patch, whole files, same decoder ({args.workers} workers; the teacher, "
              f"AudioMuse-AI's tagger) | {mc_s:.1f} | {len(files) / mc_s:.2f} | {mc_s / dec_s:.2f} | {mc_model:.1f} | – |",
              flush=True)
    runs = [(m, args.workers, False, True) for m in args.models]
    runs += [(args.models[-1], args.workers, False, False)]  # the model's vector alone: what the statistics cost
    runs += [] if args.no_dense else [(args.models[-1], args.workers, True, True)]
    runs += [] if args.no_inline else [(args.models[-1], 0, False, True)]
    runs += [(args.models[-1], w, False, True) for w in args.sweep_workers]
    for size, workers, dense, stats in runs:
        if workers in args.sweep_workers and workers != args.workers:  # its own floor, in the same run
            w_dec, _ = decode_only(files, workers)
            print(f"| decode only ({workers} workers) | {w_dec:.1f} | {len(files) / w_dec:.2f} | "
                  f"{w_dec / dec_s:.2f} | – | – |", flush=True)
        secs, report = end_to_end(root, size, workers, dense, stats)
        label = (f"end to end, {size} model, {'dense' if dense else 'default budget'}, "
                 + (f"{workers} decode workers" if workers else "decoding inline")
                 + ("" if stats else ", without the sound statistics"))
        wait = f"{report.decode_wait_seconds:.1f}" + (" (decoding)" if not workers else "")
        print(f"| {label} | {secs:.1f} | {report.embedded / secs:.2f} | {secs / dec_s:.2f} | "
              f"{report.model_seconds:.1f} | {wait} |", flush=True)
    print(f"\n({hours * 60:.0f} min of audio.)\n")

    print("| fingerprint | ms per file | MiB per file |")
    print("|---|---:|---:|")
    for name, ms, mib in hash_speed(files):
        print(f"| {name} | {ms:.2f} | {mib:.1f} |")

    if not args.vectors:
        return
    print(f"\n## similar: top-10 cosine among n random vectors, dim {args.dim}\n")
    print("| n | index | build s | query ms (median) | recall@10 vs flat |")
    print("|---:|---|---:|---:|---:|")
    for n in args.vectors:
        for row in similar_latency(int(n), args.dim, hnsw=n <= args.hnsw_max):
            print(f"| {row['n']:,} | {row['kind']} | {row['build_s']:.2f} | {row['query_ms']:.3f} | "
                  f"{row['recall']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
