"""Playlist operations on synthetic clustered embeddings (no store needed)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from playlist.geometry.catalog import ArrayCatalog, TrackMeta
from playlist.geometry.extend import check, extend
from playlist.geometry.expand import expand
from playlist.geometry.fill import fill, hull_coverage, hull_samples
from playlist.geometry.hull import Verdict
from playlist.geometry.plot import plot_playlist
from playlist.geometry.selection import SelectionRules, recording_key
from playlist.synthetic import SyntheticSpec, synthetic_library
from playlist.geometry.transition import match_playlists, transition

SPEC = SyntheticSpec(dim=24, genres=4, styles_per_genre=3, artists_per_style=5, tracks_per_artist=12)


@pytest.fixture(scope="module")
def lib():
    return synthetic_library(SPEC, seed=0)


@pytest.fixture(scope="module")
def catalog(lib):
    return ArrayCatalog(lib.ids, lib.vectors, lib.tracks)


def split_artists(lib, artists, seed=1):
    """Half of each artist's tracks as the playlist, the other half hidden."""
    rng = np.random.default_rng(seed)
    shown, hidden = [], []
    for a in artists:
        ids = rng.permutation(lib.ids[lib.artist == a])
        shown += ids[:6].tolist()
        hidden += ids[6:].tolist()
    return shown, hidden


def test_extend_prefers_the_hull_and_beats_the_centroid(lib, catalog) -> None:
    shown, hidden = split_artists(lib, [2, 23, 41])  # three artists in different styles
    out = extend(catalog, shown, len(hidden))
    got = [p.id for p in out.picks]
    assert len(got) == len(hidden) and not set(got) & set(shown) and len(set(got)) == len(got)
    keys = [(p.verdict is not Verdict.INSIDE, p.distance) for p in out.picks]
    assert keys == sorted(keys)  # inside first, then by distance
    hull_hits = len(set(got) & set(hidden))
    centroid_hits = len({p.id for p in extend(catalog, shown, len(hidden), strategy="centroid").picks} & set(hidden))
    assert hull_hits >= 0.8 * len(hidden) and hull_hits > centroid_hits


def test_extend_removes_duplicate_recordings(lib) -> None:
    shown, _ = split_artists(lib, [5])
    base = ArrayCatalog(lib.ids, lib.vectors, lib.tracks)
    best = extend(base, shown, 1).picks[0].track
    v = base.vectors([best.id])[0]
    rng = np.random.default_rng(0)
    # Same title/artist under another id (a re-release), and the same audio under another name.
    retag = replace(best, id=10_001, path=best.path.with_name("rerelease.flac"), title=best.title + " (Remastered 2011)")
    copy = replace(best, id=10_002, path=best.path.with_name("copy.flac"), title="Untitled", artist="Unknown")
    ids = np.concatenate([lib.ids, [10_001, 10_002]])
    X = np.vstack([lib.vectors, v + 0.02 * rng.normal(size=v.shape) / np.sqrt(len(v)), v + 1e-4])
    cat = ArrayCatalog(ids, X, [*lib.tracks, retag, copy])
    out = extend(cat, shown, 10)
    chosen = {p.id for p in out.picks}
    assert len(chosen & {best.id, 10_001, 10_002}) == 1  # one recording, whichever ranks first
    assert len(chosen) == 10
    assert sum(v for k, v in out.refused.items() if k.startswith("duplicate recording")) >= 2
    assert recording_key(retag) == recording_key(best)


def test_extend_caps_and_seed(lib, catalog) -> None:
    shown, _ = split_artists(lib, [2, 23])
    out = extend(catalog, shown, 12, rules=SelectionRules(max_per_artist=2, max_per_album=1))
    artists = Counter(p.track.artist for p in out.picks)
    albums = Counter(p.track.album for p in out.picks)
    assert len(out.picks) == 12 and max(artists.values()) <= 2 and max(albums.values()) <= 1
    r1 = [p.id for p in extend(catalog, shown, 10, strategy="random", seed=3).picks]
    r2 = [p.id for p in extend(catalog, shown, 10, strategy="random", seed=3).picks]
    r3 = [p.id for p in extend(catalog, shown, 10, strategy="random", seed=4).picks]
    assert r1 == r2 and r1 != r3
    assert [p.id for p in extend(catalog, shown, 10).picks] == [p.id for p in extend(catalog, shown, 10).picks]


