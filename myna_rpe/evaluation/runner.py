"""`myna eval` without the CLI: find datasets, extract (cached) features, run probes, report.

    from myna_rpe.evaluation.runner import EvalConfig, run_eval
    report = run_eval(EvalConfig(datasets=["gtzan"], data_dir=Path("~/data"), model="mfcc"))

The report is a plain dict (written as JSON by the CLI): per dataset the split sizes and
their origin, tracks that failed to decode, and per probe the setting chosen on valid
with its valid and test metrics; with a label-fraction or noise sweep, those results
too. `baselines` holds the same for MFCC, the untrained encoder and (on notes) CQT, run
on the same splits in the same call, so every table carries its reference rows.
"""

from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from myna_rpe.budget import TokenBudget
from myna_rpe.errors import DatasetError
from myna_rpe.evaluation import emomusic, giantsteps, gtzan, mtat, nsynth, tinysol
from myna_rpe.evaluation.cqt import CqtFeatures
from myna_rpe.evaluation.datasets import SPLITS, EvalDataset
from myna_rpe.evaluation.features import (
    EmbeddingCache,
    EncoderFeatures,
    PROTOCOLS,
    FeatureExtractor,
    MemoryCache,
    MfccFeatures,
    default_cache_dir,
    extract,
)
from myna_rpe.evaluation.fractions import nested_subsets, strata
from myna_rpe.evaluation.metrics import metric_for
from myna_rpe.evaluation.noise import KINDS as NOISE_KINDS, NoisyFeatures
from myna_rpe.fileio import atomic_write_text
from myna_rpe.evaluation.probes import GRIDS, PROBE_FAMILIES, Split, grid_size, run_probes

LOADERS = {"gtzan": gtzan, "giantsteps": giantsteps, "emomusic": emomusic, "mtat": mtat, "nsynth": nsynth, "tinysol": tinysol}
DATASET_NAMES = tuple(LOADERS)
NOTE_DATASETS = ("nsynth", "tinysol")  # single notes: the CQT baseline joins the automatic baselines
BASELINES = ("mfcc", "cqt", "untrained")


@dataclass
class EvalConfig:
    datasets: list[str]  # names from DATASET_NAMES, or ["all"]
    data_dir: Path
    model: str = "default"  # "mfcc" | "cqt" | "random" | "random:CHECKPOINT" | "default" | CHECKPOINT path
    protocol: str = "budget"  # "budget" (the token budget, as indexed) | "whole" (dense) | "chunks"
    chunk_seconds: float = 3.0
    budget: TokenBudget = TokenBudget()  # for protocol "budget"
    cache_dir: Path | None = None  # None = default_cache_dir()
    use_cache: bool = True
    grid: str = "default"  # a key of probes.GRIDS
    seed: int = 0
    device: str = "cpu"
    probes: tuple[str, ...] = ("linear", "mlp")  # from PROBE_FAMILIES; "mlp2" adds the two-hidden-layer probe
    # None = automatic: MFCC and the untrained twin everywhere, CQT+chroma on the note datasets.
    baselines: tuple[str, ...] | None = None
    label_fractions: tuple[float, ...] = ()  # e.g. (0.01, 0.1, 1.0); empty = no label-fraction sweep
    fraction_draws: int = 5
    noise_snrs: tuple[float, ...] = ()  # e.g. (20, 10, 0) dB; empty = no noise sweep
    noise_kinds: tuple[str, ...] = NOISE_KINDS


@dataclass
class Progress:
    """Hooks the CLI fills with a progress bar; the library never prints."""

    start: Callable[[str, int], None] = lambda description, total: None
    advance: Callable[[], None] = lambda: None


