#!/usr/bin/env python3
"""Score against pretraining data: pretrain on nested subsets of a folder, probe each, plot.

"Learning music audio representations with limited data" pretrains on 5 to ~8,000
minutes; this script asks the same question of this encoder on your data:

    python scripts/data_size_sweep.py --data MUSIC_DIR --task nsynth --task-data NSYNTH_DIR
    python scripts/data_size_sweep.py --data MUSIC_DIR --task gtzan --task-data GTZAN_DIR \\
        --minutes 5,50,500,all --steps 10000 --size mini --batch-size 32 --grid default --probes linear,mlp

1. The tracks of --data are shuffled once (--seed) and each subset is the shortest prefix
   holding at least the requested minutes, so the 5-minute set lies inside the 50-minute
   set ("all" = every track). Each subset is a folder of symbolic links under --out.
2. Each subset pretrains its own model (`myna train` with the flags below; same seed,
   steps and recipe for all, so only the data differs).
3. Each checkpoint is probed on --task (`myna eval`'s runner, same splits, grid and seed);
   MFCC and the untrained encoder of the same architecture are probed once, as references.
4. sweep.json (every point and reference) and sweep.png (test score of the probe chosen on
   valid against minutes, log axis; references as horizontal lines) go to --out.

The defaults (three subsets, 30 steps of the tiny model, quick linear probes) finish in a
few minutes on a laptop CPU for a folder of a few minutes of audio and a small task;
they show the machinery works, not how the curve looks: for that, pass the real sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from myna_rpe.audio import audio_duration  # noqa: E402
from myna_rpe.errors import MynaError  # noqa: E402
from myna_rpe.evaluation.plots import chosen_probe, plot_minutes  # noqa: E402
from myna_rpe.evaluation.runner import EvalConfig, run_eval, write_report  # noqa: E402
from myna_rpe.training.config import TrainConfig  # noqa: E402
from myna_rpe.training.loop import train  # noqa: E402
from myna_rpe.training.sources import folder_tracks  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path, help="folder of audio to pretrain on (searched recursively)")
    p.add_argument("--task", required=True, help="a `myna eval` dataset: gtzan, giantsteps, emomusic, mtat, nsynth, tinysol")
    p.add_argument("--task-data", required=True, type=Path, help="the folder holding the task's dataset")
    p.add_argument("--task-name", default=None, help="which task of the dataset to plot (default: its first, e.g. nsynth-instrument)")
    p.add_argument("--minutes", default="1,3,all", help="nested subset sizes in minutes, comma-separated, 'all' = every track")
    p.add_argument("--out", type=Path, default=Path("runs/data-size-sweep"))
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--size", default="tiny", help="model size preset (tiny, mini, ...)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--chunk-seconds", type=float, default=2.0)
    p.add_argument("--grid", default="quick", help="probe grid: quick or default")
    p.add_argument("--probes", default="linear", help="probe families: linear, mlp, mlp2")
    p.add_argument("--protocol", default="whole", help="eval protocol: budget, whole or chunks")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    return p.parse_args(argv)


def nested_subsets(durations: list[float], targets: list[float | None], seed: int) -> list[list[int]]:
    """Track indices per target (minutes; None = all), prefixes of one seeded shuffle."""
    order = np.random.default_rng(seed).permutation(len(durations))
    cumulative = np.cumsum([durations[i] for i in order]) / 60.0
    out = []
    for minutes in targets:
        n = len(order) if minutes is None else int(np.searchsorted(cumulative, minutes - 1e-9) + 1)
        out.append(sorted(order[: min(n, len(order))].tolist()))
    return out


def link_subset(root: Path, tracks, indices: list[int], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in indices:
        link = folder / tracks[i].track_id
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            os.symlink(tracks[i].path.resolve(), link)
    return folder


def score(report: dict, task: str) -> tuple[float, float, str]:
    result = report["datasets"][task]
    probe, primary = chosen_probe(result), result["primary_metric"]
    return result["probes"][probe]["test"][primary], result["probes"][probe]["valid"][primary], probe


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except MynaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace) -> int:
    tracks = folder_tracks(args.data.expanduser())
    durations = [audio_duration(t.path) for t in tracks]
    total = sum(durations) / 60.0
    labels = [m.strip() for m in args.minutes.split(",") if m.strip()]
    targets = [None if m == "all" else float(m) for m in labels]
    kept = [(label, t) for label, t in zip(labels, targets) if t is None or t < total]
    for label, t in zip(labels, targets):
        if t is not None and t >= total:
            print(f"skipping {label} min: the folder holds {total:.1f} min (the 'all' point covers it)", file=sys.stderr)
    subsets = nested_subsets(durations, [t for _, t in kept], args.seed)
    # A step pairs views of different tracks: the smallest subset bounds the batch, and every
    # run takes the same batch so that only the data differs between the points.
    batch = min(args.batch_size, min(len(s) for s in subsets))
    if batch < 2:
        raise MynaError(f"the {kept[0][0]}-minute subset holds {min(len(s) for s in subsets)} track(s); a step needs 2",
                        args.data, "ask for more minutes in the smallest subset, or use a folder of shorter tracks")
    if batch < args.batch_size:
        print(f"batch size {batch} for every run (the smallest subset holds {batch} tracks)", file=sys.stderr)
    out = args.out
    points, references = [], {}
    task_name = args.task_name
    for (label, _), indices in zip(kept, subsets):
        minutes = sum(durations[i] for i in indices) / 60.0
        folder = link_subset(args.data, tracks, indices, out / "subsets" / f"{label}min")
        run_dir = out / "runs" / f"{label}min"
        cfg = TrainConfig(
            data=str(folder), out=str(run_dir), cache_dir=str(out / "mels"), size=args.size, batch_size=batch,
            chunk_seconds=args.chunk_seconds, steps=args.steps, warmup_steps=max(1, args.steps // 10),
            checkpoint_every=args.steps, log_every=max(1, args.steps // 10), seed=args.seed, device=args.device,
        )
        print(f"pretraining on {label} min ({len(indices)} tracks, {minutes:.1f} min) for {args.steps} steps", file=sys.stderr)
        result = train(cfg)
        checkpoint = result.run_dir / "checkpoint"
        first = not references
        report = run_eval(EvalConfig(
            datasets=[args.task], data_dir=args.task_data, model=str(checkpoint), protocol=args.protocol,
            cache_dir=out / "embeddings", grid=args.grid, seed=args.seed,
            device="cpu" if args.device == "auto" else args.device,
            probes=tuple(p.strip() for p in args.probes.split(",")),
            baselines=("mfcc", "untrained") if first else (),
        ))
        write_report(report, out / "eval" / f"{label}min.json")
        task_name = task_name or next(iter(report["datasets"]))
        test, valid, probe = score(report, task_name)
        points.append({"label": label, "minutes": minutes, "tracks": len(indices), "checkpoint": str(checkpoint),
                       "probe": probe, "test": test, "valid": valid})
        if first:
            names = {"mfcc": "MFCC", "untrained": "untrained encoder"}
            for role, baseline in report["baselines"].items():
                references[names[role]] = {"test": score(baseline, task_name)[0], "features": baseline["features"]}
        print(f"  {label} min: test {test:.3f} ({probe})", file=sys.stderr)
    primary = report["datasets"][task_name]["primary_metric"]
    summary = {"task": task_name, "primary_metric": primary, "steps": args.steps, "size": args.size, "batch_size": batch, "seed": args.seed,
               "total_minutes": total, "points": points, "references": references}
    (out / "sweep.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    plot_minutes([(p["minutes"], p["test"]) for p in points], {k: v["test"] for k, v in references.items()},
                 out / "sweep.png", f"{task_name}: test {primary} vs pretraining data ({args.size}, {args.steps} steps)",
                 f"test {primary}")
    print(f"wrote {out / 'sweep.json'} and {out / 'sweep.png'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
