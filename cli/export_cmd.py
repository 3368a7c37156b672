"""`myna export onnx`: the encoder, frontend included, as one ONNX graph with a dynamic time axis."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.app import app
from cli.console import console
from cli.values import output_file

export_app = typer.Typer(help="Export the encoder for other runtimes.", no_args_is_help=True)
app.add_typer(export_app, name="export")

_CHECK_SECONDS = 3.0


@export_app.command("onnx")
def export_onnx_cmd(
    out: Path = typer.Argument(..., help="The .onnx file to write.", show_default=False),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", "-c",
                                           help="Checkpoint folder or hub repo id; default: the bundled model."),
) -> None:
    """Write wave (S,) float32 → embedding (dim,) as ONNX, then check it against torch on 3 s of noise."""
    import numpy as np

    from myna_rpe.budget import DENSE
    from myna_rpe.embed import Embedder
    from myna_rpe.onnx_export import export_onnx

    output_file("OUT", out, (".onnx",))
    embedder = Embedder.load(checkpoint, budget=DENSE)
    with console.status(f"exporting model {embedder.weights_id} (about a minute on a CPU)"):
        export_onnx(embedder, out)
    console.print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): input 'wave' float32 (samples,) mono at "
                  f"{embedder.sample_rate} Hz, output 'embedding' float32 ({embedder.dim},)")
    try:
        import onnxruntime as ort
    except ImportError:
        console.print("onnxruntime is not installed: the graph was not checked (pip install 'myna-rpe[onnx]')")
        return
    wave = (np.random.default_rng(0).standard_normal(int(_CHECK_SECONDS * embedder.sample_rate)) * 0.1).astype(np.float32)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"wave": wave})[0]
    diff = float(np.abs(got - embedder.embed_waveform(wave)).max())
    console.print(f"checked: onnxruntime and torch differ by at most {diff:.1e} on {_CHECK_SECONDS:g} s of noise")