def make_extractor(model: str, protocol: str, chunk_seconds: float = 3.0, seed: int = 0, device: str = "cpu",
                   budget: TokenBudget = TokenBudget()) -> FeatureExtractor:
    """'mfcc', 'cqt', 'random[:CHECKPOINT]', 'default' (the bundled model) or a checkpoint path.

    Every extractor gives one vector per clip (scene embeddings). Timestamp embeddings
    (myna_rpe.hear) would join here as one more value, an object with `id`, `sample_rate`,
    `__call__(path)` and `from_wave(wave)` summarising its frames."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    if model == "mfcc":
        return MfccFeatures()
    if model == "cqt":
        return CqtFeatures()
    from myna_rpe.embed import Embedder

    if model == "random" or model.startswith("random:"):
        from myna_rpe.checkpoint import read_config
        from myna_rpe.config import EncoderConfig
        from myna_rpe.embed import DEFAULT_CHECKPOINT

        source = model.partition(":")[2]
        if source:
            cfg = read_config(source)[0]
        elif (DEFAULT_CHECKPOINT / "config.json").is_file():
            cfg = read_config(DEFAULT_CHECKPOINT)[0]  # the bundled model's architecture, untrained
        else:
            cfg = EncoderConfig()
        embedder = Embedder.random(cfg, seed=seed, device=device, budget=budget)
    else:
        embedder = Embedder.load(None if model == "default" else Path(model), device=device, budget=budget)
    return EncoderFeatures(embedder, protocol=protocol, chunk_seconds=chunk_seconds)


def untrained_twin(model: str) -> str | None:
    """The --model value of the untrained encoder beside `model` (None when `model` is untrained already)."""
    if model == "random" or model.startswith("random:"):
        return None
    if model in ("mfcc", "cqt", "default"):
        return "random"
    return f"random:{model}"


def baseline_plan(cfg: EvalConfig) -> list[tuple[str, str, bool]]:
    """(role, --model value, note datasets only) for each baseline run beside the model."""
    auto = cfg.baselines is None
    wanted = ("mfcc", "untrained", "cqt") if auto else cfg.baselines
    unknown = [b for b in wanted if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline {unknown[0]!r}; choose from {', '.join(BASELINES)}")
    plan = []
    for role in wanted:
        spec = untrained_twin(cfg.model) if role == "untrained" else role
        if spec is None or spec == cfg.model:
            continue  # the model is this baseline already
        plan.append((role, spec, auto and role == "cqt"))
    return plan


def _load(name: str, data_dir: Path) -> list[EvalDataset]:
    loader = LOADERS[name]
    return loader.load_tasks(data_dir) if hasattr(loader, "load_tasks") else [loader.load(data_dir)]


def load_datasets(names: list[str], data_dir: Path) -> list[EvalDataset]:
    """The named datasets (NSynth and TinySOL give two tasks each); for 'all', every dataset found under data_dir."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        what = "a file, not a folder" if data_dir.exists() else "data folder not found"
        raise DatasetError(what, data_dir, "pass the folder holding the dataset as --data-dir")
    if names == ["all"]:
        present = [n for n, loader in LOADERS.items() if loader.locate(data_dir) is not None]
        if not present:
            raise DatasetError(
                "no dataset found (looked for GTZAN genres/, giantsteps-*-key-dataset/, "
                "EmoMusic clips_45seconds/ + annotations/, MagnaTagATune annotations_final.csv, "
                "nsynth-*/examples.json, TinySOL_metadata.csv, directly or in sub-folders named after them)",
                data_dir,
                "see docs/evaluation.md for each dataset's layout and download address",
            )
        names = present
    unknown = [n for n in names if n not in LOADERS]
    if unknown:
        raise DatasetError(f"unknown dataset {unknown[0]!r}", fix=f"choose from {', '.join(DATASET_NAMES)} or all")
    return [ds for n in names for ds in _load(n, data_dir)]


def is_note_dataset(dataset: EvalDataset) -> bool:
    return dataset.cache_name in NOTE_DATASETS


def evaluate_dataset(
    dataset: EvalDataset,
    extractor: FeatureExtractor,
    cache: MemoryCache | EmbeddingCache | None,
    cfg: EvalConfig,
    progress: Progress,
) -> dict[str, Any]:
    """Probe results of one task; a cross-validated task is run per fold and reported as the
    mean over folds (`fold_sd` holds the standard deviations, `per_fold` each fold's probes)."""
    views = dataset.fold_views()
    results = [evaluate_split(view, extractor, cache, cfg, progress, f" fold {i}" if len(views) > 1 else "")
               for i, view in enumerate(views)]
    if len(results) == 1:
        return results[0]
    return combine_folds(results)


