"""`myna embed`: embed audio files with an encoder (whole track, one forward pass each, under the token budget)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from cli.app import app
from cli.console import console, counted, err_console, progress, styled
from cli.token_budget import BUDGET, DRAWS, SPREAD, token_budget
from cli.values import number, output_file

_MAX_SECONDS = 1e6  # 11.6 days: far past any track, small enough for every decoder's clock


@app.command()
def embed(
    files: list[Path] = typer.Argument(..., help="Audio files (any format FFmpeg reads).", show_default=False),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", "-c", help="Checkpoint folder; default: the bundled model."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the embeddings as .npy (rows in argument order)."),
    offset: float = typer.Option(0.0, callback=number(min=0, max=_MAX_SECONDS),
                                 help="Start reading at this many seconds."),
    duration: float | None = typer.Option(None, callback=number(above=0, max=_MAX_SECONDS),
                                          help="Read at most this many seconds (default: whole track)."),
    budget: str = BUDGET,
    draws: int = DRAWS,
    spread: str = SPREAD,
) -> None:
    """Embed audio files and print a summary (or save them with --out).

    A file that cannot be read is one error line after the others' results (exit 1); with
    --out its row is NaN, so the rows stay in argument order."""
    from myna_rpe.embed import Embedder
    from myna_rpe.errors import AudioError, MynaError
    from myna_rpe.fileio import atomic_write

    if out is not None:
        output_file("--out", out, (".npy",), files, probe=True)
    embedder = Embedder.load(checkpoint, budget=token_budget(budget, draws, spread))
    vectors: list[np.ndarray | None] = []
    failed: list[AudioError] = []
    with progress("tracks") as bar:
        task = bar.add_task("embedding", total=len(files))
        for path in files:
            bar.update(task, description=f"embedding {path.name}")
            try:
                vectors.append(embedder.embed_file(path, offset=offset, duration=duration))
            except AudioError as exc:
                failed.append(exc)
                vectors.append(None)
            bar.advance(task)
    if len(failed) == len(files):
        raise failed[0] if len(failed) == 1 else MynaError(
            f"none of the {len(failed)} files could be embedded; the first: {failed[0]}")
    dim = next(v.shape[0] for v in vectors if v is not None)
    matrix = np.stack([np.full(dim, np.nan) if v is None else v for v in vectors]).astype(np.float32)
    if out is not None:
        with atomic_write(out) as fh:
            np.save(fh, matrix)
        nan_rows = f" (NaN rows for the {counted(len(failed), 'file')} that failed)" if failed else ""
        console.print(f"wrote {matrix.shape[0]} × {matrix.shape[1]} embeddings to {out}{nan_rows}", highlight=False)
    table = Table(title=f"embeddings (model {embedder.model_id}, {embedder.budget.describe()})")
    table.add_column("file")
    table.add_column("dim", justify="right")
    table.add_column("norm", justify="right")
    table.add_column("first values")
    for path, v in zip(files, vectors):
        if v is None:
            table.add_row(str(path), "–", "–", styled(("could not be read (below)", "red")))
        else:
            table.add_row(str(path), str(v.shape[0]), f"{np.linalg.norm(v):.3f}",
                          " ".join(f"{x:+.3f}" for x in v[:4]))
    console.print(table)
    for exc in failed:
        err_console.print(styled(("error:", "red"), f" {exc}"), highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)
