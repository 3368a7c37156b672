"""Rebuild the default model's training set and held-out set from Debian game packages.

    python scripts/build_training_set.py --out data/default-model [--cache ~/.cache/myna-rpe/debs]

Steps, each skipped when its result is already in the cache:

1. `apt-get download PKG` for every package in PACKAGES (no installation, no root needed);
2. `dpkg -x` the .deb into CACHE/x/PKG;
3. find the audio: every file with an audio suffix, files of 64 KB or more without one that
   the decoder recognises (`myna_rpe.audio.is_audio_file` sniffs content), and audio inside
   zip/tar archives; symbolic music that passes the checks below is rendered into the cache:
   LMMS projects (.mmpz) with `lmms render`, tracker modules (.mod/.xm/.s3m/.it) once through
   with libopenmpt's `openmpt123`, MIDI files with FluidSynth once per installed General MIDI
   soundfont (SOUNDFONTS: versions of one composition, sharing its `variant`); a missing
   renderer leaves those files out with a note in excluded.tsv;
4. keep the music: files in the package's music locations (MUSIC rules below; sound effects,
   ambience and voice acting live elsewhere or are listed in SKIP with the reason), at least
   --min-seconds long, byte-identical copies dropped (a held-out copy of a training file too);
5. read the licence of each file from the package's DEP-5 copyright file (last matching
   `Files:` stanza wins, as the format specifies; for an old plain copyright file, the one
   licence it states, checked by a phrase: Package.plain) and drop any file whose licence does
   not allow redistributing a model trained on it (non-free, non-commercial, or unclear);
6. write OUT/train/PKG/..., OUT/validation/PKG/... and OUT/test/PKG/... (symlinks, or
   copies with --copy), plus
   OUT/manifest.tsv (one row per kept file) and OUT/excluded.tsv (every audio file of 30 s
   or more that was left out, with the reason).

Whole packages are held out so that evaluation runs on soundtracks the model has never
heard: validation games (--validation) choose a recipe, test games (--test) score it once; training keeps one version of each composition (`variant`). The reserved
evaluation packages, and every other package of a reserved game, are refused outright.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

# Reserved for independent evaluation: never downloaded, read or trained on here.
RESERVED = frozenset({
    "wesnoth-1.16-music", "warzone2100-music", "singularity-music", "hyperrogue-music", "drascula-music",
    "nexuiz-music", "ufoai-music", "planetblupi-music-ogg", "asc-music", "pingus-data", "music21",
    "fb-music-high",  # Frozen-Bubble's high-quality music: the same game as held-out frozen-bubble-data
})

# Every other package of a reserved game is reserved too: it may carry the same music (a
# MIDI version, a low-quality copy, a metapackage pulling it in, music inside game data),
# and a model that has heard one packaging of a work has heard it. Matched as shell globs.
RESERVED_GAMES = {
    "wesnoth*": "Wesnoth: wesnoth-1.16-music is reserved (wesnoth-music and every branch's music and data)",
    "warzone2100*": "Warzone 2100: warzone2100-music is reserved",
    "singularity*": "Endgame: Singularity: singularity-music is reserved",
    "hyperrogue*": "HyperRogue: hyperrogue-music is reserved",
    "drascula*": "Drascula: drascula-music is reserved",
    "nexuiz*": "Nexuiz: nexuiz-music is reserved",
    "ufoai*": "UFO: Alien Invasion: ufoai-music is reserved (ufoai-sound, ufoai-data, ...)",
    "planetblupi*": "Planet Blupi: planetblupi-music-ogg is reserved (planetblupi-music-midi is the same music as MIDI)",
    "asc": "ASC: asc-music is reserved", "asc-*": "ASC: asc-music is reserved",
    "pingus*": "Pingus: pingus-data is reserved",
    "*music21*": "the music21 corpus is reserved",
    "fb-music-*": "Frozen-Bubble's separate music packages (fb-music-high is held out as reserved)",
}


def reserved_reason(package: str) -> str | None:
    """Why a package is reserved for independent evaluation, or None if it is not."""
    if package in RESERVED:
        return f"{package} is reserved for independent evaluation"
    for pattern, why in RESERVED_GAMES.items():
        if fnmatchcase(package, pattern):
            return why
    return None


# Held out whole, in two sets of games from different studios and styles, so that
# same-game retrieval has several works to tell apart and no single game dominates.
# Validation (chooses recipe, size, steps, budget): the five soundtracks held out from the
# start (31 tracks, ≈ 97 min) and three mid-sized ones (36 tracks, ≈ 72 min): 67 tracks.
# Test (scored once, for the final table): the five largest of the packages added later
# (163 tracks, ≈ 8.1 h), so that its intervals can separate models that differ by a few
# points of mAP. Training keeps the rest (≈ 12.6 h).
DEFAULT_VALIDATION = ("flare-game", "megaglest-data", "extremetuxracer-data", "lincity-ng-data",
                      "frozen-bubble-data", "starfighter-data", "fillets-ng-data", "warmux-data")
DEFAULT_TEST = ("0ad-data", "naev-data", "widelands-data", "marsshooter-data", "pushover-data")
SPLITS = ("train", "validation", "test")

SNIFF_MIN_BYTES = 64 * 1024  # 30 s of audio is larger than this at any usable bitrate


@dataclass(frozen=True)
class Package:
    """Where a package keeps its music.

    data_root: the installed folder that corresponds to source_root in the upstream tree,
    which is what the DEP-5 `Files:` patterns name. music: globs (relative to data_root,
    `**` spans folders) of the files that are music. skip: glob -> why a match is not music.
    """

    data_root: str
    source_root: str
    music: tuple[str, ...]
    skip: dict[str, str] = field(default_factory=dict)
    descriptors: bool = False  # SuperTux(Kart) `.music` files name the music and its fast variant
    # For a copyright file that is not machine-readable (no `Files:` stanzas): (licence,
    # holders, a phrase of the file that states that licence). Used only while the phrase is
    # still in the file, so a changed copyright file is read again by a person, not guessed.
    plain: tuple[str, str, str] | None = None


_KENTA_CHO = ("BSD-2-clause", "Kenta Cho", "Redistribution and use in source and binary forms, with or without "
              "modification, are permitted provided that the following conditions are met")

PACKAGES: dict[str, Package] = {
    "supertux-data": Package("usr/share/games/supertux2", "data", ("music/**",)),
    "supertuxkart-data": Package(
        "usr/share/games/supertuxkart/data", "data", ("music/**",), descriptors=True,
        skip={"tracks/introcutscene2/nolok_speech.ogg": "voice acting"},
    ),
    "hedgewars-data": Package("usr/share/games/hedgewars", "share/hedgewars", ("Data/Music/**",)),
    "freedroidrpg-data": Package("usr/share/freedroidrpg", "", ("data/sound/music/**",)),
    "flare-game": Package(
        "usr/share/games/flare", "", ("mods/*/music/**",),
        skip={"mods/*/music/wind_ambient.ogg": "ambience (wind noise, no music), though in the music folder"},
    ),
    "megaglest-data": Package("usr/share/games/megaglest", "", ("**/music/**",)),
    "extremetuxracer-data": Package("usr/share/games/etr", "data", ("music/**",)),
    "lincity-ng-data": Package("usr/share/games/lincity-ng", "data", ("music/**",)),
    # Frozen-Bubble keeps music and effects together in snd/; its music files are the
    # ones named *zik* (French slang for music): frozen-mainzik-1p/2p and introzik.
    "frozen-bubble-data": Package("usr/share/games/frozen-bubble", "", ("snd/*zik*",)),
    "lmms-common": Package("usr/share/lmms", "data", ("projects/**/*.mmpz",)),
    # -- added for issue 12 (more training music); each rule from a look at `dpkg -c` and the
    # durations: effects are short .wav files beside the music unless a comment says otherwise.
    # 0 A.D.: 61 tracks in public.zip's audio/music/ (audio/ambient, voice, attack are not music).
    "0ad-data": Package("usr/share/games/0ad", "binaries/data", ("mods/public/public.zip/audio/music/**",)),
    # Naev: dat/snd/music/ (dat/snd/sounds/ is effects); one DEP-5 stanza per composer.
    "naev-data": Package("usr/share/naev", "", ("dat/snd/music/**",)),
    "marsshooter-data": Package(
        "usr/share/games/marsshooter", "data", ("audio/music/**", "audio/menu.ogg", "audio/tutorial.ogg"),
    ),  # menu.ogg and tutorial.ogg are Obsidian Shell's music too (same DEP-5 stanza as audio/music/*)
    "freecol": Package("usr/share/games/freecol", "data", ("default/resources/music/**",)),
    "pushover-data": Package("usr/share/pushover", "", ("themes/*.ogg",)),  # one theme tune per level style
    "zaz-data": Package("usr/share/games/zaz", "data", ("mus*.ogg",)),
    "xmoto-data": Package("usr/share/games/xmoto", "", ("Textures/Musics/**",)),
    "pathological": Package("usr/share/games/pathological", "", ("music/**",)),
    "powermanga-data": Package("usr/share/games/powermanga", "", ("sound/**/music_*.ogg",)),
    "pinball-data": Package("usr/share/games/pinball", "", ("*/*.ogg",)),  # each table's intro and game music
    "scorched3d-data": Package(
        "usr/share/games/scorched3d", "", ("data/globalmods/*/data/music/**",),
    ),  # data/wav/misc/ holds the long ambience loops (birds, frogs, ocean waves)
    "freeorion-data": Package(
        "usr/share/games/freeorion", "", ("default/data/sound/artificial_intelligence_v3.ogg",),
    ),  # the title theme (10.5 min); every other file in sound/ is an effect
    "lugaru-data": Package(
        "usr/share/games/lugaru", "Data", ("Sounds/Music*.ogg",),
        skip={"Sounds/*Ambient*.ogg": "ambience", "Sounds/Wind.ogg": "wind noise"},
    ),
    "caveexpress-data": Package("usr/share/games/caveexpress", "", ("sounds/music-*.ogg",)),  # cave*.ogg: ambience
    "funnyboat": Package("usr/share/games/funnyboat", "", ("data/JDruid-*.ogg",)),
    "abe-data": Package("usr/share/games/abe", "", ("sounds/game.ogg", "sounds/intro.ogg")),
    "tuxmath-data": Package("usr/share/tuxmath", "data", ("sounds/*.ogg", "sounds/*.mod")),
    "toppler": Package(
        "usr/share/games/toppler", "", ("toppler.ogg",),
        plain=("GPL-2+", "Andreas Röver", "either version 2 of the License, or (at your option) any later version"),
    ),
    "widelands-data": Package("usr/share/games/widelands", "", ("data/music/**",)),
    "starfighter-data": Package("usr/share/starfighter", "", ("music/**",)),
    "trackballs-data": Package("usr/share/games/trackballs", "share", ("music/**",)),  # sfx/: effects
    "lordsawar-data": Package("usr/share/games/lordsawar", "", ("music/**",)),
    "amoebax-data": Package("usr/share/games/amoebax", "data", ("music/**",)),
    # Word War vi: sounds/ mixes music and effects; every file of 30 s or more there is a music
    # track (dtox3monomix, lucky13-steve-mono-mix, highscoremusic, ...); the effects are all shorter.
    "wordwarvi-sound": Package("usr/share/wordwarvi", "", ("sounds/*.ogg",)),
    "tuxfootball": Package("usr/share/games/tuxfootball", "", ("sound/titlemusic.ogg",)),
    # Pang Zero ships its one tune twice, as UPiPang.mp3 and UPiPang.mid: the recording is kept.
    "pangzero": Package("usr/share/perl5/auto/share/dist/Games-PangZero", "", ("UPiPang.mp3",)),
    "fillets-ng-data": Package(
        "usr/share/games/fillets-ng", "", ("music/**",),
        plain=("GPL-2", "Ivo Danihelka; Pavel Danihelka; ALTAR interactive; and others",
               "the Free Software Foundation; version 2 dated June, 1991"),
    ),
    "warmux-data": Package(
        "usr/share/games/warmux", "", ("music/**",),
        skip={"music/ingame/Olivier_Militon.-.Apnee2.ogg":
              "a second version of Apnee (same composer, same name, same length to 0.1 s)"},
        plain=("GPL-2+", "Anthony Carré and the WarMUX contributors (data/authors.xml)",
               "either version 2 of the License, or (at your option) any later version"),
    ),  # sound/: effects (frog_music.ogg is a 34 s weapon effect)
    # Tracker modules, rendered with libopenmpt.
    "solarwolf": Package("usr/share/games/solarwolf", "", ("data/music/**",)),  # two .xm and one .ogg
    "monsterz-data": Package("usr/share/games/monsterz", "", ("sound/music.s3m",)),  # the rest of sound/: effects
    "gweled": Package("usr/share/sounds/gweled", "", ("*.s3m",)),
    "pachi-data": Package(
        "usr/share/pachi", "", ("music/**",),
        plain=("GPL-2+", "Santiago Radeff; Nicolas Radeff; Peter Hajba",
               "either version 2 of the License, or (at your option) any later version"),
    ),
    "tecnoballz-data": Package("usr/share/games/tecnoballz", "", ("musics/**",)),
    "tomatoes-data": Package("usr/share/tomatoes", "", ("music/**",)),
    "biniax2-data": Package("usr/share/games/biniax2", "", ("music/**",)),
    "njam-data": Package("usr/share/games/njam", "", ("data/*.xm", "data/*.s3m")),
    "ri-li-data": Package("usr/share/games/ri-li", "", ("Ri-li/Sounds/*.xm", "Ri-li/Sounds/*.mod")),
    "open-invaders-data": Package("usr/share/open-invaders", "", ("*.mod",)),
    "circuslinux-data": Package(
        "usr/share/games/circuslinux", "", ("data/music/**",),
        plain=("GPL", "Bill Kendrick", "Circus Linux! is distributed under the GNU GENERAL PUBLIC LICENSE"),
    ),
    "ceferino-data": Package(
        "usr/share/games/ceferino", "", ("music/**",),
        plain=("GPL-2+", "Hugo Ruscitti; Walter Velazquez; Gabriel Valentin",
               "either version 2 of the License, or (at your option) any later version"),
    ),
    # MIDI, rendered with FluidSynth once per General MIDI soundfont.
    "openttd-openmsx": Package("usr/share/games/openttd/baseset/openmsx", "", ("*.mid",)),
    # Kenta Cho's shooters: each ships its music as .ogg (effects are .wav); plain copyright
    # files under the same BSD licence.
    **{pkg: Package(f"usr/share/games/{game}", "", music, plain=_KENTA_CHO) for pkg, game, music in (
        ("torus-trooper-data", "torus-trooper", ("sounds/musics/**",)),
        ("titanion-data", "titanion", ("sounds/musics/**",)),
        ("gunroar-data", "gunroar", ("sounds/musics/**",)),
        ("mu-cade-data", "mu-cade", ("sounds/musics/**",)),
        ("rrootage-data", "rrootage", ("sounds/*.ogg",)),
        ("noiz2sa-data", "noiz2sa", ("sounds/*.ogg",)),
        ("parsec47-data", "parsec47", ("sounds/*.ogg",)),
        ("tumiki-fighters-data", "tumiki-fighters", ("sounds/*.ogg",)),
    )},
}

# Licences that allow redistributing (also commercially) a model trained on the work.
FREE_LICENCES = frozenset(s.lower() for s in (
    "GPL", "GPL-2", "GPL-2+", "GPL-2.0", "GPL-2.0+", "GPL-3", "GPL-3+", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA", "CC-BY-SA-3",
    "CC-BY-SA-3.0", "CC-BY-SA-3.0+", "CC-BY-SA-4", "CC-BY-SA-4.0", "CC0", "CC0-1.0", "public-domain",
    "Artistic-2", "Artistic-2.0", "BSD-2-clause", "BSD-3-clause", "Expat", "MIT", "Zlib",
    "LGPL-2.1", "LGPL-2.1+", "Free-Art-License-1.2",
))

# `--gpl2-compatible`: training files whose licence can be combined under GPL-2 (drops
# CC-BY-SA, which GPL-2 cannot absorb), for whoever holds that trained weights are a
# derivative of their training data and wants one licence to satisfy them all.
GPL2_COMPATIBLE = frozenset(s.lower() for s in (
    "GPL", "GPL-2", "GPL-2+", "GPL-2.0", "GPL-2.0+", "CC0", "CC0-1.0", "public-domain", "Artistic-2", "Artistic-2.0",
    "BSD-2-clause", "BSD-3-clause", "Expat", "MIT", "Zlib",
    "LGPL-2.1", "LGPL-2.1+",
))

# Files whose DEP-5 licence is stated but not trustworthy enough to train a shipped model on.
UNCLEAR = {
    ("lmms-common", "Files: *"): (
        "only the catch-all `Files: *` (GPL-2+) covers this project, and the copyright file itself "
        "notes that LMMS is not GPL-2+ as a whole (LMMS issue 2752)"
    ),
    ("supertuxkart-data", "Files: *"): (
        "every other music file has its own stanza naming composer and licence; this one falls to "
        "the package-wide `Files: *` (GPL-3+, SuperTuxKart-Team), which names neither its composer nor a "
        "licence chosen for it"
    ),
}


# -- DEP-5 ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Stanza:
    patterns: tuple[str, ...]
    licence: str
    copyright: str
    note: str = ""  # set for a licence read from a plain (not DEP-5) copyright file

    @property
    def rule(self) -> str:
        return self.note or "Files: " + " ".join(self.patterns)

    def matches(self, source_path: str) -> bool:
        return any(_dep5_regex(p).fullmatch(source_path) for p in self.patterns)


def _dep5_regex(pattern: str) -> re.Pattern[str]:
    # DEP-5 globs: `*` matches any run of characters including `/`, `?` one character.
    return re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."))


def parse_dep5(text: str) -> list[Stanza]:
    """The `Files:` stanzas of a machine-readable Debian copyright file, in order."""
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, list[str]] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key].append(line.strip())
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = [value.strip()]
        if "files" in fields and "license" in fields:
            # Some files write patterns as `./dat/...` or `/data/...`; DEP-5 paths are relative.
            patterns = tuple(_relative(p) for part in fields["files"] for p in part.split() if p)
            holders = "; ".join(x for x in fields.get("copyright", []) if x)
            stanzas.append(Stanza(patterns, fields["license"][0], holders))
    return stanzas


def read_licences(package: str, copyright_text: str) -> list[Stanza]:
    """The DEP-5 stanzas, or for a plain copyright file the package's `plain` licence if its phrase is there."""
    stanzas = parse_dep5(copyright_text)
    plain = PACKAGES[package].plain
    if stanzas or plain is None:
        return stanzas
    licence, holders, phrase = plain
    if " ".join(phrase.split()).lower() not in " ".join(copyright_text.split()).lower():
        return []
    return [Stanza(("*",), licence, holders, note=f'plain copyright file: "{phrase}"')]


