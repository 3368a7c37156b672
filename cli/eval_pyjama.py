"""`myna eval pyjama`: probe frozen embeddings on a DL-101 dataset (.pyjama annotations + .hdf5 audio)."""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from pathlib import Path

import typer

from cli.console import console, err_console, progress, styled
from cli.eval_tables import results_table

_TASKS = ("multiclass", "multilabel", "regression")


def eval_pyjama(annotations: Path | None, audio: Path | None, field: str | None, task: str | None, *, model: str,
                protocol: str, chunk_seconds: float, budget, out: Path, cache_dir: Path | None, use_cache: bool,
                grid: str, seed: int, device: str) -> None:
    from myna_rpe.evaluation.dl101 import evaluate_dl101, load_dl101
    from myna_rpe.evaluation.features import EmbeddingCache, default_cache_dir
    from myna_rpe.evaluation.runner import make_extractor, untrained_twin, write_report

    for flag, value in (("--annotations", annotations), ("--audio", audio), ("--field", field)):
        if value is None:
            raise typer.BadParameter("needed for pyjama (see docs/evaluation.md, DL-101 datasets)", param_hint=f"'{flag}'")
    if task is not None and task not in _TASKS:
        raise typer.BadParameter(f"{task!r}; choose {', '.join(_TASKS)}", param_hint="'--task'")
    dataset = load_dl101(annotations, audio, field, task, seed=seed)  # a bad file fails before the model loads
    extractor = make_extractor(model, protocol, chunk_seconds, seed, device, budget)
    cache = EmbeddingCache(cache_dir or default_cache_dir()) if use_cache else None
    # every table keeps its MFCC and untrained rows, on the same split
    references = [(role, spec) for role, spec in (("mfcc", "mfcc"), ("untrained", untrained_twin(model)))
                  if spec is not None and spec != model]
    with progress("steps") as bar:
        current: dict[str, int] = {}

        def start(description: str, total: int) -> None:
            current["task"] = bar.add_task(description, total=total)

        def run(ex):
            return evaluate_dl101(dataset, audio, ex, cache, grid=grid, seed=seed, device=device, start=start,
                                  advance=lambda: bar.advance(current["task"]))

        result = run(extractor)
        baselines = {}
        for role, spec in references:
            ref = make_extractor(spec, protocol, chunk_seconds, seed, device, budget)
            baselines[role] = {"model": spec, "features": ref.id, "datasets": {dataset.name: run(ref)}}
    report = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": model, "features": extractor.id,
        "protocol": None if model == "mfcc" else protocol,
        "budget": budget.to_dict() if model != "mfcc" and protocol == "budget" else None,
        "grid": grid, "seed": seed, "machine": platform.platform(),
        "annotations": str(annotations), "audio": str(audio), "field": field,
        "datasets": {dataset.name: result},
        "baselines": baselines,
    }
    console.print(results_table(report))  # first: should the write fail after all, the results are on screen
    write_report(report, out)
    for note in result["notes"]:
        err_console.print(styled((f"{dataset.name}:", "yellow"), f" {note}"), highlight=False)
    console.print(f"{dataset.name}: {dataset.task}, split: {dataset.split_source}")
    console.print(f"wrote {out}")
