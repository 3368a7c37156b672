"""Checkpoints round-trip exactly, and every broken checkpoint is a clear CheckpointError."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from myna_rpe.checkpoint import build_model, load_checkpoint, save_checkpoint
from myna_rpe.config import EncoderConfig, FrontendConfig, ModelConfig
from myna_rpe.embed import Embedder
from myna_rpe.errors import CheckpointError


def tiny_cfg(pe: str = "alibi2d") -> EncoderConfig:
    return EncoderConfig(model=ModelConfig.from_preset("tiny", pe))


@pytest.fixture
def saved(tmp_path):
    cfg = tiny_cfg("rope2d")
    torch.manual_seed(0)
    model = build_model(cfg)
    return save_checkpoint(tmp_path / "ckpt", model, cfg, meta={"steps": 3}), model, cfg


def test_round_trip_gives_identical_outputs(saved):
    path, model, cfg = saved
    loaded, cfg2, meta = load_checkpoint(path)
    assert cfg2 == cfg and meta == {"steps": 3}
    x = torch.randn(1, 128, 80)
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))
    # Either file of the checkpoint works as the path too.
    load_checkpoint(path / "model.safetensors")
    load_checkpoint(path / "config.json")


def test_non_default_frontend_is_stored(tmp_path):
    cfg = EncoderConfig(frontend=FrontendConfig(n_mels=64, hop_length=256), model=ModelConfig.from_preset("tiny", "alibi1d", n_mels=64))
    save_checkpoint(tmp_path, build_model(cfg), cfg)
    assert load_checkpoint(tmp_path)[1].frontend.hop_length == 256


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope")


def test_corrupt_weights(saved):
    path = saved[0]
    data = bytearray((path / "model.safetensors").read_bytes())
    data[-10] ^= 0xFF
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(path)


def test_truncated_weights_without_digest(saved):
    path = saved[0]
    doc = json.loads((path / "config.json").read_text())
    doc["weights_sha256"] = ""
    (path / "config.json").write_text(json.dumps(doc))
    (path / "model.safetensors").write_bytes((path / "model.safetensors").read_bytes()[:100])
    with pytest.raises(CheckpointError, match="unreadable safetensors"):
        load_checkpoint(path)


def test_weights_from_another_config(tmp_path, saved):
    path = saved[0]
    other = tiny_cfg("learned")
    save_checkpoint(tmp_path / "other", build_model(other), other)
    (path / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    doc = json.loads((path / "config.json").read_text())
    doc["weights_sha256"] = ""
    (path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="do not fit the config"):
        load_checkpoint(path)


def test_config_from_another_version(saved):
    path = saved[0]
    doc = json.loads((path / "config.json").read_text())
    doc["config"]["model"]["wings"] = 2
    (path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="unknown model keys: wings"):
        load_checkpoint(path)


def _set(doc, dotted, value):
    *parents, last = dotted.split(".")
    for key in parents:
        doc = doc[key]
    if value is _DELETE:
        del doc[last]
    else:
        doc[last] = value


_DELETE = object()


@pytest.mark.parametrize(("edit", "expect"), [
    (lambda doc: [doc], "holds a JSON list, not an object"),
    (lambda doc: _set(doc, "config", [1, 2]), "config must be an object of settings, not list"),
    (lambda doc: _set(doc, "config.model", "tiny"), "model must be an object of settings, not str"),
    (lambda doc: _set(doc, "config.model.patch_size", 0), "model: patch_size must be a positive number, not 0"),
    (lambda doc: _set(doc, "config.frontend.sample_rate", -16000), "sample_rate must be a positive number"),
    (lambda doc: _set(doc, "config.frontend.f_max", 20000.0), "f_max 20000.0 is not between"),
    (lambda doc: _set(doc, "config.model.dim", "64"), "model.dim must be int, not '64'"),
    (lambda doc: _set(doc, "config.model.heads", True), "model.heads must be int, not True"),
    (lambda doc: _set(doc, "config.model.mlp_ratio", float("nan")), "mlp_ratio must be a positive number"),
    (lambda doc: _set(doc, "config.model.pe.rope", "3d"), "rope must be none, 1d or 2d"),
    (lambda doc: _set(doc, "config.model.pe.rope_base", None), "model.pe.rope_base must be float, not None"),
    (lambda doc: _set(doc, "config.frontend.n_fft", _DELETE), "missing frontend keys: n_fft"),
    (lambda doc: _set(doc, "config.model", _DELETE), "missing config keys: model"),
    (lambda doc: _set(doc, "config.model.pe", _DELETE), "missing model keys: pe"),
    # RoPE has no weights, so these still fit the tensors: only the weights' own record tells.
    (lambda doc: _set(doc, "config.model.pe.rope", "none"), "model.pe.rope: '2d' in the weights, 'none' in config"),
])
def test_bad_configs_are_one_checkpoint_error_with_path_and_fix(saved, edit, expect):
    path = saved[0]
    doc = json.loads((path / "config.json").read_text())
    doc = edit(doc) or doc
    (path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert expect in msg and str(path / "config.json") in msg and " — " in msg and "\n" not in msg


def test_bad_config_through_the_cli_is_one_red_line(saved, tmp_path, tone_file, capsys):
    import sys

    from cli.app import main

    path = saved[0]
    doc = json.loads((path / "config.json").read_text())
    doc["config"]["model"]["patch_size"] = 0
    (path / "config.json").write_text(json.dumps(doc))
    sys.argv, argv = ["myna", "embed", "-c", str(path), str(tone_file())], sys.argv
    try:
        with pytest.raises(SystemExit) as exit_:
            main()
    finally:
        sys.argv = argv
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert "patch_size must be a positive number" in line and "re-save the checkpoint" in line


def test_pickle_is_never_loaded(tmp_path):
    evil = tmp_path / "model.pt"
    evil.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="never loaded"):
        load_checkpoint(evil)


def test_missing_config(tmp_path, saved):
    path = saved[0]
    (path / "config.json").unlink()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_checkpoint(path)


def test_embedder_from_checkpoint_matches_model(saved):
    path, model, cfg = saved
    emb = Embedder.load(path)
    rng = np.random.default_rng(0)
    wave = rng.standard_normal(16000 * 2).astype(np.float32) * 0.1
    with torch.no_grad():
        expected = model.eval()(emb.mels(wave)[None]).numpy()[0]
    assert np.allclose(emb.embed_waveform(wave), expected, atol=1e-6)
    assert emb.model_id == Embedder.load(path).model_id


def test_embedder_batch_equals_one_by_one():
    emb = Embedder.random(tiny_cfg("alibi2d"), seed=1)
    rng = np.random.default_rng(1)
    waves = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (16000 * 3, 4000, 100, 16000)]
    batch = emb.embed_batch(waves)
    alone = np.stack([emb.embed_waveform(w) for w in waves])
    assert batch.shape == (4, 64)
    assert np.allclose(batch, alone, atol=1e-5)


def test_random_embedder_is_seeded():
    a, b, c = (Embedder.random(tiny_cfg(), seed=s) for s in (0, 0, 1))
    assert a.model_id == b.model_id != c.model_id
    wave = np.sin(np.linspace(0, 2000, 16000)).astype(np.float32)
    assert np.array_equal(a.embed_waveform(wave), b.embed_waveform(wave))


def test_embed_file_reads_audio(tmp_path):
    from myna_rpe.audio import write_audio

    emb = Embedder.random(tiny_cfg(), seed=0)
    wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000 * 2) / 16000)).astype(np.float32)
    path = write_audio(tmp_path / "tone.flac", wave, 16000)
    assert np.allclose(emb.embed_file(path), emb.embed_waveform(wave), atol=1e-4)


def test_model_id_changes_with_the_config_even_for_the_same_weights(tmp_path):
    from dataclasses import replace

    cfg = tiny_cfg()
    model = build_model(cfg)
    save_checkpoint(tmp_path / "a", model, cfg)
    other = EncoderConfig(frontend=replace(cfg.frontend, top_db=60.0), model=cfg.model)
    save_checkpoint(tmp_path / "b", model, other)
    assert Embedder.load(tmp_path / "a").model_id != Embedder.load(tmp_path / "b").model_id


def test_embed_mels_groups_by_token_budget_and_keeps_order():
    emb = Embedder.random(tiny_cfg("alibi2d"), seed=2)
    torch.manual_seed(0)
    mels = [torch.randn(128, n) for n in (300, 20, 700, 5, 64, 64)]
    together = emb.embed_mels(mels)  # default budget: short items share passes
    emb.max_batch_tokens = 1  # every item alone
    alone = emb.embed_mels(mels)
    assert together.shape == (6, 64)
    assert np.allclose(together, alone, atol=1e-5)
    assert not np.allclose(together[0], together[1], atol=1e-3)  # order kept, not one repeated vector


def test_a_training_runs_folder_points_to_its_checkpoint(tmp_path) -> None:
    from myna_rpe.checkpoint_config import read_config

    run = tmp_path / "run"
    cfg = EncoderConfig(model=ModelConfig.from_preset("tiny", "alibi2d"))
    save_checkpoint(run / "checkpoint", build_model(cfg), cfg)
    with pytest.raises(CheckpointError, match=r"run: this is a training run's folder, not its checkpoint — "
                                              r"pass .*run/checkpoint"):
        read_config(run)
