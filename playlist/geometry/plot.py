"""A 2-D map of a playlist in its library: PCA projection, hull outline, added tracks.

The projection is fitted on the playlist and the added tracks (so the map spends its
two axes on the region being looked at), and the library is drawn through the same
projection in grey. Projection is linear, so the projected hull equals the hull of the
projected points: the outline drawn is exactly the image of the playlist's hull.
Distances in the map are shrunk and can overlap; verdicts come from the full space.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from scipy.spatial import ConvexHull, QhullError  # noqa: E402

from myna_rpe.errors import PlaylistError  # noqa: E402
from myna_rpe.fileio import atomic_write  # noqa: E402
from playlist.geometry.plot_fonts import INSTALL_HINT, drawable, label_families  # noqa: E402

# Image types the Agg backend writes; the file's suffix chooses one.
PLOT_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg", ".webp")


def pca_2d(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (d,), components (d, 2)) of X; a missing component is zero."""
    mean = X.mean(axis=0)
    _, _, vt = np.linalg.svd(X - mean, full_matrices=False)
    comps = np.zeros((X.shape[1], 2))
    comps[:, :min(2, len(vt))] = vt[:2].T
    return mean, comps


def plot_playlist(out: str | Path, library: np.ndarray, playlist: np.ndarray, added: np.ndarray | None = None,
                  playlist_labels: list[str] | None = None, added_labels: list[str] | None = None,
                  title: str = "", max_library: int = 20000, seed: int = 0) -> Path:
    """Save the map as `out` (its suffix, one of PLOT_SUFFIXES, picks the image type); returns
    its path. `library` may be large: a random sample is drawn."""
    out = Path(out)
    if out.suffix.lower() not in PLOT_SUFFIXES:
        raise PlaylistError(f"unknown image type {out.suffix or '(none)'!r}", out,
                            f"end the name with {' or '.join(PLOT_SUFFIXES)}")
    families = label_families()
    with plt.rc_context({"font.family": list(families)}):
        return _plot(out, library, playlist, added, playlist_labels, added_labels, title, max_library, seed,
                     families)


def _plot(out: Path, library, playlist, added, playlist_labels, added_labels, title, max_library, seed,
          families) -> Path:
    added = np.zeros((0, playlist.shape[1])) if added is None else added
    mean, comps = pca_2d(np.vstack([playlist, added]))
    rng = np.random.default_rng(seed)
    if len(library) > max_library:
        library = library[rng.choice(len(library), size=max_library, replace=False)]
    lib2, pl2, add2 = ((Z - mean) @ comps for Z in (library, playlist, added))

    fig, ax = plt.subplots(figsize=(9, 7), dpi=110)
    ax.scatter(lib2[:, 0], lib2[:, 1], s=4, c="#bbbbbb", alpha=0.5, linewidths=0,
               label=f"library ({len(library)})")
    _draw_hull(ax, pl2)
    ax.scatter(pl2[:, 0], pl2[:, 1], s=40, c="#1f5fbf", edgecolors="white", linewidths=0.6, zorder=3,
               label=f"playlist ({len(playlist)})")
    if len(add2):
        ax.scatter(add2[:, 0], add2[:, 1], s=70, marker="*", c="#e8590c", edgecolors="black",
                   linewidths=0.4, zorder=4, label=f"added ({len(added)})")
    undrawable = 0
    for pts, labels in ((pl2, playlist_labels), (add2, added_labels)):
        if labels is not None and len(labels) > 40:  # labels beyond this only overprint each other
            continue
        for (x, y), text in zip(pts, labels or []):
            text, replaced = drawable(text[:28], families)
            undrawable += replaced
            ax.annotate(text, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points", zorder=5)
    # Frame the region of interest, not the whole library.
    focus = np.vstack([pl2, add2])
    lo, hi = focus.min(axis=0), focus.max(axis=0)
    pad = 0.35 * np.maximum(hi - lo, 1e-3)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    ax.set_xlabel("PC 1 (of playlist + added)")
    ax.set_ylabel("PC 2")
    title, replaced = drawable(title or "playlist map (PCA)", families)
    undrawable += replaced
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8, framealpha=0.85)
    ax.grid(alpha=0.2)
    fig.text(0.01, 0.005, "2-D projection: points inside the outline may lie far away in the other "
             "dimensions; verdicts are computed in the full space." + (
                 f" {undrawable} labels have characters no installed font draws (shown as ?): {INSTALL_HINT}."
                 if undrawable else ""), fontsize=7, color="#555555")
    try:
        fig.tight_layout(rect=(0, 0.02, 1, 1))
        with atomic_write(out) as fh:  # the exact name given: savefig alone would add ".png" to "map"
            fig.savefig(fh, format=out.suffix[1:].lower())
    finally:
        plt.close(fig)
    return out


def _draw_hull(ax, pts: np.ndarray) -> None:
    """Outline (and light fill) of the 2-D hull; a segment or a dot when degenerate."""
    if len(pts) >= 3:
        try:
            hull = ConvexHull(pts)
            ring = pts[np.append(hull.vertices, hull.vertices[0])]
            ax.fill(ring[:, 0], ring[:, 1], color="#1f5fbf", alpha=0.08, zorder=1)
            ax.plot(ring[:, 0], ring[:, 1], color="#1f5fbf", lw=1.2, zorder=2, label="playlist hull")
            return
        except QhullError:  # collinear after projection: fall through to the segment
            pass
    if len(pts) >= 2:
        order = np.argsort(pts[:, 0])
        ax.plot(pts[order[[0, -1]], 0], pts[order[[0, -1]], 1], color="#1f5fbf", lw=1.2, zorder=2)