def test_check_verdicts(lib, catalog) -> None:
    shown, hidden = split_artists(lib, [7])
    far = int(lib.ids[lib.genre != lib.genre[lib.ids == shown[0]][0]][0])
    out = check(catalog, shown, [shown[0], hidden[0], far])
    assert out.picks[0].verdict is Verdict.INSIDE and out.picks[0].distance == pytest.approx(0, abs=1e-9)
    assert out.picks[2].verdict is Verdict.OUTSIDE and out.picks[2].distance > out.picks[1].distance
    # One-track playlist: no scale of its own, so the library's neighbour distance is used.
    single = check(catalog, shown[:1], [hidden[0]])
    assert single.hull.scale_source == "fallback" and single.hull.rank == 0


def test_expand_picks_beyond_the_boundary(lib, catalog) -> None:
    shown, _ = split_artists(lib, [2, 3])
    out = expand(catalog, shown, 8, max_distance=3.0)
    assert len(out.picks) == 8 and not {p.id for p in out.picks} & set(shown)
    assert all(p.verdict is not Verdict.INSIDE and p.distance <= 3.0 for p in out.picks)
    assert len({p.note for p in out.picks}) == 8  # one per direction: spread around the boundary
    # Growing outward adds diversity: the picks are farther from the hull than extend's.
    ext = extend(catalog, shown, 8)
    assert np.mean([p.distance for p in out.picks]) > np.mean([p.distance for p in ext.picks])


