"""Fonts for the map's text: titles in any script drawn with real glyphs, or a clean fallback.

Matplotlib (>= 3.6) falls back glyph by glyph through a list of font families, so the map
uses DejaVu Sans (Latin with accents, Greek, Cyrillic) followed by whichever wide-coverage
fonts are installed (Noto CJK from fonts-noto-cjk, WenQuanYi from fonts-wqy-*, ...).
Its font cache may predate fonts installed later, so their files are added by path.
A character that no installed font has is drawn as "?" (not as an empty box), and the
map says which package to install.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from matplotlib import font_manager
from matplotlib.ft2font import FT2Font

BASE_FAMILY = "DejaVu Sans"
FALLBACK_FAMILIES = ("Noto Sans CJK JP", "Noto Sans CJK SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
                     "Droid Sans Fallback", "Unifont")
_FILE_HINTS = ("notosanscjk", "wqy", "droidsansfallback", "unifont")
INSTALL_HINT = "install a font with these characters (Debian: apt install fonts-noto-cjk)"


@lru_cache(maxsize=1)
def label_families() -> tuple[str, ...]:
    """DejaVu Sans, then the installed fallback families, best first."""
    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in font_manager.findSystemFonts():
        name = Path(path).name.lower().replace("-", "").replace("_", "")
        if path not in known and any(h in name for h in _FILE_HINTS):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # an unreadable font file: skip it
                continue
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return (BASE_FAMILY, *[f for f in FALLBACK_FAMILIES if f in installed])


@lru_cache(maxsize=None)
def _charmap(family: str) -> frozenset[int]:
    path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    return frozenset(FT2Font(path).get_charmap())


def drawable(text: str, families: tuple[str, ...] | None = None) -> tuple[str, bool]:
    """(`text` with every character none of `families` has replaced by "?", whether any was)."""
    maps = [_charmap(f) for f in (families or label_families())]
    out = [c if c.isspace() or any(ord(c) in m for m in maps) else "?" for c in text]
    return "".join(out), out != list(text)