def evaluate_split(
    dataset: EvalDataset,
    extractor: FeatureExtractor,
    cache: MemoryCache | EmbeddingCache | None,
    cfg: EvalConfig,
    progress: Progress,
    label: str = "",
) -> dict[str, Any]:
    noisy = [NoisyFeatures(extractor, kind, snr, cfg.seed) for kind in cfg.noise_kinds for snr in cfg.noise_snrs]
    sizes = dataset.sizes()
    progress.start(f"{dataset.name}{label}: features", sum(sizes.values()) + len(noisy) * sizes["test"])
    feats = extract(dataset, extractor, cache, on_track=progress.advance)
    for s in SPLITS:
        if len(feats.kept[s]) == 0:
            raise DatasetError(f"no track of the {s} split of {dataset.name} could be decoded", fix="check the audio files (see the errors above)")
    targets = {s: dataset.targets(s)[feats.kept[s]] for s in SPLITS}
    splits = {s: Split(feats.X[s], targets[s]) for s in SPLITS}
    extras, noisy_computed = {}, 0
    for extractor_n in noisy:  # the same test tracks, with noise added before the features
        nf = extract(dataset, extractor_n, cache, on_track=progress.advance, splits=("test",))
        noisy_computed += nf.computed
        row = {track: i for i, track in enumerate(nf.kept["test"])}
        extras[(extractor_n.kind, extractor_n.snr)] = Split(nf.X["test"][[row[t] for t in feats.kept["test"]]], targets["test"])
    metric, primary = metric_for(dataset)
    n_outputs = len(dataset.labels)

    def probe(train: Split, extra: dict | None = None) -> list:
        return run_probes(dataset.task, n_outputs, train, splits["valid"], splits["test"], metric=metric, primary=primary,
                          grid=GRIDS[cfg.grid], seed=cfg.seed, device=cfg.device, probes=cfg.probes,
                          on_fit=progress.advance, extra_tests=extra)

    fits = grid_size(dataset.task, GRIDS[cfg.grid], cfg.probes)
    progress.start(f"{dataset.name}{label}: probes", fits)
    results = probe(splits["train"], {f"{k}@{snr:g}": split for (k, snr), split in extras.items()})
    probes = {}
    for r in results:
        entry = r.to_dict()
        extra = entry.pop("extra")
        if noisy:
            entry["noise"] = {k: {f"{snr:g}": extra[f"{k}@{snr:g}"] for snr in cfg.noise_snrs} for k in cfg.noise_kinds}
            entry["noise_drop"] = {k: {snr: entry["test"][primary] - m[primary] for snr, m in by_snr.items()}
                                   for k, by_snr in entry["noise"].items()}
        probes[r.probe] = entry

    notes = list(dataset.notes)
    warning = dataset.size_warning()
    if warning:
        notes.append(warning)
    out = {
        "task": dataset.task,
        "primary_metric": primary,
        "split_source": dataset.split_source,
        "sizes": {s: len(feats.kept[s]) for s in SPLITS},
        "notes": notes,
        "failed_tracks": feats.failed,
        "feature_dim": int(feats.X["train"].shape[1]),
        "features_computed": feats.computed + noisy_computed,
        "probes": probes,
    }
    if cfg.label_fractions:
        progress.start(f"{dataset.name}{label}: label fractions", fits * cfg.fraction_draws * sum(f < 1 for f in cfg.label_fractions))
        out["label_fractions"] = label_fraction_sweep(dataset, splits["train"], probes, cfg, primary, probe)
    return out


def label_fraction_sweep(dataset: EvalDataset, train: Split, full: dict[str, dict], cfg: EvalConfig, primary: str,
                         probe: Callable[[Split], list]) -> dict[str, Any]:
    """Per fraction: train size, and per probe the valid/test metrics as mean and sd over the draws."""
    groups = strata(dataset.task, train.y)
    fractions = sorted(set(cfg.label_fractions))
    small = [f for f in fractions if f < 1]
    draws = [nested_subsets(groups, small, cfg.seed, r) for r in range(cfg.fraction_draws)] if small else []
    out: dict[str, Any] = {}
    for f in fractions:
        if f == 1:  # the whole train split: one deterministic fit, the main result
            runs = [{name: (p["valid"], p["test"]) for name, p in full.items()}]
            sizes = [len(train.y)]
        else:
            runs, sizes = [], []
            for subsets in draws:
                idx = subsets[f]
                sizes.append(len(idx))
                runs.append({r.probe: (r.valid, r.test) for r in probe(Split(train.X[idx], train.y[idx]))})
        out[f"{f:g}"] = {
            "fraction": f,
            "train_size": float(np.mean(sizes)),
            "draws": len(runs),
            "probes": {
                name: {
                    "valid_mean": _mean([run[name][0] for run in runs]),
                    "test_mean": _mean([run[name][1] for run in runs]),
                    "test_sd": _sd([run[name][1] for run in runs]),
                    "test_draws": [run[name][1][primary] for run in runs],
                }
                for name in runs[0]
            },
        }
    return out


