"""`myna eval` without the CLI: find datasets, extract (cached) features, run probes, report.

    from myna_rpe.evaluation.runner import EvalConfig, run_eval
    report = run_eval(EvalConfig(datasets=["gtzan"], data_dir=Path("~/data"), model="mfcc"))

The report is a plain dict (written as JSON by the CLI): per dataset the split sizes and
their origin, tracks that failed to decode, and per probe the setting chosen on valid
with its valid and test metrics.
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
from myna_rpe.evaluation import emomusic, giantsteps, gtzan, mtat
from myna_rpe.evaluation.datasets import SPLITS, EvalDataset
from myna_rpe.evaluation.features import (
    EmbeddingCache,
    EncoderFeatures,
    PROTOCOLS,
    FeatureExtractor,
    MfccFeatures,
    default_cache_dir,
    extract,
)
from myna_rpe.evaluation.metrics import metric_for
from myna_rpe.fileio import atomic_write_text
from myna_rpe.evaluation.probes import GRIDS, Split, grid_size, run_probes

LOADERS = {"gtzan": gtzan, "giantsteps": giantsteps, "emomusic": emomusic, "mtat": mtat}
DATASET_NAMES = tuple(LOADERS)


@dataclass
class EvalConfig:
    datasets: list[str]  # names from DATASET_NAMES, or ["all"]
    data_dir: Path
    model: str = "default"  # "mfcc" | "random" | "random:CHECKPOINT" | "default" | CHECKPOINT path
    protocol: str = "budget"  # "budget" (the token budget, as indexed) | "whole" (dense) | "chunks"
    chunk_seconds: float = 3.0
    budget: TokenBudget = TokenBudget()  # for protocol "budget"
    cache_dir: Path | None = None  # None = default_cache_dir()
    use_cache: bool = True
    grid: str = "default"  # a key of probes.GRIDS
    seed: int = 0
    device: str = "cpu"
    probes: tuple[str, ...] = ("linear", "mlp")


@dataclass
class Progress:
    """Hooks the CLI fills with a progress bar; the library never prints."""

    start: Callable[[str, int], None] = lambda description, total: None
    advance: Callable[[], None] = lambda: None


def make_extractor(model: str, protocol: str, chunk_seconds: float = 3.0, seed: int = 0, device: str = "cpu",
                   budget: TokenBudget = TokenBudget()) -> FeatureExtractor:
    """'mfcc', 'random[:CHECKPOINT]', 'default' (the bundled model) or a checkpoint path."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    if model == "mfcc":
        return MfccFeatures()
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


def load_datasets(names: list[str], data_dir: Path) -> list[EvalDataset]:
    """The named datasets; for 'all', every dataset found under data_dir (at least one)."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise DatasetError("data folder not found", data_dir, "pass the folder holding the dataset as --data-dir")
    if names == ["all"]:
        present = [n for n, loader in LOADERS.items() if loader.locate(data_dir) is not None]
        if not present:
            raise DatasetError(
                "no dataset found (looked for GTZAN genres/, giantsteps-*-key-dataset/, "
                "EmoMusic clips_45seconds/ + annotations/, MagnaTagATune annotations_final.csv, "
                "directly or in sub-folders named after them)",
                data_dir,
                "see docs/evaluation.md for each dataset's layout and download address",
            )
        names = present
    unknown = [n for n in names if n not in LOADERS]
    if unknown:
        raise DatasetError(f"unknown dataset {unknown[0]!r}", fix=f"choose from {', '.join(DATASET_NAMES)} or all")
    return [LOADERS[n].load(data_dir) for n in names]


def evaluate_dataset(
    dataset: EvalDataset,
    extractor: FeatureExtractor,
    cache: EmbeddingCache | None,
    cfg: EvalConfig,
    progress: Progress,
) -> dict[str, Any]:
    progress.start(f"{dataset.name}: features", sum(dataset.sizes().values()))
    feats = extract(dataset, extractor, cache, on_track=progress.advance)
    targets = {s: dataset.targets(s)[feats.kept[s]] for s in SPLITS}
    for s in SPLITS:
        if len(feats.kept[s]) == 0:
            raise DatasetError(f"no track of the {s} split of {dataset.name} could be decoded", fix="check the audio files (see the errors above)")
    metric, primary = metric_for(dataset)
    n_outputs = len(dataset.labels)
    progress.start(f"{dataset.name}: probes", grid_size(dataset.task, GRIDS[cfg.grid], cfg.probes))
    results = run_probes(
        dataset.task,
        n_outputs,
        *(Split(feats.X[s], targets[s]) for s in SPLITS),
        metric=metric,
        primary=primary,
        grid=GRIDS[cfg.grid],
        seed=cfg.seed,
        device=cfg.device,
        probes=cfg.probes,
        on_fit=progress.advance,
    )
    notes = list(dataset.notes)
    warning = dataset.size_warning()
    if warning:
        notes.append(warning)
    return {
        "task": dataset.task,
        "primary_metric": primary,
        "split_source": dataset.split_source,
        "sizes": {s: len(feats.kept[s]) for s in SPLITS},
        "notes": notes,
        "failed_tracks": feats.failed,
        "feature_dim": int(feats.X["train"].shape[1]),
        "features_computed": feats.computed,
        "probes": {r.probe: r.to_dict() for r in results},
    }


def run_eval(cfg: EvalConfig, progress: Progress | None = None) -> dict[str, Any]:
    progress = progress or Progress()
    if cfg.grid not in GRIDS:
        raise ValueError(f"unknown grid {cfg.grid!r}; choose from {', '.join(GRIDS)}")
    datasets = load_datasets(cfg.datasets, cfg.data_dir)  # fail on a bad folder before loading a model
    extractor = make_extractor(cfg.model, cfg.protocol, cfg.chunk_seconds, cfg.seed, cfg.device, cfg.budget)
    cache = EmbeddingCache(cfg.cache_dir or default_cache_dir()) if cfg.use_cache else None
    report: dict[str, Any] = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": cfg.model,
        "features": extractor.id,
        "protocol": None if cfg.model == "mfcc" else cfg.protocol,  # MFCC statistics cover the whole track
        "budget": cfg.budget.to_dict() if cfg.model != "mfcc" and cfg.protocol == "budget" else None,
        "grid": cfg.grid,
        "seed": cfg.seed,
        "machine": platform.platform(),
        "datasets": {},
    }
    for dataset in datasets:
        report["datasets"][dataset.name] = evaluate_dataset(dataset, extractor, cache, cfg, progress)
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