def _relative(pattern: str) -> str:
    while pattern.startswith(("./", "/")):
        pattern = pattern[1:] if pattern[0] == "/" else pattern[2:]
    return pattern


def licence_of(source_path: str, stanzas: list[Stanza]) -> Stanza | None:
    """The last stanza whose patterns match (DEP-5: later, more specific stanzas override)."""
    found = None
    for st in stanzas:
        if st.matches(source_path):
            found = st
    return found


def licence_allows_model(expr: str, allowed: frozenset[str] = FREE_LICENCES) -> bool:
    """True if the licence expression (with `or` / `and`) is made of allowed licences."""
    alternatives = re.split(r"\s+or\s+", expr.strip(), flags=re.IGNORECASE)
    return any(
        all(term.strip().lower() in allowed for term in re.split(r"\s+and\s+", alt, flags=re.IGNORECASE))
        for alt in alternatives
    )


# -- fetching ---------------------------------------------------------------------------

def fetch_deb(package: str, cache: Path) -> Path:
    why = reserved_reason(package)
    if why is not None:
        raise SystemExit(f"{package} is reserved for independent evaluation and is never used here ({why})")
    found = sorted(cache.glob(f"{package}_*.deb"))
    if not found:
        print(f"apt-get download {package}", file=sys.stderr)
        try:
            subprocess.run(["apt-get", "download", package], cwd=cache, check=True)
        except FileNotFoundError:
            raise SystemExit(f"apt-get download {package}: apt-get is not installed (a Debian or Ubuntu "
                             f"machine is needed; or copy the .deb into {cache})") from None
        except subprocess.CalledProcessError as exc:
            raise SystemExit(f"apt-get download {package} failed (exit {exc.returncode}): is the Debian archive "
                             f"reachable and the package in it? What was fetched stays in {cache}") from None
        found = sorted(cache.glob(f"{package}_*.deb"))
    return found[-1]


