"""`myna eval`: probe frozen embeddings on genre, key, emotion, tags, instruments and pitch,
with label-fraction and noise sweeps, probe sizes and plots (docs/evaluation.md)."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from cli.app import app
from cli.console import console, err_console, progress, styled
from cli.eval_tables import fractions_table, noise_table, results_table
from cli.token_budget import BUDGET, DRAWS, SPREAD, token_budget
from cli.values import device as device_option
from cli.values import folder_to_create, number, output_file

_CHOICES = ("gtzan", "giantsteps", "emomusic", "mtat", "nsynth", "tinysol", "all", "pyjama")
_PROBES = ("linear", "mlp", "mlp2")
_BASELINES = ("mfcc", "cqt", "untrained")
_NOISE = ("white", "pink")


def _names(flag: str, text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise typer.BadParameter(f"{text!r}; give a comma-separated list from {', '.join(allowed)}", param_hint=f"'{flag}'")
    return values


def _numbers(flag: str, text: str | None, low: float, high: float, hint: str) -> tuple[float, ...]:
    if not text:
        return ()
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or any(not (math.isfinite(v) and low <= v <= high) for v in values) or (flag == "--label-fraction" and 0.0 in values):
        raise typer.BadParameter(f"{text!r}; give {hint}", param_hint=f"'{flag}'")
    return values


@app.command("eval")
def eval_command(
    dataset: str = typer.Argument(..., help=f"One of: {', '.join(_CHOICES)} ('all' = every dataset found in --data-dir; "
                                             "'pyjama' = a DL-101 .pyjama + .hdf5 pair).", show_default=False),
    data_dir: Path | None = typer.Option(None, "--data-dir", "-d", help="Folder holding the dataset (see docs/evaluation.md for layouts).", show_default=False),
    model: str = typer.Option("default", "--model", "-m", help="mfcc | cqt | random | random:CHECKPOINT | default (bundled model) | CHECKPOINT folder."),
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
    probes: str = typer.Option("linear,mlp", help="Probe families, comma-separated: linear, mlp (one hidden layer), mlp2 (two)."),
    baselines: str = typer.Option("auto", help="Reference rows run on the same splits: auto (MFCC and the untrained encoder; "
                                               "CQT+chroma on nsynth/tinysol), none, or a list of mfcc, cqt, untrained."),
    label_fraction: str | None = typer.Option(None, "--label-fraction", help="Train the probes on these fractions of the train labels too, "
                                                                         "e.g. 0.01,0.1,1 (stratified, nested, seeded; valid/test stay whole)."),
    fraction_draws: int = typer.Option(5, min=1, max=100, help="Random draws per label fraction (mean ± sd)."),
    noise_snr: str | None = typer.Option(None, "--noise-snr", help="Also score the probes on test audio with noise at these SNRs in dB, "
                                                             "e.g. 20,10,0 (probe trained on clean audio)."),
    noise_kind: str = typer.Option("white,pink", help="Noise for --noise-snr: white, pink or both."),
    plot: Path | None = typer.Option(None, "--plot", help="Also draw the results as a PNG (score vs probe size, fraction, SNR)."),
    seed: int = typer.Option(0, min=0, max=2**32 - 1, help="Seed for the probes, the random model, label draws and noise."),
    device: str = typer.Option("cpu", callback=device_option, help="Torch device for the encoder and the MLP probes (cpu, cuda, ...)."),
    annotations: Path | None = typer.Option(None, "--annotations", help="pyjama: the dataset's .pyjama file."),
    audio: Path | None = typer.Option(None, "--audio", help="pyjama: the dataset's .hdf5 audio file."),
    field: str | None = typer.Option(None, "--field", help="pyjama: the annotation to probe (tag, genre, artist, ...)."),
    task: str | None = typer.Option(None, "--task", help="pyjama: multiclass | multilabel | regression (default: from the values)."),
) -> None:
    """Evaluate a model by probing its frozen embeddings; prints tables and writes JSON."""
    from myna_rpe.evaluation.runner import EvalConfig, Progress, run_eval, write_report

    if dataset not in _CHOICES:
        raise typer.BadParameter(f"{dataset!r}; choose from {', '.join(_CHOICES)}", param_hint="'DATASET'")
    if protocol not in ("budget", "whole", "chunks"):
        raise typer.BadParameter(f"{protocol!r}; choose budget, whole or chunks", param_hint="'--protocol'")
    if grid not in ("default", "quick"):
        raise typer.BadParameter(f"{grid!r}; choose default or quick", param_hint="'--grid'")
    output_file("--out", out, (".json",), probe=True)
    if plot is not None:
        output_file("--plot", plot, (".png",), inputs=(out,), probe=True)
    folder_to_create("--cache-dir", cache_dir)
    chosen = None if baselines == "auto" else () if baselines == "none" else _names("--baselines", baselines, _BASELINES)
    if plot is not None and chosen is not None:
        # the figures always carry MFCC and the untrained encoder as references
        chosen = tuple(dict.fromkeys((*chosen, "mfcc", "untrained")))
    budget_ = token_budget(budget, draws, spread)
    if dataset == "pyjama":
        from cli.eval_pyjama import eval_pyjama

        return eval_pyjama(annotations, audio, field, task, model=model, protocol=protocol, chunk_seconds=chunk_seconds,
                           budget=budget_, out=out, cache_dir=cache_dir, use_cache=not no_cache, grid=grid, seed=seed,
                           device=device)
    if data_dir is None:
        raise typer.BadParameter(f"{dataset} needs the folder holding it", param_hint="'--data-dir'")
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
        probes=_names("--probes", probes, _PROBES),
        baselines=chosen,
        label_fractions=_numbers("--label-fraction", label_fraction, 0.0, 1.0, "fractions in (0, 1], e.g. 0.01,0.1,1"),
        fraction_draws=fraction_draws,
        noise_snrs=_numbers("--noise-snr", noise_snr, -30.0, 60.0, "SNRs in dB between -30 and 60, e.g. 20,10,0"),
        noise_kinds=_names("--noise-kind", noise_kind, _NOISE),
    )
    with progress("steps") as bar:
        current: dict[str, int] = {}

        def start(description: str, total: int) -> None:
            if "task" in current:
                bar.remove_task(current["task"])
            current["task"] = bar.add_task(description, total=total)

        report = run_eval(cfg, Progress(start=start, advance=lambda: bar.advance(current["task"])))
    console.print(results_table(report))  # first: should the write fail after all, the results are on screen
    if report["label_fractions"]:
        console.print(fractions_table(report))
    if report["noise"]:
        console.print(noise_table(report))
    write_report(report, out)
    for name, result in report["datasets"].items():
        for note in result["notes"]:
            err_console.print(styled((f"{name}:", "yellow"), f" {note}"), highlight=False)
        if result["failed_tracks"]:
            err_console.print(styled((f"{name}:", "yellow"), f" {len(result['failed_tracks'])} track(s) could not be "
                                     f"decoded and were skipped (listed in {out})"), highlight=False)
    console.print(f"wrote {out}")
    if plot is not None:
        from myna_rpe.evaluation.plots import plot_report

        console.print(f"wrote {plot_report(report, plot)}")
