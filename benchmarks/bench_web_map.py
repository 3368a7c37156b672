"""The web map (`myna serve`) at 10^3, 10^4 and 10^5 tracks: first-map time and frame time.

    python benchmarks/bench_web_map.py [--sizes 1000 10000 100000] [--dim 64] [--no-browser]

For each size, a store of a synthetic clustered library (`playlist.synthetic`, no audio
files) is served by the real `myna serve` (a child process), and Debian's headless chromium
opens the page (selenium):

* first map: from opening the page to the map drawn, the server computing the PCA map and
  the k-means clusters from nothing (the page's /api/library and /api/map, the colouring
  and the first frame included); then the same for t-SNE (PCA to 50 dimensions, t-SNE of a
  sample of at most 2,500 tracks, the rest placed among their neighbours);
* cached: reopening the page once both are cached (what a restarted server does);
* frame time while panning: the page's own drawing time per frame (ms, mean and 95th
  percentile over 60 frames, each a full redraw of the points with level of detail), and
  the interval between animation frames (ms; headless Chromium paces them at ~16.7 ms).

Also, in this process: the projections and k-means alone (PCA is the baseline, measured in
the same run). Times depend on the machine's load: the table prints the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playlist.synthetic import SyntheticSpec, synthetic_library  # noqa: E402
from playlist.web.clusters import kmeans_labels  # noqa: E402
from playlist.web.projection import project  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def library(n: int, dim: int):
    spec = SyntheticSpec(dim=dim)  # 4 styles x 6 artists x 12 tracks per genre
    per_genre = spec.styles_per_genre * spec.artists_per_style * spec.tracks_per_artist
    lib = synthetic_library(replace(spec, genres=-(-n // per_genre)), seed=0)
    return lib, lib.vectors[:n].astype(np.float64)


def make_store(root: Path, lib, n: int) -> None:
    """A store holding n synthetic tracks and their vectors (the files themselves are not needed)."""
    from playlist.library.store import LibraryStore, TrackInfo

    root.mkdir(parents=True)
    with LibraryStore.open(root / ".myna", root=root, create=True) as store:
        store.set_model("bench-model", None)
        with store.transaction():
            for track, vec in zip(lib.tracks[:n], lib.vectors[:n]):
                store.add_track(TrackInfo(rel_path=track.path.relative_to("/synthetic").as_posix(), size=0,
                                          mtime_ns=0, content_hash=f"h{track.id}", title=track.title,
                                          artist=track.artist, album=track.album, duration=track.duration), vec)


def serve(root: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "250"}
    process = subprocess.Popen([sys.executable, "-m", "cli.app", "serve", str(root), "--port", "0"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    for line in process.stdout:
        found = re.search(r"serving (http://127\.0\.0\.1:\d+/)", line)
        if found:
            return process, found.group(1)
    raise RuntimeError("myna serve did not start")


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,860", "--force-device-scale-factor=1", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    driver.set_script_timeout(600)
    return driver


def until(driver, script: str, seconds: float = 1200) -> None:
    deadline = time.monotonic() + seconds
    while not driver.execute_script(script):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out: {script}")
        time.sleep(0.05)


READY = "return document.body.dataset.ready === '1'"
TSNE_DRAWN = "return window.mynaMap.state.method === 'tsne' && document.body.dataset.busy !== '1'"
PAN = """
const done = arguments[0], drawn = [], gaps = [];
let last = null, k = 0;
function step(now) {
  if (last !== null) gaps.push(now - last);
  last = now;
  drawn.push(window.mynaMap.frameAfterPan(k % 40 < 20 ? 4 : -4, 2 * Math.sin(k / 5)));
  if (++k < 61) requestAnimationFrame(step); else done({drawn: drawn.slice(1), gaps: gaps.slice(1)});
}
requestAnimationFrame(step);
"""


def in_browser(root: Path) -> dict:
    process, url = serve(root)
    driver = browser()
    try:
        start = time.perf_counter()
        driver.get(url)
        until(driver, READY)
        first_pca = time.perf_counter() - start
        start = time.perf_counter()
        driver.execute_script("const s = document.getElementById('method'); s.value = 'tsne';"
                              "s.dispatchEvent(new Event('change'));")
        until(driver, TSNE_DRAWN)
        first_tsne = time.perf_counter() - start
        start = time.perf_counter()
        driver.get(url)
        until(driver, READY)
        cached = time.perf_counter() - start
        frames = driver.execute_async_script(PAN)
        drawn, gaps = np.array(frames["drawn"]), np.array(frames["gaps"])
        return {"first_pca": first_pca, "first_tsne": first_tsne, "cached": cached, "draw": drawn.mean(),
                "draw95": np.percentile(drawn, 95), "gap": gaps.mean()}
    finally:
        driver.quit()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--no-browser", action="store_true", help="only the projections, in this process")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, d={args.dim}\n")
    project(np.eye(8), "pca")  # import scikit-learn outside the timings
    rows = []
    for n in args.sizes:
        lib, X = library(n, args.dim)
        _, t_pca = timed(lambda: project(X, "pca"))
        _, t_tsne = timed(lambda: project(X, "tsne"))
        _, t_kmeans = timed(lambda: kmeans_labels(X))
        row = {"n": n, "pca": t_pca, "tsne": t_tsne, "kmeans": t_kmeans}
        if not args.no_browser:
            with tempfile.TemporaryDirectory(prefix="myna-bench-map-") as folder:
                make_store(Path(folder) / "music", lib, n)
                row |= in_browser(Path(folder) / "music")
        rows.append(row)
        print(f"  {n} tracks measured", file=sys.stderr, flush=True)

    print("Computing (this process): seconds")
    print("| tracks | PCA | t-SNE (capped) | t-SNE / PCA | k-means |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']:,} | {r['pca']:.3f} | {r['tsne']:.1f} | {r['tsne'] / r['pca']:.0f}x | {r['kmeans']:.2f} |")
    if args.no_browser:
        return
    print("\nIn headless chromium: first map and reopening (s), frame time while panning (ms)")
    print("| tracks | first map, PCA | first map, t-SNE | reopen (cached) | draw / frame | draw p95 | frame interval |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']:,} | {r['first_pca']:.1f} | {r['first_tsne']:.1f} | {r['cached']:.1f} | "
              f"{r['draw']:.1f} | {r['draw95']:.1f} | {r['gap']:.1f} |")


if __name__ == "__main__":
    main()