def extract_deb(deb: Path, dest: Path) -> Path:
    stamp = dest / ".extracted-from"
    if stamp.is_file() and stamp.read_text() == deb.name:
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    subprocess.run(["dpkg", "-x", str(deb), str(dest)], check=True)
    stamp.write_text(deb.name)
    return dest


# -- finding the audio ------------------------------------------------------------------

@dataclass
class Candidate:
    package: str
    rel: str  # path relative to the package's data_root (for archives: archive/member)
    file: Path  # the audio file on disk (extracted or rendered if needed)
    how: str  # "suffix", "sniffed", "archive"; symbolic (not yet rendered): "project" (LMMS),
    # "module" (tracker), "midi"; after rendering: "rendered"
    name: str = ""  # where it goes under OUT/split/package (default: rel)
    note: str = ""  # how it was rendered (tool, soundfont and its licence), for the manifest


MODULE_SUFFIXES = (".mod", ".xm", ".s3m", ".it")
MIDI_SUFFIXES = (".mid", ".midi")
SYMBOLIC = ("project", "module", "midi")  # rendered only once they have passed the music and licence checks

# General MIDI soundfonts from Debian (path, package, credit and licence). Every MIDI file is
# rendered with each one that is installed: different instruments, one composition.
SOUNDFONTS = (
    ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "fluid-soundfont-gm", "Frank Wen, MIT"),
    ("/usr/share/sounds/sf2/TimGM6mb.sf2", "timgm6mb-soundfont", "Tim Brechbill, GPL-2"),
    ("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3", "musescore-general-soundfont-small",
     "S. Christian Collins, MIT"),
)


