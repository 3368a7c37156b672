"""Training data: config files, folder and MTG-Jamendo sources, the log-mel cache, pair sampling."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from myna_rpe.audio import write_audio
from myna_rpe.config import FrontendConfig
from myna_rpe.errors import DatasetError, MynaError
from myna_rpe.frontend import log_mel
from myna_rpe.synth import synth_track
from myna_rpe.training import mel_cache as mel_cache_module
from myna_rpe.training.config import TrainConfig, load_config_file
from myna_rpe.training.mel_cache import MelCache
from myna_rpe.training.pairs import ChunkSpec, PairSampler, collate
from myna_rpe.training.sources import discover, parse_jamendo_tsv

SR = 16000

# -- config -------------------------------------------------------------------------


def test_toml_tables_flatten_and_flags_override(tmp_path):
    f = tmp_path / "t.toml"
    f.write_text('[model]\nsize = "tiny"\npe = "rope2d"\n[optim]\nlr = 1\nsteps = 20\n[run]\namp = false\n')
    cfg = TrainConfig.from_sources(load_config_file(f), {"steps": 7, "lr": None}, source=f)
    assert (cfg.size, cfg.pe, cfg.steps, cfg.lr, cfg.amp) == ("tiny", "rope2d", 7, 1.0, False)
    assert cfg.model_config().pe.rope == "2d" and cfg.model_config().dim == 64


def test_positional_and_frontend_details_reach_the_encoder_config():
    cfg = TrainConfig(data="x", pe="alibi2d", alibi_freq_weight=0.5, alibi_learnable_slopes=True, db_std=10.0)
    enc = cfg.encoder_config()
    assert enc.model.pe.alibi2d and enc.model.pe.alibi_freq_weight == 0.5 and enc.model.pe.alibi_learnable_slopes
    assert enc.model.pe.alibi_time_weight == 1.0 and enc.frontend.db_std == 10.0


def test_yaml_config(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("model:\n  size: tiny\nbatch-size: 8\nchunk_seconds: 2\n")
    assert TrainConfig.from_sources(load_config_file(f)).batch_size == 8


@pytest.mark.parametrize(
    "text,match",
    [
        ("sizes = 'tiny'", "unknown training setting"),
        ("steps = 'many'", "steps must be int"),
        ("amp = 1", "amp must be bool"),
        ("[a]\nlr = 1\n[b]\nlr = 2", "appears twice"),
        ("steps = ", "invalid TOML"),
        ("steps: [", "invalid YAML"),
    ],
)
def test_bad_config_files_name_the_file_and_problem(tmp_path, text, match):
    f = tmp_path / ("bad.yaml" if ":" in text else "bad.toml")
    f.write_text(text)
    with pytest.raises(MynaError, match=match) as err:
        TrainConfig.from_sources(load_config_file(f))
    assert f.name in str(err.value)


def test_inconsistent_settings_are_rejected():
    with pytest.raises(MynaError, match="heads"):
        TrainConfig(data="x", dim=100, heads=3)
    with pytest.raises(MynaError, match="both bounds"):
        TrainConfig(data="x", chunk_min_seconds=1.0)
    with pytest.raises(MynaError, match="negatives"):
        TrainConfig(data="x", batch_size=1)


# -- sources ------------------------------------------------------------------------

HEADER = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\n"


def _jamendo(root: Path) -> None:
    rows = [
        ("track_0000214", "artist_000014", "album_000031", "14/214.mp3", "124.6", ["genre---punkrock"]),
        ("track_1376256", "artist_490499", "album_161779", "56/1376256.mp3", "166.0", ["genre---chillout", "instrument---piano"]),
        ("track_0000999", "artist_000001", "album_000002", "99/999.mp3", "31.0", ["mood/theme---happy"]),
    ]
    split = root / "data" / "splits" / "split-0"
    split.mkdir(parents=True)
    lines = [HEADER] + ["\t".join([*r[:5], *r[5]]) + "\n" for r in rows]
    (split / "autotagging_top50tags-train.tsv").write_text("".join(lines[:3]))
    (root / "data" / "autotagging_top50tags.tsv").write_text("".join(lines))
    wave = synth_track(0, 1.5, SR)
    write_audio(root / "audio" / "14" / "214.mp3", wave, SR)
    write_audio(root / "audio" / "56" / "1376256.low.mp3", wave, SR)  # the low-quality download's name


def test_jamendo_split_layout_tags_and_missing_audio(tmp_path):
    _jamendo(tmp_path)
    src = discover(f"jamendo:{tmp_path}")
    assert [t.track_id for t in src.tracks] == ["track_0000214", "track_1376256"]
    assert src.tracks[1].tags == ("genre---chillout", "instrument---piano")
    assert src.tracks[1].path.name == "1376256.low.mp3"
    assert src.missing == []
    everything = discover(f"jamendo:{tmp_path}", split="all")
    assert len(everything.tracks) == 2 and everything.missing == ["99/999.mp3"]
    with pytest.raises(DatasetError, match="split-3"):
        discover(f"jamendo:{tmp_path}", split_index=3)


def test_training_runs_on_the_jamendo_layout(tmp_path):
    from myna_rpe.training.loop import train

    _jamendo(tmp_path / "jamendo")
    cfg = TrainConfig(
        data=f"jamendo:{tmp_path / 'jamendo'}", out=str(tmp_path / "run"), cache_dir=str(tmp_path / "mels"),
        size="tiny", batch_size=2, chunk_seconds=0.5, steps=2, warmup_steps=1, checkpoint_every=2,
    )
    result = train(cfg)
    assert result.step == 2 and (tmp_path / "run" / "checkpoint" / "model.safetensors").is_file()


def test_jamendo_wrong_header_is_reported(tmp_path):
    f = tmp_path / "x.tsv"
    f.write_text("id\tpath\n1\ta.mp3\n")
    with pytest.raises(DatasetError, match="not an MTG-Jamendo metadata file"):
        parse_jamendo_tsv(f)


def test_folder_source_is_recursive_sorted_and_skips_hidden(tmp_path):
    wave = synth_track(1, 0.5, SR)
    for rel in ("b/2.flac", "a/1.ogg", ".cache/x.wav", "notes.txt"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        write_audio(p, wave, SR) if p.suffix != ".txt" else p.write_text("hi")
    assert [t.track_id for t in discover(str(tmp_path)).tracks] == ["a/1.ogg", "b/2.flac"]
    with pytest.raises(DatasetError, match="not found"):
        discover(str(tmp_path / "a" / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no audio files"):
        discover(str(tmp_path / "empty"))


# -- mel cache ----------------------------------------------------------------------


@pytest.fixture
def small_library(tmp_path) -> list[Path]:
    paths = []
    for i, secs in enumerate((2.0, 1.0, 0.2)):
        p = tmp_path / "lib" / f"{i}.wav"
        write_audio(p, synth_track(i, secs, SR), SR)
        paths.append(p)
    bad = tmp_path / "lib" / "broken.mp3"
    bad.write_bytes(b"\x00" * 500)
    return paths + [bad]


def test_cache_matches_frontend_reuses_entries_and_skips_bad_files(tmp_path, small_library, monkeypatch):
    fe = FrontendConfig()
    cache = MelCache(tmp_path / "cache", fe)
    report = cache.build(small_library, min_frames=16)
    assert [t.path for t in report.tracks] == small_library[:2]
    assert report.too_short == [small_library[2]]
    assert [p for p, _ in report.failed] == [small_library[3]] and "broken.mp3" in report.failed[0][1]
    assert report.computed == 3
    t0 = report.tracks[0]
    from myna_rpe.audio import load_audio

    expected = log_mel(load_audio(t0.path, SR), fe).numpy()
    assert t0.frames == expected.shape[1]
    np.testing.assert_allclose(cache.read(t0.sha, 10, 20), expected[:, 10:30], atol=2e-2)  # float16 storage
    assert isinstance(cache.open(t0.sha), np.memmap)

    # A second build decodes nothing, and does not retry the broken file.
    monkeypatch.setattr(mel_cache_module, "_compute", lambda *a: pytest.fail("decoded again"))
    again = MelCache(tmp_path / "cache", fe).build(small_library, min_frames=16)
    assert again.computed == 0 and [p for p, _ in again.failed] == [small_library[3]]


def test_cache_keyed_by_content_and_frontend(tmp_path, small_library):
    fe = FrontendConfig()
    first = MelCache(tmp_path / "cache", fe).build(small_library[:1])
    copy = tmp_path / "elsewhere" / "renamed.wav"
    copy.parent.mkdir()
    copy.write_bytes(small_library[0].read_bytes())
    moved = MelCache(tmp_path / "cache", fe).build([copy])
    assert moved.computed == 0 and moved.tracks[0].sha == first.tracks[0].sha
    # A changed frontend setting gives another cache folder: recomputed with the new shape.
    other = MelCache(tmp_path / "cache", replace(fe, n_mels=64, hop_length=256)).build(small_library[:1])
    assert other.computed == 1
    assert other.tracks[0].frames > first.tracks[0].frames
    assert MelCache(tmp_path / "cache", replace(fe, n_mels=64, hop_length=256)).open(other.tracks[0].sha).shape[1] == 64


def test_worker_processes_build_the_same_cache(tmp_path, small_library):
    fe = FrontendConfig()
    inline = MelCache(tmp_path / "a", fe).build(small_library, min_frames=16)
    pooled = MelCache(tmp_path / "b", fe).build(small_library, min_frames=16, workers=2)
    assert pooled.tracks == inline.tracks and pooled.computed == 3
    assert [p for p, _ in pooled.failed] == [small_library[3]]
    for t in inline.tracks:
        a, b = MelCache(tmp_path / "a", fe).open(t.sha), MelCache(tmp_path / "b", fe).open(t.sha)
        assert np.array_equal(a, b)


def test_interrupted_build_keeps_whole_entries_and_resumes(tmp_path, small_library, monkeypatch):
    fe = FrontendConfig()
    real = mel_cache_module._compute
    calls = {"n": 0}

    def dies_on_second(path, cfg):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(path, cfg)

    monkeypatch.setattr(mel_cache_module, "_compute", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        MelCache(tmp_path / "cache", fe).build(small_library[:2])
    monkeypatch.setattr(mel_cache_module, "_compute", real)
    cache_dir = MelCache(tmp_path / "cache", fe).dir
    assert not list(cache_dir.rglob("*.tmp"))
    assert len(list(cache_dir.rglob("*.npy"))) == 1
    assert json.loads((cache_dir / "manifest.json").read_text())["files"]  # hashes remembered
    done = MelCache(tmp_path / "cache", fe).build(small_library[:2])
    assert done.computed == 1 and len(done.tracks) == 2


# -- pairs --------------------------------------------------------------------------


def test_pairs_are_deterministic_distinct_and_inside_tracks():
    frames = [400, 90, 1000, 50, 300, 64, 700, 120]
    spec = ChunkSpec(frames=96)
    s = PairSampler(frames, batch_size=4, chunk=spec, seed=3)
    assert s.steps_per_epoch == 2
    seen = []
    for step in range(6):
        b = s.batch(step)
        assert len(set(b.tracks.tolist())) == 4  # no track twice: no false negatives
        n = np.asarray(frames)[b.tracks]
        assert np.all(b.lengths == np.minimum(n, 96))
        assert np.all(b.starts_a + b.lengths <= n) and np.all(b.starts_b + b.lengths <= n)
        assert np.all(b.starts_a[n <= 96] == 0)  # short tracks: the whole track in both views
        seen.append(b.tracks.tolist())
    assert sorted(seen[0] + seen[1]) == list(range(8))  # an epoch visits every track once
    again = PairSampler(frames, batch_size=4, chunk=spec, seed=3)
    assert again.batch(5).tracks.tolist() == seen[5]
    assert PairSampler(frames, 4, spec, seed=4).batch(0).tracks.tolist() != seen[0]


def test_whole_track_batches_take_each_track_whole_and_leave_other_batches_alone():
    frames = [400, 90, 1000, 50, 300, 64, 700, 120]
    spec = ChunkSpec(min_frames=32, max_frames=128, multiple=16)
    plain = PairSampler(frames, 4, spec, seed=3)
    mixed = PairSampler(frames, 4, spec, seed=3, whole_p=0.5, whole_max_frames=800)
    kinds = []
    for step in range(40):
        a, b = plain.batch(step), mixed.batch(step)
        kinds.append(b.whole)
        n = np.asarray(frames)[b.tracks]
        if not b.whole:  # exactly the batch the plain sampler draws
            assert (a.length, a.starts_a.tolist(), a.starts_b.tolist()) == (b.length, b.starts_a.tolist(), b.starts_b.tolist())
            continue
        assert b.length == min(800, int(n.max()))
        assert np.all(b.lengths == np.minimum(n, 800))
        assert np.all(b.starts_a[n <= 800] == 0)  # whole tracks from their start
        assert np.all(b.starts_a + b.lengths <= n)  # a longer one: a stretch of the cap's length
    assert 10 < sum(kinds) < 30
    always = PairSampler(frames, 4, spec, seed=3, whole_p=1.0)
    assert all(always.batch(s).whole for s in range(5))


def test_ranks_split_the_same_global_batch():
    frames = list(range(100, 1700, 100))
    one = PairSampler(frames, batch_size=8, chunk=ChunkSpec(frames=64), seed=0)
    ranks = [PairSampler(frames, batch_size=4, chunk=ChunkSpec(frames=64), seed=0, world=2, rank=r) for r in (0, 1)]
    for step in (0, 1, 5):
        whole = one.batch(step)
        parts = [r.batch(step) for r in ranks]
        assert np.concatenate([p.tracks for p in parts]).tolist() == whole.tracks.tolist()
        assert np.concatenate([p.starts_b for p in parts]).tolist() == whole.starts_b.tolist()


def test_variable_chunk_lengths_cover_the_range_in_whole_patches():
    spec = ChunkSpec.from_settings(31.25, 16, min_seconds=0.5, max_seconds=10.0)
    assert spec.variable and (spec.min_frames, spec.max_frames) == (16, 320)
    s = PairSampler([400] * 4, batch_size=2, chunk=spec, seed=0)
    lengths = [s.batch(i).length for i in range(300)]
    assert min(lengths) == 16 and max(lengths) == 320 and all(n % 16 == 0 for n in lengths)
    # Log-uniform: about as many below the geometric mean (~72 frames) as above.
    assert 0.35 < np.mean(np.asarray(lengths) < 72) < 0.65
    assert ChunkSpec.from_settings(31.25, 16, chunk_seconds=3.0).frames == 96


def test_album_positives_off_give_the_same_batches_as_no_groups():
    frames, spec = [400, 90, 1000, 50, 300, 64, 700, 120], ChunkSpec(frames=96)
    plain = PairSampler(frames, 4, spec, seed=3)
    grouped = PairSampler(frames, 4, spec, seed=3, groups=[0, 0, 1, 1, 2, 2, 3, 3], album_p=0.0)
    for step in range(4):
        a, b = plain.batch(step), grouped.batch(step)
        assert a.tracks.tolist() == b.tracks.tolist() == b.partners.tolist()
        assert a.starts_b.tolist() == b.starts_b.tolist() and b.groups is None


def test_album_positives_take_view_b_from_another_track_of_the_folder():
    frames = [400, 90, 1000, 50, 300, 64, 700, 120]
    groups = [0, 0, 0, 1, 1, 2, 3, 3]  # track 5 is alone in its folder
    s = PairSampler(frames, 4, ChunkSpec(frames=96), seed=3, groups=groups, album_p=1.0)
    for step in range(6):
        b = s.batch(step)
        for t, partner, start, n in zip(b.tracks, b.partners, b.starts_b, b.lengths_b):
            assert groups[partner] == groups[t]
            assert partner != t or t == 5
            assert n == min(frames[partner], 96) and start + n <= frames[partner]
        assert b.groups.tolist() == [groups[t] for t in b.tracks]
    again = PairSampler(frames, 4, ChunkSpec(frames=96), seed=3, groups=groups, album_p=1.0)
    assert again.batch(5).partners.tolist() == s.batch(5).partners.tolist()
    half = PairSampler(frames, 4, ChunkSpec(frames=96), seed=3, groups=groups, album_p=0.5)
    swapped = [int(p != t) for step in range(40) for t, p in zip(half.batch(step).tracks, half.batch(step).partners)]
    assert 0.25 < np.mean(swapped) < 0.55  # about half, less the lone track


def test_too_few_tracks_for_a_batch_is_a_dataset_error():
    with pytest.raises(DatasetError, match="lower --batch-size"):
        PairSampler([100] * 3, batch_size=4, chunk=ChunkSpec(frames=32), seed=0)


def test_collate_pads_short_tracks_with_silence():
    store = {"a": np.ones((4, 50), np.float32), "b": np.full((4, 10), 2.0, np.float32)}

    def read(sha, start, length):
        return store[sha][:, start : start + length]

    s = PairSampler([50, 10], batch_size=2, chunk=ChunkSpec(frames=32), seed=0)
    b = s.batch(0)
    va, vb, lengths = collate(read, ["a", "b"], b, pad_value=-7.0)
    assert va.shape == vb.shape == (2, 4, 32) and lengths.shape == (4,)
    short = int(np.flatnonzero(b.tracks == 1)[0])
    assert lengths[short] == 10
    assert (va[short, :, 10:] == -7.0).all() and (va[short, :, :10] == 2.0).all()


def test_data_that_is_missing_or_a_file_says_which(tmp_path):
    from myna_rpe.training.sources import folder_tracks

    with pytest.raises(DatasetError, match="training data folder not found"):
        folder_tracks(tmp_path / "nope")
    (tmp_path / "songs.zip").write_bytes(b"PK")
    with pytest.raises(DatasetError, match=r"songs.zip: a file, not a folder of audio — pass --data DIR"):
        folder_tracks(tmp_path / "songs.zip")
