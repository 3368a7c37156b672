"""Quality and cost against the token budget: which budget should be the default?

    python benchmarks/bench_budget.py --data runs/default-data/heldout
    python benchmarks/bench_budget.py --data DIR --budgets 256 1024 --draws 1 --no-cost   # quicker

Part 1, quality: every track under --data (one sub-folder per game, as
scripts/build_training_set.py writes them) is decoded once; its log-mel is embedded densely
(the baseline: every patch in one pass) and under each budget × draws × spread. Same-game
retrieval as in bench_retrieval.py (leave-one-out cosine; mAP and P@5 with every game
weighing the same), plus the paired difference to the dense pass with a 95% bootstrap
interval (queries resampled within each game, the same resample for both), the mean cosine
between a track's budgeted and dense vectors, and the model's CPU seconds per track (one
thread, process time). Peers in the same run: the MFCC statistics and the untrained twin.

Part 2, cost: the model's CPU seconds for one track of 30 s, 4, 15 and 60 min (a log-mel
of that many frames; the cost does not depend on the content), dense vs each budget, and
the 60-min / 4-min ratio. Dense passes past --dense-max-minutes are not run (a dense
60-min pass takes ~10 CPU minutes); such cells say so.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_retrieval import _fmt, cosine_matrix, discover, retrieval_scores, standardise, summarise  # noqa: E402


def cpu_seconds(fn) -> tuple[object, float]:
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def paired_difference(a: dict, b: dict, key: str = "ap", seed: int = 0, n_boot: int = 2000) -> tuple[float, list[float]]:
    """Games-equal mean of a − b over the same queries, with a 95% bootstrap interval."""
    rng = np.random.default_rng(seed)
    diff = a[key] - b[key]
    works = sorted(set(a["label"]))
    boots = []
    for w in works:
        d = diff[a["label"] == w]
        boots.append(d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1))
    point = float(np.mean([diff[a["label"] == w].mean() for w in works]))
    return point, np.quantile(np.mean(boots, axis=0), [0.025, 0.975]).tolist()


def quality(args, embedder, tracks) -> None:
    from myna_rpe.budget import DENSE, TokenBudget
    from myna_rpe.embed import Embedder, file_log_mel
    from myna_rpe.track_stats import mfcc_stats_of_mel

    mels, mfcc = [], []
    for i, t in enumerate(tracks):
        mel, _ = file_log_mel(t.path, embedder.config.frontend)
        mels.append(mel)
        mfcc.append(mfcc_stats_of_mel(mel))
        if sys.stderr.isatty():
            print(f"\r  decoded {i + 1}/{len(tracks)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    labels = [t.work for t in tracks]
    variants = [t.variant for t in tracks]
    minutes = [m.shape[-1] / embedder.config.frontend.frames_per_second / 60 for m in mels]
    print(f"\n## quality: same-game retrieval, {len(tracks)} tracks of {min(minutes):.1f}-{max(minutes):.1f} min "
          f"(mean {np.mean(minutes):.1f}), {len(set(labels))} games\n")

    def run(emb) -> tuple[np.ndarray, float]:
        vecs, spent = [], 0.0
        for m in mels:
            v, s = cpu_seconds(lambda: emb.embed_mels([m])[0])
            vecs.append(v)
            spent += s
        return np.stack(vecs), spent / len(mels)

    dense_X, dense_s = run(embedder.with_budget(DENSE))
    dense = retrieval_scores(cosine_matrix(dense_X), labels, variants)
    rows = [("dense (baseline)", dense, dense_X, dense_s)]
    for spread in args.spreads:
        for tokens in args.budgets:
            for draws in args.draws:
                b = TokenBudget(tokens=tokens, draws=draws, spread=spread)
                X, s = run(embedder.with_budget(b))
                rows.append((b.describe(), retrieval_scores(cosine_matrix(X), labels, variants), X, s))
                print(f"  {b.describe()}: {s:.3f} s/track", file=sys.stderr)
    untrained = Embedder.random(embedder.config, seed=args.seed).with_budget(TokenBudget())
    X, s = run(untrained)
    peers = [("untrained twin, default budget", retrieval_scores(cosine_matrix(X), labels, variants), None, s),
             ("MFCC statistics (120-d), standardised", retrieval_scores(cosine_matrix(standardise(np.stack(mfcc))), labels, variants),
              None, None)]

    print("| embedding | mAP, games equal | P@5, games equal | mAP − dense [95% CI] | cosine to dense | model CPU s / track |")
    print("|---|---|---|---|---:|---:|")
    for name, sc, X, s in rows + peers:
        summ = summarise(sc, args.seed)
        if name.startswith("dense"):
            diff = "–"
        else:
            d, (lo, hi) = paired_difference(sc, dense, seed=args.seed)
            diff = f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        cos = "–" if X is None else f"{np.mean(_cosines(X, dense_X)):.3f}"
        print(f"| {name} | {_fmt(summ, 'map_games')} | {_fmt(summ, 'p_at_5_games')} | {diff} | {cos} | "
              + ("–" if s is None else f"{s:.3f}") + " |", flush=True)
    chance = summarise(dense, args.seed)
    print(f"| chance | {chance['chance_map_games']:.3f} | {chance['chance_p_at_5_games']:.3f} | | | |")


def _cosines(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    return np.sum(A * B, axis=1) / (np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1))


def cost(args, embedder) -> None:
    import torch

    from myna_rpe.budget import DENSE, TokenBudget

    fps = embedder.config.frontend.frames_per_second
    budgets = [DENSE] + [TokenBudget(tokens=t, draws=d) for t in args.cost_budgets for d in args.draws]
    print(f"\n## cost: model CPU seconds for one track (one thread; dense passes only up to "
          f"{args.dense_max_minutes:g} min)\n")
    print("| input | patches | " + " | ".join(b.describe() for b in budgets) + " |")
    print("|---|---:|" + "---:|" * len(budgets))
    seconds: dict[tuple[float, str], float] = {}
    for minutes in args.cost_minutes:
        frames = int(minutes * 60 * fps)
        mel = torch.randn(embedder.config.model.n_mels, frames, generator=torch.Generator().manual_seed(0))
        patches = embedder._patches(frames)
        cells = []
        for b in budgets:
            if b.dense and minutes > args.dense_max_minutes:
                cells.append("not run")
                continue
            emb = embedder.with_budget(b)
            emb.embed_mels([mel[:, :64]])  # warm up
            _, s = cpu_seconds(lambda: emb.embed_mels([mel]))
            seconds[(minutes, b.describe())] = s
            cells.append(f"{s:.3f}")
        label = f"{minutes * 60:.0f} s" if minutes < 1 else f"{minutes:g} min"
        print(f"| {label} | {patches:,} | " + " | ".join(cells) + " |", flush=True)
    if 4 in args.cost_minutes and 60 in args.cost_minutes:
        ratios = []
        for b in budgets:
            a, z = seconds.get((4, b.describe())), seconds.get((60, b.describe()))
            ratios.append("–" if a is None or z is None else f"{z / a:.1f}×")
        print("| 60 min / 4 min | | " + " | ".join(ratios) + " |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="held-out folder: one sub-folder per game (part 1)")
    ap.add_argument("--checkpoint", type=Path, default=None, help="default: the bundled model")
    ap.add_argument("--budgets", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    ap.add_argument("--draws", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--spreads", nargs="+", default=["stratified", "random"])
    ap.add_argument("--cost-minutes", type=float, nargs="+", default=[0.5, 4, 15, 60])
    ap.add_argument("--cost-budgets", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--dense-max-minutes", type=float, default=15.0)
    ap.add_argument("--no-cost", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    from myna_rpe.embed import Embedder

    torch.set_num_threads(1)
    embedder = Embedder.load(args.checkpoint)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"torch {torch.__version__} with 1 thread; model {args.checkpoint or 'bundled'} "
          f"({embedder.config.model.size}, {embedder.weights_id})")
    if args.data:
        tracks = discover(args.data, None)
        quality(args, embedder, tracks)
    if not args.no_cost:
        cost(args, embedder)


if __name__ == "__main__":
    main()