def _glob_match(rel: str, pattern: str) -> bool:
    """Shell-style match on a relative posix path: `**` spans folders, `*` and `?` stay in one."""
    rx = re.escape(pattern)
    rx = rx.replace(r"\*\*/", "(?:.*/)?").replace(r"/\*\*", "/.*").replace(r"\*\*", ".*")
    rx = rx.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    return re.fullmatch(rx, rel) is not None


def find_audio(package: str, root: Path, cache: Path) -> list[Candidate]:
    """Audio files under the package's data root, and LMMS projects (rendered later, if kept)."""
    from myna_rpe.audio import AUDIO_EXTENSIONS, is_audio_file

    data = root / PACKAGES[package].data_root
    found: list[Candidate] = []
    for p in sorted(data.rglob("*")):
        if not p.is_file() or p.is_symlink():
            continue
        rel = p.relative_to(data).as_posix()
        suffix = p.suffix.lower()
        if suffix in AUDIO_EXTENSIONS:
            found.append(Candidate(package, rel, p, "suffix"))
        elif suffix == ".mmpz":
            found.append(Candidate(package, rel, p, "project"))
        elif suffix in MODULE_SUFFIXES:
            found.append(Candidate(package, rel, p, "module"))
        elif suffix in MIDI_SUFFIXES:
            found.append(Candidate(package, rel, p, "midi"))
        elif p.stat().st_size >= SNIFF_MIN_BYTES:
            if zipfile.is_zipfile(p) or _is_tar(p):
                found += _archive_audio(package, rel, p, cache / "unpacked" / package)
            elif is_audio_file(p):
                found.append(Candidate(package, rel, p, "sniffed"))
    return found


