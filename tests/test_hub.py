"""Hugging Face-style checkpoints: save_pretrained / from_pretrained / push_to_hub, and a hub
repo id wherever a checkpoint path is taken. No network: HF_HUB_OFFLINE is set for the
whole suite (tests/conftest.py), and repos come from a hub cache each test fills itself,
in the layout huggingface_hub writes (models--owner--name/{refs,snapshots,blobs})."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from myna_rpe.checkpoint import load_checkpoint
from myna_rpe.checkpoint_config import checkpoint_model_id
from myna_rpe.config import EncoderConfig, ModelConfig
from myna_rpe.embed import Embedder
from myna_rpe.errors import CheckpointError
from myna_rpe.hub import looks_like_repo_id

WAVE = (0.3 * np.sin(2 * np.pi * 330 * np.arange(24000) / 16000)).astype(np.float32)


def cache_repo(cache: Path, repo_id: str, folder: Path, revision: str = "main", commit: str | None = None) -> Path:
    """Put `folder`'s files into `cache` as huggingface_hub stores a downloaded snapshot."""
    owner, name = repo_id.split("/")
    root = cache / f"models--{owner}--{name}"
    commit = commit or hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (root / "blobs").mkdir(exist_ok=True)
    for f in folder.iterdir():
        blob = root / "blobs" / hashlib.sha256(f.read_bytes()).hexdigest()
        blob.write_bytes(f.read_bytes())
        (snapshot / f.name).symlink_to(os.path.relpath(blob, snapshot))
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / revision).write_text(commit)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))  # for CLI subprocesses
    return cache


@pytest.fixture
def tiny(tmp_path):
    return Embedder.random(EncoderConfig(model=ModelConfig.from_preset("tiny", "alibi2d")), seed=3)


def test_save_pretrained_writes_the_projects_format(tmp_path, tiny):
    folder = tiny.save_pretrained(tmp_path / "out", meta={"note": "x"})
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    model, cfg, meta = load_checkpoint(folder)  # the loader every other command uses
    assert cfg == tiny.config and meta == {"note": "x"}
    back = Embedder.from_pretrained(folder)
    np.testing.assert_array_equal(back.embed_waveform(WAVE), tiny.embed_waveform(WAVE))
    assert "library_name: myna-rpe" in (folder / "README.md").read_text()


def test_repo_id_resolves_from_the_cache_offline(tmp_path, tiny, hub_cache):
    folder = tiny.save_pretrained(tmp_path / "out")
    cache_repo(hub_cache, "someone/myna-tiny", folder)
    local = Embedder.load(folder)
    hub = Embedder.load("someone/myna-tiny")
    assert hub.model_id == local.model_id == checkpoint_model_id("someone/myna-tiny", hub.budget)
    np.testing.assert_array_equal(hub.embed_waveform(WAVE), local.embed_waveform(WAVE))


def test_revision_pins_a_tag(tmp_path, tiny, hub_cache):
    cache_repo(hub_cache, "someone/myna-tiny", tiny.save_pretrained(tmp_path / "v1"), revision="v1")
    other = Embedder.random(tiny.config, seed=4)
    cache_repo(hub_cache, "someone/myna-tiny", other.save_pretrained(tmp_path / "main"), revision="main")
    assert Embedder.load("someone/myna-tiny@v1").model_id == Embedder.load(tmp_path / "v1").model_id
    assert Embedder.load("someone/myna-tiny").model_id == Embedder.load(tmp_path / "main").model_id
    with pytest.raises(CheckpointError, match="not in the hub cache"):
        Embedder.load("someone/myna-tiny@v2")


def test_uncached_repo_offline_is_one_clear_line(hub_cache):
    with pytest.raises(CheckpointError) as err:
        Embedder.load("nobody/no-such-model")
    message = str(err.value)
    assert "\n" not in message and "nobody/no-such-model" in message
    assert "HF_HUB_OFFLINE" in message and str(hub_cache) in message


