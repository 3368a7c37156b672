"""The selection protocol (leave-games-out choice, two-level bootstrap) and the key probe's labels."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_key import MAJOR, MINOR, estimate_key, pitch_class_weights, transpose  # noqa: E402
from bench_selection import loo_selection, paired_difference, two_level_boot  # noqa: E402


def test_leave_one_game_out_chooses_on_the_other_games_only():
    # "steady" is best on average; "lucky" wins one game by far, which must not choose it there
    table = {
        "steady": {"g1": 0.6, "g2": 0.6, "g3": 0.6, "g4": 0.6},
        "lucky": {"g1": 0.9, "g2": 0.4, "g3": 0.4, "g4": 0.4},
    }
    cv, chosen = loo_selection(table)
    assert chosen == {"g1": "steady", "g2": "steady", "g3": "steady", "g4": "steady"}
    assert cv == pytest.approx(0.6)
    # with lucky strong on two games, holding one of them out flips the choice there
    table["lucky"]["g2"] = 0.9
    cv, chosen = loo_selection(table)
    assert chosen["g1"] == "steady" and chosen["g3"] == "lucky"
    assert cv == pytest.approx(np.mean([0.6, 0.6, 0.4, 0.4]))


def test_two_level_bootstrap_widens_with_disagreeing_games():
    rng = np.random.default_rng(0)
    alike = [np.full(20, 0.5) + 0.01 * rng.standard_normal(20) for _ in range(6)]
    apart = [np.full(20, m) + 0.01 * rng.standard_normal(20) for m in (0.2, 0.8, 0.3, 0.7, 0.4, 0.6)]
    w_alike = np.ptp(np.quantile(two_level_boot(alike, np.random.default_rng(1)), [0.025, 0.975]))
    w_apart = np.ptp(np.quantile(two_level_boot(apart, np.random.default_rng(1)), [0.025, 0.975]))
    assert w_apart > 10 * w_alike
    boot = two_level_boot(apart, np.random.default_rng(2))
    assert abs(boot.mean() - 0.5) < 0.02


def test_bootstrap_draws_depend_only_on_the_seed_and_the_games_sizes():
    # bench_selection gives every row a fresh generator with one seed: the resamples depend on the
    # games' sizes only, so a row shifted by a constant gets an interval shifted by exactly that constant
    rng = np.random.default_rng(3)
    row = [rng.random(n) for n in (3, 12, 30)]
    a = two_level_boot(row, np.random.default_rng(5))
    b = two_level_boot([v + 0.1 for v in row], np.random.default_rng(5))
    np.testing.assert_allclose(b - a, 0.1)


def test_paired_difference_is_games_equal_and_sees_through_shared_game_noise():
    # two rows that share every game's level and query noise and differ by +0.02 on one game only:
    # paired, the games-equal difference is 0.02 / 3 and its interval is narrow although the
    # rows' own intervals are wide (the point of --versus for an ablation)
    rng = np.random.default_rng(4)
    games = ["a", "b", "c"]
    ref = {g: np.clip(m + 0.2 * rng.standard_normal(n), 0, 1) for g, m, n in zip(games, (0.2, 0.5, 0.8), (3, 10, 40))}
    row = {g: v + (0.02 if g == "a" else 0.0) for g, v in ref.items()}

    def boot(per_game):
        return two_level_boot(per_game, np.random.default_rng(0))

    d, lo, hi = paired_difference(row, ref, games, boot)
    assert d == pytest.approx(0.02 / 3)
    assert 0.0 <= lo <= d <= hi <= 0.02
    back, blo, bhi = paired_difference(ref, row, games, boot)
    assert back == pytest.approx(-d) and blo == pytest.approx(-hi) and bhi == pytest.approx(-lo)
    own = np.quantile(boot([row[g] for g in games]), [0.025, 0.975])
    assert np.ptp(own) > 10 * (hi - lo)


@pytest.mark.parametrize("mode,profile", [(0, MAJOR), (1, MINOR)])
def test_key_estimate_follows_the_rotated_profile(mode, profile):
    for tonic in range(12):
        assert estimate_key(np.roll(profile, tonic)) == tonic + 12 * mode


def test_transposition_moves_the_pitch_classes_and_leaves_drums(tmp_path):
    mido = pytest.importorskip("mido")
    midi = mido.MidiFile()
    track = mido.MidiTrack()
    midi.tracks.append(track)
    for note, channel in ((60, 0), (64, 0), (67, 0), (36, 9)):  # C E G, and a drum on channel 10
        track.append(mido.Message("note_on", note=note, velocity=90, channel=channel, time=0))
        track.append(mido.Message("note_off", note=note, velocity=0, channel=channel, time=480))
    src, dst = tmp_path / "c.mid", tmp_path / "d.mid"
    midi.save(str(src))
    transpose(src, dst, 2)
    before = pitch_class_weights(mido.MidiFile(str(src)), 0.0, 10.0)
    after = pitch_class_weights(mido.MidiFile(str(dst)), 0.0, 10.0)
    np.testing.assert_allclose(after, np.roll(before, 2))
    assert before[[0, 4, 7]].all() and before.sum() == pytest.approx(3 * 0.5)  # drums not counted
    drums = [m.note for m in mido.MidiFile(str(dst)).tracks[0] if m.type == "note_on" and m.channel == 9]
    assert drums == [36]


def test_versus_names_a_peer_and_refuses_an_unknown_row_before_any_embedding(tmp_path, capsys, monkeypatch):
    import bench_selection
    from myna_rpe.audio import write_audio
    from myna_rpe.embed import DEFAULT_CHECKPOINT

    for name in ("g1/a.wav", "g1/b.wav", "g2/c.wav"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        write_audio(tmp_path / name, np.zeros(1600, np.float32), 16000)
    monkeypatch.setattr(bench_selection.br, "embed_all", lambda *a, **k: pytest.fail("embedded before the check"))
    with pytest.raises(SystemExit):
        bench_selection.main(["--data", str(tmp_path), "--checkpoint", f"current={DEFAULT_CHECKPOINT}",
                              "--versus", "current=hand-crafted", "--versus", "current=MusiCNN-MSD max_pool",
                              "--versus", "current=handcrafted"])
    err = capsys.readouterr().err
    assert "--versus current=handcrafted: no row named 'handcrafted'" in err
    assert "hand-crafted" in err.split("(rows:")[1]
