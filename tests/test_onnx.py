"""ONNX export: every positional preset, onnxruntime equal to torch within 1e-4 at several
lengths of one graph (dynamic time axis), attention as a Scan (memory linear in tokens),
the `myna export onnx` command, and the example that needs neither torch nor myna_rpe.
(3 min and 10 min inputs: benchmarks/bench_onnx.py, too slow for a 2-core test run.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.cli_helpers import myna, wide_console  # noqa: F401 (autouse fixture)
from myna_rpe.audio import write_audio
from myna_rpe.budget import DENSE
from myna_rpe.checkpoint import save_checkpoint
from myna_rpe.config import PE_PRESETS, EncoderConfig, ModelConfig
from myna_rpe.embed import Embedder
from myna_rpe.onnx_export import export_onnx, min_samples

EXAMPLE = Path(__file__).parents[1] / "examples" / "onnx_embed.py"


def noise(seconds: float, seed: int = 0, rate: int = 16000) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * rate)) * 0.1).astype(np.float32)


def tiny(pe: str) -> Embedder:
    return Embedder.random(EncoderConfig(model=ModelConfig.from_preset("tiny", pe)), seed=1, budget=DENSE)


def check_graph(path: Path, embedder: Embedder, seconds=(3.0, 30.0)) -> None:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for i, s in enumerate(seconds):
        wave = noise(s, seed=i)
        got = session.run(None, {"wave": wave})[0]
        assert got.shape == (embedder.dim,)
        np.testing.assert_allclose(got, embedder.embed_waveform(wave), atol=1e-4, rtol=0)
    graph = onnx.load(str(path)).graph
    # Each layer's attention is a Scan over query blocks, not a loop unrolled for one length.
    assert sum(node.op_type == "Scan" for node in graph.node) >= embedder.config.model.depth
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # the time axis is symbolic


@pytest.mark.slow
@pytest.mark.parametrize("pe", [p for p in PE_PRESETS if p != "alibi2d"])  # alibi2d: the CLI test below
def test_every_preset_exports_and_matches_torch(tmp_path, pe):
    embedder = tiny(pe)
    check_graph(export_onnx(embedder, tmp_path / f"{pe}.onnx"), embedder)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`myna export onnx` on a tiny alibi2d checkpoint: (onnx path, checkpoint, command output)."""
    folder = tmp_path_factory.mktemp("onnx")
    embedder = tiny("alibi2d")
    checkpoint = save_checkpoint(folder / "ckpt", embedder.model, embedder.config)
    return folder / "m.onnx", checkpoint, embedder


def test_cli_exports_and_checks(exported, capsys):
    out, checkpoint, embedder = exported
    code, text = myna(capsys, "export", "onnx", str(out), "--checkpoint", str(checkpoint))
    assert code == 0, text
    assert "checked: onnxruntime and torch differ by at most" in text and "Traceback" not in text
    check_graph(out, Embedder.load(checkpoint, budget=DENSE))
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["sample_rate"] == "16000" and meta["min_samples"] == str(min_samples(16000))
    assert meta["myna_model_id"] == Embedder.load(checkpoint).weights_id


def test_cli_refuses_a_wrong_suffix_before_any_work(tmp_path, capsys):
    code, text = myna(capsys, "export", "onnx", str(tmp_path / "m.pt"))
    assert code == 2 and ".onnx" in text and not (tmp_path / "m.pt").exists()


def test_example_runs_a_file_without_torch(exported, tmp_path):
    out, checkpoint, _ = exported
    if not out.exists():  # run alone (-k): export here instead of by the CLI test
        export_onnx(Embedder.load(checkpoint, budget=DENSE), out)
    song = write_audio(tmp_path / "song.flac", noise(4.0, seed=5), 16000)
    short = write_audio(tmp_path / "short.wav", noise(0.2, seed=6), 16000)
    probe = ("import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__'); "
             "assert 'torch' not in sys.modules and 'myna_rpe' not in sys.modules, 'the example imported torch'")
    run = subprocess.run([sys.executable, "-c", probe, str(EXAMPLE), str(out), str(song), str(short),
                          "--out", str(tmp_path / "e.npy")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert f"{short}: 0.20 s is shorter than the graph's 0.6 s: zero-padded" in run.stderr
    rows = np.load(tmp_path / "e.npy")
    reference = Embedder.load(checkpoint, budget=DENSE).embed_file(song)
    np.testing.assert_allclose(rows[0], reference, atol=1e-4)
    assert rows.shape == (2, 64) and np.isfinite(rows).all()
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(b"ID3\x04\x00" + bytes(range(256)) * 40)
    run = subprocess.run([sys.executable, str(EXAMPLE), str(out), str(corrupt), str(song),
                          "--out", str(tmp_path / "e2.npy")], capture_output=True, text=True)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert f"{corrupt}: cannot decode (" in run.stderr
    rows = np.load(tmp_path / "e2.npy")
    assert np.isnan(rows[0]).all() and np.allclose(rows[1], reference, atol=1e-4)
