"""Build a second test set of games that nothing in this project has been chosen on.

    python scripts/build_fresh_games.py --out data/fresh-games --against data/default-model/manifest.tsv
    python benchmarks/bench_selection.py --data data/fresh-games/fresh --checkpoint current=myna_rpe/pretrained ...

Every setting of the current default (recipe, token budget, the library's space, the sound
statistics beside the model's vector) was chosen on the 13 held-out games of
scripts/build_training_set.py, so scores on those games are optimistic. These packages were
found later (2026-12-06) and are used for one thing: scoring, once per change of the default,
what a user gets. They are never trained on, so their licences are not read (nothing made
from them is distributed); build_training_set.py never lists them.

OUT/fresh/PKG/... holds the music (symlinks into the cache; tracker modules rendered once through
with libopenmpt, as the training set's are), OUT/manifest.tsv one row per file (path, package,
source path, duration, variant, SHA-256). A file byte-identical to one in --against (the
training set's manifest) is left out and reported, so a soundtrack shared with a training
package cannot leak in.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# fetch_deb refuses a reserved package before any download
from build_training_set import _sha256, extract_deb, fetch_deb, render_module  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# package -> (installed folder, globs of its music under it). Chosen by listing every audio
# file of 30 s or more in each package: effects, ambience loops and instrument stems are elsewhere.
FRESH = {
    "adonthell-data": ("usr/share/games/adonthell/games/wastesedge/audio", ["*.ogg"]),
    "berusky2-data": ("usr/share/games/berusky2/music", ["*.ogg"]),
    "bomberclone-data": ("usr/share/games/bomberclone/music", ["*.xm", "*.mod"]),
    "btanks-data": ("usr/share/games/btanks/data/tunes", ["*.ogg"]),  # not sounds/ambient/
    "colobot-common-sounds": ("usr/share/games/colobot/music", ["*.ogg"]),
    "davegnukem-data": ("usr/share/games/davegnukem/music", ["*/*.ogg"]),
    "enigma-data": ("usr/share/games/enigma/music", ["game/*.ogg", "menu/*.ogg"]),
    "freedink-data": ("usr/share/games/dink/dink/Sound", ["*.ogg"]),  # its MIDI files are left out
    "ironseed-data": ("usr/share/games/ironseed/sound", ["*.MOD"]),
    "openclonk-data": ("usr/share/games/openclonk/Music.ocg", ["*.ogg"]),
    "pekka-kana-2-data": ("usr/share/games/pekka-kana-2/data/music", ["*.xm"]),
    "plee-the-bear-data": ("usr/share/games/plee-the-bear/music", ["*.ogg"]),  # not sequencer/ (stems)
    "rafkill-data": ("usr/share/games/rafkill/music", ["*.xm"]),
    "redeclipse-data": ("usr/share/games/redeclipse/data/sounds/music", ["*.ogg"]),  # not ambience/
    "wizznic-data": ("usr/share/games/wizznic/packs/000_wizznic/music", ["*.ogg"]),
}
MODULES = (".mod", ".xm", ".s3m", ".it")


def music_files(package: str, root: Path) -> list[Path]:
    base, globs = FRESH[package]
    folder = root / base
    if not folder.is_dir():
        raise SystemExit(f"{package}: {base} is not in the package any more; look at its file list again")
    return sorted({p for g in globs for p in folder.glob(g) if p.is_file()})


def known_hashes(manifest: Path | None) -> dict[str, str]:
    if manifest is None:
        return {}
    with open(manifest, encoding="utf-8") as fh:
        return {row["sha256"]: f"{row['split']} {row['path']}" for row in csv.DictReader(fh, delimiter="\t")}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="output folder (fresh/PKG/ folders and manifest.tsv)")
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                    / "myna-rpe" / "debs", help="where .deb files, extracted trees and renders are kept")
    ap.add_argument("--against", type=Path, help="the training set's manifest.tsv: identical files are left out")
    ap.add_argument("--min-seconds", type=float, default=30.0, help="shortest track kept")
    args = ap.parse_args(argv)
    from myna_rpe.audio import audio_duration

    args.cache.mkdir(parents=True, exist_ok=True)
    seen = known_hashes(args.against)
    rows = []
    for package in FRESH:
        root = extract_deb(fetch_deb(package, args.cache), args.cache / "x" / package)
        base = root / FRESH[package][0]
        for src in music_files(package, root):
            rel = src.relative_to(base).as_posix()
            audio = src
            if src.suffix.lower() in MODULES:
                audio = args.cache / "rendered" / package / (rel + ".flac")
                err = render_module(src, audio)
                if err is not None:
                    print(f"left out {package}/{rel}: {err}", file=sys.stderr)
                    continue
                rel += ".flac"
            duration = audio_duration(audio)
            if duration < args.min_seconds:
                continue
            digest = _sha256(audio)
            if digest in seen:
                print(f"left out {package}/{rel}: identical to {seen[digest]}", file=sys.stderr)
                continue
            seen[digest] = f"fresh {package}/{rel}"
            rows.append((package, rel, audio, duration, digest))
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    if (out / "fresh").exists():
        shutil.rmtree(out / "fresh")  # symlinks only: a rebuild keeps no stale file
    with open(out / "manifest.tsv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(("path", "package", "source", "duration_s", "variant", "sha256"))
        for package, rel, audio, duration, digest in rows:
            dest = out / "fresh" / package / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(audio.resolve())
            w.writerow((f"fresh/{package}/{rel}", package, f"{FRESH[package][0]}/{rel.removesuffix('.flac')}",
                        f"{duration:.2f}", rel, digest))
    by: dict[str, list[float]] = {}
    for package, _rel, _a, duration, _d in rows:
        by.setdefault(package, []).append(duration)
    for package, ds in sorted(by.items()):
        print(f"{package:24} {len(ds):4d} tracks {sum(ds) / 60:7.1f} min")
    print(f"{'(total)':24} {len(rows):4d} tracks {sum(sum(d) for d in by.values()) / 3600:7.2f} h in {len(by)} games")
    print(f"wrote {out}/fresh/PKG/... and {out}/manifest.tsv")


if __name__ == "__main__":
    main()
