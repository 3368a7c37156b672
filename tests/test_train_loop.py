"""The training loop: bit-for-bit resume, Ctrl-C, NaN handling, checkpoints, metrics, CLI."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from myna_rpe.audio import write_audio
from myna_rpe.checkpoint import load_checkpoint
from myna_rpe.errors import MynaError
from myna_rpe.synth import TrackSpec, synth_track
from myna_rpe.training import loop
from myna_rpe.training.config import TrainConfig
from myna_rpe.training.loop import SilentReporter, TrainingDiverged, lr_at, train


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train") / "lib"
    rng = np.random.default_rng(1)
    for i in range(10):
        write_audio(root / f"{i:02d}.wav", synth_track(TrackSpec.random(rng), 3.0), 16000)
    return root


def _cfg(library: Path, tmp_path: Path, out: str, **kw) -> TrainConfig:
    base = dict(
        data=str(library), out=str(tmp_path / out), cache_dir=str(tmp_path.parent / "mels"), size="tiny",
        batch_size=4, chunk_seconds=1.0, mask_ratio=0.5, steps=8, warmup_steps=2, checkpoint_every=4, log_every=1,
        kmeans_weight=0.1, kmeans_k=3, hull_weight=0.05,
    )
    base.update(kw)
    return TrainConfig(**base)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoint" / "model.safetensors"))


class InterruptAt(SilentReporter):
    """Sends this process SIGINT (a Ctrl-C) once the given step has finished."""

    def __init__(self, step: int) -> None:
        self.at = step

    def step(self, m) -> None:
        if m.step == self.at:
            os.kill(os.getpid(), signal.SIGINT)


AUGMENT = dict(augment_gain_db=6.0, augment_eq_db=6.0, augment_noise_snr_db=20.0, augment_pitch_bins=2)


@pytest.mark.parametrize("augment", [{}, AUGMENT], ids=["plain", "augmented"])
def test_resume_after_ctrl_c_is_bit_for_bit(library, tmp_path, augment):
    straight = train(_cfg(library, tmp_path, "straight", **augment))
    assert straight.step == 8 and not straight.interrupted

    first = train(_cfg(library, tmp_path, "split", **augment), reporter=InterruptAt(3))
    # Ctrl-C lets the step in flight finish, saves, and returns normally.
    assert first.interrupted and first.step == 4
    assert os.readlink(tmp_path / "split" / "checkpoint") == "steps/step-0000004"
    second = train(_cfg(library, tmp_path, "split", **augment), resume=True)
    assert second.step == 8

    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "split")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # Optimiser moments and K-Means centroids match too.
    sa = load_file(str(tmp_path / "straight" / "checkpoint" / "train_state.safetensors"))
    sb = load_file(str(tmp_path / "split" / "checkpoint" / "train_state.safetensors"))
    for k in sa:
        if not k.startswith("rng."):
            assert torch.equal(sa[k], sb[k]), k
    assert [m.loss for m in straight.history[4:]] == [m.loss for m in second.history]
    # metrics.csv holds each step once, in order, across the interruption.
    rows = list(csv.DictReader(open(tmp_path / "split" / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == list(range(1, 9))


@pytest.fixture(scope="module")
def albums(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("albums") / "lib"
    rng = np.random.default_rng(2)
    for album in range(3):
        for i in range(4):
            write_audio(root / f"album{album}" / f"{i:02d}.wav", synth_track(TrackSpec.random(rng), 3.0), 16000)
    return root


def test_album_positives_train_and_resume_bit_for_bit(albums, tmp_path):
    kw = dict(album_positives=0.5, kmeans_weight=0.0)
    straight = train(_cfg(albums, tmp_path, "straight", **kw))
    train(_cfg(albums, tmp_path, "split", **kw), reporter=InterruptAt(3))
    train(_cfg(albums, tmp_path, "split", **kw), resume=True)
    assert all(np.isfinite(m.loss) for m in straight.history)
    for k, v in _weights(tmp_path / "straight").items():
        assert torch.equal(v, _weights(tmp_path / "split")[k]), k
    plain = train(_cfg(albums, tmp_path, "plain", kmeans_weight=0.0))
    assert plain.history[-1].nce != straight.history[-1].nce  # the option changes the pairs


def test_album_positives_must_be_a_probability(tmp_path):
    with pytest.raises(MynaError, match="album_positives 1.5 is not a probability"):
        _cfg(tmp_path, tmp_path, "x", album_positives=1.5)


def test_checkpoint_loads_as_a_model_and_old_steps_are_pruned(library, tmp_path):
    cfg = _cfg(library, tmp_path, "run", steps=10, checkpoint_every=2, keep_checkpoints=1, kmeans_weight=0.0)
    train(cfg)
    run = tmp_path / "run"
    assert sorted(p.name for p in (run / "steps").iterdir()) == ["step-0000008", "step-0000010"]
    model, enc_cfg, meta = load_checkpoint(run / "checkpoint")
    assert meta["step"] == 10 and enc_cfg == cfg.encoder_config()
    with torch.no_grad():
        z = model(torch.zeros(1, 128, 40))
    assert z.shape == (1, 64)
    assert (run / "train_config.json").is_file()
    assert not [p for p in run.rglob("*.tmp")]


def test_nan_loss_stops_with_clear_error_and_keeps_last_checkpoint(library, tmp_path, monkeypatch):
    cfg = _cfg(library, tmp_path, "nan", kmeans_weight=0.0, hull_weight=0.0)
    real = loop.nt_xent
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        out = real(*args, **kwargs)
        return out * float("nan") if calls["n"] == 6 else out

    monkeypatch.setattr(loop, "nt_xent", poisoned)
    with pytest.raises(TrainingDiverged) as err:
        train(cfg)
    msg = str(err.value)
    assert "loss became nan at step 6" in msg and "checkpoint (step 4) is intact" in msg and "--lr" in msg
    run = tmp_path / "nan"
    assert os.readlink(run / "checkpoint") == "steps/step-0000004"
    load_checkpoint(run / "checkpoint")  # intact, weights match their recorded hash


def test_nan_before_any_checkpoint_does_not_claim_one_is_intact(library, tmp_path, monkeypatch):
    real = loop.nt_xent
    monkeypatch.setattr(loop, "nt_xent", lambda *a, **k: real(*a, **k) * float("nan"))
    with pytest.raises(TrainingDiverged) as err:
        train(_cfg(library, tmp_path, "nan0", kmeans_weight=0.0, hull_weight=0.0))
    msg = str(err.value)
    assert "no checkpoint had been written yet" in msg and "intact" not in msg and "start the run again" in msg


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_cli_train_exits_128_plus_the_signal_after_saving(library, tmp_path, monkeypatch, signum, code):
    import cli.train_cmd
    from cli.app import _register, app

    _register()  # all commands, so `train` is a sub-command as in the installed `myna`

    class SignalAt(cli.train_cmd.RichReporter):
        def step(self, m) -> None:
            super().step(m)
            if m.step == 2:
                os.kill(os.getpid(), signum)

    monkeypatch.setattr(cli.train_cmd, "RichReporter", SignalAt)
    out = tmp_path / "sig"
    result = CliRunner().invoke(app, ["train", "--data", str(library), "--out", str(out), "--cache-dir",
                                      str(tmp_path.parent / "mels"), "--size", "tiny", "--batch-size", "4",
                                      "--chunk-seconds", "1", "--steps", "8", "--warmup-steps", "1"])
    assert result.exit_code == code, result.output
    assert "--resume" in result.output and "Traceback" not in result.output
    assert os.readlink(out / "checkpoint") == "steps/step-0000003"  # the step in flight finished, then saved


def test_existing_run_needs_resume_and_resume_needs_a_run(library, tmp_path):
    from myna_rpe.errors import MynaError

    cfg = _cfg(library, tmp_path, "once", steps=2, checkpoint_every=2)
    train(cfg)
    with pytest.raises(MynaError, match="--resume"):
        train(cfg)
    with pytest.raises(MynaError, match="nothing to resume"):
        train(_cfg(library, tmp_path, "never"), resume=True)


@pytest.mark.parametrize(("device", "expect"), [
    ("cuda:99", "device cuda:99: no such CUDA device here: give cpu"),
    pytest.param("mps", "device mps: Apple's MPS is not available here: give cpu",
                 marks=pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")),
])
def test_a_device_this_machine_lacks_is_one_line_before_any_work(library, tmp_path, device, expect):
    cfg = _cfg(library, tmp_path, "dev", device=device, cache_dir=str(tmp_path / "mels"))
    with pytest.raises(MynaError) as err:
        train(cfg)
    assert str(err.value) == expect
    assert not (tmp_path / "mels").exists() and not (tmp_path / "dev").exists()  # no mel cache built, no run


def test_train_errors_name_what_train_takes(tmp_path, capsys):
    from tests.cli_helpers import myna

    missing = tmp_path / "none.hdf5"
    code, out = myna(capsys, "train", "--data", f"hdf5:{missing}", "--out", str(tmp_path / "h"),
                     "--cache-dir", str(tmp_path / "mels"))
    assert (code, out.strip()) == (1, f"error: {missing}: audio file not found — pass the dataset's .hdf5 file as "
                                      "--data hdf5:FILE")
    code, out = myna(capsys, "train", "--out", str(tmp_path / "nonexist_run"), "--resume")
    assert (code, out.strip()) == (1, f"error: {tmp_path / 'nonexist_run'}: no run to resume here (no "
                                      "train_config.json) — check --out, or drop --resume to start a new run")


def _train_in(folder: Path, capsys, *args: str) -> str:
    """`myna train ARGS` run from `folder` (a tiny model, 1-s chunks); its output. It must succeed."""
    from tests.cli_helpers import myna

    here = os.getcwd()
    os.chdir(folder)
    try:
        code, out = myna(capsys, "train", "--size", "tiny", "--batch-size", "4", "--chunk-seconds", "1",
                         "--warmup-steps", "1", *args)
    finally:
        os.chdir(here)
    assert code == 0 and "Traceback" not in out, out
    return out


def _saved_paths(run: Path) -> list[str]:
    saved = json.loads((run / "train_config.json").read_text())
    return [saved[k] for k in ("data", "out", "cache_dir")]


@pytest.fixture
def two_folders(library, tmp_path) -> tuple[Path, Path]:
    """`start/data`, the library; `elsewhere/data`, other audio under the same name."""
    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    shutil.copytree(library, start / "data")
    (elsewhere / "data").mkdir(parents=True)
    for wav in sorted(library.iterdir())[:6]:
        shutil.copy(wav, elsewhere / "data")
    return start, elsewhere


def test_a_run_saves_absolute_paths_so_it_resumes_from_any_folder(two_folders, capsys):
    start, elsewhere = two_folders
    _train_in(start, capsys, "--data", "data", "--out", "runs/z", "--cache-dir", "mels", "--steps", "2")
    run = start / "runs" / "z"
    assert _saved_paths(run) == [str(start / "data"), str(run), str(start / "mels")]
    out = _train_in(elsewhere, capsys, "--out", "../start/runs/z", "--resume", "--steps", "3")
    assert "training data changed" not in out and "relative" not in out, out  # the run's own 10 tracks
    assert _saved_paths(run) == [str(start / "data"), str(run), str(start / "mels")]
    assert sorted(p.name for p in elsewhere.iterdir()) == ["data"]  # no cache made here


def test_an_older_run_with_relative_paths_reads_them_from_where_it_began(two_folders, capsys):
    start, elsewhere = two_folders
    _train_in(start, capsys, "--data", "data", "--out", "runs/z", "--cache-dir", "mels", "--steps", "2")
    run = start / "runs" / "z"
    config = run / "train_config.json"
    as_typed = {**json.loads(config.read_text()), "data": "data", "out": "runs/z", "cache_dir": "mels"}
    config.write_text(json.dumps(as_typed))  # what myna saved before paths were absolute
    out = _train_in(elsewhere, capsys, "--out", str(run), "--resume", "--steps", "3")
    assert (f"holds relative paths (an older myna): reading data 'data' as {start / 'data'}, cache_dir 'mels' as "
            f"{start / 'mels'} (the folder the run was started in)") in out
    assert "training data changed" not in out, out
    assert _saved_paths(run) == [str(start / "data"), str(run), str(start / "mels")]  # saved absolute from now on
    # Where the run folder no longer ends in the `out` it saved, the current folder is all there is: said so.
    config.write_text(json.dumps({**as_typed, "out": "moved/z", "steps": 3}))
    out = _train_in(start, capsys, "--out", "runs/z", "--resume", "--steps", "4")
    assert f"reading data 'data' as {start / 'data'}" in out and "(the current folder" in out, out


def test_the_step_bar_fits_80_columns(monkeypatch):
    from cli.console import err_console
    from cli.train_cmd import RichReporter

    monkeypatch.setattr(err_console, "width", 80)
    reporter = RichReporter()
    reporter.start(0, 10000)
    reporter.step(loop.StepMetrics(step=10000, epoch=3, loss=12.3456, nce=0, kmeans=0, hull=0, distill=0, lr=4e-6,
                                   grad_norm=1, pairs_per_s=1234.5, chunk_frames=96))
    with err_console.capture() as captured:
        err_console.print(reporter.step_bar.get_renderable())
    reporter.close()
    line = captured.get().rstrip("\n")
    assert len(line) <= 80 and "…" not in line, line  # nothing cut to an ellipsis
    for part in ("training", "10000/10000", "loss 12.3456", "lr 4.0e-06", "1234 pairs/s", "eta 0:00:00"):
        assert part in line, line


def test_schedule_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(data="x", lr=1e-3, warmup_steps=10, steps=110, min_lr_ratio=0.1)
    lrs = [lr_at(cfg, s) for s in range(110)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lr_at(cfg, 110) == pytest.approx(1e-4)


def test_variable_length_chunks_train(library, tmp_path):
    cfg = _cfg(library, tmp_path, "var", steps=6, chunk_min_seconds=0.5, chunk_max_seconds=2.5, kmeans_weight=0.0)
    result = train(cfg)
    lengths = {m.chunk_frames for m in result.history}
    assert len(lengths) > 1 and all(f % 16 == 0 and 16 <= f <= 80 for f in lengths)
    assert all(np.isfinite(m.loss) for m in result.history)


def test_cli_train_with_config_file_and_flag_override(library, tmp_path):
    from cli.app import _register, app

    _register()  # all commands, so `train` is a sub-command as in the installed `myna`

    conf = tmp_path / "train.toml"
    conf.write_text(
        f'[data]\ndata = "{library}"\ncache_dir = "{tmp_path.parent / "mels"}"\n'
        '[model]\nsize = "tiny"\n[optim]\nsteps = 50\nwarmup_steps = 1\n'
        "[pairs]\nbatch_size = 4\nchunk_seconds = 1.0\n"
    )
    out = tmp_path / "cli-run"
    result = CliRunner().invoke(app, ["train", "--config", str(conf), "--pe", "alibi2d", "--steps", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = TrainConfig.from_sources(__import__("json").loads((out / "train_config.json").read_text()))
    assert saved.steps == 3 and saved.size == "tiny" and saved.batch_size == 4  # flag beat the file
    assert (out / "checkpoint" / "model.safetensors").is_file()


def test_metrics_go_to_tensorboard_when_installed(library, tmp_path, monkeypatch):
    """tensorboard is optional; with a SummaryWriter available every logged step is written."""
    import sys
    import types

    written: list[tuple[str, float, int]] = []

    class FakeWriter:
        def __init__(self, logdir, purge_step=None):
            self.logdir = logdir

        def add_scalar(self, tag, value, step):
            written.append((tag, value, step))

        def close(self):
            written.append(("closed", 0.0, 0))

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = FakeWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    train(_cfg(library, tmp_path, "tb", steps=4, log_every=2, kmeans_weight=0.0))
    steps = sorted({s for tag, _, s in written if tag == "train/loss"})
    assert steps == [2, 4] and written[-1][0] == "closed"
    assert {tag for tag, _, _ in written} >= {"train/loss", "train/lr", "train/pairs_per_s"}
