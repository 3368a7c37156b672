"""`myna index LIB` on an unchanged library: time against a bare walk + stat of the folder.

    python benchmarks/bench_noop.py                  # 10,000 files, 5 runs of each
    python benchmarks/bench_noop.py --n 2000 --runs 3

The tree (--n files of 0.5 s of 16 kHz audio, copies of one wav in folders of 100, kept
in --dir for reruns) is indexed once with an untrained `tiny` checkpoint (copies share
one embedding, so this takes seconds). Then, alternately, each run times:

  * baseline: `os.walk` + `os.stat` of every file, in a fresh Python process (the floor
    any update must pay to learn that nothing changed; interpreter start included, as
    for the CLI);
  * `myna index LIB --checkpoint CKPT` as a subprocess: start, imports, walk, stat,
    store comparison, FAISS freshness check, the report table.

A no-op run should import no torch and load no model; the table says whether it did.
Target (issue 17): under 1 s for 10,000 unchanged files.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PER_FOLDER = 100
BARE_WALK = """
import os, sys
n = 0
for folder, dirs, names in os.walk(sys.argv[1]):
    dirs[:] = [d for d in dirs if not d.startswith('.')]
    for name in names:
        os.stat(os.path.join(folder, name))
        n += 1
print(n)
"""
REPORTING = ("import sys\nfrom cli.app import main\ntry:\n    main()\nfinally:\n"
             "    print('torch imported:', 'torch' in sys.modules, file=sys.stderr)")


def make_tree(base: Path, n: int) -> tuple[Path, Path]:
    """(library, checkpoint) under `base`, generated once and reused while the count matches."""
    from myna_rpe.audio import write_audio
    from myna_rpe.checkpoint import save_checkpoint
    from myna_rpe.embed import Embedder
    from myna_rpe.config import EncoderConfig, ModelConfig

    lib, ckpt, done = base / f"lib{n}", base / "tiny", base / f"lib{n}.ready"
    if not (ckpt / "config.json").is_file():
        emb = Embedder.random(EncoderConfig(model=ModelConfig.from_preset("tiny", "alibi2d")), seed=0)
        save_checkpoint(ckpt, emb.model, emb.config)
    if done.is_file():
        return lib, ckpt
    shutil.rmtree(lib, ignore_errors=True)
    rng = np.random.default_rng(0)
    source = write_audio(base / "source.wav", (0.1 * rng.standard_normal(8000)).astype(np.float32), 16000)
    for i in range(n):
        folder = lib / f"artist{i // (PER_FOLDER * 10):03d}" / f"album{i // PER_FOLDER:04d}"
        if i % PER_FOLDER == 0:
            folder.mkdir(parents=True)
        shutil.copy2(source, folder / f"{i % PER_FOLDER:02d} track.wav")
    t = time.perf_counter()
    first = myna_index(lib, ckpt)
    if first.returncode != 0:
        sys.exit(f"first index failed:\n{first.stderr}")
    print(f"generated and indexed {n} files in {base} (first index {time.perf_counter() - t:.1f} s)")
    done.touch()
    return lib, ckpt


def myna_index(lib: Path, ckpt: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120", "XDG_CONFIG_HOME": str(lib.parent / "config")}  # never the user's
    return subprocess.run([sys.executable, "-c", REPORTING, "index", str(lib), "--checkpoint", str(ckpt)],
                          capture_output=True, text=True, cwd=ROOT, env=env)


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="files in the tree")
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "myna-bench-noop")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    lib, ckpt = make_tree(args.dir, args.n)

    walk, noop, torch_seen, embedded = [], [], set(), set()
    for _ in range(args.runs):
        seconds, proc = timed(lambda: subprocess.run([sys.executable, "-c", BARE_WALK, str(lib)],
                                                     capture_output=True, text=True, check=True))
        walk.append(seconds)
        files = int(proc.stdout)
        seconds, proc = timed(lambda: myna_index(lib, ckpt))
        if proc.returncode != 0:
            sys.exit(f"myna index failed:\n{proc.stderr}")
        noop.append(seconds)
        torch_seen.add("torch imported: True" in proc.stderr)
        row = next((line for line in proc.stdout.splitlines() if "│ embedded " in line), "")
        embedded.add(row.split("│")[2].strip() if row else "?")

    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"python {platform.python_version()}")
    print(f"tree: {files} files in {args.n // PER_FOLDER} folders; {args.runs} runs each, alternating\n")
    print(f"| {'run':<38} | {'min s':>6} | {'median s':>8} | {'max s':>6} |")
    print(f"|{'-' * 40}|{'-' * 8}|{'-' * 10}|{'-' * 8}|")
    for name, xs in (("bare os.walk + stat (python process)", walk), ("myna index LIB (no-op, subprocess)", noop)):
        print(f"| {name:<38} | {min(xs):6.3f} | {statistics.median(xs):8.3f} | {max(xs):6.3f} |")
    print(f"\nratio (median): myna index / bare walk = {statistics.median(noop) / statistics.median(walk):.2f}x; "
          f"torch imported: {' / '.join(map(str, sorted(torch_seen)))}; embedded: {' / '.join(sorted(embedded))}")


if __name__ == "__main__":
    main()