def _is_tar(p: Path) -> bool:
    try:
        return tarfile.is_tarfile(p)
    except OSError:
        return False


def _archive_audio(package: str, rel: str, archive: Path, dest: Path) -> list[Candidate]:
    """Audio members of a zip or tar archive, unpacked under dest (kept: later runs reuse them)."""
    from myna_rpe.audio import is_audio_file

    found = []
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            members = [(i.filename, i.file_size, lambda i=i: z.read(i)) for i in z.infolist() if not i.is_dir()]
            found = _unpack_members(package, rel, members, dest, is_audio_file)
    else:
        with tarfile.open(archive) as t:
            members = [(m.name, m.size, lambda m=m: t.extractfile(m).read()) for m in t.getmembers() if m.isfile()]
            found = _unpack_members(package, rel, members, dest, is_audio_file)
    return found


def _unpack_members(package, rel, members, dest, is_audio_file) -> list[Candidate]:
    """Members named as audio, or with no suffix, are unpacked and sniffed; a member whose suffix names
    another format is not (0 A.D.'s 3 GB archive is mostly textures and models)."""
    from myna_rpe.audio import AUDIO_EXTENSIONS

    found = []
    for name, size, read in members:
        name = PurePosixPath(name)
        if size < SNIFF_MIN_BYTES or name.is_absolute() or ".." in name.parts:
            continue
        if name.suffix and name.suffix.lower() not in AUDIO_EXTENSIONS:
            continue
        out = dest / rel / name
        if not out.is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(read())
        if is_audio_file(out):
            found.append(Candidate(package, f"{rel}/{name.as_posix()}", out, "archive"))
        else:
            out.unlink()
    return found


def _render_with(cmd: list[str], tmp: Path, out: Path, what: str, timeout_s: int, env=None) -> str | None:
    """Run a renderer that writes tmp; on success move it to out. Returns an error text or None."""
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"rendering {what}", file=sys.stderr)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        tmp.unlink(missing_ok=True)
        return f"{Path(cmd[0]).name} took over {timeout_s} s"
    if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"{Path(cmd[0]).name} failed (exit {proc.returncode}): {tail[0][:200]}"
    os.replace(tmp, out)
    return None


