"""Tags of an audio file (title, artist, album, track number, duration, ISRC) via mutagen.

Best effort by design: tags are optional and often broken, so a file whose tags cannot
be read gets empty tags here; whether it is audio at all is the decoder's verdict.
A multi-valued title, artist or album (several TITLE fields or ID3 values) keeps all its
values, joined with "; ": the first alone would give every file of a soundtrack tagged
`TITLE=Living Caves;Crossroads;…` the same title.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

import mutagen
from mutagen.easymp4 import EasyMP4Tags
from mutagen.id3 import ID3

# iTunes keeps the ISRC in a freeform atom; teach the "easy" MP4 interface its name.
if "isrc" not in EasyMP4Tags.Get:
    EasyMP4Tags.RegisterFreeformKey("isrc", "ISRC")

# WAV/AIFF files carry plain (not "easy") ID3 frames.
_ID3_FRAMES = {"title": "TIT2", "artist": "TPE1", "album": "TALB", "tracknumber": "TRCK", "isrc": "TSRC"}


@dataclass(frozen=True)
class Tags:
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    track_no: int | None = None
    duration: float | None = None  # seconds, from the container header (an estimate for some mp3s)
    isrc: str | None = None


def read_tags(path: str | Path) -> Tags:
    try:
        f = mutagen.File(str(path), easy=True)
    except Exception:  # mutagen raises many types for malformed headers; tags are optional
        return Tags()
    if f is None:
        return Tags()
    duration = getattr(f.info, "length", None) or None
    raw = f.tags
    if raw is None:
        return Tags(duration=duration)

    def values(key: str) -> list[str]:
        try:
            if isinstance(raw, ID3):
                frame = raw.get(_ID3_FRAMES[key])
                found = frame.text if frame is not None else []
            else:
                found = raw.get(key) or []
        except (KeyError, ValueError):
            return []
        return [text for text in (str(v).strip() for v in found) if text]

    def first(key: str) -> str | None:
        return next(iter(values(key)), None)

    def every(key: str) -> str | None:
        return "; ".join(dict.fromkeys(values(key))) or None

    return Tags(
        title=every("title"),
        artist=every("artist"),
        album=every("album"),
        track_no=_track_number(first("tracknumber")),
        duration=duration,
        isrc=first("isrc"),
    )


def _track_number(text: str | None) -> int | None:
    """"3", "03" and "3/12" -> 3."""
    m = re.match(r"\s*(\d+)", text or "")
    return int(m.group(1)) if m else None


IMAGE_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"GIF8": "image/gif"}


def embedded_cover(path: str | Path) -> tuple[bytes, str] | None:
    """The file's embedded picture (the front cover where one is marked) and its image type,
    for JPEG, PNG and GIF pictures (the type is read from the bytes, not from the tag); None
    where there is none or the tags cannot be read."""
    try:
        f = mutagen.File(str(path))
    except Exception:  # as read_tags: pictures are optional
        return None
    if f is None:
        return None
    pictures: list[tuple[int, bytes]] = []  # (picture type, data); type 3 = front cover
    pictures += [(p.type, p.data) for p in getattr(f, "pictures", [])]  # FLAC
    tags = f.tags
    if tags is not None:
        if isinstance(tags, ID3):
            pictures += [(p.type, p.data) for p in tags.getall("APIC")]
        elif hasattr(tags, "get"):
            pictures += [(3, bytes(c)) for c in tags.get("covr", [])]  # MP4
            for block in tags.get("metadata_block_picture", []):  # Ogg Vorbis / Opus
                try:
                    from mutagen.flac import Picture

                    p = Picture(base64.b64decode(block))
                    pictures.append((p.type, p.data))
                except Exception:
                    continue
    for _, data in sorted(pictures, key=lambda p: p[0] != 3):
        kind = next((mime for magic, mime in IMAGE_TYPES.items() if data.startswith(magic)), None)
        if kind:
            return data, kind
    return None
