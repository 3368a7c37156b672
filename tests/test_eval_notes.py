"""NSynth and TinySOL: the loaders read the published layouts (tests/eval_note_fixtures.py
writes them), the splits are the datasets' own, and `myna eval` learns instrument and pitch
from generated notes clearly above chance, with MFCC and CQT+chroma rows beside the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from myna_rpe.errors import DatasetError
from myna_rpe.evaluation import nsynth, tinysol
from myna_rpe.evaluation.cqt import MIDI_LO, N_BINS, chroma, cqt_magnitude, cqt_stats
from myna_rpe.synth import synth_note
from tests.eval_note_fixtures import PITCHES, make_nsynth, make_tinysol, one_thread  # noqa: F401 (autouse)
from tests.test_eval_cli import run_cli


def test_nsynth_official_splits_two_tasks_and_pitch_range(tmp_path: Path) -> None:
    make_nsynth(tmp_path, per_split={"train": 16, "valid": 8, "test": 8}, duration=0.1)
    instrument, pitch = nsynth.load_tasks(tmp_path)
    assert instrument.name == "nsynth-instrument" and instrument.labels == nsynth.FAMILIES and len(instrument.labels) == 11
    assert instrument.sizes() == {"train": 17, "valid": 8, "test": 9}  # every note, the two outside 21-108 included
    assert pitch.sizes() == {"train": 16, "valid": 8, "test": 8} and "2 notes outside MIDI 21-108" in pitch.notes[0]
    assert pitch.labels == [str(m) for m in range(21, 109)]
    track = instrument.splits["train"][0]
    assert track.key == f"nsynth-train/audio/{track.path.stem}.wav" and track.path.is_file()
    assert instrument.cache_name == pitch.cache_name == "nsynth"  # one audio set: features computed once
    assert {t.label for t in pitch.splits["test"]} == {str(p) for p in PITCHES}
    assert instrument.size_warning() is not None  # not the published 289205/12678/4096


def test_tinysol_folds_come_from_the_fold_column(tmp_path: Path) -> None:
    make_tinysol(tmp_path, per_fold=2, duration=0.1)
    instrument, pitch = tinysol.load_tasks(tmp_path)
    assert instrument.labels == ["Accordion", "Flute", "Trumpet in C", "Violin"]
    fold_of = {r["Path"]: int(r["Fold"]) for r in tinysol._rows(tmp_path / tinysol.METADATA)}
    assert len(instrument.folds) == 5
    for k, fold in enumerate(instrument.folds):
        assert {fold_of[t.key] for t in fold["test"]} == {k}
        assert {fold_of[t.key] for t in fold["valid"]} == {(k + 1) % 5}
        assert {fold_of[t.key] for t in fold["train"]} == set(range(5)) - {k, (k + 1) % 5}
        assert sum(len(v) for v in fold.values()) == len(fold_of)  # every note once per fold
    assert [v.splits for v in pitch.fold_views()] == pitch.folds
    assert pitch.targets("train").max() < len(pitch.labels)


def test_tinysol_in_mirdata_arrangement(tmp_path: Path) -> None:
    """annotation/TinySOL_metadata.csv beside audio/<Family>/...: mirdata's download layout."""
    make_tinysol(tmp_path / "audio", per_fold=1, duration=0.1)
    (tmp_path / "annotation").mkdir()
    (tmp_path / "audio" / tinysol.METADATA).rename(tmp_path / "annotation" / tinysol.METADATA)
    assert all(t.path.is_file() for t in tinysol.load_tasks(tmp_path)[0].splits["test"])


