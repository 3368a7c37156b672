"""Choosing a model by leave-games-out cross-validation over every held-out game.

    python benchmarks/bench_selection.py --data DATA/validation --data DATA/test \\
        --checkpoint current=myna_rpe/pretrained --checkpoint previous=runs/previous \\
        --checkpoint distil@0=runs/d0/checkpoint --checkpoint distil@1=runs/d1/checkpoint ...

All tracks of every --data folder form one pool (a game is a top-level folder; 13 games and
230 tracks with scripts/build_training_set.py's defaults). Each track is a query against the
whole pool (same-game retrieval, as bench_retrieval.py scores it), giving an average precision
per query and a mAP per game. Candidates are the --checkpoint rows; `NAME@SEED=PATH` rows are
seeds of one candidate, which enters with its mean over seeds. With --library-space each
candidate also enters searched in the pool's similarity space (the pool as one library:
playlist/library/space.py), with the encoder's vector alone ("in library space") and, as
`myna index` stores tracks and `myna` searches them, with the sound statistics beside it
("with statistics in library space": playlist/library/track_vectors.py). Peers (MFCC statistics, the
hand-crafted vector, musly, MusiCNN, the untrained twin) are scored in the same run.

Reported:
- every row's mAP with every game weighing the same, with a 95% interval from a two-level
  bootstrap (games resampled, then queries within each game): it asks how the score would
  move on other games, which is the question a small validation set hides;
- leave-one-game-out selection: for each game, the candidate with the best mAP on the other
  games is chosen and scored on the held-out game; the mean of those scores estimates what
  choosing by this protocol delivers on an unseen game, and the folds show how stable the
  choice is;
- each candidate minus the first (the current default), paired, with the same bootstrap;
- with `--versus NAME=REF`, row NAME minus row REF the same way (an ablation against the
  recipe it changes, or a candidate against a peer; "NAME in library space" names a row of
  --library-space, a peer is named as its row is, e.g. "hand-crafted", "MusiCNN-MSD max_pool").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_retrieval as br  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from myna_rpe import track_stats  # noqa: E402
from myna_rpe.evaluation.features import TrackStatsFeatures  # noqa: E402
from playlist.library.space import Space  # noqa: E402
from playlist.library.track_vectors import track_rows  # noqa: E402


def per_game_ap(S: np.ndarray, tracks) -> dict[str, np.ndarray]:
    s = br.retrieval_scores(S, [t.work for t in tracks], [t.variant for t in tracks])
    return {g: s["ap"][s["label"] == g] for g in sorted(set(s["label"]))}


def two_level_boot(per_game: list[np.ndarray], rng: np.random.Generator, n_boot: int = 2000) -> np.ndarray:
    """Bootstrap distribution of the games-equal mean: games resampled, then queries within each."""
    g = len(per_game)
    means = np.stack([v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1) for v in per_game])  # (g, B)
    pick = rng.integers(0, g, size=(n_boot, g))
    return means[pick, np.arange(n_boot)[:, None]].mean(axis=1)


def loo_selection(game_map: dict[str, dict[str, float]]) -> tuple[float, dict[str, str]]:
    """(mean held-out mAP of the candidate chosen on the other games, the choice per game)."""
    names = list(game_map)
    games = list(next(iter(game_map.values())))
    chosen, scores = {}, []
    for g in games:
        best = max(names, key=lambda n: (np.mean([game_map[n][h] for h in games if h != g]), -names.index(n)))
        chosen[g] = best
        scores.append(game_map[best][g])
    return float(np.mean(scores)), chosen


def paired_difference(row: dict[str, np.ndarray], ref: dict[str, np.ndarray], games: list[str], boot) -> tuple[float, float, float]:
    """Row minus reference, games equal, with the interval of `boot` over the per-query differences."""
    diff = [row[g] - ref[g] for g in games]
    lo, hi = np.quantile(boot(diff), [0.025, 0.975])
    return float(np.mean([x.mean() for x in diff])), float(lo), float(hi)


def _pair(text: str) -> tuple[str, str]:
    name, sep, ref = text.partition("=")
    if not sep or not name or not ref:
        raise argparse.ArgumentTypeError(f"expected NAME=REF (two row names), got {text!r}")
    return name, ref


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, action="append", required=True, help="held-out folder (repeat)")
    ap.add_argument("--checkpoint", action="append", required=True, metavar="NAME[@SEED]=PATH")
    ap.add_argument("--no-peers", action="store_true", help="candidates only")
    ap.add_argument("--library-space", action="store_true",
                    help="also score each candidate in the pool's similarity space (as `myna` searches a library "
                         "of these tracks: playlist/library/space.py), as a candidate of its own")
    ap.add_argument("--musicnn-layers", type=br._layer_list, default=["max_pool", "penultimate", "taggram"])
    ap.add_argument("--versus", action="append", type=_pair, default=[], metavar="NAME=REF",
                    help="also print NAME minus REF, paired (repeat; e.g. an ablation against its own recipe, "
                         "or a candidate against a peer such as hand-crafted)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    from myna_rpe.evaluation.features import EmbeddingCache, default_cache_dir

    tracks, datasets = [], []
    for data in args.data:
        manifest = data.parent / "manifest.tsv"
        found = br.discover(data, manifest if manifest.is_file() else None)
        tracks += found
        datasets += [f"retrieval-{data.resolve().name}"] * len(found)
    games = sorted({t.work for t in tracks})
    print(f"{len(tracks)} tracks, {len(games)} games", file=sys.stderr)
    cache = EmbeddingCache(default_cache_dir())

    ex_args = argparse.Namespace(
        checkpoint=[spec.replace("@", "#") for spec in args.checkpoint], chunk_averages=[], device=args.device,
        protocol="budget", no_mfcc=args.no_peers, no_handcrafted=args.no_peers, no_musly=args.no_peers,
        musicnn_layers=[] if args.no_peers else args.musicnn_layers, no_random=args.no_peers, seed=args.seed,
        random_size="mini", random_pe="alibi2d",
    )
    candidates = {spec.rpartition("=")[0].replace("@", "#") for spec in args.checkpoint}
    row_specs = br.extractors(ex_args)
    names = [spec.rpartition("=")[0].split("@")[0] for spec in args.checkpoint]
    if args.library_space:
        names += [f"{n} in library space" for n in names] + [f"{n} with statistics in library space" for n in names]
    names += [label for label, _d, _e in row_specs if label not in candidates]  # peers
    for pair in args.versus:  # checked before hours of embedding, not after
        if missing := [n for n in pair if n not in names]:
            ap.error(f"--versus {'='.join(pair)}: no row named {missing[0]!r} (rows: {', '.join(dict.fromkeys(names))})")
    rows: dict[str, dict[str, np.ndarray]] = {}
    space_rows: list[str] = []

    def pool_vectors(label: str, ex) -> np.ndarray:
        vecs, kept = [], []
        for ds in dict.fromkeys(datasets):
            idx = [i for i, d in enumerate(datasets) if d == ds]
            X, k, _ = br.embed_all([tracks[i] for i in idx], ex, cache, ds)
            vecs.append(X)
            kept += [idx[j] for j in k]
        if len(kept) != len(tracks):
            raise SystemExit(f"{label}: {len(tracks) - len(kept)} tracks did not decode")
        return np.concatenate(vecs)

    stats = None  # the sound statistics a library keeps beside the vectors, computed once
    for label, _desc, ex in row_specs:
        X = pool_vectors(label, ex)
        sims = ([ex.similarity(X)] if isinstance(ex, br.MuslyTimbre)
                else [br.cosine_matrix(X)] if label in candidates
                else [br.cosine_matrix(X), br.cosine_matrix(br.standardise(X))])
        # a peer enters at its better similarity (cosine or standardised), in its favour
        rows[label] = max((per_game_ap(S, tracks) for S in sims), key=lambda pg: np.mean([v.mean() for v in pg.values()]))
        if args.library_space and label in candidates:
            U = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
            base, _, seed = label.partition("#")
            in_space = f"{base} in library space" + (f"#{seed}" if seed else "")
            rows[in_space] = per_game_ap(br.cosine_matrix(Space.fit(U).apply(U)), tracks)
            # as `myna index` stores them (track_vectors) and `myna` searches them
            if stats is None:
                stats = pool_vectors("sound statistics", TrackStatsFeatures())
            T = track_rows(X, stats)
            with_stats = in_space.replace(" in library space", " with statistics in library space")
            rows[with_stats] = per_game_ap(br.cosine_matrix(Space.fit(T, track_stats.DIM).apply(T)), tracks)
            space_rows += [in_space, with_stats]

    candidates |= set(space_rows)
    # seeds of one candidate: per-query AP averaged over seeds
    groups: dict[str, list[str]] = {}
    for label in rows:
        groups.setdefault(label.split("#")[0] if label in candidates else label, []).append(label)
    merged = {name: {g: np.mean([rows[m][g] for m in members], axis=0) for g in games} for name, members in groups.items()}
    cand_names = [n for n in groups if groups[n][0] in candidates]

    def boot(per_game: list[np.ndarray]) -> np.ndarray:
        # the same resamples for every row (a fresh generator each time; the games' sizes are the same),
        # so a row's interval does not move when rows are added and rows are compared on equal draws
        return two_level_boot(per_game, np.random.default_rng(args.seed))

    out = {"games": games, "tracks": len(tracks), "rows": {}, "selection": {}, "differences": {}}
    print(f"\nsame-game retrieval over {len(games)} held-out games ({len(tracks)} tracks), mAP with every game "
          "weighing the same; [95% two-level bootstrap: games, then queries]\n")
    print("| row | seeds | mAP, games equal | " + " | ".join(games) + " |")
    print("|---|---:|---|" + "---:|" * len(games))
    for name, per_game in merged.items():
        gm = {g: float(per_game[g].mean()) for g in games}
        lo, hi = np.quantile(boot([per_game[g] for g in games]), [0.025, 0.975])
        seeds = [float(np.mean([rows[m][g].mean() for g in games])) for m in groups[name]]
        out["rows"][name] = {"map_games": float(np.mean(list(gm.values()))), "ci": [lo, hi], "per_game": gm,
                             "seeds": seeds, "candidate": name in cand_names}
        seed_txt = f"{len(seeds)} ({min(seeds):.3f}–{max(seeds):.3f})" if len(seeds) > 1 else "1"
        print(f"| {name} | {seed_txt} | {np.mean(list(gm.values())):.3f} [{lo:.3f}, {hi:.3f}] | "
              + " | ".join(f"{gm[g]:.2f}" for g in games) + " |")

    game_map = {n: out["rows"][n]["per_game"] for n in cand_names}
    cv, chosen = loo_selection(game_map)
    out["selection"] = {"cv_map": cv, "chosen": chosen}
    counts = {n: sum(c == n for c in chosen.values()) for n in cand_names}
    print(f"\nleave-one-game-out selection among the candidates: held-out mAP of the chosen one {cv:.3f}; "
          "chosen in " + ", ".join(f"{n} {k}/{len(games)}" for n, k in counts.items() if k) + " folds\n")

    ref = cand_names[0]
    print(f"paired differences, {ref} as the reference: row minus {ref} [95% two-level bootstrap]\n")
    print("| row | Δ mAP, games equal |")
    print("|---|---|")
    for name in merged:
        if name == ref:
            continue
        d, lo, hi = paired_difference(merged[name], merged[ref], games, boot)
        out["differences"][name] = {"map": d, "ci": [lo, hi]}
        print(f"| {name} | {d:+.3f} [{lo:+.3f}, {hi:+.3f}] |")
    if args.versus:
        print("\npaired differences between named rows (a candidate with its seeds' mean): row minus reference\n")
        print("| row | reference | Δ mAP, games equal |")
        print("|---|---|---|")
        out["versus"] = {}
        for name, other in args.versus:
            d, lo, hi = paired_difference(merged[name], merged[other], games, boot)
            out["versus"][f"{name} - {other}"] = {"map": d, "ci": [lo, hi]}
            print(f"| {name} | {other} | {d:+.3f} [{lo:+.3f}, {hi:+.3f}] |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
