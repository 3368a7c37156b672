"""Same-work retrieval on held-out soundtracks: do a track's nearest neighbours come from its game?

    python benchmarks/bench_retrieval.py --data OUT/heldout \\
        --checkpoint default=myna_rpe/pretrained --checkpoint alibi1d=runs/alibi1d/checkpoint ...

Every track under --data is embedded whole, in one forward pass under the default token
budget (`--protocol whole`: the dense pass; `--protocol chunks` averages 3 s chunks
instead, as a diagnostic; the baseline takes MFCC statistics). A track's
"work" is its top-level folder under --data, which scripts/build_training_set.py makes the
Debian package, i.e. the game's soundtrack; where a game's tracks are split over several
sub-folders holding two or more tracks each, a second level ("folder") treats each
sub-folder as an album. Each track is a query in turn (leave-one-out), ranked against all
the other tracks by cosine similarity; other versions of the same composition
(SuperTuxKart's `_fast` copies, from the manifest's `variant` column) are left out of its
candidates, since finding them would measure near-duplicate detection. Queries whose work
has no other track are skipped.

Reported: precision@5 (share of the 5 nearest that are the same work) and mean average
precision, averaged over all queries and with every work weighing the same ("games equal": a
large soundtrack would otherwise dominate), each with a 95% bootstrap interval (queries
resampled within each work); chance is the exact expectation under a random ranking. Two
similarity variants: cosine on the raw vectors, and cosine after standardising every
dimension over the evaluated tracks (no labels used; MFCC statistics mix scales, and
embeddings can share a large common direction).

Rows: each --checkpoint (and, with --chunk-averages 3,15, its own mean over 3 s and 15 s
chunks); the MFCC baseline (`myna eval --model mfcc` features); a hand-crafted librosa
MFCC+chroma+contrast vector; musly's timbre method (`pymusly`, when installed); an untrained
encoder with each distinct architecture among the checkpoints (`Embedder.random`, same seed);
MusiCNN (MSD), the tagger AudioMuse-AI runs, as the mean of a layer over 3-s patches
(`--musicnn-layers`: max_pool, penultimate and taggram by default).
Without --checkpoint the bundled default model is used when present. A last table gives the
first checkpoint minus every other row with paired bootstrap intervals.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

K = 5


@dataclass(frozen=True)
class Track:
    path: Path
    key: str  # path relative to --data (cache key)
    work: str  # top-level folder: the game
    folder: str  # work + sub-folder: the album, where a game has several
    variant: str  # tracks sharing this are versions of one composition


# -- the tracks -------------------------------------------------------------------------

def discover(data: Path, manifest: Path | None) -> list[Track]:
    from myna_rpe.audio import AUDIO_EXTENSIONS

    if not data.is_dir():
        raise SystemExit(f"{data}: not a folder (build it with scripts/build_training_set.py)")
    variants = _manifest_variants(manifest) if manifest else {}
    tracks = []
    for p in sorted(data.rglob("*")):
        rel = p.relative_to(data)
        if p.suffix.lower() not in AUDIO_EXTENSIONS or not p.is_file() or len(rel.parts) < 2:
            continue
        work = rel.parts[0]
        variant = variants.get(os.path.abspath(p), rel.relative_to(work).as_posix())
        tracks.append(Track(p, rel.as_posix(), work, rel.parent.as_posix(), f"{work}/{variant}"))
    if not tracks:
        raise SystemExit(f"{data}: no audio files in <work>/ sub-folders")
    return tracks


def first_per_work(tracks: list[Track], n: int) -> list[Track]:
    seen: dict[str, int] = {}
    out = []
    for t in tracks:
        seen[t.work] = seen.get(t.work, 0) + 1
        if seen[t.work] <= n:
            out.append(t)
    return out


def _manifest_variants(manifest: Path) -> dict[str, str]:
    """abspath of each listed file -> its composition key (manifest paths are relative to its folder)."""
    out = {}
    with open(manifest, encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            out[os.path.abspath(manifest.parent / row["path"])] = row["variant"]
    return out


# -- metrics ----------------------------------------------------------------------------

def expected_random_ap(n: int, r: int) -> float:
    """E[average precision] of a uniformly random ranking of n items, r of them relevant.

    A relevant item lands at rank k uniformly; the other r-1 relevant items fill the k-1
    places above it at rate (r-1)/(n-1), so E[precision at its rank] =
    (1/n) Σ_k (1 + (k-1)(r-1)/(n-1)) / k = (H_n + (r-1)/(n-1) · (n - H_n)) / n.
    """
    h = float(np.sum(1.0 / np.arange(1, n + 1)))
    return (h + ((r - 1) / (n - 1) * (n - h) if n > 1 else 0.0)) / n


def cosine_matrix(X: np.ndarray) -> np.ndarray:
    Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    return Xn @ Xn.T


def retrieval_scores(S: np.ndarray, labels: list[str], variants: list[str]) -> dict[str, np.ndarray]:
    """Per-query precision@K, AP and their chance values from a similarity matrix S (higher is
    closer; leave-one-out). Queries with no other item of their label among the candidates are
    dropped; "query" holds the row index of each kept query."""
    lab = np.asarray(labels)
    var = np.asarray(variants)
    p_at_k, ap, chance_p, chance_ap, query_label, query = [], [], [], [], [], []
    for i in range(len(S)):
        cand = np.flatnonzero(var != var[i])  # drops the query itself and its other versions
        rel = lab[cand] == lab[i]
        r, n = int(rel.sum()), len(cand)
        if r == 0:
            continue
        order = np.argsort(-S[i, cand], kind="stable")
        hits = rel[order]
        ranks = np.flatnonzero(hits) + 1
        p_at_k.append(hits[:K].sum() / K)
        ap.append(float(np.mean(np.arange(1, r + 1) / ranks)))
        chance_p.append(r / n if n >= K else r / K)
        chance_ap.append(expected_random_ap(n, r))
        query_label.append(lab[i])
        query.append(i)
    return {"p_at_k": np.array(p_at_k), "ap": np.array(ap), "chance_p_at_k": np.array(chance_p),
            "chance_ap": np.array(chance_ap), "label": np.array(query_label), "query": np.array(query)}


def summarise(scores: dict[str, np.ndarray], seed: int = 0, n_boot: int = 2000) -> dict[str, float | list[float]]:
    """Means over queries ("all") and over works with every work weighing the same ("per game"),
    with 95% intervals from a bootstrap that resamples queries within each work."""
    rng = np.random.default_rng(seed)
    works = sorted(set(scores["label"]))
    out: dict[str, float | list[float]] = {}
    for key, name in (("p_at_k", "p_at_5"), ("ap", "map")):
        sums, means, counts = [], [], []
        for w in works:
            v = scores[key][scores["label"] == w]
            boot = v[rng.integers(0, len(v), size=(n_boot, len(v)))]
            sums.append(boot.sum(axis=1))
            means.append(boot.mean(axis=1))
            counts.append(len(v))
        micro = np.sum(sums, axis=0) / sum(counts)
        macro = np.mean(means, axis=0)
        out[name] = float(scores[key].mean())
        out[name + "_ci"] = np.quantile(micro, [0.025, 0.975]).tolist()
        out[name + "_games"] = float(np.mean([scores[key][scores["label"] == w].mean() for w in works]))
        out[name + "_games_ci"] = np.quantile(macro, [0.025, 0.975]).tolist()
        chance = scores["chance_" + key]
        out["chance_" + name] = float(chance.mean())
        out["chance_" + name + "_games"] = float(np.mean([chance[scores["label"] == w].mean() for w in works]))
    return out


def standardise(X: np.ndarray) -> np.ndarray:
    return (X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-8)


# -- the feature extractors -------------------------------------------------------------

def extractors(args) -> list[tuple[str, str, object]]:
    """(row label, description, extractor) for every row of the table."""
    from myna_rpe.embed import Embedder, DEFAULT_CHECKPOINT
    from myna_rpe.evaluation.features import EncoderFeatures, MfccFeatures, MusicnnFeatures

    specs = list(args.checkpoint)
    if not specs and (DEFAULT_CHECKPOINT / "config.json").is_file():
        specs = [f"default={DEFAULT_CHECKPOINT}"]
    rows, configs = [], {}
    for spec in specs:
        label, _, path = spec.rpartition("=")
        path = Path(path)
        label = label or (path.parent.name if path.name == "checkpoint" else path.name)
        emb = Embedder.load(path, device=args.device)
        rows.append((label, _describe(emb.config), EncoderFeatures(emb, args.protocol)))
        for sec in args.chunk_averages:
            rows.append((f"{label}, {sec:g}-s chunks", _describe(emb.config) + f", mean over {sec:g} s chunks",
                         EncoderFeatures(emb, "chunks", chunk_seconds=sec)))
        configs.setdefault(json.dumps(emb.config.to_dict(), sort_keys=True), emb.config)
    if not args.no_mfcc:
        rows.append(("mfcc", "20 MFCC + Δ + ΔΔ, mean and std (120-d)", MfccFeatures()))
    if not args.no_handcrafted:
        rows.append(("hand-crafted", "librosa MFCC + chroma + spectral contrast, mean and std (78-d)",
                     HandcraftedFeatures()))
    if not args.no_musly and MuslyTimbre.available():
        rows.append(("musly", "musly timbre model (MFCC Gaussian, Jensen-Shannon, mutual proximity)", MuslyTimbre()))
    for layer in args.musicnn_layers:
        rows.append((f"MusiCNN-MSD {layer}", f"MusiCNN (MSD), {layer}, mean over 3-s patches (AudioMuse-AI's tagger)",
                     MusicnnFeatures("musicnn-msd", layer)))
    if not args.no_random:
        if not configs:
            from myna_rpe.config import EncoderConfig, ModelConfig

            cfg = EncoderConfig(model=ModelConfig.from_preset(args.random_size, args.random_pe))
            configs[json.dumps(cfg.to_dict(), sort_keys=True)] = cfg
        for cfg in configs.values():
            emb = Embedder.random(cfg, seed=args.seed, device=args.device)
            rows.append((f"untrained {cfg.model.size}/{_pe_name(cfg)}", _describe(cfg) + f", seed {args.seed}",
                         EncoderFeatures(emb, args.protocol)))
    return rows


class HandcraftedFeatures:
    """A hand-crafted peer from librosa (a test/benchmark dependency): 20 MFCCs, 12 chroma
    bins and 7 spectral-contrast bands at 22,050 Hz, mean and std over the whole track."""

    id = "handcrafted-mfcc20-chroma12-contrast7-v1"

    def __call__(self, path: Path) -> np.ndarray:
        import librosa

        from myna_rpe.audio import load_audio

        y = load_audio(path, 22050)
        S = np.abs(librosa.stft(y, n_fft=2048, hop_length=512))
        parts = (librosa.feature.mfcc(S=librosa.power_to_db(librosa.feature.melspectrogram(S=S**2, sr=22050)), n_mfcc=20),
                 librosa.feature.chroma_stft(S=S**2, sr=22050),
                 librosa.feature.spectral_contrast(S=S, sr=22050))
        return np.concatenate([f(x, axis=1) for x in parts for f in (np.mean, np.std)]).astype(np.float32)


class MuslyTimbre:
    """musly's timbre method through `pymusly` (an optional benchmark dependency): a track is a
    serialised musly model (cached like a vector, as bytes); similarity is musly's own distance
    with its mutual-proximity normalisation over the evaluated tracks, negated."""

    id = "musly-timbre-v1"

    @staticmethod
    def available() -> bool:
        try:
            import pymusly  # noqa: F401
        except ImportError:
            print("musly row skipped: pymusly is not installed (pip install -e '.[bench]')", file=sys.stderr)
            return False
        return True

    def __init__(self) -> None:
        import pymusly

        self.jukebox = pymusly.MuslyJukebox("timbre")

    def __call__(self, path: Path) -> np.ndarray:
        from myna_rpe.audio import load_audio

        track = self.jukebox.track_from_audiodata(load_audio(path, 22050))
        return np.frombuffer(self.jukebox.serialize_track(track), dtype=np.uint8)

    def similarity(self, rows: np.ndarray) -> np.ndarray:
        # the cache keeps float32; the bytes 0..255 come back exact
        tracks = [self.jukebox.deserialize_track(r.astype(np.uint8).tobytes()) for r in rows]
        self.jukebox.set_style(tracks)  # every evaluated track: at most 1000 is musly's advice
        pairs = list(enumerate(tracks))
        self.jukebox.add_tracks(pairs)
        return -np.array([self.jukebox.compute_similarity(p, pairs) for p in pairs], dtype=np.float64)


def _pe_name(cfg) -> str:
    from myna_rpe.config import PE_PRESETS

    return next((name for name, pe in PE_PRESETS.items() if pe == cfg.model.pe), "custom")


def _describe(cfg) -> str:
    m = cfg.model
    return f"{m.size} (dim {m.dim}, depth {m.depth}), pe {_pe_name(cfg)}"


def embed_all(tracks: list[Track], extractor, cache, dataset: str) -> tuple[np.ndarray, list[int], float]:
    """Vectors of the tracks that decode; their indices; seconds spent computing (not cached)."""
    from myna_rpe.errors import AudioError

    rows, kept, spent = [], [], 0.0
    for i, t in enumerate(tracks):
        vec = cache.get(extractor.id, dataset, t.key) if cache else None
        if vec is None:
            start = time.perf_counter()
            try:
                vec = extractor(t.path)
            except AudioError as exc:
                print(f"skipped: {exc}", file=sys.stderr)
                continue
            spent += time.perf_counter() - start
            if cache:
                cache.put(extractor.id, dataset, t.key, vec)
        rows.append(np.asarray(vec, dtype=np.float32))
        kept.append(i)
        if sys.stderr.isatty():
            print(f"\r  {extractor.id}: {len(kept)}/{len(tracks)}", end="", file=sys.stderr)
    print(f"\r  {extractor.id}: {len(kept)}/{len(tracks)} tracks", file=sys.stderr)
    return np.stack(rows), kept, spent


def levels(tracks: list[Track]) -> dict[str, list[str]]:
    """Label sets to score: always the game; the sub-folder too where some game has two albums."""
    out = {"game": [t.work for t in tracks]}
    sizes: dict[str, dict[str, int]] = {}
    for t in tracks:
        sizes.setdefault(t.work, {}).setdefault(t.folder, 0)
        sizes[t.work][t.folder] += 1
    if any(sum(1 for n in f.values() if n >= 2) >= 2 for f in sizes.values()):
        out["folder"] = [t.folder for t in tracks]
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="held-out folder: one sub-folder per work (game)")
    ap.add_argument("--checkpoint", action="append", default=[], metavar="[LABEL=]PATH",
                    help="checkpoint folder or .safetensors (repeat for variants)")
    ap.add_argument("--manifest", type=Path, help="manifest.tsv with a variant column (default: DATA/../manifest.tsv)")
    ap.add_argument("--no-mfcc", action="store_true")
    ap.add_argument("--no-handcrafted", action="store_true", help="skip the librosa MFCC+chroma+contrast peer")
    ap.add_argument("--no-musly", action="store_true", help="skip musly (pymusly, timbre method)")
    ap.add_argument("--musicnn-layers", type=_layer_list, default=["max_pool", "penultimate", "taggram"],
                    metavar="L[,L...]", help="MusiCNN (MSD) rows, one per layer: max_pool, mean_pool, penultimate, "
                    "taggram ('' = none)")
    ap.add_argument("--chunk-averages", type=_seconds_list, default=[], metavar="S[,S...]",
                    help="also score each checkpoint's mean over S-second chunks (e.g. 3,15)")
    ap.add_argument("--no-random", action="store_true")
    ap.add_argument("--random-size", default="mini", help="untrained model size when no checkpoint is given")
    ap.add_argument("--random-pe", default="alibi2d", help="untrained model pe when no checkpoint is given")
    ap.add_argument("--protocol", choices=("budget", "whole", "chunks"), default="budget",
                    help="encoders: whole track in one pass under the default token budget (as indexed), "
                         "the dense pass (whole), or the mean over 3 s chunks (Myna's protocol)")
    ap.add_argument("--limit", type=int, help="use only the first N tracks of each work (a quick check)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the untrained model and the bootstrap")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-cache", action="store_true", help="recompute every vector")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    from myna_rpe.evaluation.features import EmbeddingCache, default_cache_dir

    manifest = args.manifest or (args.data.parent / "manifest.tsv")
    tracks = discover(args.data, manifest if manifest.is_file() else None)
    if args.limit:
        tracks = first_per_work(tracks, args.limit)
    cache = None if args.no_cache else EmbeddingCache(default_cache_dir())
    dataset = f"retrieval-{args.data.resolve().name}"
    works = sorted({t.work for t in tracks})
    print(f"{len(tracks)} tracks, {len(works)} works: "
          + ", ".join(f"{w} ({sum(t.work == w for t in tracks)})" for w in works), file=sys.stderr)

    results, per_query = [], {}
    for label, desc, ex in extractors(args):
        X, kept, spent = embed_all(tracks, ex, cache, dataset)
        kt = [tracks[i] for i in kept]
        variants = ([("musly", ex.similarity(X))] if isinstance(ex, MuslyTimbre)
                    else [("cosine", cosine_matrix(X)), ("z-score", cosine_matrix(standardise(X)))])
        for level, labels in levels(kt).items():
            for sim, S in variants:
                s = retrieval_scores(S, labels, [t.variant for t in kt])
                per_query[(label, level, sim)] = ({kt[q].key: i for i, q in enumerate(s["query"])}, s)
                results.append({
                    "model": label, "description": desc, "level": level, "similarity": sim,
                    "queries": len(s["ap"]), "tracks": len(kt), "dim": X.shape[1],
                    "embed_s_per_track": spent / len(kt) if spent else None, **summarise(s, args.seed),
                })
    differences = paired_differences(results, per_query, args, seed=args.seed)

    import torch

    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}, device {args.device}; data {args.data} "
          f"({len(tracks)} tracks, {len(works)} works); encoder protocol {args.protocol}, leave-one-out, "
          f"other versions of the query's composition excluded; [95% bootstrap interval]\n")
    cols = ("p_at_5", "map", "p_at_5_games", "map_games")
    for level in dict.fromkeys(r["level"] for r in results):
        rs = [r for r in results if r["level"] == level]
        print(f"same-{level} retrieval ({rs[0]['queries']} queries)\n")
        print("| model | what | similarity | P@5 | mAP | P@5, games equal | mAP, games equal |")
        print("|---|---|---|---|---|---|---|")
        for r in rs:
            print(f"| {r['model']} | {r['description']} | {r['similarity']} | " + " | ".join(_fmt(r, c) for c in cols) + " |")
        print("| chance | random ranking (exact expectation) | - | "
              + " | ".join(f"{rs[0]['chance_' + c]:.3f}" for c in cols) + " |\n")
    if differences:
        print("paired differences, same-game, games equal: the first checkpoint (cosine) minus each row "
              "(a peer at its better similarity); [95% paired bootstrap interval, queries resampled within "
              "each game]\n")
        print("| minus | similarity | Δ mAP | Δ P@5 |")
        print("|---|---|---|---|")
        for d in differences:
            print(f"| {d['other']} | {d['similarity']} | " + " | ".join(
                f"{d[k]:+.3f} [{d[k + '_ci'][0]:+.3f}, {d[k + '_ci'][1]:+.3f}]" for k in ("map", "p_at_5")) + " |")
        print()
    if args.json:
        args.json.write_text(json.dumps({"rows": results, "differences": differences}, indent=2))


def paired_differences(results: list[dict], per_query: dict, args, seed: int = 0, n_boot: int = 2000) -> list[dict]:
    """Games-equal mAP and P@5 of the first checkpoint (cosine) minus every other row, on the
    queries both rows kept; one bootstrap resamples the same queries within each game for both,
    so the interval is of the difference itself. A row with two similarities enters with the
    better one (in the peer's favour)."""
    game = [r for r in results if r["level"] == "game"]
    if not args.checkpoint or not game:
        return []
    ref_label = game[0]["model"]
    ref_keys, ref = per_query[(ref_label, "game", "cosine")]
    best: dict[str, dict] = {}
    for r in game:
        if r["model"] != ref_label and (r["model"] not in best or r["map_games"] > best[r["model"]]["map_games"]):
            best[r["model"]] = r
    out = []
    for name, r in best.items():
        keys, other = per_query[(name, "game", r["similarity"])]
        common = [k for k in ref_keys if k in keys]
        a = np.array([ref_keys[k] for k in common])
        b = np.array([keys[k] for k in common])
        games = ref["label"][a]
        rng = np.random.default_rng(seed)
        row = {"model": ref_label, "other": name, "similarity": r["similarity"], "queries": len(common)}
        for key, metric in (("ap", "map"), ("p_at_k", "p_at_5")):
            diff = ref[key][a] - other[key][b]
            per_game = [diff[games == g] for g in sorted(set(games))]
            boot = np.mean([d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1) for d in per_game], axis=0)
            row[metric] = float(np.mean([d.mean() for d in per_game]))
            row[metric + "_ci"] = np.quantile(boot, [0.025, 0.975]).tolist()
        out.append(row)
    return out


def _seconds_list(text: str) -> list[float]:
    try:
        out = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds separated by commas, e.g. 3,15") from None
    if not out or min(out) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive seconds, e.g. 3,15")
    return out


def _layer_list(text: str) -> list[str]:
    from myna_rpe.teacher.musicnn import LAYERS

    out = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in out if x not in LAYERS]
    if bad:
        raise argparse.ArgumentTypeError(f"{', '.join(bad)}: not a MusiCNN layer; use {', '.join(LAYERS)}")
    return out


def _fmt(r: dict, key: str) -> str:
    lo, hi = r[f"{key}_ci"]
    return f"{r[key]:.3f} [{lo:.2f}, {hi:.2f}]"


if __name__ == "__main__":
    main()
