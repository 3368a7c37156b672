"""Rebuild the default model's training set and held-out set from Debian game packages.

    python scripts/build_training_set.py --out data/default-model [--cache ~/.cache/myna-rpe/debs]

Steps, each skipped when its result is already in the cache:

1. `apt-get download PKG` for every package in PACKAGES (no installation, no root needed);
2. `dpkg -x` the .deb into CACHE/x/PKG;
3. find the audio: every file with an audio suffix, files of 64 KB or more without one that
   the decoder recognises (`myna_rpe.audio.is_audio_file` sniffs content), and audio inside
   zip/tar archives; LMMS demo projects (.mmpz) that pass the checks below are rendered
   with `lmms render` (when lmms is installed);
4. keep the music: files in the package's music locations (MUSIC rules below; sound effects,
   ambience and voice acting live elsewhere or are listed in SKIP with the reason), at least
   --min-seconds long, byte-identical copies dropped (a held-out copy of a training file too);
5. read the licence of each file from the package's DEP-5 copyright file (last matching
   `Files:` stanza wins, as the format specifies) and drop any file whose licence does not
   allow redistributing a model trained on it (non-free, non-commercial, or unclear);
6. write OUT/train/PKG/... and OUT/heldout/PKG/... (symlinks, or copies with --copy), plus
   OUT/manifest.tsv (one row per kept file) and OUT/excluded.tsv (every audio file of 30 s
   or more that was left out, with the reason).

Whole packages are held out (--heldout) so that evaluation runs on soundtracks the model has
never heard. The reserved evaluation packages are refused outright.
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
})

# Held out whole: five soundtracks (31 tracks, ≈ 97 min) from different studios and styles,
# so that same-game retrieval has five works to tell apart and no single game dominates;
# the four largest soundtracks (SuperTux, Hedgewars, SuperTuxKart, FreedroidRPG) and the
# LMMS demos stay in training (≈ 5.5 h).
DEFAULT_HELDOUT = ("flare-game", "megaglest-data", "extremetuxracer-data", "lincity-ng-data", "frozen-bubble-data")

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
}

# Licences that allow redistributing (also commercially) a model trained on the work.
FREE_LICENCES = frozenset(s.lower() for s in (
    "GPL", "GPL-2", "GPL-2+", "GPL-3", "GPL-3+", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA", "CC-BY-SA-3",
    "CC-BY-SA-3.0", "CC-BY-SA-3.0+", "CC-BY-SA-4", "CC-BY-SA-4.0", "CC0", "CC0-1.0", "public-domain",
    "Artistic-2", "Artistic-2.0", "BSD-2-clause", "BSD-3-clause", "Expat", "MIT",
))

# `--gpl2-compatible`: training files whose licence can be combined under GPL-2 (drops
# CC-BY-SA, which GPL-2 cannot absorb), for whoever holds that trained weights are a
# derivative of their training data and wants one licence to satisfy them all.
GPL2_COMPATIBLE = frozenset(s.lower() for s in (
    "GPL", "GPL-2", "GPL-2+", "CC0", "CC0-1.0", "public-domain", "Artistic-2", "Artistic-2.0",
    "BSD-2-clause", "BSD-3-clause", "Expat", "MIT",
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

    @property
    def rule(self) -> str:
        return "Files: " + " ".join(self.patterns)

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
            patterns = tuple(p for part in fields["files"] for p in part.split() if p)
            holders = "; ".join(x for x in fields.get("copyright", []) if x)
            stanzas.append(Stanza(patterns, fields["license"][0], holders))
    return stanzas


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
    if package in RESERVED:
        raise SystemExit(f"{package} is reserved for independent evaluation and is never used here")
    found = sorted(cache.glob(f"{package}_*.deb"))
    if not found:
        print(f"apt-get download {package}", file=sys.stderr)
        subprocess.run(["apt-get", "download", package], cwd=cache, check=True)
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
    how: str  # "suffix", "sniffed", "archive", "project" (LMMS, not yet rendered), "rendered"


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
    found = []
    for name, size, read in members:
        name = PurePosixPath(name)
        if size < SNIFF_MIN_BYTES or name.is_absolute() or ".." in name.parts:
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


def render_lmms(project: Path, out: Path, timeout_s: int = 1200) -> str | None:
    """Render an LMMS project to Ogg Vorbis (cached); returns an error text or None."""
    if out.is_file() and out.stat().st_size > 0:
        return None
    lmms = shutil.which("lmms")
    if lmms is None:
        return "lmms is not installed (apt-get install --no-install-recommends lmms)"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.ogg")
    cmd = [lmms, *(["--allowroot"] if os.geteuid() == 0 else []), "render", str(project), "-f", "ogg", "-o", str(tmp)]
    print(f"rendering {project.name} with lmms", file=sys.stderr)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    except subprocess.TimeoutExpired:
        tmp.unlink(missing_ok=True)
        return f"lmms render took over {timeout_s} s"
    if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"lmms render failed (exit {proc.returncode}): {tail[0][:200]}"
    os.replace(tmp, out)
    return None


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


def select(packages: list[str], heldout: set[str], cache: Path, min_seconds: float, render: bool,
           train_licences: frozenset[str] = FREE_LICENCES) -> tuple[list[Row], list[tuple[str, str, float, str]]]:
    from myna_rpe.audio import audio_duration
    from myna_rpe.errors import AudioError

    rows: list[Row] = []
    excluded: list[tuple[str, str, float, str]] = []
    for package in packages:
        root = extract_deb(fetch_deb(package, cache), cache / "x" / package)
        spec = PACKAGES[package]
        copyright_file = root / "usr/share/doc" / package / "copyright"
        stanzas = parse_dep5(copyright_file.read_text(encoding="utf-8", errors="replace"))
        named, variants = read_descriptors(root, package)
        for c in find_audio(package, root, cache):
            duration = float("nan")
            if c.how != "project":  # an LMMS project is rendered only once it has passed the checks
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
            if why_not is None and not licence_allows_model(stanza.licence):
                why_not = f"licence {stanza.licence} does not allow redistributing a trained model"
            if why_not is None and package not in heldout and not licence_allows_model(stanza.licence, train_licences):
                why_not = f"licence {stanza.licence} is outside the training licences chosen (--gpl2-compatible)"
            if why_not is None and (package, stanza.rule) in UNCLEAR:
                why_not = "unclear licence: " + UNCLEAR[(package, stanza.rule)]
            if why_not is None and c.how == "project":
                why_not, c = _render(c, cache, render)
                if why_not is None:
                    duration = audio_duration(c.file)
                    if duration < min_seconds:
                        continue
            if why_not is not None:
                excluded.append((package, c.rel, duration, why_not))
                continue
            rows.append(Row(
                split="heldout" if package in heldout else "train", package=package, rel=c.rel, source=source,
                file=c.file, duration=duration, licence=stanza.licence, copyright=stanza.copyright,
                rule=stanza.rule, group=str(PurePosixPath(c.rel).parent), variant=variants.get(c.rel, c.rel),
                sha256=_sha256(c.file), how=c.how,
            ))
    return _drop_duplicates(rows, excluded), excluded


def _render(c: Candidate, cache: Path, render: bool) -> tuple[str | None, Candidate]:
    """(why not, candidate): the project rendered to audio in the cache, or the reason it is not."""
    if not render:
        return "LMMS projects skipped (--no-render)", c
    out = cache / "rendered" / c.package / (c.rel + ".ogg")
    err = render_lmms(c.file, out)
    return err, Candidate(c.package, c.rel, out, "rendered") if err is None else c


def _drop_duplicates(rows: list[Row], excluded: list) -> list[Row]:
    """Keep one copy of byte-identical files, preferring the training copy (so held-out stays unseen),
    and no fast version of a training track: two versions of one piece in a batch would be
    taught apart as different tracks (held-out keeps them; the benchmark reads `variant`)."""
    first: dict[str, Row] = {}
    for r in sorted(rows, key=lambda r: (r.split != "train", r.package, r.rel)):
        if r.split == "train" and r.variant != r.rel:
            excluded.append((r.package, r.rel, r.duration, f"fast version of training track {r.package}/{r.variant}"))
        elif r.sha256 in first:
            keep = first[r.sha256]
            excluded.append((r.package, r.rel, r.duration, f"identical to {keep.split} file {keep.package}/{keep.rel}"))
        else:
            first[r.sha256] = r
    kept = set(id(r) for r in first.values())
    return [r for r in rows if id(r) in kept]


# -- writing ----------------------------------------------------------------------------

def write_set(rows: list[Row], excluded: list, out: Path, copy: bool) -> None:
    for split in ("train", "heldout"):
        if (out / split).exists():
            shutil.rmtree(out / split)  # a rebuild must not keep files a changed rule now drops
    for r in rows:
        name = r.rel if r.how != "rendered" else r.rel.removesuffix(".mmpz") + ".ogg"
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
    lines = [f"{'split':8} {'package':22} {'tracks':>6} {'minutes':>8}  licences"]
    by: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        by.setdefault((r.split, r.package), []).append(r)
    for (split, package), rs in sorted(by.items()):
        lics = ", ".join(sorted({r.licence for r in rs}))
        lines.append(f"{split:8} {package:22} {len(rs):6d} {sum(r.duration for r in rs) / 60:8.1f}  {lics}")
    for split in ("train", "heldout"):
        rs = [r for r in rows if r.split == split]
        lines.append(f"{split:8} {'(total)':22} {len(rs):6d} {sum(r.duration for r in rs) / 60:8.1f}")
    lines.append(f"excluded (≥ 30 s or failed): {sum(1 for e in excluded if math.isnan(e[2]) or e[2] >= 30)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="output folder (train/, heldout/, manifest.tsv)")
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                    / "myna-rpe" / "debs", help="where .deb files, extracted trees and renders are kept")
    ap.add_argument("--packages", nargs="+", default=list(PACKAGES), help="packages to use (default: all)")
    ap.add_argument("--heldout", nargs="*", default=list(DEFAULT_HELDOUT), help="packages held out whole")
    ap.add_argument("--min-seconds", type=float, default=30.0, help="shortest track kept")
    ap.add_argument("--no-render", action="store_true", help="skip the LMMS projects (rendering is slow)")
    ap.add_argument("--copy", action="store_true", help="copy the audio instead of symlinking into the cache")
    ap.add_argument("--gpl2-compatible", action="store_true",
                    help="train only on files whose licences combine under GPL-2 (drops CC-BY-SA)")
    args = ap.parse_args(argv)

    unknown = [p for p in [*args.packages, *args.heldout] if p not in PACKAGES]
    if unknown:
        reserved = [p for p in unknown if p in RESERVED]
        raise SystemExit(f"reserved for independent evaluation: {reserved}" if reserved else f"unknown packages: {unknown}")
    args.cache.mkdir(parents=True, exist_ok=True)
    rows, excluded = select(args.packages, set(args.heldout), args.cache, args.min_seconds, not args.no_render,
                            GPL2_COMPATIBLE if args.gpl2_compatible else FREE_LICENCES)
    args.out.mkdir(parents=True, exist_ok=True)
    write_set(rows, excluded, args.out, args.copy)
    print(summary(rows, excluded))
    print(f"wrote {args.out}/train, {args.out}/heldout, manifest.tsv and excluded.tsv")


if __name__ == "__main__":
    main()
