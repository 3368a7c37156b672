"""`myna embed-catalog SOURCE --out DIR` (embed on Ray into Parquet shards), and the printing
of `myna index LIB --import DIR` (merge those shards into the library's store)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from cli.app import app
from cli.console import console, err_console, progress
from cli.token_budget import BUDGET, DRAWS, SPREAD, token_budget
from cli.values import MAX_BATCH, MAX_TRACKS

_ERRORS_SHOWN = 10


class _Bar:
    """The pipeline's progress hook as one rich bar."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task: TaskID | None = None

    def phase(self, name: str, total: int) -> None:
        self.bar.start()  # only now: a run that fails before any work prints its one line alone
        self.task = self.bar.add_task(name, total=total) if total else None

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.bar.advance(self.task, n)

    def note(self, message: str) -> None:
        self.bar.console.print(message, highlight=False)


@app.command("embed-catalog")
def embed_catalog_cmd(
    source: Path = typer.Argument(..., help="A music folder, or a manifest: a text file with one audio path per line "
                                            "(relative to its folder, or absolute).", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the Parquet shards (created; a rerun resumes).",
                             show_default=False),
    ray_address: str | None = typer.Option(None, "--ray-address",
                                           help="Ray cluster to run on (e.g. auto, or ray://head:10001); "
                                                "default: $RAY_ADDRESS, else a local Ray on this machine."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", "-c",
                                           help="Encoder checkpoint folder (readable by every node); default: the bundled model."),
    workers: int | None = typer.Option(None, "--workers", min=1,
                                       help="Model actors; default: one per GPU, else one per two CPUs."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, max=MAX_BATCH, help="Tracks per actor call."),
    shard_rows: int = typer.Option(1000, "--shard-rows", min=1, max=100 * MAX_TRACKS, help="Tracks per Parquet shard."),
    budget: str = BUDGET,
    draws: int = DRAWS,
    spread: str = SPREAD,
) -> None:
    """Embed a catalogue on a Ray cluster (an actor pool holding the model; GPUs when the cluster
    has them) into Parquet shards; `myna index LIB --import DIR` merges them into a library."""
    from playlist.library.catalog_ray import embed_catalog

    chosen = token_budget(budget, draws, spread)
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} is a file: give a folder", param_hint="'--out'")
    bar = progress("tracks")
    try:
        report = embed_catalog(source, out, checkpoint=checkpoint, budget=chosen, ray_address=ray_address,
                               workers=workers, batch_size=batch_size, rows_per_shard=shard_rows, progress=_Bar(bar))
    finally:
        if bar.live.is_started:  # stopping a bar never started prints an empty line
            bar.stop()
    table = Table(title=f"embedded {source} into {out}", show_header=False)
    table.add_row("files", str(report.files))
    table.add_row("done before (skipped)", str(report.already_done))
    table.add_row("embedded", str(report.embedded))
    table.add_row("failed", str(report.failed))
    table.add_row("shards written", str(report.shards))
    if report.workers:
        where = f"{report.gpus} GPU(s)" if report.gpus else "CPUs"
        table.add_row("workers", f"{report.workers} model actor(s) on {where}")
    table.add_row("time", f"{report.seconds:.1f} s" + (f" ({report.rate:.2f} tracks/s)" if report.workers else ""))
    console.print(table)
    if report.errors:
        shown = "; ".join(f"{path}: {message}" for path, message in report.errors[:_ERRORS_SHOWN])
        more = f" (and {len(report.errors) - _ERRORS_SHOWN} more)" if len(report.errors) > _ERRORS_SHOWN else ""
        err_console.print(f"{report.failed} file(s) could not be embedded{more}: {shown}", style="yellow",
                          highlight=False, soft_wrap=True)


def print_import(library: Path, db_dir: Path, shard_dir: Path, spec=None) -> None:
    """`myna index LIB --import DIR`: merge the shards and print what happened."""
    from playlist.library.catalog_import import import_catalog

    report = import_catalog(library, shard_dir, db_dir=db_dir, index=spec)
    table = Table(title=f"imported {shard_dir} into {db_dir}", show_header=False)
    rows = [("shard rows", report.rows), ("imported", report.imported),
            ("already in the store", report.already), ("not in this library (skipped)", len(report.not_in_library)),
            ("failed in the catalogue run", report.failed_rows), ("library files", report.library_files),
            ("library files without a vector", report.not_in_catalogue)]
    for name, value in rows:
        table.add_row(name, str(value))
    table.add_row("model", report.model_id)
    table.add_row("time", f"{report.seconds:.1f} s")
    console.print(table)
    if report.not_in_catalogue:
        err_console.print(f"{report.not_in_catalogue} file(s) of the library have no vector from the "
                          f"catalogue: `myna index {library}` embeds them (or lists why it cannot)", style="yellow",
                          highlight=False)
