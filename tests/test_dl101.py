"""DL-101 datasets (.hdf5 audio + .pyjama annotations) written here in exactly the tutorial's
layout — a genre set like gtzan-genre, a tag set like mtt, a note set with pitchmidi — read,
split, probed (`myna eval pyjama`) and trained from (`myna train --data hdf5:`)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from myna_rpe.errors import DatasetError
from myna_rpe.evaluation.dl101 import Hdf5Audio, load_dl101, read_pyjama, split_indices
from myna_rpe.training.hdf5_data import build_from_hdf5
from myna_rpe.training.mel_cache import MelCache
from tests.cli_helpers import myna, wide_console  # noqa: F401 (autouse fixture)

SR = 22050  # the tutorial's files are not at the model's rate: reading resamples


def tone(freq: float, seconds: float, rng: np.random.Generator, noise: float = 0.02) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.4 * np.sin(2 * np.pi * freq * t) + noise * rng.standard_normal(len(t))).astype(np.float32)


def write_dataset(folder: Path, name: str, entries: list[dict], waves: dict[str, np.ndarray],
                  definitions: dict) -> tuple[Path, Path]:
    """NAME.pyjama + NAME_audio.hdf5 as the tutorial ships them."""
    audio = folder / f"{name}_audio.hdf5"
    with h5py.File(audio, "w") as h5:
        for key, wave in waves.items():
            h5.create_dataset(key, data=wave)
            h5[key].attrs["sr_hz"] = SR
    doc = {"schemaversion": 1.31, "collection": {"descriptiondefinition": definitions, "entry": entries}}
    annotations = folder / f"{name}.pyjama"
    annotations.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return annotations, audio


def text_def(extent: str = "global") -> dict:
    return {"type_content": "text", "type_extent": extent, "type_constraint": "free", "dictionary": []}


@pytest.fixture(scope="module")
def genre_set(tmp_path_factory) -> tuple[Path, Path]:
    """gtzan-genre-like: 3 genres × 10 tracks, two tracks per artist, one `tag` each."""
    rng = np.random.default_rng(0)
    entries, waves = [], {}
    for g, (genre, freq) in enumerate((("blues", 220.0), ("disco", 880.0), ("metal", 3000.0))):
        for i in range(10):
            key = f"{genre}.{i:05d}.wav"
            waves[key] = tone(freq * (1 + 0.02 * i), 2.0, rng)
            entries.append({"filepath": [{"value": key}], "tag": [{"value": genre}],
                            "artist": [{"value": f"{genre}-artist-{i // 2}"}], "title": [{"value": f"song {i}"}]})
    defs = {"filepath": {**text_def(), "type_constraint": "filepath"}, "tag": text_def(), "artist": text_def(),
            "title": text_def()}
    return write_dataset(tmp_path_factory.mktemp("gtzan"), "gtzan-genre", entries, waves, defs)


@pytest.fixture(scope="module")
def tag_set(tmp_path_factory) -> tuple[Path, Path]:
    """mtt-like: several `tag` values per entry, no artist field; plus pitchmidi notes (time, duration)."""
    rng = np.random.default_rng(1)
    entries, waves = [], {}
    for i in range(30):
        key = f"{i % 16:x}/clip-{i:03d}.mp3"  # mtt keys hold a folder: an hdf5 group
        low, noisy = i % 2 == 0, i % 3 == 0
        midi = 45 + (i % 12) * 3
        waves[key] = tone(440.0 * 2 ** ((midi - 69) / 12), 2.0, rng, noise=0.3 if noisy else 0.01)
        tags = (["low"] if low else ["high"]) + (["noisy"] if noisy else [])
        entries.append({"filepath": [{"value": key}], "tag": [{"value": t} for t in tags],
                        "pitchmidi": [{"value": midi, "time": 0.0, "duration": 1.0},
                                      {"value": midi, "time": 1.0, "duration": 1.0}]})
    entries.append({"filepath": [{"value": "not-in-audio.mp3"}], "tag": [{"value": "low"}]})
    defs = {"filepath": text_def(), "tag": text_def(),
            "pitchmidi": {"type_content": "numeric", "type_extent": "segment", "type_constraint": "free", "dictionary": []}}
    return write_dataset(tmp_path_factory.mktemp("mtt"), "mtt", entries, waves, defs)


def test_reads_the_tutorial_layout(genre_set):
    annotations, audio = genre_set
    entries = read_pyjama(annotations)
    assert len(entries) == 30 and entries[0].key == "blues.00000.wav"
    with Hdf5Audio(audio, 16000) as h5:
        assert sorted(h5.keys()) == sorted(e.key for e in entries)
        wave = h5.wave(entries[0].key)
    assert wave.dtype == np.float32 and len(wave) == 32000  # 2 s resampled from 22,050 Hz


def test_genre_set_is_multiclass_with_whole_artists_per_split(genre_set):
    dataset = load_dl101(*genre_set, field="tag")
    assert dataset.task == "multiclass" and dataset.labels == ["blues", "disco", "metal"]
    assert "artist" in dataset.split_source
    entries = {e.key: e for e in read_pyjama(genre_set[0])}
    artists = {s: {entries[t.key].fields["artist"][0]["value"] for t in dataset.splits[s]} for s in dataset.splits}
    assert not (artists["train"] & artists["test"]) and not (artists["train"] & artists["valid"])
    assert not (artists["valid"] & artists["test"])
    for split in ("valid", "test"):  # stratified: every genre in every split
        assert {t.label for t in dataset.splits[split]} == set(dataset.labels)
    assert load_dl101(*genre_set, field="tag").splits == dataset.splits  # seeded
    assert load_dl101(*genre_set, field="tag", seed=1).splits != dataset.splits


def test_tag_set_is_multilabel_and_pitch_is_regression(tag_set):
    tags = load_dl101(*tag_set, field="tag")
    assert tags.task == "multilabel" and tags.labels == ["high", "low", "noisy"]
    assert "at random" in tags.split_source and sum(tags.sizes().values()) == 30
    assert any("1 without audio" in n for n in tags.notes)
    pitch = load_dl101(*tag_set, field="pitchmidi")
    assert pitch.task == "regression" and pitch.labels == ["pitchmidi"]
    assert {t.label for t in pitch.splits["train"]} <= {(45.0 + 3 * k,) for k in range(12)}
    with pytest.raises(DatasetError, match="--task multilabel"):
        load_dl101(*tag_set, field="tag", task="multiclass")


def test_split_keeps_groups_whole_and_shares():
    groups = [f"a{i // 3}" for i in range(30)]
    index = split_indices(groups, None, seed=0)
    assert sorted(sum(index.values(), [])) == list(range(30))
    owner = {groups[i]: s for s, ids in index.items() for i in ids}
    assert all(owner[groups[i]] == s for s, ids in index.items() for i in ids)
    assert len(index["test"]) == 6 and len(index["valid"]) == 3


def test_bad_files_are_one_clear_line(tmp_path, genre_set):
    annotations, audio = genre_set
    cases = [
        (lambda: load_dl101(tmp_path / "x.pyjama", audio, "tag"), "annotation file not found"),
        (lambda: load_dl101(annotations, tmp_path / "x.hdf5", "tag"), "audio file not found"),
        (lambda: load_dl101(annotations, audio, "genre"), "choose --field from: artist, tag, title"),
    ]
    (tmp_path / "bad.pyjama").write_text("{not json")
    cases.append((lambda: load_dl101(tmp_path / "bad.pyjama", audio, "tag"), "not a JSON .pyjama file"))
    (tmp_path / "plain.pyjama").write_text(json.dumps({"entries": []}))
    cases.append((lambda: load_dl101(tmp_path / "plain.pyjama", audio, "tag"), "no collection.entry"))
    other = tmp_path / "other.hdf5"
    with h5py.File(other, "w") as h5:
        h5.create_dataset("x.wav", data=np.zeros(100, np.float32))
    cases.append((lambda: load_dl101(annotations, other, "tag"), "none of the 30 filepath values"))
    for call, message in cases:
        with pytest.raises(DatasetError, match=message) as err:
            call()
        assert "\n" not in str(err.value)


def test_cli_eval_pyjama_multiclass(genre_set, tmp_path, capsys):
    annotations, audio = genre_set
    out = tmp_path / "r.json"
    code, text = myna(capsys, "eval", "pyjama", "--annotations", str(annotations), "--audio", str(audio),
                      "--field", "tag", "--model", "mfcc", "--grid", "quick", "--no-cache", "--out", str(out))
    assert code == 0, text
    result = json.loads(out.read_text())["datasets"]["gtzan-genre:tag"]
    assert result["task"] == "multiclass" and result["primary_metric"] == "accuracy"
    assert result["probes"]["linear"]["test"]["accuracy"] >= 0.8  # three well-separated tones
    assert "whole artists per split" in text


def test_cli_eval_pyjama_multilabel_and_regression_with_the_encoder(tag_set, tmp_path, capsys):
    annotations, audio = tag_set
    for field, metrics in (("tag", {"roc_auc", "pr_auc"}), ("pitchmidi", {"r2"})):
        out = tmp_path / f"{field}.json"
        code, text = myna(capsys, "eval", "pyjama", "--annotations", str(annotations), "--audio", str(audio),
                          "--field", field, "--grid", "quick", "--cache-dir", str(tmp_path / "cache"), "--out", str(out))
        assert code == 0, text
        report = json.loads(out.read_text())
        result = report["datasets"][f"mtt:{field}"]
        assert metrics <= set(result["probes"]["linear"]["test"])
        # the MFCC and untrained rows run on the same split
        assert set(report["baselines"]) == {"mfcc", "untrained"}
        assert report["baselines"]["mfcc"]["datasets"][f"mtt:{field}"]["sizes"] == result["sizes"]
        assert all(np.isfinite(v) for v in result["probes"]["linear"]["test"].values())
    # the second field reused the first one's embeddings: same audio, same model
    assert result["features_computed"] == 0


def test_cli_eval_pyjama_usage_errors(genre_set, capsys):
    annotations, audio = genre_set
    code, text = myna(capsys, "eval", "pyjama", "--annotations", str(annotations), "--audio", str(audio))
    assert code == 2 and "--field" in text
    code, text = myna(capsys, "eval", "pyjama", "--annotations", str(annotations), "--audio", str(audio),
                      "--field", "tag", "--task", "ranking")
    assert code == 2 and "--task" in text
    code, text = myna(capsys, "eval", "gtzan")
    assert code == 2 and "--data-dir" in text


def test_train_from_hdf5(genre_set, tmp_path):
    from myna_rpe.config import FrontendConfig
    from myna_rpe.training.config import TrainConfig
    from myna_rpe.training.loop import train

    _, audio = genre_set
    cache = MelCache(tmp_path / "mels", FrontendConfig())
    first = build_from_hdf5(cache, audio)
    assert len(first.tracks) == 30 and first.computed == 30 and not first.failed
    assert build_from_hdf5(cache, audio).computed == 0  # keyed by content: nothing to redo
    cfg = TrainConfig(data=f"hdf5:{audio}", out=str(tmp_path / "run"), cache_dir=str(tmp_path / "mels"), size="tiny",
                      batch_size=4, chunk_seconds=1.0, mask_ratio=0.5, steps=3, warmup_steps=1, checkpoint_every=3,
                      log_every=1)
    result = train(cfg)
    assert all(np.isfinite(m.loss) for m in result.history)
    assert (tmp_path / "run" / "checkpoint" / "model.safetensors").is_file()
    with pytest.raises(DatasetError, match="audio file not found — pass the dataset's .hdf5 file as --data hdf5:FILE"):
        train(TrainConfig(**{**cfg.__dict__, "data": f"hdf5:{tmp_path / 'none.hdf5'}", "out": str(tmp_path / "r2")}))
