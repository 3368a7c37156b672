"""Match tracks described by metadata (a Spotify item, a Subsonic song, a local file) to each other.

Two tracks are the same recording when their ISRCs agree. Without a shared ISRC they
match when their *normalised* titles are equal and their artist names overlap; the
duration then only ranks several candidates (closest first, within a tolerance).

Normalisation removes what differs between releases of one recording and says
nothing about which song it is: case, accents, punctuation, "feat."/"ft." credits,
and bracketed or " - " suffixes such as "(Remastered 2011)", "- Radio Edit",
"(Live)", "[Mono]", "- Single Version", "(Deluxe Edition)". Remixes, acoustic and
instrumental versions keep their words, so they do not match the original.
`docs/spotify.md` lists the rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

DEFAULT_DURATION_TOLERANCE = 5.0  # seconds; re-releases of one recording differ by a few


class TrackLike(Protocol):
    """What matching needs from a track: the store's `Track`, Spotify's `RemoteTrack` and a Subsonic `Song` fit."""

    @property
    def title(self) -> str | None: ...

    @property
    def artist(self) -> str | None: ...

    @property
    def duration(self) -> float | None: ...

    @property
    def isrc(self) -> str | None: ...


# A bracketed part or " - " suffix is dropped when it contains one of these phrases.
_NOISE = re.compile(
    r"\b(?:re ?master(?:ed)?|radio (?:edit|version|mix)|single (?:version|edit|mix)"
    r"|album version|original (?:mix|version)|mono|stereo|explicit|clean version"
    r"|bonus track|deluxe|expanded edition|anniversary edition|feat|ft|featuring)\b"
    r"|^live\b|\blive$|\blive (?:version|recording|at|from|in|on)\b"
    r"|^with\b"  # Spotify's "(with Other Artist)" credit
)
_BRACKETED = re.compile(r"[(\[{]([^)\]}]*)[)\]}]")
_DASH_SPLIT = re.compile(r"\s+[-–—]\s+")
_FEAT_TAIL = re.compile(r"\s+(?:feat|ft|featuring)\b\.?.*$", re.IGNORECASE)
# Separators between credited artists, applied to the raw credit before folding.
_ARTIST_SPLIT = re.compile(
    r"\s*(?:[,;/&+]|\s(?:and|x|vs\.?|feat\.?|ft\.?|featuring|with)\s)\s*", re.IGNORECASE
)
_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$")


def fold(text: str) -> str:
    """Lower-case ASCII-ish text: accents stripped, '&' spelled out, punctuation -> spaces."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.replace("&", " and ")
    text = re.sub(r"['’`´]", "", text)  # don't -> dont, not "don t"
    text = re.sub(r"[^\w]+|_", " ", text)
    return " ".join(text.split())


def _is_noise(part: str) -> bool:
    return bool(_NOISE.search(fold(part)))


def strip_title_noise(title: str) -> str:
    """The title with noise brackets, noise " - " suffixes and "feat." credits removed."""
    text = _BRACKETED.sub(lambda m: " " if _is_noise(m.group(1)) else m.group(0), title)
    head, *tails = _DASH_SPLIT.split(text)
    kept = [head] + [t for t in tails if not _is_noise(t)]
    text = " ".join(_FEAT_TAIL.sub("", " - ".join(kept)).split())
    # A title made only of noise ("Live") keeps its own words rather than becoming empty.
    return text if fold(text) else title.strip()


def title_key(title: str | None) -> str:
    """The folded part of a title that names the song (the key titles are compared by)."""
    return fold(strip_title_noise(title)) if title else ""


def primary_artist(artist: str | None) -> str | None:
    """The first credited artist: "A feat. B" -> "A", "A, B & C" -> "A"."""
    if not artist:
        return None
    first = _ARTIST_SPLIT.split(artist.strip(), maxsplit=1)[0].strip()
    return first or artist.strip()


def artist_names(artist: str | None) -> frozenset[str]:
    """Each credited artist, folded, plus the whole credit; a leading "the" is dropped."""
    if not artist:
        return frozenset()
    names = {fold(artist)} | {fold(p) for p in _ARTIST_SPLIT.split(artist)}
    names.discard("")
    return frozenset(n[4:] if n.startswith("the ") and len(n) > 4 else n for n in names)


def normalise_isrc(isrc: str | None) -> str | None:
    """'us-rc1-76-07839' -> 'USRC17607839'; None when it is not a well-formed ISRC."""
    if not isrc:
        return None
    code = re.sub(r"[\s-]", "", isrc).upper()
    return code if _ISRC.match(code) else None


T = TypeVar("T")


@dataclass(frozen=True)
class Match(Generic[T]):
    """The outcome for one target: the candidate chosen (or None) and why."""

    candidate: T | None
    method: str | None  # "isrc", "artist+title", or None when unmatched
    reason: str  # why it matched or did not, for the report
    duration_delta: float | None = None  # |target - candidate| in seconds, when both known

    @property
    def matched(self) -> bool:
        return self.candidate is not None


def _delta(a: float | None, b: float | None) -> float | None:
    return abs(a - b) if a is not None and b is not None and a > 0 and b > 0 else None


class TrackMatcher(Generic[T]):
    """An index over candidate tracks that finds the best one for each target."""

    def __init__(self, candidates: Iterable[T], duration_tolerance: float = DEFAULT_DURATION_TOLERANCE):
        if duration_tolerance < 0:
            raise ValueError("duration_tolerance must be >= 0")
        self.tolerance = duration_tolerance
        self._by_isrc: dict[str, list[T]] = defaultdict(list)
        self._by_title: dict[str, list[T]] = defaultdict(list)
        for cand in candidates:
            code = normalise_isrc(getattr(cand, "isrc", None))
            if code:
                self._by_isrc[code].append(cand)
            key = title_key(getattr(cand, "title", None))
            if key:
                self._by_title[key].append(cand)

    def match(self, target: TrackLike) -> Match[T]:
        code = normalise_isrc(target.isrc)
        if code and code in self._by_isrc:
            best = min(self._by_isrc[code], key=lambda c: self._rank(target, c, None))
            return Match(best, "isrc", f"ISRC {code}", _delta(target.duration, best.duration))
        return self._match_text(target, code)

    def _rank(self, target: TrackLike, cand: T, code: str | None) -> tuple:
        delta = _delta(target.duration, cand.duration)
        if delta is None:
            closeness = (1, 0.0)
        else:
            closeness = (0 if delta <= self.tolerance else 2, delta)
        other = normalise_isrc(getattr(cand, "isrc", None))
        conflict = int(bool(code and other and other != code))
        # A stable last key (path or URI) makes ties deterministic.
        tie = str(getattr(cand, "path", None) or getattr(cand, "uri", None) or "")
        return (closeness[0], conflict, closeness[1], tie)

    def _match_text(self, target: TrackLike, code: str | None) -> Match[T]:
        key = title_key(target.title)
        names = artist_names(target.artist)
        if not key or not names:
            return Match(None, None, "no title or artist to search with")
        same_title = self._by_title.get(key, [])
        if not same_title:
            return Match(None, None, "no track with this title")
        same_artist = [c for c in same_title if names & artist_names(c.artist)]
        if not same_artist:
            found = same_title[0].artist or "unknown artist"
            return Match(None, None, f"title found, but by {found}")
        best = min(same_artist, key=lambda c: self._rank(target, c, code))
        delta = _delta(target.duration, best.duration)
        if delta is not None and delta > self.tolerance:
            reason = f"artist+title; duration differs by {delta:.0f} s"
        else:
            reason = "artist+title"
        return Match(best, "artist+title", reason, delta)
