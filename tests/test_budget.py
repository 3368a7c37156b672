"""The token budget: long tracks read from a fixed number of patches, deterministically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from myna_rpe.audio import load_audio, stream_audio, write_audio
from myna_rpe.budget import DENSE, TokenBudget, choose_patches, content_seed
from myna_rpe.config import EncoderConfig, FrontendConfig, ModelConfig
from myna_rpe.embed import Embedder, file_log_mel
from myna_rpe.frontend import log_mel, log_mel_stream
from myna_rpe.positional import Coords
from tests.library_helpers import tiny_embedder, tone

ROWS = 8  # frequency rows of the default 128-mel, 16-patch grid


def mel(seed: int, frames: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(128, frames, generator=g)


# -- choosing patches ------------------------------------------------------------------


@pytest.mark.parametrize("spread", ["stratified", "random"])
def test_a_draw_is_sorted_distinct_and_seeded(spread: str) -> None:
    budget = TokenBudget(tokens=100, spread=spread)
    a = choose_patches(1000, budget, seed=7)
    assert a.shape == (100,) and np.all(np.diff(a) > 0) and a.min() >= 0 and a.max() < 1000
    assert np.array_equal(a, choose_patches(1000, budget, seed=7))
    assert not np.array_equal(a, choose_patches(1000, budget, seed=8))
    assert not np.array_equal(a, choose_patches(1000, budget, seed=7, draw=1))


def test_stratified_takes_one_patch_from_every_equal_run() -> None:
    n, k = 1003, 50
    picks = choose_patches(n, TokenBudget(tokens=k), seed=3)
    edges = (np.arange(k + 1) * n) // k
    assert np.array_equal(np.searchsorted(edges, picks, side="right") - 1, np.arange(k))
    # uniform random draws leave long gaps; stratified ones never exceed two runs
    assert np.diff(picks).max() < 2 * (n // k + 1)


def test_within_the_budget_every_patch_is_read() -> None:
    assert np.array_equal(choose_patches(64, TokenBudget(tokens=64), seed=1), np.arange(64))
    assert np.array_equal(choose_patches(10, DENSE, seed=1), np.arange(10))


def test_budget_values_are_checked() -> None:
    for bad in ({"tokens": 0}, {"tokens": -5}, {"tokens": 2.5}, {"draws": 0}, {"spread": "even"}):
        with pytest.raises(ValueError):
            TokenBudget(**bad)


def test_content_seed_ignores_rounding_noise_but_not_length_or_content() -> None:
    m = mel(0, 3000)
    noisy = m + torch.randn(m.shape, generator=torch.Generator().manual_seed(1)) * 1e-6
    assert content_seed(m) == content_seed(noisy)
    assert content_seed(m) != content_seed(m[:, :2999])
    assert content_seed(m) != content_seed(m + 0.5)


# -- the embedder under a budget ----------------------------------------------------------


def test_under_the_budget_the_dense_pass_is_unchanged() -> None:
    emb = tiny_embedder().with_budget(TokenBudget(tokens=64))
    short = [mel(1, 128), mel(2, 40)]  # 64 and 24 patches: within the budget
    assert np.array_equal(emb.embed_mels(short), emb.with_budget(DENSE).embed_mels(short))


def test_a_long_track_is_embedded_from_its_draw_at_its_original_coordinates() -> None:
    budget = TokenBudget(tokens=48)
    emb = tiny_embedder().with_budget(budget)
    m = mel(3, 400)  # 25 columns × 8 rows = 200 patches
    seen: list[Coords] = []
    encode = emb.model.encode

    def spy(patches, coords, *args, **kwargs):
        seen.append(coords)
        return encode(patches, coords, *args, **kwargs)

    emb.model.encode = spy
    got = emb.embed_mels([m])[0]
    index = choose_patches(200, budget, content_seed(m))
    assert len(seen) == 1 and seen[0].t.shape == (1, 48)
    assert torch.equal(seen[0].t[0], torch.from_numpy(index // ROWS).float())  # time column
    assert torch.equal(seen[0].f[0], torch.from_numpy(index % ROWS).float())  # frequency row
    assert seen[0].t[0].max() > 20  # spread to the end of the track, not its first 48 patches
    # the same as encoding those patches by hand
    patches, coords = emb.model.patchify(m[None], None)
    tok, kept = emb.model.select(patches, coords, torch.from_numpy(index)[None])
    del emb.model.encode
    with torch.inference_mode():
        want = emb.model.encode(tok, kept)[0].numpy()
    assert got == pytest.approx(want, abs=1e-6)
    assert not np.allclose(got, emb.with_budget(DENSE).embed_mels([m])[0], atol=1e-4)


def test_draws_are_averaged() -> None:
    emb = tiny_embedder()
    m = mel(4, 300)
    two = emb.with_budget(TokenBudget(tokens=32, draws=2)).embed_mels([m])[0]
    one = emb.with_budget(TokenBudget(tokens=32)).embed_mels([m])[0]  # draw 0 alone
    assert not np.allclose(two, one, atol=1e-4)
    # draw 1 by hand
    patches, coords = emb.model.patchify(m[None], None)
    index = torch.from_numpy(choose_patches(patches.shape[1], TokenBudget(tokens=32), content_seed(m), draw=1))
    with torch.inference_mode():
        other = emb.model.encode(*emb.model.select(patches, coords, index[None]))[0].numpy()
    assert two == pytest.approx((one + other) / 2, abs=1e-5)


def test_the_same_track_gives_the_same_vector_in_any_batch_and_any_instance() -> None:
    budget = TokenBudget(tokens=40, draws=3)
    items = [mel(5, 500), mel(6, 90), mel(7, 320), mel(8, 20), mel(9, 1200)]
    together = tiny_embedder().with_budget(budget).embed_mels(items)
    fresh = tiny_embedder().with_budget(budget)  # a new instance: nothing carried over
    alone = np.stack([fresh.embed_mels([m])[0] for m in items])
    reversed_ = fresh.embed_mels(items[::-1])[::-1]
    assert together == pytest.approx(alone, abs=1e-5)
    assert together == pytest.approx(reversed_, abs=1e-5)
    assert np.array_equal(fresh.embed_mels(items[:1]), fresh.embed_mels(items[:1]))


def test_the_model_id_follows_the_budget() -> None:
    emb = tiny_embedder()
    ids = {emb.with_budget(b).model_id for b in (
        DENSE, TokenBudget(64), TokenBudget(128), TokenBudget(64, draws=2), TokenBudget(64, spread="random"))}
    assert len(ids) == 5
    assert emb.with_budget(DENSE).model_id == emb.weights_id  # stores embedded densely stay valid
    assert emb.with_budget(TokenBudget(64)).model_id == tiny_embedder().with_budget(TokenBudget(64)).model_id


def test_index_re_embeds_when_the_budget_changes(tmp_path: Path) -> None:
    from playlist.library.indexer import IndexOptions, index_library
    from playlist.library.store import LibraryStore

    lib = tmp_path / "lib"
    for i in range(3):
        write_audio(lib / f"{i}.flac", tone(i, 6.0), 16000)  # 188 frames: 96 patches
    opts = IndexOptions(workers=0)
    first = index_library(lib, tiny_embedder().with_budget(TokenBudget(tokens=32)), options=opts)
    again = index_library(lib, tiny_embedder().with_budget(TokenBudget(tokens=32)), options=opts)
    other = index_library(lib, tiny_embedder().with_budget(TokenBudget(tokens=48)), options=opts)
    assert (first.embedded, again.embedded, again.unchanged) == (3, 0, 3)
    assert (len(other.kept_models), other.embedded) == (1, 3)
    with LibraryStore.open(lib / ".myna") as store:
        assert store.model_config["budget"] == {"tokens": 48, "draws": 1, "spread": "stratified"}
        _, stored = store.embeddings([store.track_at("0.flac").id])
    want = tiny_embedder().with_budget(TokenBudget(tokens=48)).embed_file(lib / "0.flac")
    assert stored[0] == pytest.approx(want / np.linalg.norm(want), abs=1e-5)  # as `myna embed` gives it


# -- reading a long file piece by piece -------------------------------------------------------


@pytest.mark.parametrize("samples", [100, 1025, 40_000, 1_051_135, 1_051_136, 2_300_001])
def test_the_streamed_log_mel_equals_the_whole_one(samples: int) -> None:
    cfg = FrontendConfig()
    wave = (np.random.default_rng(samples).standard_normal(samples) * 0.1).astype(np.float32)
    pieces = np.array_split(wave, max(1, samples // 15_000))
    got, n = log_mel_stream(iter(pieces), cfg)
    want = log_mel(wave, cfg)
    assert n == samples and got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("fmt", ["mp3", "flac", "ogg"])
def test_a_streamed_file_equals_a_whole_decode(tmp_path: Path, fmt: str) -> None:
    path = write_audio(tmp_path / f"t.{fmt}", tone(11, 70.0), 22050)
    assert np.array_equal(np.concatenate(list(stream_audio(path, 16000))), load_audio(path, 16000))
    got, n = file_log_mel(path, FrontendConfig())
    assert n == len(load_audio(path, 16000))
    assert torch.allclose(got, log_mel(load_audio(path, 16000), FrontendConfig()), atol=1e-4)


def test_embed_cli_takes_a_budget_and_refuses_a_bad_one(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.app import _register, app
    from myna_rpe.checkpoint import save_checkpoint

    _register()
    emb = Embedder.random(EncoderConfig(model=ModelConfig.from_preset("tiny", "alibi2d")))
    ckpt = tmp_path / "ckpt"
    save_checkpoint(ckpt, emb.model, emb.config)
    song = write_audio(tmp_path / "song.flac", tone(1, 8.0), 16000)
    out = tmp_path / "e.npy"
    runner = CliRunner()
    for value in ("0", "-3", "lots"):
        r = runner.invoke(app, ["embed", str(song), "-c", str(ckpt), "--budget", value])
        assert r.exit_code == 2 and "--budget" in r.output
    r = runner.invoke(app, ["embed", str(song), "-c", str(ckpt), "--budget", "32", "--draws", "2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    want = emb.with_budget(TokenBudget(tokens=32, draws=2)).embed_file(song)
    assert np.load(out)[0] == pytest.approx(want, abs=1e-5)
    r = runner.invoke(app, ["embed", str(song), "-c", str(ckpt), "--budget", "dense", "--out", str(out)])
    assert r.exit_code == 0 and np.load(out)[0] == pytest.approx(emb.with_budget(DENSE).embed_file(song), abs=1e-5)


def test_patches_read_from_the_log_mel_equal_the_cut_ones_up_to_a_partial_last_column() -> None:
    model = tiny_embedder().model
    m = mel(12, 405)  # 26 columns, the last one 5 frames long
    patches, coords = model.patchify(m[None], None)
    index = torch.tensor([[0, 7, 8, 100, 199, 200, 207], [1, 2, 3, 150, 201, 205, 206]])
    got, got_coords = model.patches_at(m, index)
    want, want_coords = model.select(patches.expand(2, -1, -1),
                                     Coords(*(x.expand(2, -1) for x in (coords.t, coords.f, coords.is_cls, coords.valid))),
                                     index)
    assert torch.equal(got, want)
    for name in ("t", "f", "is_cls", "valid"):
        assert torch.equal(getattr(got_coords, name), getattr(want_coords, name))
