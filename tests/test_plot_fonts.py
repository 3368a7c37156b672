"""The PNG/SVG map draws titles in any script: accented, Greek, Cyrillic and CJK titles with
real glyphs from an installed font, and a clean "?" plus an install hint where none has them."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np

from playlist.geometry.plot import plot_playlist
from playlist.geometry.plot_fonts import BASE_FAMILY, FALLBACK_FAMILIES, INSTALL_HINT, drawable, label_families
from tests.player_helpers import require_real

TITLES = ["Ärtist - Söng", "歌手 - 曲", "Ελληνικά", "Кино - Группа", "한국어 노래", "Ça va été"]


def cjk_families() -> list[str]:
    found = [f for f in label_families() if f != BASE_FAMILY]
    if not found:
        require_real(False, f"no wide-coverage font installed (one of {', '.join(FALLBACK_FAMILIES)}); "
                            ".ci/run installs one")
    return found


def svg_map(tmp_path, labels: list[str], title: str = "map") -> str:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 8))
    with plt.rc_context({"svg.fonttype": "none"}):  # text as text, so the test can read it
        out = plot_playlist(tmp_path / "map.svg", X, X[:len(labels)], X[len(labels):len(labels) + 2],
                            playlist_labels=labels, added_labels=["ä", "ö"], title=title)
    return out.read_text(encoding="utf-8")


def test_every_title_is_drawn_with_real_glyphs(tmp_path) -> None:
    cjk_families()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        svg = svg_map(tmp_path, TITLES, title="日本のプレイリスト")
        png = plot_playlist(tmp_path / "map.png", np.eye(8), np.eye(8)[:6], playlist_labels=TITLES)
    assert not [w for w in caught if "missing from font" in str(w.message)], [str(w.message) for w in caught]
    for text in [*TITLES, "日本のプレイリスト"]:
        assert text in svg
    assert INSTALL_HINT not in svg
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_characters_no_font_has_fall_back_to_a_question_mark(tmp_path) -> None:
    assert drawable("曲 Söng", (BASE_FAMILY,)) == ("? Söng", True)
    assert drawable("Söng", (BASE_FAMILY,)) == ("Söng", False)
    hieroglyph = "\U00013000"  # in no font the project installs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        svg = svg_map(tmp_path, ["Söng", f"Old {hieroglyph}"])
    assert not [w for w in caught if "missing from font" in str(w.message)]
    assert "Old ?" in svg and hieroglyph not in svg
    assert "1 labels have characters no installed font draws" in svg and INSTALL_HINT in svg
