"""Peak memory and time of one forward pass: blocked attention vs a dense bias.

    python benchmarks/bench_forward.py [--sizes mini vit-s] [--seconds 30 180 600]

Each measurement runs in a fresh subprocess: the peak resident memory it adds during
the forward pass (VmHWM after − VmRSS before) and the median wall time of --repeats passes. "dense"
is the baseline: the same model with the whole (heads × N × N) bias built at once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def measure(size: str, seconds: float, mode: str, pe: str, repeats: int = 3) -> dict:
    import torch

    from myna_rpe.config import EncoderConfig, ModelConfig
    from myna_rpe.checkpoint import build_model

    cfg = EncoderConfig(model=ModelConfig.from_preset(size, pe))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    frames = int(seconds * cfg.frontend.frames_per_second)
    mels = torch.randn(1, cfg.model.n_mels, frames)
    block = None if mode == "dense" else cfg.model.attn_block_size
    with torch.inference_mode():
        model(mels[..., :64], block_size=block)  # warm up kernels
        before = _rss_kib("VmRSS")
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(mels, block_size=block)
            times.append(time.perf_counter() - start)
        peak = _rss_kib("VmHWM")
    elapsed = sorted(times)[len(times) // 2]  # median: robust to a busy machine
    tokens = cfg.model.freq_patches * -(-frames // cfg.model.patch_size) + 1
    return {"size": size, "seconds": seconds, "mode": mode, "tokens": tokens,
            "time_s": elapsed, "peak_mib": max(0, peak - before) / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["mini", "vit-s"])
    ap.add_argument("--seconds", nargs="+", type=float, default=[30, 180, 600])
    ap.add_argument("--pe", default="alibi2d")
    ap.add_argument("--max-dense-tokens", type=int, default=10_000, help="skip dense runs above this (memory)")
    ap.add_argument("--repeats", type=int, default=3, help="passes per measurement (median reported)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        size, seconds, mode = args.one.split(",")
        print(json.dumps(measure(size, float(seconds), mode, args.pe, args.repeats)))
        return

    rows = []
    for size in args.sizes:
        for seconds in args.seconds:
            for mode in ("dense", "blocked"):
                tokens = 8 * -(-int(seconds * 31.25) // 16) + 1
                if mode == "dense" and tokens > args.max_dense_tokens:
                    rows.append({"size": size, "seconds": seconds, "mode": mode, "tokens": tokens,
                                 "time_s": float("nan"), "peak_mib": float("nan")})
                    continue
                out = subprocess.run(
                    [sys.executable, __file__, "--pe", args.pe, "--repeats", str(args.repeats),
                     "--one", f"{size},{seconds},{mode}"],
                    capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()},
                )
                if out.returncode:
                    raise SystemExit(out.stderr)
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"  {size} {seconds:.0f}s {mode}: {rows[-1]['time_s']:.2f}s", file=sys.stderr)

    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {__import__('torch').get_num_threads()}, pe={args.pe}\n")
    print("| size | input | tokens | dense time (s) | dense peak (MiB) | blocked time (s) | blocked peak (MiB) | memory ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for i in range(0, len(rows), 2):
        d, b = rows[i], rows[i + 1]
        ratio = d["peak_mib"] / b["peak_mib"] if b["peak_mib"] > 0 else float("nan")
        print(f"| {d['size']} | {d['seconds']:.0f} s | {d['tokens']} | {d['time_s']:.2f} | {d['peak_mib']:.0f} | "
              f"{b['time_s']:.2f} | {b['peak_mib']:.0f} | {ratio:.1f}x |")


if __name__ == "__main__":
    main()
