"""Contrastive training throughput (pairs/s) on this machine, by patchout ratio and chunk length.

    python benchmarks/bench_train.py                        # mini model, batch 16, 3 s and 10 s chunks
    python benchmarks/bench_train.py --size tiny --steps 10 # quicker

One run measures every cell with the real training step (sampling from the memory-mapped
mel cache, collation, forward of both views, NT-Xent, backward, clipping, AdamW) on a
synthetic library (`myna_rpe.synth`). Mask ratio 0 is the baseline of each chunk length;
the speed-up column is pairs/s over that baseline. A pair is one track's two views.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path


def measure(lib: Path, cache: Path, out: Path, size: str, batch: int, chunk_s: float, mask: float, steps: int, warmup: int) -> dict:
    from myna_rpe.training.config import TrainConfig
    from myna_rpe.training.loop import Trainer

    cfg = TrainConfig(
        data=str(lib), out=str(out), cache_dir=str(cache), size=size, batch_size=batch, chunk_seconds=chunk_s,
        mask_ratio=mask, steps=warmup + steps, warmup_steps=1, checkpoint_every=10**9,
    )
    trainer = Trainer(cfg)
    trainer.prepare_data()
    trainer.prepare_model()
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        trainer.train_step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    per_step = statistics.median(times)
    return {"pairs_s": batch / per_step, "step_ms": 1000 * per_step}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="mini")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per cell (median reported)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--chunks", type=float, nargs="+", default=[3.0, 10.0])
    ap.add_argument("--masks", type=float, nargs="+", default=[0.0, 0.5, 0.9])
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    args = ap.parse_args()

    import numpy as np
    import torch

    from myna_rpe.audio import write_audio
    from myna_rpe.synth import TrackSpec, synth_track

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench-train-"))
    rng = np.random.default_rng(0)
    seconds = max(args.chunks) + 4.0
    for i in range(args.batch):
        write_audio(tmp / "lib" / f"{i:03d}.wav", synth_track(TrackSpec.random(rng), seconds, 16000), 16000)

    rows = []
    for chunk in args.chunks:
        base = None
        for mask in args.masks:
            r = measure(tmp / "lib", tmp / "mels", tmp / f"run-{chunk}-{mask}", args.size, args.batch, chunk, mask,
                        args.steps, args.warmup)
            base = base or r["pairs_s"]
            rows.append((chunk, mask, r["pairs_s"], r["step_ms"], r["pairs_s"] / base))
            print(f"  chunk {chunk:g} s, mask {mask:g}: {r['pairs_s']:.1f} pairs/s", flush=True)

    print(
        f"\n{platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{args.threads} thread(s); model {args.size}, batch {args.batch} pairs, median of {args.steps} steps\n"
    )
    print("| chunk | mask ratio | tokens / view | pairs/s | ms / step | speed-up vs mask 0 |")
    print("|---:|---:|---:|---:|---:|---:|")
    for chunk, mask, pps, ms, up in rows:
        cols = round(chunk * 16000 / 512 / 16)
        tokens = max(1, round(cols * 8 * (1 - mask)))
        print(f"| {chunk:g} s | {mask:g} | {tokens} | {pps:.1f} | {ms:.0f} | {up:.2f}× |")


if __name__ == "__main__":
    main()