@pytest.mark.parametrize("name", ["nsynth", "tinysol"])
def test_missing_data_is_one_line_with_source(tmp_path: Path, name: str) -> None:
    loader = {"nsynth": nsynth, "tinysol": tinysol}[name]
    with pytest.raises(DatasetError) as info:
        loader.load_tasks(tmp_path)
    assert "\n" not in str(info.value) and "http" in str(info.value)
    if name == "nsynth":
        make_nsynth(tmp_path, per_split={"train": 2, "valid": 1, "test": 1}, duration=0.05, out_of_range=False)
        victim = next((tmp_path / "nsynth-valid" / "audio").glob("*.wav"))
    else:
        make_tinysol(tmp_path, per_fold=1, duration=0.05)
        victim = next(tmp_path.glob("Winds/Flute/ordinario/*.wav"))
    victim.unlink()
    with pytest.raises(DatasetError) as info:
        loader.load_tasks(tmp_path)
    assert victim.name in str(info.value) and "\n" not in str(info.value)


def test_cqt_bin_and_chroma_follow_the_pitch() -> None:
    for midi in (33, 57, 69, 96):
        mag = cqt_magnitude(synth_note(midi, "sine", 1.0, 16000), 16000)
        assert mag.shape[0] == N_BINS
        assert int(mag[:, 5:-5].mean(axis=1).argmax()) + MIDI_LO == midi
        assert int(chroma(mag)[:, 10].argmax()) == midi % 12
    assert cqt_stats(np.zeros(800, np.float32), 16000).shape == (2 * N_BINS + 24,)


def evaluate(tmp_path: Path, data: Path, dataset: str, monkeypatch, capsys, *extra: str) -> dict:
    out = tmp_path / f"{dataset}.json"
    code, stdout, stderr = run_cli(["eval", dataset, "--data-dir", str(data), "--grid", "quick", "--probes", "linear",
                                    "--cache-dir", str(tmp_path / "cache"), "--out", str(out), *extra], monkeypatch, capsys)
    assert code == 0, stderr
    return json.loads(out.read_text())


def test_nsynth_instrument_and_pitch_beat_chance(tmp_path: Path, monkeypatch, capsys) -> None:
    make_nsynth(tmp_path / "data", per_split={"train": 48, "valid": 16, "test": 24}, duration=0.4)
    report = evaluate(tmp_path, tmp_path / "data", "nsynth", monkeypatch, capsys, "--model", "mfcc", "--baselines", "cqt")
    mfcc, cqt = report["datasets"], report["baselines"]["cqt"]["datasets"]
    assert set(mfcc) == set(cqt) == {"nsynth-instrument", "nsynth-pitch"}
    assert mfcc["nsynth-instrument"]["probes"]["linear"]["test"]["accuracy"] > 0.6  # 4 families: chance 0.25
    pitch = cqt["nsynth-pitch"]["probes"]["linear"]["test"]
    assert pitch["accuracy"] > 0.6 and pitch["chroma_accuracy"] >= pitch["accuracy"]  # 8 pitches: chance 0.125
    assert cqt["nsynth-pitch"]["feature_dim"] == 192 and "HEAR 2021" in cqt["nsynth-pitch"]["split_source"]
    # the two tasks share one audio set: each file's features were computed once per feature set
    assert mfcc["nsynth-instrument"]["features_computed"] == 90 and mfcc["nsynth-pitch"]["features_computed"] == 0


def test_tinysol_cross_validated_beats_chance(tmp_path: Path, monkeypatch, capsys) -> None:
    make_tinysol(tmp_path / "data", per_fold=4, duration=0.4)
    report = evaluate(tmp_path, tmp_path / "data", "tinysol", monkeypatch, capsys, "--model", "mfcc", "--baselines", "cqt")
    inst = report["datasets"]["tinysol-instrument"]
    assert inst["folds"] == 5 and len(inst["per_fold"]) == 5 and inst["sizes"] == {"train": 48, "valid": 16, "test": 16}
    accs = [fold["linear"]["test"]["accuracy"] for fold in inst["per_fold"]]
    assert inst["probes"]["linear"]["test"]["accuracy"] == pytest.approx(np.mean(accs))
    assert inst["fold_sd"]["linear"]["test"]["accuracy"] == pytest.approx(np.std(accs))
    assert np.mean(accs) > 0.6  # 4 instruments: chance 0.25
    assert report["baselines"]["cqt"]["datasets"]["tinysol-pitch"]["probes"]["linear"]["test"]["accuracy"] > 0.5  # chance 0.125
