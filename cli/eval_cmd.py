"""`myna eval`: probe frozen embeddings on GTZAN, GiantSteps Key, EmoMusic, MagnaTagATune."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cli.app import app
from cli.console import console, err_console, progress
from cli.token_budget import BUDGET, DRAWS, SPREAD, token_budget
from cli.values import number

_CHOICES = ("gtzan", "giantsteps", "emomusic", "mtat", "all", "pyjama")


@app.command("eval")
def eval_command(
    dataset: str = typer.Argument(..., help=f"One of: {', '.join(_CHOICES)} ('all' = every dataset found in --data-dir; "
                                             "'pyjama' = a DL-101 .pyjama + .hdf5 pair).", show_default=False),
    data_dir: Path | None = typer.Option(None, "--data-dir", "-d", help="Folder holding the dataset (see docs/evaluation.md for layouts).", show_default=False),
    model: str = typer.Option("default", "--model", "-m", help="mfcc | random | random:CHECKPOINT | default (bundled model) | CHECKPOINT folder."),
    protocol: str = typer.Option("budget", help="budget: one forward pass per track under --budget (as `myna index` embeds); "
                                                "whole: the dense pass over every patch; chunks: Myna's 3 s chunks, averaged."),
    chunk_seconds: float = typer.Option(3.0, callback=number(above=0, max=3600),
                                        help="Chunk length for --protocol chunks."),
    budget: str = BUDGET,
    draws: int = DRAWS,
    spread: str = SPREAD,
    out: Path = typer.Option(Path("eval_results.json"), "--out", "-o", help="Where to write the JSON report."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache (default: the user cache folder, myna/embeddings)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute every embedding; read and write no cache."),
    grid: str = typer.Option("default", help="Probe hyper-parameter grid: default | quick."),
    seed: int = typer.Option(0, help="Seed for the probes and the random model."),
    device: str = typer.Option("cpu", help="Torch device for the encoder and the MLP probe (cpu, cuda, ...)."),
    annotations: Path | None = typer.Option(None, "--annotations", help="pyjama: the dataset's .pyjama file."),
    audio: Path | None = typer.Option(None, "--audio", help="pyjama: the dataset's .hdf5 audio file."),
    field: str | None = typer.Option(None, "--field", help="pyjama: the annotation to probe (tag, genre, artist, ...)."),
    task: str | None = typer.Option(None, "--task", help="pyjama: multiclass | multilabel | regression (default: from the values)."),
) -> None:
    """Evaluate a model by probing its frozen embeddings; prints a table and writes JSON."""
    from myna_rpe.evaluation.runner import EvalConfig, Progress, run_eval, write_report

    if dataset not in _CHOICES:
        raise typer.BadParameter(f"{dataset!r}; choose from {', '.join(_CHOICES)}", param_hint="DATASET")
    if protocol not in ("budget", "whole", "chunks"):
        raise typer.BadParameter(f"{protocol!r}; choose budget, whole or chunks", param_hint="--protocol")
    if grid not in ("default", "quick"):
        raise typer.BadParameter(f"{grid!r}; choose default or quick", param_hint="--grid")
    budget_ = token_budget(budget, draws, spread)
    if dataset == "pyjama":
        from cli.eval_pyjama import eval_pyjama

        return eval_pyjama(annotations, audio, field, task, model=model, protocol=protocol, chunk_seconds=chunk_seconds,
                           budget=budget_, out=out, cache_dir=cache_dir, use_cache=not no_cache, grid=grid, seed=seed,
                           device=device)
    if data_dir is None:
        raise typer.BadParameter(f"{dataset} needs the folder holding it", param_hint="--data-dir")
    cfg = EvalConfig(
        datasets=[dataset],
        data_dir=data_dir,
        model=model,
        protocol=protocol,
        chunk_seconds=chunk_seconds,
        budget=budget_,
        cache_dir=cache_dir,
        use_cache=not no_cache,
        grid=grid,
        seed=seed,
        device=device,
    )
    with progress("steps") as bar:
        current: dict[str, int] = {}

        def start(description: str, total: int) -> None:
            current["task"] = bar.add_task(description, total=total)

        report = run_eval(cfg, Progress(start=start, advance=lambda: bar.advance(current["task"])))
    write_report(report, out)
    console.print(results_table(report))
    for name, result in report["datasets"].items():
        for note in result["notes"]:
            err_console.print(f"[yellow]{name}:[/yellow] {note}", highlight=False)
        if result["failed_tracks"]:
            err_console.print(f"[yellow]{name}:[/yellow] {len(result['failed_tracks'])} track(s) could not be decoded and were skipped (listed in {out})")
    console.print(f"wrote {out}")


def results_table(report: dict) -> Table:
    table = Table(title=f"myna eval · {report['model']} · {report['features']}")
    for column, justify in (("dataset", "left"), ("probe", "left"), ("train/valid/test", "right"), ("chosen on valid", "left"), ("valid", "right"), ("test", "left")):
        table.add_column(column, justify=justify)
    for name, result in report["datasets"].items():
        sizes = "/".join(str(n) for n in result["sizes"].values())
        primary = result["primary_metric"]
        for probe, r in result["probes"].items():
            params = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["params"].items())
            test = "  ".join(f"{k} {v:.3f}" for k, v in r["test"].items() if k != "tags_scored")
            table.add_row(name, probe, sizes, params, f"{primary} {r['valid'][primary]:.3f}", test)
    return table
