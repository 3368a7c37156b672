"""NaN, infinity and absurd sizes at every entry: a waveform or a vector that is not finite is
refused in one line, and no option value makes a command allocate without bound
(float files and forged headers are in test_bad_audio.py's zoo)."""

from __future__ import annotations

import numpy as np
import pytest

from myna_rpe.errors import AudioError, LibraryError
from playlist.library.vector_index import build_index, search
from tests.cli_helpers import myna, wide_console  # noqa: F401  (fixture)


@pytest.fixture
def model(checkpoint):
    """The researcher's Embedder itself (the library's rows wrap it: track_vectors.TrackEmbedder)."""
    from myna_rpe.embed import Embedder

    return Embedder.load(checkpoint)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_waveform_that_is_not_finite_is_refused(model, bad: float) -> None:
    wave = np.zeros(16000, dtype=np.float32)
    wave[100] = bad
    with pytest.raises(AudioError, match="NaN or infinite samples"):
        model.embed_waveform(wave)


def test_a_model_that_gives_nan_is_named(model, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from myna_rpe.errors import CheckpointError
    from playlist.library.track_vectors import TrackEmbedder

    monkeypatch.setattr(type(model), "embed_mels", lambda self, mels: np.full((len(mels), 4), np.nan))
    with pytest.raises(CheckpointError, match="non-finite embeddings"):
        model.embed_waveform(np.zeros(16000, dtype=np.float32))
    from tests.library_helpers import write_track

    with pytest.raises(CheckpointError, match="non-finite embeddings"):  # a file, as a library embeds one
        TrackEmbedder(model).embed_file(write_track(tmp_path / "a.flac", 0, 2.0))


def test_the_store_refuses_a_vector_that_is_not_finite(tmp_path) -> None:
    from playlist.library.store import LibraryStore, TrackInfo

    with LibraryStore.open(tmp_path / ".myna", root=tmp_path, create=True) as store:
        store.set_model("m", {}, 4)
        with pytest.raises(LibraryError, match="not finite"), store.transaction():
            store.add_track(TrackInfo(rel_path="a.flac", size=1, mtime_ns=1, content_hash="h"),
                            np.array([1.0, np.nan, 0.0, 0.0], dtype=np.float32))
        assert store.count_tracks() == 0


def test_a_huge_k_costs_no_more_than_the_index() -> None:
    X = np.eye(5, dtype=np.float32)
    scores, ids = search(build_index(np.arange(5), X), X[:1], 10**9)
    assert ids.shape == (1, 5) and ids[0, 0] == 0


@pytest.mark.parametrize("args", [
    ("similar", "x.flac", "--n", "1000000000"),
    ("playlist", "extend", "p.m3u8", "--n", "1000000000"),
    ("playlist", "transition", "a.m3u8", "b.m3u8", "--n", "100000"),
    ("index", ".", "--batch-size", "100000000"),
    ("demo", "--tracks", "1000000000"),
])
def test_counts_past_their_bound_are_usage_errors(capsys, args) -> None:
    code, out = myna(capsys, *args)
    assert code == 2 and "Invalid value for" in out and "Traceback" not in out, out


def test_a_config_too_large_for_its_weights_fails_before_building(checkpoint, tmp_path, monkeypatch) -> None:
    import json
    import shutil

    import torch

    from myna_rpe import checkpoint as ckpt
    from myna_rpe.errors import CheckpointError

    copy = tmp_path / "ckpt"
    shutil.copytree(checkpoint, copy)
    doc = json.loads((copy / "config.json").read_text())
    doc["config"]["model"]["dim"] = 2048  # 1 GB of weights if it were built
    (copy / "config.json").write_text(json.dumps(doc))
    real_build = ckpt.build_model

    def build(cfg):
        assert torch.get_default_device().type == "meta", "a model of the config's size was allocated"
        return real_build(cfg)

    monkeypatch.setattr(ckpt, "build_model", build)
    with pytest.raises(CheckpointError, match="weights do not fit the config"):
        ckpt.load_checkpoint(copy)