def _mean(metrics: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([m[k] for m in metrics])) for k in metrics[0]}


def _sd(metrics: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.std([m[k] for m in metrics])) for k in metrics[0]}


_PER_FOLD_KEYS = ("params", "grid")  # settings chosen per fold: listed, never averaged


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _reduce(trees: list[Any], numbers: Callable[[list[float]], float]) -> Any:
    first = trees[0]
    if isinstance(first, dict):
        return {k: ([t[k] for t in trees] if k in _PER_FOLD_KEYS else _reduce([t[k] for t in trees], numbers))
                for k in first if all(isinstance(t, dict) and k in t for t in trees)}
    if all(_is_number(t) for t in trees):
        return numbers([float(t) for t in trees])
    if all(isinstance(t, list) for t in trees) and all(_is_number(v) for t in trees for v in t):
        return [v for t in trees for v in t]  # e.g. test_draws: every (fold, draw)
    return first


def combine_folds(results: list[dict[str, Any]]) -> dict[str, Any]:
    first = results[0]
    mean = lambda values: float(np.mean(values))  # noqa: E731
    out = {
        **first,
        "folds": len(results),
        "sizes": {s: int(round(np.mean([r["sizes"][s] for r in results]))) for s in SPLITS},
        "fold_sizes": [r["sizes"] for r in results],
        "failed_tracks": sorted({t for r in results for t in r["failed_tracks"]}),
        "features_computed": sum(r["features_computed"] for r in results),
        "probes": _reduce([r["probes"] for r in results], mean),
        "fold_sd": _reduce([r["probes"] for r in results], lambda values: float(np.std(values))),
        "per_fold": [r["probes"] for r in results],
    }
    if "label_fractions" in first:
        out["label_fractions"] = _reduce([r["label_fractions"] for r in results], mean)
    return out


def run_eval(cfg: EvalConfig, progress: Progress | None = None) -> dict[str, Any]:
    progress = progress or Progress()
    if cfg.grid not in GRIDS:
        raise ValueError(f"unknown grid {cfg.grid!r}; choose from {', '.join(GRIDS)}")
    unknown = [p for p in cfg.probes if p not in PROBE_FAMILIES]
    if unknown:
        raise ValueError(f"unknown probe {unknown[0]!r}; choose from {', '.join(PROBE_FAMILIES)}")
    plan = baseline_plan(cfg)
    datasets = load_datasets(cfg.datasets, cfg.data_dir)  # fail on a bad folder before loading a model
    cache = MemoryCache(EmbeddingCache(cfg.cache_dir or default_cache_dir()) if cfg.use_cache else None)

    def run(model: str, only_notes: bool) -> dict[str, Any]:
        extractor = make_extractor(model, cfg.protocol, cfg.chunk_seconds, cfg.seed, cfg.device, cfg.budget)
        hand_crafted = model in ("mfcc", "cqt")
        return {
            "model": model,
            "features": extractor.id,
            "protocol": None if hand_crafted else cfg.protocol,  # hand-crafted statistics cover the whole track
            "budget": cfg.budget.to_dict() if not hand_crafted and cfg.protocol == "budget" else None,
            "datasets": {ds.name: evaluate_dataset(ds, extractor, cache, cfg, progress)
                         for ds in datasets if not only_notes or is_note_dataset(ds)},
        }

    report: dict[str, Any] = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **run(cfg.model, False),
        "grid": cfg.grid,
        "probes": list(cfg.probes),
        "seed": cfg.seed,
        "machine": platform.platform(),
        "label_fractions": sorted(set(cfg.label_fractions)),
        "fraction_draws": cfg.fraction_draws if cfg.label_fractions else None,
        "noise": {"snr_db": list(cfg.noise_snrs), "kinds": list(cfg.noise_kinds)} if cfg.noise_snrs else None,
        "baselines": {},
    }
    for role, spec, only_notes in plan:
        result = run(spec, only_notes)
        if result["datasets"]:
            report["baselines"][role] = result
    return report


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    """Strict JSON (an undefined metric is null), written through a temporary file so a
    crash never leaves half a report."""
    text = json.dumps(_finite(report), indent=2, default=_jsonable, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
