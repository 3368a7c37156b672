"""ONNX Runtime vs torch on a CPU: time per track, peak memory, and agreement, in one run.

    python benchmarks/bench_onnx.py [--checkpoint C] [--seconds 3 30 180 600] [--threads 2]

Exports the checkpoint (default: the bundled model) once with `myna_rpe.onnx_export`, then
embeds the same random waveform of each length with both runtimes, each measurement in a
fresh process: the median wall time of --repeats calls (waveform → embedding, frontend
included, after one warm-up call) and the resident memory the calls add (VmHWM after −
VmRSS before). torch is the baseline: `Embedder.load(C, budget=DENSE).embed_waveform`,
the same dense pass the graph computes. max |Δ| is the largest difference between the two
embeddings (the test suite asserts ≤ 1e-4 at 3 s and 30 s; this run checks 3 and 10 min).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def _wave(seconds: float, rate: int):
    import numpy as np

    return (np.random.default_rng(0).standard_normal(int(seconds * rate)) * 0.1).astype(np.float32)


def measure(runtime: str, seconds: float, checkpoint: str | None, graph: str, threads: int, repeats: int) -> dict:
    import numpy as np

    if runtime == "torch":
        import torch

        from myna_rpe.budget import DENSE
        from myna_rpe.embed import Embedder

        torch.set_num_threads(threads)
        embedder = Embedder.load(checkpoint, budget=DENSE)
        run, rate = embedder.embed_waveform, embedder.sample_rate
    else:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        rate = int(session.get_modelmeta().custom_metadata_map["sample_rate"])

        def run(wave):
            return session.run(["embedding"], {"wave": wave})[0]

    wave = _wave(seconds, rate)
    run(wave[: 3 * rate])  # warm up
    before = _rss_kib("VmRSS")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = run(wave)
        times.append(time.perf_counter() - start)
    peak = _rss_kib("VmHWM")
    return {"time_s": sorted(times)[len(times) // 2], "peak_mib": max(0, peak - before) / 1024,
            "embedding": np.asarray(out, dtype=np.float64).tolist()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="checkpoint folder or hub repo id (default: bundled model)")
    ap.add_argument("--seconds", nargs="+", type=float, default=[3, 30, 180, 600])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        runtime, seconds, graph = json.loads(args.child)
        print(json.dumps(measure(runtime, seconds, args.checkpoint, graph, args.threads, args.repeats)))
        return

    import numpy as np

    from myna_rpe.budget import DENSE
    from myna_rpe.embed import Embedder
    from myna_rpe.onnx_export import export_onnx

    embedder = Embedder.load(args.checkpoint, budget=DENSE)
    with tempfile.TemporaryDirectory() as tmp:
        graph = str(Path(tmp) / "model.onnx")
        start = time.perf_counter()
        export_onnx(embedder, graph)
        print(f"exported model {embedder.weights_id} in {time.perf_counter() - start:.0f} s "
              f"({Path(graph).stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
        import onnxruntime
        import torch

        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {args.threads} threads; "
              f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}; model {embedder.config.model.size} "
              f"{embedder.weights_id}\n")
        print("| input | tokens | torch time (s) | torch peak (MiB) | ORT time (s) | ORT peak (MiB) | ORT / torch time | max abs diff |")
        print("|---|---|---|---|---|---|---|---|")
        for seconds in args.seconds:
            results = {}
            for runtime in ("torch", "onnxruntime"):
                child = json.dumps([runtime, seconds, graph])
                cmd = [sys.executable, __file__, "--child", child, "--threads", str(args.threads),
                       "--repeats", str(args.repeats)] + (["--checkpoint", args.checkpoint] if args.checkpoint else [])
                out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                results[runtime] = json.loads(out.stdout.strip().splitlines()[-1])
            t, o = results["torch"], results["onnxruntime"]
            diff = float(np.abs(np.array(t["embedding"]) - np.array(o["embedding"])).max())
            frames = int(seconds * embedder.config.frontend.frames_per_second) + 1
            tokens = embedder.config.model.freq_patches * -(-frames // embedder.config.model.patch_size) + 1
            label = f"{seconds:g} s" if seconds < 60 else f"{seconds / 60:g} min"
            print(f"| {label} | {tokens} | {t['time_s']:.3f} | {t['peak_mib']:.0f} | {o['time_s']:.3f} | "
                  f"{o['peak_mib']:.0f} | {o['time_s'] / t['time_s']:.2f}x | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
