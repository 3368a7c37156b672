"""Matching remote track metadata to local tracks: normalisation, ISRC, artist+title, duration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from playlist.track_matching import (
    TrackMatcher,
    artist_names,
    fold,
    normalise_isrc,
    primary_artist,
    strip_title_noise,
    title_key,
)


@dataclass(frozen=True)
class T:
    """The minimal track protocol: what the store's Track and RemoteTrack both provide."""

    title: str | None
    artist: str | None
    duration: float | None = None
    isrc: str | None = None
    path: Path | None = None


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("Yesterday - Remastered 2009", "yesterday"),
        ("Hey Jude (Remastered 2015)", "hey jude"),
        ("Here Comes the Sun - 2019 Mix", "here comes the sun 2019 mix"),  # a new mix is not noise
        ("Song (feat. Someone) - Radio Edit", "song"),
        ("Song ft. Someone", "song"),
        ("Song (with Kygo)", "song"),
        ("Crème Brûlée [Live at Wembley]", "creme brulee"),
        ("Anything - Live", "anything"),
        ("Don't Stop Me Now - 2011 Mono Remaster", "dont stop me now"),
        ("Bohemian Rhapsody (Single Version) [Explicit]", "bohemian rhapsody"),
        ("Song - Album Version", "song"),
        ("Song (Deluxe Edition)", "song"),
        ("Blue (Da Ba Dee) (Gabry Ponte Remix)", "blue da ba dee gabry ponte remix"),
        ("Creep (Acoustic)", "creep acoustic"),
        ("Live", "live"),  # a title that is only a noise word keeps it
        ("Stay With Me", "stay with me"),  # "with" only counts as a credit in brackets
        ("Part 1 - Part 2", "part 1 part 2"),
        ("", ""),
        (None, ""),
    ],
)
def test_title_key_strips_release_noise_only(title, key):
    assert title_key(title) == key


def test_strip_title_noise_keeps_original_characters_for_search():
    assert strip_title_noise("Crème Brûlée (Remastered 2011) - Radio Edit") == "Crème Brûlée"


def test_fold_handles_case_accents_ampersand_and_apostrophes():
    assert fold("BEYONCÉ & Jay-Z: Don’t") == "beyonce and jay z dont"


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("Beyoncé feat. Jay-Z", "Beyonce", True),
        ("Simon & Garfunkel", "Simon and Garfunkel", True),
        ("Florence + The Machine", "Florence and the Machine", True),
        ("The Beatles", "Beatles", True),
        ("Earth, Wind & Fire", "Earth, Wind & Fire", True),
        ("AC/DC", "ac dc", True),
        ("Artist A, Artist B", "Artist B", True),
        ("Paul Simon", "Simon & Garfunkel", False),
        ("Mark Ronson", "Mark & Jane", False),
    ],
)
def test_artist_names_overlap(a, b, overlap):
    assert bool(artist_names(a) & artist_names(b)) is overlap


def test_primary_artist_and_isrc_normalisation():
    assert primary_artist("Beyoncé feat. Jay-Z") == "Beyoncé"
    assert primary_artist("A, B & C") == "A"
    assert primary_artist(None) is None
    assert normalise_isrc("us-rc1-76-07839") == "USRC17607839"
    assert normalise_isrc("USRC1760783") is None  # one digit short
    assert normalise_isrc(None) is None


def _lib():
    return [
        T("Yesterday", "The Beatles", 125.0, "GBAYE0601477", Path("/m/yesterday.flac")),
        T("Yesterday", "Boyz II Men", 190.0, None, Path("/m/boyz.mp3")),
        T("Hey Jude", "The Beatles", 431.0, None, Path("/m/heyjude_album.flac")),
        T("Hey Jude", "The Beatles", 240.0, None, Path("/m/heyjude_edit.mp3")),
        T("Creep", "Radiohead", 238.0, "GBAYE9200070", Path("/m/creep.mp3")),
        T("Creep", "Radiohead", 238.5, "GBAYE9200070", Path("/m/creep_copy.flac")),
        T("Song", "Artist", None, None, Path("/m/song.ogg")),
    ]


def test_isrc_match_wins_even_when_text_differs():
    m = TrackMatcher(_lib()).match(T("Yesterday (2009 Remaster)", "Beatles", 126.0, "gb-aye-06-01477"))
    assert m.method == "isrc" and m.candidate.path == Path("/m/yesterday.flac")
    assert m.duration_delta == pytest.approx(1.0)


def test_isrc_duplicates_are_broken_by_duration():
    m = TrackMatcher(_lib()).match(T("Creep", "Radiohead", 238.4, "GBAYE9200070"))
    assert m.candidate.path == Path("/m/creep_copy.flac")


def test_text_match_needs_artist_overlap():
    matcher = TrackMatcher(_lib())
    m = matcher.match(T("Yesterday - Remastered 2009", "The Beatles", 125.5))
    assert m.method == "artist+title" and m.candidate.path == Path("/m/yesterday.flac")
    miss = matcher.match(T("Yesterday", "Frank Sinatra", 125.0))
    assert not miss.matched and "title found" in miss.reason
    none = matcher.match(T("Something", "The Beatles", 180.0))
    assert not none.matched and none.reason == "no track with this title"


def test_duration_breaks_ties_between_text_candidates():
    matcher = TrackMatcher(_lib(), duration_tolerance=5.0)
    assert matcher.match(T("Hey Jude - Single Edit", "Beatles", 242.0)).candidate.path == Path("/m/heyjude_edit.mp3")
    assert matcher.match(T("Hey Jude", "Beatles", 429.0)).candidate.path == Path("/m/heyjude_album.flac")


def test_out_of_tolerance_match_is_kept_but_flagged():
    m = TrackMatcher(_lib(), duration_tolerance=5.0).match(T("Creep (Live)", "Radiohead", 300.0))
    assert m.matched and "duration differs by 62 s" in m.reason


def test_unknown_durations_still_match_and_conflicting_isrc_ranks_last():
    lib = [T("Tune", "Band", 200.0, "USAAA2600001", Path("/a.mp3")),
           T("Tune", "Band", 200.0, None, Path("/b.mp3"))]
    # The remote ISRC is not in the library; the candidate carrying a *different* ISRC ranks below.
    m = TrackMatcher(lib).match(T("Tune", "Band", 200.0, "USAAA2600002"))
    assert m.method == "artist+title" and m.candidate.path == Path("/b.mp3")
    assert TrackMatcher(_lib()).match(T("Song", "Artist", 100.0)).matched


def test_missing_metadata_is_a_reason_not_a_crash():
    matcher = TrackMatcher(_lib())
    assert matcher.match(T(None, "Artist")).reason == "no title or artist to search with"
    assert matcher.match(T("Song", None)).reason == "no title or artist to search with"
    with pytest.raises(ValueError):
        TrackMatcher([], duration_tolerance=-1)


def test_multi_valued_tags_keep_every_value(tmp_path) -> None:
    import mutagen

    from playlist.library.tags import read_tags
    from tests.library_helpers import write_track

    path = write_track(tmp_path / "cue.flac", seed=0, seconds=0.5)
    f = mutagen.File(path, easy=True)
    if f.tags is None:
        f.add_tags()
    f.tags["title"] = ["Living Caves", "Crossroads", "Living Caves"]
    f.tags["artist"] = ["Composer"]
    f.tags["tracknumber"] = ["3", "4"]
    f.save()
    tags = read_tags(path)
    assert tags.title == "Living Caves; Crossroads" and tags.artist == "Composer" and tags.track_no == 3