def _tmp(out: Path) -> Path:
    return out.with_name(f".{out.stem}.{os.getpid()}{out.suffix}")


def render_lmms(project: Path, out: Path, timeout_s: int = 1200) -> str | None:
    """Render an LMMS project to Ogg Vorbis (cached); returns an error text or None."""
    if out.is_file() and out.stat().st_size > 0:
        return None
    lmms = shutil.which("lmms")
    if lmms is None:
        return "lmms is not installed (apt-get install --no-install-recommends lmms)"
    tmp = _tmp(out)
    cmd = [lmms, *(["--allowroot"] if os.geteuid() == 0 else []), "render", str(project), "-f", "ogg", "-o", str(tmp)]
    return _render_with(cmd, tmp, out, f"{project.name} with lmms", timeout_s,
                        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})


def render_module(module: Path, out: Path, timeout_s: int = 600) -> str | None:
    """Render a tracker module (mod/xm/s3m/it) once through, to mono 32 kHz FLAC, with libopenmpt's openmpt123.

    libopenmpt detects the song's end (and its loop points), so a looping module is played once.
    """
    if out.is_file() and out.stat().st_size > 0:
        return None
    openmpt = shutil.which("openmpt123")
    if openmpt is None:
        return "openmpt123 is not installed (apt-get install --no-install-recommends openmpt123)"
    tmp = _tmp(out)
    cmd = [openmpt, "--quiet", "--batch", "--repeat", "0", "--end-time", "1800", "--samplerate", "32000",
           "--channels", "1", "--no-float", "--force", "-o", str(tmp), str(module)]
    return _render_with(cmd, tmp, out, f"{module.name} with openmpt123", timeout_s)


def render_midi(midi: Path, soundfont: Path, out: Path, timeout_s: int = 600) -> str | None:
    """Render a MIDI file with one soundfont to Ogg Vorbis (44.1 kHz) with FluidSynth."""
    if out.is_file() and out.stat().st_size > 0:
        return None
    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None:
        return "fluidsynth is not installed (apt-get install --no-install-recommends fluidsynth)"
    tmp = _tmp(out)
    # -n -i: no MIDI input, no shell; -F: render to a file as fast as possible; -q: quiet.
    cmd = [fluidsynth, "-q", "-n", "-i", "-F", str(tmp), "-T", "oga", "-r", "44100", str(soundfont), str(midi)]
    return _render_with(cmd, tmp, out, f"{midi.name} with fluidsynth and {soundfont.name}", timeout_s)


# -- selecting the music ----------------------------------------------------------------

def read_descriptors(root: Path, package: str) -> tuple[set[str], dict[str, str]]:
    """From SuperTux(Kart) `.music` files: the files they name as music, and fast version -> main file.

    Read with a tolerant attribute regex: some descriptors are not well-formed XML (a raw
    `<` inside a composer's attribute value).
    """
    spec = PACKAGES[package]
    named: set[str] = set()
    fast: dict[str, str] = {}
    if not spec.descriptors:
        return named, fast
    data = root / spec.data_root
    for desc in sorted(data.rglob("*.music")):
        attrs = dict(_ATTR.findall(desc.read_text(encoding="utf-8", errors="replace")))
        folder = desc.parent.relative_to(data).as_posix()
        named |= {f"{folder}/{attrs[k]}" for k in ("file", "fast-filename") if k in attrs}
        if "file" in attrs and "fast-filename" in attrs:
            fast[f"{folder}/{attrs['fast-filename']}"] = f"{folder}/{attrs['file']}"
    return named, fast


_ATTR = re.compile(r'([A-Za-z][\w-]*)\s*=\s*"([^"]*)"')


def music_verdict(package: str, rel: str, named: set[str]) -> str | None:
    """None if the file is music, else why not."""
    spec = PACKAGES[package]
    for pattern, reason in spec.skip.items():
        if _glob_match(rel, pattern):
            return reason
    if rel in named or any(_glob_match(rel, p) for p in spec.music):
        return None
    return "not in the package's music locations (sound effect, ambience or voice)"


