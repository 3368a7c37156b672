"""Write myna_rpe/data/track_stats/reference.json: the mean and spread of the sound statistics
(myna_rpe.track_stats) over the bundled model's training tracks.

    python scripts/track_stats_reference.py DATA/train

Libraries store the statistics standardised by these values (playlist/library/track_vectors.py)
and standardise them again on the library itself; these only give the stored numbers sane sizes
and the prior that a small library's own statistics are shrunk towards.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from myna_rpe import track_stats  # noqa: E402
from myna_rpe.config import FrontendConfig  # noqa: E402
from myna_rpe.embed import file_log_mel  # noqa: E402
from myna_rpe.errors import AudioError  # noqa: E402

AUDIO = {".ogg", ".flac", ".wav", ".mp3", ".opus", ".m4a"}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train", type=Path, help="the training folder of scripts/build_training_set.py")
    ap.add_argument("--out", type=Path, default=track_stats.REFERENCE)
    args = ap.parse_args(argv)
    files = sorted(p for p in args.train.rglob("*") if p.suffix.lower() in AUDIO)
    if not files:
        raise SystemExit(f"{args.train}: no audio files — give the training folder of scripts/build_training_set.py")
    frontend = FrontendConfig()
    rows = []
    for i, path in enumerate(files, 1):
        try:
            rows.append(track_stats.track_stats(file_log_mel(path, frontend)[0], frontend))
        except AudioError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
        print(f"\r{i}/{len(files)} tracks", end="", file=sys.stderr)
    print(file=sys.stderr)
    S = np.stack(rows).astype(np.float64)
    doc = {"id": track_stats.ID, "tracks": len(rows), "source": "the bundled model's training tracks",
           "mean": [round(float(x), 6) for x in S.mean(axis=0)], "std": [round(float(x), 6) for x in S.std(axis=0)]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out} ({len(rows)} tracks)")


if __name__ == "__main__":
    main()