def test_expand_boundary_lp_on_a_square() -> None:
    from playlist.geometry.hull import PlaylistHull

    square = PlaylistHull(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    assert square.boundary_along(np.array([1.0, 0.0])) == pytest.approx(0.5)
    assert square.boundary_along(np.array([1.0, 1.0])) == pytest.approx(np.sqrt(0.5))


def test_transition_walks_from_a_to_b(lib, catalog) -> None:
    a = lib.ids[lib.artist == 1].tolist()
    b = lib.ids[lib.artist == 33].tolist()
    out = transition(catalog, a, b, 8)
    got = [p.id for p in out.picks]
    assert len(got) == 8 and len(set(got)) == 8 and not set(got) & (set(a) | set(b))
    ca, cb = catalog.vectors(a).mean(axis=0), catalog.vectors(b).mean(axis=0)
    progress = (catalog.vectors(got) - ca) @ (cb - ca) / ((cb - ca) @ (cb - ca))
    assert progress[0] < 0.5 < progress[-1]
    assert np.corrcoef(np.arange(8), progress)[0, 1] > 0.8
    assert [p.note for p in out.picks] == [f"t={k / 9:.2f}" for k in range(1, 9)]
    assert out.info["max_step"] < out.info["gap_ab"]  # no single step crosses the whole gap


def test_transition_longer_than_the_free_tracks_uses_them_all(lib) -> None:
    small = ArrayCatalog(lib.ids[:14], lib.vectors[:14], lib.tracks[:14])
    a, b = lib.ids[:2].tolist(), lib.ids[2:4].tolist()
    for n in (10, 11, 40):  # 10 tracks are neither in A nor in B
        got = [p.id for p in transition(small, a, b, n).picks]
        assert sorted(got) == sorted(lib.ids[4:14].tolist()), n
    nothing = transition(ArrayCatalog(lib.ids[:4], lib.vectors[:4], lib.tracks[:4]), a, b, 5)
    assert nothing.picks == [] and nothing.info == {"free_tracks": 0.0}


def test_match_playlists_covers_both_sides() -> None:
    A = np.array([[0.0, 0], [1, 0], [2, 0]])
    B = np.array([[2.1, 1], [0.1, 1]])
    pairs = match_playlists(A, B)
    assert {i for i, _ in pairs} == {0, 1, 2} and {j for _, j in pairs} == {0, 1}
    assert (0, 1) in pairs and (2, 0) in pairs


def test_fill_covers_the_hull_better_than_the_centroid(lib, catalog) -> None:
    shown, _ = split_artists(lib, [2, 23, 41])
    out = fill(catalog, shown, 15, seed=0)
    got = [p.id for p in out.picks]
    assert len(got) == 15 and not set(got) & set(shown)
    Q = hull_samples(out.hull.points, 256, np.random.default_rng(0))
    central = [p.id for p in extend(catalog, shown, 15, strategy="centroid").picks]
    assert out.info["hull_coverage"] > hull_coverage(out.hull, catalog.vectors(central), Q) + 0.2
    assert {lib.artist[lib.ids == i][0] for i in got} >= {2, 23, 41}  # every corner is served


def test_plot_writes_a_png(tmp_path, lib, catalog) -> None:
    shown, _ = split_artists(lib, [2, 23])
    out = extend(catalog, shown, 5)
    png = plot_playlist(tmp_path / "map.png", lib.vectors, catalog.vectors(shown),
                        catalog.vectors([p.id for p in out.picks]), added_labels=[p.track.label for p in out.picks])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_array_catalog_metadata_defaults() -> None:
    cat = ArrayCatalog(np.array([5, 9]), np.eye(2))
    assert cat.meta([9])[9] == TrackMeta(id=9, path=cat.meta([9])[9].path)
    np.testing.assert_allclose(cat.vectors([9, 5]), [[0, 1], [1, 0]])
    np.testing.assert_allclose(cat.recording_vectors([9]), [[0, 1]])  # no other space: the same vectors
    spaced = ArrayCatalog(np.array([5, 9]), np.eye(2), recording=np.array([[3.0, 4.0], [0.0, 2.0]]))
    np.testing.assert_allclose(spaced.recording_vectors([5]), [[0.6, 0.8]])
    with pytest.raises(ValueError, match="3 recording vectors for 2 vectors"):
        ArrayCatalog(np.array([5, 9]), np.eye(2), recording=np.eye(3))
    # the encoder's part alone may be narrower than the vectors searched (sound statistics beside it)
    narrow = ArrayCatalog(np.array([5, 9]), np.eye(3)[:2], recording=np.array([[1.0], [2.0]]))
    np.testing.assert_allclose(narrow.recording_vectors([9]), [[1.0]])


def test_selector_needs_tags_duration_and_audio_to_agree_for_a_duplicate() -> None:
    from pathlib import Path

    from playlist.geometry.selection import Selector

    def at(degrees: float) -> list[float]:  # a unit vector in one plane: cosines are angle differences
        return [np.cos(np.radians(degrees)), np.sin(np.radians(degrees)), 0.0, 0.0]

    song = TrackMeta(id=1, path=Path("a.flac"), title="Help!", artist="The Beatles", album="Help!", duration=140.0)
    remaster = TrackMeta(id=2, path=Path("b.flac"), title="Help! - Remastered 2009", artist="The Beatles",
                         duration=141.5)
    # One multi-valued TITLE on every file of a soundtrack: same tags, different audio and length.
    cue = TrackMeta(id=3, path=Path("c.flac"), title="Help!", artist="The Beatles", duration=60.0)
    same_length = TrackMeta(id=4, path=Path("d.flac"), title="Help!", artist="The Beatles", duration=139.0)
    third = TrackMeta(id=5, path=Path("e.flac"), title="Something", artist="the beatles")
    tracks = [song, remaster, cue, same_length, third]
    catalog = ArrayCatalog(np.arange(1, 6), np.array([at(0), at(11), at(14), at(24), at(90)]), tracks)
    sel = Selector(SelectionRules(max_per_artist=2), catalog, [song.id])
    assert not sel.offer(remaster)   # cosine 0.982 >= 0.95 (< 0.99), 1.5 s apart: same recording
    assert sel.offer(cue)            # cosine 0.970 >= 0.95, but 80 s shorter
    # same tags and length as the song, cosine 0.914 to it: different audio (0.985 to `cue`, whose
    # length differs, must not count)
    assert sel.offer(same_length)
    assert not sel.offer(third)      # artist cap 2 among added tracks
    assert sel.refused == Counter({"duplicate recording (same title, artist and duration, similar audio)": 1,
                                   "artist cap": 1})


def test_one_track_playlist_expands_around_it(lib, catalog) -> None:
    seed_track = int(lib.ids[lib.artist == 4][0])
    out = expand(catalog, [seed_track], 5, max_distance=10.0)
    assert len(out.picks) == 5 and out.hull.rank == 0 and out.hull.scale_source == "fallback"
    assert all(p.verdict is not Verdict.INSIDE for p in out.picks)


def test_expand_grows_every_part_of_the_playlist(lib, catalog) -> None:
    shown, _ = split_artists(lib, [2, 23, 41])
    out = expand(catalog, shown, 6, max_distance=3.0)
    X = catalog.vectors(shown)
    owner = np.repeat([2, 23, 41], 6)
    # The first picks follow directions through different playlist clusters.
    near = {int(owner[np.argmin(np.linalg.norm(X - catalog.vectors([p.id])[0], axis=1))]) for p in out.picks[:3]}
    assert near == {2, 23, 41}