@dataclass
class Row:
    split: str
    package: str
    rel: str
    source: str
    file: Path
    duration: float
    licence: str
    copyright: str
    rule: str
    group: str
    variant: str
    sha256: str
    how: str
    path: str = ""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def select(packages: list[str], heldout: dict[str, str], cache: Path, min_seconds: float, render: bool,
           train_licences: frozenset[str] = FREE_LICENCES) -> tuple[list[Row], list[tuple[str, str, float, str]]]:
    from myna_rpe.audio import audio_duration
    from myna_rpe.errors import AudioError

    rows: list[Row] = []
    excluded: list[tuple[str, str, float, str]] = []
    for package in packages:
        root = extract_deb(fetch_deb(package, cache), cache / "x" / package)
        spec = PACKAGES[package]
        copyright_file = root / "usr/share/doc" / package / "copyright"
        stanzas = read_licences(package, copyright_file.read_text(encoding="utf-8", errors="replace"))
        named, variants = read_descriptors(root, package)
        for c in find_audio(package, root, cache):
            duration = float("nan")
            if c.how not in SYMBOLIC:  # symbolic music is rendered only once it has passed the checks
                try:
                    duration = audio_duration(c.file)
                except AudioError as exc:
                    excluded.append((package, c.rel, duration, f"undecodable: {exc}"))
                    continue
                if duration < min_seconds:
                    continue  # short files are effects or jingles; not worth listing one by one
            why_not = music_verdict(package, c.rel, named)
            source = str(PurePosixPath(spec.source_root) / c.rel) if spec.source_root else c.rel
            stanza = licence_of(source, stanzas)
            if why_not is None and stanza is None:
                why_not = "no DEP-5 stanza covers it"
            if why_not is None and not stanza.licence:
                why_not = f"its DEP-5 stanza ({stanza.rule[:80]}) names no licence"
            if why_not is None and not licence_allows_model(stanza.licence):
                why_not = f"licence {stanza.licence} does not allow redistributing a trained model"
            if why_not is None and package not in heldout and not licence_allows_model(stanza.licence, train_licences):
                why_not = f"licence {stanza.licence} is outside the training licences chosen (--gpl2-compatible)"
            if why_not is None and (package, stanza.rule) in UNCLEAR:
                why_not = "unclear licence: " + UNCLEAR[(package, stanza.rule)]
            if why_not is not None:
                excluded.append((package, c.rel, duration, why_not))
                continue
            versions = [(None, c)] if c.how not in SYMBOLIC else _render(c, cache, render)
            for err, v in versions:
                if err is None and c.how in SYMBOLIC:
                    duration = audio_duration(v.file)
                    if duration < min_seconds:
                        continue
                name = v.name or v.rel
                if err is not None:
                    excluded.append((package, name, float("nan"), err))
                    continue
                rows.append(Row(
                    split=heldout.get(package, "train"), package=package, rel=name, source=source,
                    file=v.file, duration=duration, licence=stanza.licence,
                    copyright="; ".join(x for x in (stanza.copyright, v.note) if x), rule=stanza.rule,
                    group=str(PurePosixPath(name).parent), variant=variants.get(c.rel, c.rel),
                    sha256=_sha256(v.file), how=v.how,
                ))
    return _drop_duplicates(rows, excluded), excluded


def _render(c: Candidate, cache: Path, render: bool) -> list[tuple[str | None, Candidate]]:
    """[(why not, candidate)]: the symbolic file rendered to audio in the cache (a MIDI file once
    per soundfont: versions of one composition, all with the file's `variant`), or the reason not."""
    if not render:
        return [("symbolic music not rendered (--no-render)", c)]
    done = cache / "rendered" / c.package
    if c.how == "project":
        out = done / (c.rel + ".ogg")
        name = c.rel.removesuffix(".mmpz") + ".ogg"
        return [(render_lmms(c.file, out), Candidate(c.package, c.rel, out, "rendered", name, "rendered with lmms"))]
    if c.how == "module":
        out = done / (c.rel + ".flac")
        return [(render_module(c.file, out),
                 Candidate(c.package, c.rel, out, "rendered", c.rel + ".flac", "rendered with libopenmpt"))]
    fonts = [(Path(f), pkg, credit) for f, pkg, credit in SOUNDFONTS if Path(f).is_file()]
    if not fonts:
        wanted = " ".join(pkg for _, pkg, _ in SOUNDFONTS)
        return [(f"no General MIDI soundfont installed (apt-get install --no-install-recommends {wanted})", c)]
    versions = []
    for font, pkg, credit in fonts:
        name = f"{c.rel}.{font.stem}.ogg"
        out = done / name
        versions.append((render_midi(c.file, font, out),
                         Candidate(c.package, c.rel, out, "rendered", name,
                                   f"rendered with FluidSynth and {font.name} ({pkg}: {credit})")))
    return versions