def test_pickles_in_a_repo_are_never_loaded(tmp_path, hub_cache):
    folder = tmp_path / "pickled"
    folder.mkdir()
    torch.save({"w": torch.zeros(2)}, folder / "pytorch_model.bin")
    cache_repo(hub_cache, "someone/pickled", folder)
    with pytest.raises(CheckpointError, match="no config.json"):
        Embedder.load("someone/pickled")


def test_local_paths_are_never_taken_for_repo_ids(tmp_path):
    assert looks_like_repo_id("owner/name") and looks_like_repo_id("owner/name@v1.0")
    for path in ("runs/x/checkpoint", "./a/b", "/abs/x", "~/x/y", "ckpt", "a/model.safetensors", "a/config.json"):
        assert not looks_like_repo_id(path)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        Embedder.load(tmp_path / "runs" / "nothing")


def test_push_to_hub_uploads_what_from_pretrained_reads(tmp_path, tiny, hub_cache, monkeypatch):
    from huggingface_hub import HfApi

    pushed: dict[str, object] = {}

    def create_repo(self, repo_id, private=None, exist_ok=False, **kw):
        pushed["created"] = (repo_id, private, exist_ok)

    def upload_folder(self, folder_path, repo_id, allow_patterns=None, commit_message=None, **kw):
        # Stand-in for the hub: what would be uploaded lands in the cache as a new revision.
        sent = tmp_path / "sent"
        shutil.copytree(folder_path, sent)
        pushed["files"] = sorted(p.name for p in sent.iterdir())
        cache_repo(hub_cache, repo_id, sent)
        return f"https://hub.example/{repo_id}/commit/1"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    url = tiny.push_to_hub("me/myna-tiny", private=True)
    assert url.endswith("/commit/1") and pushed["created"] == ("me/myna-tiny", True, True)
    assert pushed["files"] == ["README.md", "config.json", "model.safetensors"]
    back = Embedder.from_pretrained("me/myna-tiny")
    np.testing.assert_array_equal(back.embed_waveform(WAVE), tiny.embed_waveform(WAVE))


def test_push_offline_is_one_clear_line(tiny):
    with pytest.raises(CheckpointError, match="HF_HUB_OFFLINE"):
        tiny.push_to_hub("me/myna-tiny")
    with pytest.raises(CheckpointError, match="owner/name"):
        tiny.push_to_hub("not a repo")


def test_eval_model_accepts_a_repo_id(tmp_path, tiny, hub_cache):
    from myna_rpe.evaluation.runner import make_extractor

    cache_repo(hub_cache, "someone/myna-tiny", tiny.save_pretrained(tmp_path / "out"))
    extractor = make_extractor("someone/myna-tiny", "whole")
    assert extractor.embedder.weights_id == Embedder.load(tmp_path / "out").weights_id
    assert make_extractor("random:someone/myna-tiny", "whole").embedder.config == tiny.config


def test_cli_checkpoint_takes_a_repo_id(tmp_path, tiny, hub_cache):
    from myna_rpe.audio import write_audio

    cache_repo(hub_cache, "someone/myna-tiny", tiny.save_pretrained(tmp_path / "out"))
    song = write_audio(tmp_path / "a.wav", WAVE, 16000)
    run = lambda *a: subprocess.run([sys.executable, "-m", "cli.app", *a], capture_output=True, text=True,  # noqa: E731
                                    env={**os.environ, "COLUMNS": "200"})
    ok = run("embed", str(song), "--checkpoint", "someone/myna-tiny", "--out", str(tmp_path / "e.npy"))
    assert ok.returncode == 0, ok.stderr
    np.testing.assert_allclose(np.load(tmp_path / "e.npy")[0], Embedder.load(tmp_path / "out").embed_file(song), atol=1e-6)
    bad = run("embed", str(song), "--checkpoint", "someone/missing")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "someone/missing" in lines[0] and "hub cache" in lines[0]
