"""`myna eval` end to end on tiny generated copies of each dataset (layouts as published).

The MFCC baseline must learn the synthetic labels clearly above chance; the untrained
encoder and a saved checkpoint must run through the same path (numbers not asserted:
they are untrained). Failures the user causes are one red line and exit 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from myna_rpe.evaluation.datasets import shipped_list
from tests.eval_note_fixtures import one_thread  # noqa: F401 (autouse)
from tests.test_eval_fixtures import make_emomusic, make_giantsteps, make_gtzan, make_mtat


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    from cli.app import main

    monkeypatch.setattr(sys, "argv", ["myna", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def evaluate(dataset: str, data_dir: Path, tmp_path: Path, monkeypatch, capsys, *extra: str) -> dict:
    out = tmp_path / f"{dataset}.json"
    code, stdout, stderr = run_cli(
        ["eval", dataset, "--data-dir", str(data_dir), "--model", "mfcc", "--grid", "quick", "--baselines", "none",
         "--cache-dir", str(tmp_path / "cache"), "--out", str(out), *extra],
        monkeypatch, capsys,
    )
    assert code == 0, stderr
    assert "myna eval" in stdout and out.is_file()
    return json.loads(out.read_text())


def test_shipped_gtzan_lists_are_the_fault_filtered_split() -> None:
    lists = {s: shipped_list(f"gtzan_filtered_{s}.txt") for s in ("train", "valid", "test")}
    assert {s: len(v) for s, v in lists.items()} == {"train": 443, "valid": 197, "test": 290}
    names = [n for v in lists.values() for n in v]
    assert len(set(names)) == 930
    for name in names:
        genre, file = name.split("/")
        assert file.startswith(genre + ".000") and file.endswith(".wav") and len(file) == len(genre) + 10
    # spot checks against the published lists (Kereliuk et al.; torchaudio's copy)
    assert lists["train"][0] == "blues/blues.00029.wav" and lists["test"][0] == "blues/blues.00012.wav"
    assert lists["valid"][-1] == "rock/rock.00085.wav" and "country/country.00008.wav" not in names


def test_gtzan_mfcc_beats_chance(tmp_path: Path, monkeypatch, capsys) -> None:
    make_gtzan(tmp_path / "data", duration=0.3)
    report = evaluate("gtzan", tmp_path / "data", tmp_path, monkeypatch, capsys)
    result = report["datasets"]["gtzan"]
    assert result["sizes"] == {"train": 443, "valid": 197, "test": 290} and result["notes"] == []
    assert result["probes"]["linear"]["test"]["accuracy"] > 0.5  # chance: 0.1
    assert result["probes"]["mlp"]["test"]["accuracy"] > 0.3
    # a file missing from the lists: one line naming it, where we looked and the source
    (tmp_path / "data" / "genres" / "jazz" / "jazz.00054.wav").unlink()
    code, _, stderr = run_cli(["eval", "gtzan", "--data-dir", str(tmp_path / "data"), "--model", "mfcc"], monkeypatch, capsys)
    assert code == 1 and "Traceback" not in stderr
    assert "jazz/jazz.00054.wav" in stderr and "marsyas" in stderr and len(stderr.strip().splitlines()) <= 3


def test_giantsteps_mfcc_beats_chance(tmp_path: Path, monkeypatch, capsys) -> None:
    make_giantsteps(tmp_path / "data", n_train=40, n_test=16, duration=1.0)
    result = evaluate("giantsteps", tmp_path / "data", tmp_path, monkeypatch, capsys)["datasets"]["giantsteps"]
    linear = result["probes"]["linear"]["test"]
    assert linear["accuracy"] > 0.5 and linear["mirex"] > 0.6  # 4 keys, chance accuracy 0.25
    assert result["sizes"]["test"] == 16 and "artist-conditional" in result["split_source"]


def test_emomusic_mfcc_beats_chance(tmp_path: Path, monkeypatch, capsys) -> None:
    make_emomusic(tmp_path / "data", n=64, duration=1.0)
    result = evaluate("emomusic", tmp_path / "data", tmp_path, monkeypatch, capsys)["datasets"]["emomusic"]
    linear, mlp = result["probes"]["linear"]["test"], result["probes"]["mlp"]["test"]
    assert linear["r2"] > 0.3 and mlp["r2"] > 0.3  # chance: R² <= 0 (16 test songs)
    assert min(linear["r2_arousal"], linear["r2_valence"]) > 0.2
    assert any("differ from the published 504/115/125" in n for n in result["notes"])


def test_mtat_mfcc_beats_chance(tmp_path: Path, monkeypatch, capsys) -> None:
    make_mtat(tmp_path / "data", duration=1.0)
    result = evaluate("mtat", tmp_path / "data", tmp_path, monkeypatch, capsys)["datasets"]["mtat"]
    linear = result["probes"]["linear"]["test"]
    assert linear["roc_auc"] > 0.8 and linear["pr_auc"] > 0.6  # chance ROC-AUC 0.5
    assert linear["tags_scored"] == 4  # only the four synthetic tags occur in this copy


def test_all_with_random_and_checkpoint_models_and_cache(tmp_path: Path, monkeypatch, capsys) -> None:
    from myna_rpe.checkpoint import build_model, save_checkpoint
    from myna_rpe.config import EncoderConfig, ModelConfig

    data = tmp_path / "data"
    make_emomusic(data / "emomusic", n=24, duration=1.0)
    make_mtat(data / "mtat", per_folder={**{f: 1 for f in "0123456789ab"}, "c": 6, "d": 3, "e": 3, "f": 3}, duration=1.0)
    cfg = EncoderConfig(model=ModelConfig.from_preset("tiny", "alibi2d"))
    ckpt = save_checkpoint(tmp_path / "ckpt", build_model(cfg), cfg)

    random_report = evaluate("all", data, tmp_path, monkeypatch, capsys, "--model", f"random:{ckpt}", "--protocol", "chunks", "--chunk-seconds", "0.5")
    assert set(random_report["datasets"]) == {"emomusic", "mtat"}
    assert random_report["datasets"]["mtat"]["feature_dim"] == 64 and "chunks0.5s" in random_report["features"]

    first = evaluate("all", data, tmp_path, monkeypatch, capsys, "--model", str(ckpt))
    again = evaluate("all", data, tmp_path, monkeypatch, capsys, "--model", str(ckpt))
    for name in ("emomusic", "mtat"):
        assert first["datasets"][name]["features_computed"] == first["datasets"][name]["sizes"]["train"] + first["datasets"][name]["sizes"]["valid"] + first["datasets"][name]["sizes"]["test"]
        assert again["datasets"][name]["features_computed"] == 0  # served by the cache
        assert again["datasets"][name]["probes"] == first["datasets"][name]["probes"]  # seeded: same result
    assert first["features"] != random_report["features"]


def test_missing_data_is_one_red_line(tmp_path: Path, monkeypatch, capsys) -> None:
    code, _, stderr = run_cli(["eval", "all", "--data-dir", str(tmp_path), "--model", "mfcc"], monkeypatch, capsys)
    assert code == 1 and "Traceback" not in stderr and "no dataset found" in stderr
    code, _, stderr = run_cli(["eval", "emomusic", "--data-dir", str(tmp_path / "nope"), "--model", "mfcc"], monkeypatch, capsys)
    assert code == 1 and "data folder not found" in stderr
    (tmp_path / "gtzan.tar.gz").write_bytes(b"an archive, not yet unpacked")
    code, _, stderr = run_cli(["eval", "gtzan", "--data-dir", str(tmp_path / "gtzan.tar.gz"), "--model", "mfcc"],
                              monkeypatch, capsys)
    assert code == 1 and f"{tmp_path / 'gtzan.tar.gz'}: a file, not a folder — pass the folder" in stderr, stderr
    code, _, stderr = run_cli(["eval", "mtat", "--data-dir", str(tmp_path), "--model", str(tmp_path / "no-ckpt")], monkeypatch, capsys)
    assert code == 1 and "Traceback" not in stderr
