"""Label fractions, test-audio noise, probe sizes and plots: the protocols' logic, and the
CLI end to end on generated datasets in their real layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from myna_rpe.audio import load_audio, write_audio
from myna_rpe.evaluation.fractions import nested_subsets, strata
from myna_rpe.evaluation.noise import NoisyFeatures, add_noise, noise, snr_db
from myna_rpe.synth import synth_note
from tests.eval_note_fixtures import make_nsynth, one_thread  # noqa: F401 (autouse)
from tests.test_eval_cli import run_cli
from tests.test_eval_fixtures import make_emomusic

# -- label fractions ---------------------------------------------------------------------------


def test_fractions_are_stratified_nested_and_seeded() -> None:
    y = np.repeat([0, 1, 2], [50, 30, 5])
    fractions = [0.1, 0.5, 1.0]
    draw0 = nested_subsets(y, fractions, seed=7, draw=0)
    for f in fractions:
        counts = np.bincount(y[draw0[f]], minlength=3)
        assert counts.tolist() == [max(1, round(f * n)) for n in (50, 30, 5)]  # every class keeps its share, at least one
    assert set(draw0[0.1]) <= set(draw0[0.5]) <= set(draw0[1.0]) == set(range(len(y)))  # nested
    again = nested_subsets(y, fractions, seed=7, draw=0)
    assert all(np.array_equal(draw0[f], again[f]) for f in fractions)  # seeded
    other = nested_subsets(y, fractions, seed=7, draw=1)
    assert not np.array_equal(draw0[0.5], other[0.5])  # another draw, another subset
    with pytest.raises(ValueError):
        nested_subsets(y, [0.0], seed=0, draw=0)


def test_strata_for_tags_and_regression() -> None:
    tags = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 0, 1], [1, 1, 0]])
    assert strata("multilabel", tags).tolist() == [1, 0, -1, 2, 1]  # the rarest tag carried, -1 = none
    values = np.linspace(0, 1, 10).reshape(-1, 1)
    assert np.bincount(strata("regression", values)).tolist() == [2, 2, 2, 2, 2]  # quintiles


# -- noise ------------------------------------------------------------------------------------


class _Capture:
    """An extractor that keeps the waveform it is given."""

    id, sample_rate = "capture", 16000

    def from_wave(self, wave: np.ndarray) -> np.ndarray:
        self.wave = wave
        return np.zeros(1, np.float32)


@pytest.mark.parametrize("kind", ["white", "pink"])
def test_noise_is_at_the_snr_asked_and_seeded(tmp_path: Path, kind: str) -> None:
    path = write_audio(tmp_path / "note.wav", synth_note(57, "bright", 1.0, 16000), 16000)
    clean = load_audio(path, 16000)
    for snr in (20.0, 10.0, 0.0, -5.0):
        capture = _Capture()
        NoisyFeatures(capture, kind, snr, seed=3)(path)
        assert abs(snr_db(clean, capture.wave) - snr) < 0.1
    first, second = _Capture(), _Capture()
    NoisyFeatures(first, kind, 10, seed=3)(path)
    NoisyFeatures(second, kind, 10, seed=3)(path)
    assert np.array_equal(first.wave, second.wave)
    third = _Capture()
    NoisyFeatures(third, kind, 10, seed=4)(path)
    assert not np.array_equal(first.wave, third.wave)


def test_pink_noise_has_equal_power_per_octave() -> None:
    rng = np.random.default_rng(0)
    n, sr = 2**16, 16000

    def octave_ratio(x: np.ndarray) -> float:
        power = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(n, 1 / sr)
        return power[(f >= 100) & (f < 200)].sum() / power[(f >= 1600) & (f < 3200)].sum()

    assert 0.5 < octave_ratio(noise("pink", n, rng)) < 2.0  # 1/f: the same power in every octave
    assert octave_ratio(noise("white", n, rng)) < 0.1  # flat: 16x more power in the higher octave
    assert np.array_equal(add_noise(np.zeros(100, np.float32), 10, "white", rng), np.zeros(100, np.float32))


def test_noise_touches_only_test_audio_and_probe_is_trained_clean(tmp_path: Path, monkeypatch, capsys) -> None:
    data = make_nsynth(tmp_path / "data", per_split={"train": 24, "valid": 12, "test": 12}, duration=0.3, out_of_range=False)
    base = ["eval", "nsynth", "--data-dir", str(data), "--model", "mfcc", "--grid", "quick", "--probes", "linear",
            "--baselines", "none", "--cache-dir", str(tmp_path / "cache")]
    code, _, err = run_cli([*base, "--out", str(tmp_path / "clean.json")], monkeypatch, capsys)
    assert code == 0, err
    code, out, err = run_cli([*base, "--out", str(tmp_path / "noisy.json"), "--noise-snr", "10,0"], monkeypatch, capsys)
    assert code == 0, err and "noise on the test audio" in out
    clean, noisy = (json.loads((tmp_path / f"{n}.json").read_text())["datasets"]["nsynth-instrument"] for n in ("clean", "noisy"))
    linear = noisy["probes"]["linear"]
    assert linear["test"] == clean["probes"]["linear"]["test"] and linear["params"] == clean["probes"]["linear"]["params"]
    assert set(linear["noise"]) == {"white", "pink"} and set(linear["noise"]["pink"]) == {"10", "0"}
    assert linear["noise_drop"]["white"]["0"] == pytest.approx(linear["test"]["accuracy"] - linear["noise"]["white"]["0"]["accuracy"])
    # the cache holds noisy vectors for the test notes only, one per (kind, SNR)
    test_keys = {p.stem for p in (data / "nsynth-test" / "audio").glob("*.wav")}
    noisy_dirs = [d for d in (tmp_path / "cache").iterdir() if "dB-seed0" in d.name]
    assert len(noisy_dirs) == 4
    for d in noisy_dirs:
        assert len(list((d / "nsynth").glob("*.npy"))) == len(test_keys) == 12


# -- fractions, probe sizes and plots through the CLI -------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_fractions_noise_probe_sizes_and_plot(tmp_path: Path, monkeypatch, capsys) -> None:
    from myna_rpe.checkpoint import build_model, save_checkpoint
    from myna_rpe.config import EncoderConfig, ModelConfig

    data = make_emomusic(tmp_path / "data", n=24, duration=0.5)
    cfg = EncoderConfig(model=ModelConfig.from_preset("tiny", "alibi2d"))
    ckpt = save_checkpoint(tmp_path / "ckpt", build_model(cfg), cfg)
    out, png = tmp_path / "emo.json", tmp_path / "plots" / "emo.png"
    code, stdout, err = run_cli(
        ["eval", "emomusic", "--data-dir", str(data), "--model", str(ckpt), "--protocol", "whole", "--grid", "quick",
         "--probes", "linear,mlp2", "--label-fraction", "0.25,1", "--fraction-draws", "2",
         "--noise-snr", "10", "--baselines", "none", "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--plot", str(png)],
        monkeypatch, capsys,
    )
    assert code == 0, err
    report = json.loads(out.read_text())
    assert set(report["baselines"]) == {"mfcc", "untrained"}  # a plot always carries both references
    assert report["baselines"]["untrained"]["model"] == f"random:{ckpt}"
    for datasets in (report["datasets"], report["baselines"]["mfcc"]["datasets"]):
        result = datasets["emomusic"]
        assert set(result["probes"]) == {"linear", "mlp2"}
        fractions = result["label_fractions"]
        sizes = result["sizes"]
        assert fractions["0.25"]["train_size"] == pytest.approx(sizes["train"] / 4, abs=3) and fractions["0.25"]["draws"] == 2
        assert len(fractions["0.25"]["probes"]["mlp2"]["test_draws"]) == 2
        assert fractions["1"]["probes"]["linear"]["test_mean"] == result["probes"]["linear"]["test"]
        assert "white" in result["probes"]["mlp2"]["noise"]
    assert "label fractions" in stdout and "CQT" not in stdout  # CQT joins automatically on notes only
    width, height = _png_size(png)
    assert width > 2.5 * height / 1  # one row, three panels: probe size, fraction, noise


# -- the data-size sweep script ------------------------------------------------------------------


def test_data_size_sweep_script_trains_nested_subsets_and_plots(tmp_path: Path, capsys) -> None:
    import importlib.util

    from myna_rpe.synth import TrackSpec, synth_track

    spec = importlib.util.spec_from_file_location("data_size_sweep", Path(__file__).parents[1] / "scripts" / "data_size_sweep.py")
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)

    durations = [30.0, 60.0, 90.0, 20.0, 40.0]
    subsets = sweep.nested_subsets(durations, [1.0, 2.5, None], seed=0)
    assert set(subsets[0]) <= set(subsets[1]) <= set(subsets[2]) == set(range(5))
    assert [sum(durations[i] for i in s) >= 60 * m for s, m in zip(subsets, (1.0, 2.5))] == [True, True]

    rng = np.random.default_rng(0)
    for i in range(4):
        write_audio(tmp_path / "music" / f"{i}.flac", synth_track(TrackSpec.random(rng), 6.0), 16000)
    data = make_nsynth(tmp_path / "nsynth", per_split={"train": 16, "valid": 8, "test": 8}, duration=0.3, out_of_range=False)
    out = tmp_path / "sweep"
    code = sweep.main(["--data", str(tmp_path / "music"), "--task", "nsynth", "--task-data", str(data), "--out", str(out),
                       "--minutes", "0.2,all", "--steps", "2", "--batch-size", "2", "--chunk-seconds", "1", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["task"] == "nsynth-instrument" and [p["tracks"] for p in summary["points"]] == [2, 4]
    assert set(summary["references"]) == {"MFCC", "untrained encoder"}
    assert all((Path(p["checkpoint"]) / "model.safetensors").is_file() for p in summary["points"])
    assert _png_size(out / "sweep.png")[0] > 500


@pytest.mark.parametrize("flag, value", [("--label-fraction", "0,0.5"), ("--label-fraction", "1.5"), ("--noise-snr", "loud"),
                                         ("--probes", "linear,mlp3"), ("--baselines", "mfcc,spectrogram"),
                                         ("--noise-kind", "brown"), ("--plot", "out.jpg")])
def test_bad_sweep_values_are_usage_errors(tmp_path: Path, monkeypatch, capsys, flag: str, value: str) -> None:
    code, _, stderr = run_cli(["eval", "nsynth", "--data-dir", str(tmp_path), "--model", "mfcc", flag, value], monkeypatch, capsys)
    assert code == 2 and flag in stderr and "Traceback" not in stderr
