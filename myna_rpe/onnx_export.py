"""ONNX export: one graph from a mono waveform to the track's embedding, frontend included.

    wave  float32 (S,)  mono, at the checkpoint's sample rate, S >= MIN_SECONDS of it (any length above)
    → embedding float32 (dim,)  the CLS vector, as `Embedder.load(c, budget=DENSE).embed_waveform(wave)`

The time axis is dynamic (one graph for 3 s and for 10 min). The graph is the dense pass
over every patch: the token budget's draw is seeded from a hash of the content with
numpy, which a graph cannot express, so a caller who wants a flat cost per track trims or
samples the audio before the graph.

Memory: attention runs in query blocks as an ONNX Scan (see attention._scanned_blocks), so
each step holds (heads × block × N) scores and bias and memory grows linearly with the
number of tokens N; time still grows as N².
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from myna_rpe.errors import CheckpointError
from myna_rpe.fileio import atomic_write_bytes
from myna_rpe.frontend import LogMel
from myna_rpe.model import MynaEncoder

# The exported frontend pads with reflection, which needs more than n_fft / 2 samples, and
# the graph is traced on inputs of at least one patch; shorter clips: pad them with zeros.
MIN_SECONDS = 0.6
OPSET = 18


class WaveEncoder(nn.Module):
    """wave (S,) → embedding (dim,): LogMel then the encoder, traceable by torch.export."""

    def __init__(self, frontend: LogMel, encoder: MynaEncoder) -> None:
        super().__init__()
        self.frontend = frontend
        self.encoder = encoder

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.frontend(wave[None]))[0]


def min_samples(sample_rate: int) -> int:
    return int(MIN_SECONDS * sample_rate)


def export_onnx(embedder, out: str | Path, example_seconds: float = 5.0) -> Path:
    """Write `embedder`'s model as an ONNX graph to `out` (see the module docstring)."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs it, and onnxscript)
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise CheckpointError(f"the ONNX exporter needs {exc.name}", fix="pip install 'myna-rpe[onnx]'") from None
    out = Path(out)
    sr = embedder.sample_rate
    module = WaveEncoder(LogMel(embedder.config.frontend), embedder.model).eval()
    example = torch.randn(int(example_seconds * sr), generator=torch.Generator().manual_seed(0)) * 0.1
    samples = torch.export.Dim("samples", min=min_samples(sr), max=4 * 3600 * sr)
    # The exporter logs every op set it skips (torchvision's) and warns about its own internals.
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            program = torch.onnx.export(module, (example,), input_names=["wave"], output_names=["embedding"],
                                        dynamic_shapes=({0: samples},), dynamo=True, opset_version=OPSET,
                                        verbose=False)
        finally:
            quiet.setLevel(level)
    graph = program.model_proto
    # What a caller needs without torch or the checkpoint: the rate to decode at, the shortest input.
    meta = {"sample_rate": str(sr), "min_samples": str(min_samples(sr)), "dim": str(embedder.dim),
            "myna_model_id": embedder.weights_id, "myna_config": json.dumps(embedder.config.to_dict(), sort_keys=True)}
    for key, value in meta.items():
        graph.metadata_props.add(key=key, value=value)
    atomic_write_bytes(out, graph.SerializeToString())
    return out


__all__ = ["WaveEncoder", "export_onnx", "min_samples", "MIN_SECONDS"]