def _drop_duplicates(rows: list[Row], excluded: list) -> list[Row]:
    """Keep one copy of byte-identical files, preferring the training copy (so held-out stays unseen),
    and one version of each composition in training (`variant`: SuperTuxKart's fast versions, a
    MIDI file's renders with several soundfonts): two versions of one piece in a batch would be
    taught apart as different tracks. Held-out keeps every version; the benchmark reads `variant`.
    Training keeps the main file (rel == variant) if there is one, else one version in turn
    (compositions in name order, versions in name order: the k-th composition keeps version
    k mod n), so that each soundfont renders an equal share of the compositions."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        if r.split == "train":
            groups.setdefault((r.package, r.variant), []).append(r)
    chosen: dict[tuple[str, str], Row] = {}
    for k, (key, versions) in enumerate(sorted(groups.items())):
        versions.sort(key=lambda r: r.rel)
        main = [r for r in versions if r.rel == r.variant]
        chosen[key] = main[0] if main else versions[k % len(versions)]
    first: dict[str, Row] = {}
    for r in sorted(rows, key=lambda r: (r.split != "train", r.package, r.rel)):
        keep = chosen.get((r.package, r.variant)) if r.split == "train" else r
        if keep is not r:
            excluded.append((r.package, r.rel, r.duration,
                             f"another version of {r.package}/{r.variant}; training keeps one ({keep.rel})"))
        elif r.sha256 in first:
            keep = first[r.sha256]
            excluded.append((r.package, r.rel, r.duration, f"identical to {keep.split} file {keep.package}/{keep.rel}"))
        else:
            first[r.sha256] = r
    kept = set(id(r) for r in first.values())
    return [r for r in rows if id(r) in kept]


# -- writing ----------------------------------------------------------------------------

def write_set(rows: list[Row], excluded: list, out: Path, copy: bool) -> None:
    for split in (*SPLITS, "heldout"):  # heldout/: the single held-out folder of older builds
        if (out / split).exists():
            shutil.rmtree(out / split)  # a rebuild must not keep files a changed rule now drops
    for r in rows:
        name = r.rel
        if r.how == "sniffed" and not Path(name).suffix:
            name += _sniffed_suffix(r.file)
        dest = out / r.split / r.package / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if copy:
            shutil.copy2(r.file, dest)
        else:
            dest.symlink_to(r.file.resolve())
        r.path = dest.relative_to(out).as_posix()
    cols = ("split", "path", "package", "source", "duration_s", "licence", "copyright", "licence_rule",
            "group", "variant", "sha256")
    with open(out / "manifest.tsv", "w", encoding="utf-8") as fh:
        fh.write("\t".join(cols) + "\n")
        for r in sorted(rows, key=lambda r: (r.split, r.package, r.rel)):
            vals = (r.split, r.path, r.package, r.source, f"{r.duration:.2f}", r.licence, r.copyright, r.rule,
                    r.group, r.variant, r.sha256)
            fh.write("\t".join(v.replace("\t", " ") for v in vals) + "\n")
    with open(out / "excluded.tsv", "w", encoding="utf-8") as fh:
        fh.write("package\tfile\tduration_s\treason\n")
        for package, rel, dur, reason in sorted(excluded, key=lambda e: (e[0], e[1])):
            if math.isnan(dur) or dur >= 30:  # failed, or long enough to have been a candidate
                fh.write(f"{package}\t{rel}\t{dur:.2f}\t{reason}\n")


def _sniffed_suffix(path: Path) -> str:
    # `myna train` walks a folder by suffix, so a sniffed extensionless file gets one.
    import av

    with av.open(str(path)) as c:
        name = c.format.name.split(",")[0]
    return {"ogg": ".ogg", "mp3": ".mp3", "flac": ".flac", "wav": ".wav", "aiff": ".aiff", "mov": ".m4a"}.get(name, ".mka")


def summary(rows: list[Row], excluded: list) -> str:
    lines = [f"{'split':8} {'package':22} {'tracks':>6} {'minutes':>8} {'hours':>6}  licences"]
    by: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        by.setdefault((r.split, r.package), []).append(r)
    for (split, package), rs in sorted(by.items()):
        lics = ", ".join(sorted({r.licence for r in rs}))
        seconds = sum(r.duration for r in rs)
        lines.append(f"{split:8} {package:22} {len(rs):6d} {seconds / 60:8.1f} {seconds / 3600:6.2f}  {lics}")
    for split in SPLITS:
        rs = [r for r in rows if r.split == split]
        seconds = sum(r.duration for r in rs)
        lines.append(f"{split:8} {'(total)':22} {len(rs):6d} {seconds / 60:8.1f} {seconds / 3600:6.2f}")
    lines.append(f"excluded (≥ 30 s or failed): {sum(1 for e in excluded if math.isnan(e[2]) or e[2] >= 30)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="output folder (train/, validation/, test/, manifest.tsv)")
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                    / "myna-rpe" / "debs", help="where .deb files, extracted trees and renders are kept")
    ap.add_argument("--packages", nargs="+", default=list(PACKAGES), help="packages to use (default: all)")
    ap.add_argument("--validation", nargs="*", default=list(DEFAULT_VALIDATION),
                    help="packages held out whole to choose the recipe on")
    ap.add_argument("--test", nargs="*", default=list(DEFAULT_TEST), help="packages held out whole, scored once")
    ap.add_argument("--min-seconds", type=float, default=30.0, help="shortest track kept")
    ap.add_argument("--no-render", action="store_true",
                    help="skip the symbolic music: LMMS projects, tracker modules, MIDI (rendering is slow)")
    ap.add_argument("--copy", action="store_true", help="copy the audio instead of symlinking into the cache")
    ap.add_argument("--gpl2-compatible", action="store_true",
                    help="train only on files whose licences combine under GPL-2 (drops CC-BY-SA)")
    args = ap.parse_args(argv)

    reserved = [p for p in [*args.packages, *args.validation, *args.test] if reserved_reason(p)]
    if reserved:
        raise SystemExit(f"reserved for independent evaluation: {reserved}")
    unknown = [p for p in [*args.packages, *args.validation, *args.test] if p not in PACKAGES]
    if unknown:
        raise SystemExit(f"unknown packages: {unknown}")
    args.cache.mkdir(parents=True, exist_ok=True)
    both = set(args.validation) & set(args.test)
    if both:
        raise SystemExit(f"both a validation and a test game: {sorted(both)}")
    heldout = {**{p: "validation" for p in args.validation}, **{p: "test" for p in args.test}}
    rows, excluded = select(args.packages, heldout, args.cache, args.min_seconds, not args.no_render,
                            GPL2_COMPATIBLE if args.gpl2_compatible else FREE_LICENCES)
    args.out.mkdir(parents=True, exist_ok=True)
    write_set(rows, excluded, args.out, args.copy)
    print(summary(rows, excluded))
    print(f"wrote {args.out}/train, {args.out}/validation, {args.out}/test, manifest.tsv and excluded.tsv")


if __name__ == "__main__":
    main()
