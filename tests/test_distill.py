"""Distillation from MusiCNN: view targets, the teacher cache, and training that resumes bit for bit."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from myna_rpe.audio import load_audio, write_audio
from myna_rpe.errors import CheckpointError, MynaError
from myna_rpe.synth import TrackSpec, synth_track
from myna_rpe.teacher.musicnn import PATCH_SECONDS, load_teacher, teacher_outputs
from myna_rpe.teacher.targets import TeacherCache, layer_slice, view_target
from myna_rpe.training.config import TrainConfig
from myna_rpe.training.distill import distill_loss
from myna_rpe.training.loop import SilentReporter, train
from myna_rpe.training.mel_cache import content_sha256


def test_view_target_is_the_mean_over_the_patches_whose_centre_it_covers():
    vecs = np.arange(5, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)  # patch p has value p
    # patches 1 and 2 have centres at 1.5 and 2.5 patch lengths
    got = view_target(vecs, 1.2 * PATCH_SECONDS, 2.9 * PATCH_SECONDS)
    np.testing.assert_allclose(got, [1.5, 1.5, 1.5])
    whole = view_target(vecs, 0.0, 5 * PATCH_SECONDS)
    np.testing.assert_allclose(whole, vecs.mean(axis=0))
    # a view shorter than a patch, covering no centre: the patch it sits in
    np.testing.assert_allclose(view_target(vecs, 3.6 * PATCH_SECONDS, 3.9 * PATCH_SECONDS), [3, 3, 3])
    # a view past the last patch (the dropped tail): the last patch
    np.testing.assert_allclose(view_target(vecs, 5.1 * PATCH_SECONDS, 5.4 * PATCH_SECONDS), [4, 4, 4])
    assert view_target(vecs[:0], 0.0, 10.0) is None
    # every second patch computed: rows are patches 0, 2, 4; the view over patches 1-3 sees patch 2
    np.testing.assert_allclose(view_target(vecs[::2], 0.9 * PATCH_SECONDS, 3.9 * PATCH_SECONDS, stride=2), [2, 2, 2])
    np.testing.assert_allclose(view_target(vecs[::2], 0.0, 5 * PATCH_SECONDS, stride=2), [2, 2, 2])
    # covering no computed centre: the nearest computed patch
    np.testing.assert_allclose(view_target(vecs[::2], 3.6 * PATCH_SECONDS, 3.9 * PATCH_SECONDS, stride=2), [4, 4, 4])


def test_distill_loss_ignores_views_without_a_target():
    pred = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    target = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert distill_loss(pred, target, torch.tensor([True, False]), "cosine").item() == pytest.approx(0.0)
    assert distill_loss(pred, target, torch.tensor([True, True]), "cosine").item() == pytest.approx(0.5)
    assert distill_loss(pred, target, torch.tensor([False, True]), "mse").item() == pytest.approx(1.0)


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("distill") / "lib"
    rng = np.random.default_rng(3)
    for i in range(8):
        write_audio(root / f"{i:02d}.wav", synth_track(TrackSpec.random(rng), 6.5), 16000)
    return root


def test_teacher_cache_holds_every_layer_per_patch_and_is_reused(library, tmp_path):
    path = sorted(library.glob("*.wav"))[0]
    sha = content_sha256(path)
    cache = TeacherCache(tmp_path / "teacher")
    assert cache.build([(path, sha)]) == []
    stored = cache.vectors(sha, "penultimate")
    direct = teacher_outputs(load_teacher("musicnn-msd"), load_audio(path, 16000)).penultimate.numpy()
    assert stored.shape == direct.shape == (2, 200)
    np.testing.assert_allclose(stored, direct, rtol=2e-3, atol=2e-3)  # stored as float16
    assert cache.vectors(sha, "taggram").shape == (2, 50) and layer_slice("max_pool") == slice(0, 753)
    strided = TeacherCache(tmp_path / "teacher", stride=2)
    assert strided.entry(sha) != cache.entry(sha) and strided.build([(path, sha)]) == []
    np.testing.assert_array_equal(strided.vectors(sha, "penultimate"), stored[::2])
    mtime = cache.entry(sha).stat().st_mtime_ns
    calls = []
    assert cache.build([(path, sha)], lambda d, t: calls.append((d, t))) == []
    assert cache.entry(sha).stat().st_mtime_ns == mtime and calls == [(0, 0)]


def _cfg(library: Path, tmp_path: Path, out: str, **kw) -> TrainConfig:
    base = dict(
        data=str(library), out=str(tmp_path / out), cache_dir=str(tmp_path.parent / "cache"), size="tiny",
        batch_size=4, chunk_min_seconds=1.0, chunk_max_seconds=5.0, mask_ratio=0.5, steps=6, warmup_steps=2,
        checkpoint_every=3, log_every=1, distill="musicnn-msd:max_pool", distill_weight=1.0,
    )
    base.update(kw)
    return TrainConfig(**base)


class InterruptAt(SilentReporter):
    def __init__(self, step: int) -> None:
        self.at = step

    def step(self, m) -> None:
        if m.step == self.at:
            os.kill(os.getpid(), __import__("signal").SIGINT)


@pytest.mark.parametrize("kind,whole,teachers", [("cosine", 0.0, "musicnn-msd:max_pool"), ("mse", 0.0, "musicnn-msd"),
                                                 ("cosine", 0.5, "musicnn-msd"), ("cosine", 0.0, "musicnn-msd=0.3,chroma")])
def test_distillation_trains_and_resumes_bit_for_bit(library, tmp_path, kind, whole, teachers):
    kw = dict(distill_loss=kind, whole_track_p=whole, whole_track_tokens=16, distill=teachers)
    straight = train(_cfg(library, tmp_path, "straight", **kw))
    assert all(np.isfinite(m.distill) and m.distill > 0 for m in straight.history)
    if whole:  # some steps saw whole tracks (every frame of the 6.5-s tracks), some did not
        assert {m.chunk_frames for m in straight.history} > {204}
    first = train(_cfg(library, tmp_path, "split", **kw), reporter=InterruptAt(2))
    assert first.interrupted and first.step == 3
    train(_cfg(library, tmp_path, "split", **kw), resume=True)
    for name in ("model.safetensors", "train_state.safetensors"):
        a = load_file(str(tmp_path / "straight" / "checkpoint" / name))
        b = load_file(str(tmp_path / "split" / "checkpoint" / name))
        assert a.keys() == b.keys()
        assert any(k.startswith("distill_head.") for k in a) or name == "model.safetensors"
        for k in a:
            if not k.startswith("rng."):
                assert torch.equal(a[k], b[k]), (name, k)
    # the inference checkpoint is the encoder alone: the head stays in the training state
    assert not any("distill" in k for k in load_file(str(tmp_path / "straight" / "checkpoint" / "model.safetensors")))


def test_distillation_changes_training_but_not_the_initial_encoder(library, tmp_path):
    plain = train(_cfg(library, tmp_path, "plain", distill=None, steps=1))
    taught = train(_cfg(library, tmp_path, "taught", steps=1))
    assert plain.history[0].nce == taught.history[0].nce  # same encoder, same views before the first update
    assert taught.history[0].loss != plain.history[0].loss


def test_resuming_a_plain_run_with_distillation_is_one_clear_error(library, tmp_path):
    train(_cfg(library, tmp_path, "plain", distill=None, steps=3))
    with pytest.raises(CheckpointError, match="trained without --distill"):
        train(_cfg(library, tmp_path, "plain", steps=6), resume=True)


def test_a_run_resumes_with_new_teacher_weights_but_not_other_teachers(library, tmp_path):
    from myna_rpe.training.loop import resume_config

    run = tmp_path / "pair"
    train(_cfg(library, tmp_path, "pair", distill="musicnn-msd=0.3,chroma", steps=3))
    with pytest.raises(MynaError, match="other distillation teachers") as err:
        resume_config(run, {"distill": "chroma,musicnn-msd"})  # the same head size, rows swapped
    assert "--distill musicnn-msd:max_pool,chroma:chroma" in err.value.fix
    with pytest.raises(MynaError, match="other distillation teachers"):
        resume_config(run, {"distill": "musicnn-msd:penultimate,chroma"})
    cfg = resume_config(run, {"distill": "musicnn-msd:max_pool=1,chroma=0.5", "steps": 5})
    assert cfg.distill_specs() == [("musicnn-msd", "max_pool", 1.0), ("chroma", "chroma", 0.5)]
    assert train(cfg, resume=True).step == 5


@pytest.mark.parametrize("spec", ["musicnn", "musicnn-msd:logits", "vggish", "chroma:max_pool", "musicnn-msd:chroma",
                                  "musicnn-msd,", "chroma,vggish=1"])
def test_unknown_teacher_or_layer_is_refused(tmp_path, spec):
    with pytest.raises(MynaError, match="unknown distillation teacher"):
        TrainConfig(data="x", distill=spec)


@pytest.mark.parametrize("spec,error", [("chroma,chroma=2", "given twice"), ("chroma=heavy", "not a number"),
                                        ("musicnn-msd=-1", "not a number"), ("chroma=nan", "not a number")])
def test_bad_teacher_lists_are_refused(spec, error):
    with pytest.raises(MynaError, match=error):
        TrainConfig(data="x", distill=spec)


def test_two_teachers_are_learnt_side_by_side_each_with_its_weight(library, tmp_path):
    cfg = _cfg(library, tmp_path, "both", distill="musicnn-msd:max_pool=0.3, chroma", distill_weight=2.0, steps=1)
    assert cfg.distill_specs() == [("musicnn-msd", "max_pool", 0.3), ("chroma", "chroma", 2.0)]
    both = train(cfg).history[0]
    # the same head (753 + 12 outputs, same initial weights) with one teacher weighed 0 at a time
    msd = train(_cfg(library, tmp_path, "msd", distill="musicnn-msd=1,chroma=0", steps=1)).history[0]
    tonal = train(_cfg(library, tmp_path, "tonal", distill="musicnn-msd=0,chroma=1", steps=1)).history[0]
    assert both.nce == msd.nce == tonal.nce
    l_msd, l_tonal = msd.loss - msd.nce, tonal.loss - tonal.nce
    assert l_msd > 0.05 and l_tonal > 0.05
    assert both.loss - both.nce == pytest.approx(0.3 * l_msd + 2.0 * l_tonal, rel=1e-4)
    assert both.distill == msd.distill == tonal.distill == pytest.approx((l_msd + l_tonal) / 2, rel=1e-4)
    head = load_file(str(tmp_path / "both" / "checkpoint" / "train_state.safetensors"))["distill_head.weight"]
    assert head.shape[0] == 753 + 12


def _tone(midis: list[int], seconds: float, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return sum(np.sin(2 * np.pi * 440.0 * 2 ** ((m - 69) / 12) * t) for m in midis).astype(np.float32) / len(midis)


def test_chroma_teacher_names_the_pitch_classes_of_each_patch():
    from myna_rpe.teacher.chroma import patch_chroma

    seconds = PATCH_SECONDS  # one 3-s patch each
    wave = np.concatenate([_tone([60, 64, 67], seconds), _tone([57], seconds), np.zeros(int(seconds * 16000) + 999,
                                                                                         np.float32)])  # C E G | A | rest
    c = patch_chroma(wave)
    assert c.shape == (3, 12)  # the tail under 3 s is dropped, as for MusiCNN's patches
    assert set(np.argsort(c[0])[-3:]) == {0, 4, 7} and c[0][[0, 4, 7]].min() > 0.5  # C, E, G
    assert int(np.argmax(c[1])) == 9 and np.sort(c[1])[-2] < 0.2  # A alone
    assert not c[2].any()  # silence: no pitch class
    np.testing.assert_array_equal(patch_chroma(wave, stride=2), c[::2])
    assert patch_chroma(wave[:16000]).shape == (0, 12)


def test_chroma_distillation_trains_from_a_cache_of_its_own(library, tmp_path):
    cfg = _cfg(library, tmp_path, "tonal", distill="chroma", steps=2)
    assert cfg.distill_specs() == [("chroma", "chroma", 1.0)]
    run = train(cfg)
    assert all(np.isfinite(m.distill) and m.distill > 0 for m in run.history)
    head = load_file(str(tmp_path / "tonal" / "checkpoint" / "train_state.safetensors"))["distill_head.weight"]
    assert head.shape[0] == 12
    cache = TeacherCache(tmp_path.parent / "cache" / "teacher", "chroma")
    entries = sorted(cache.dir.rglob("*.npy"))
    assert len(entries) == 8 and np.load(entries[0]).shape == (2, 12)  # 6.5-s tracks: two 3-s patches
    assert layer_slice("chroma", "chroma") == slice(0, 12)
