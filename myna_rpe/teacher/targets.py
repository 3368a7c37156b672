"""The teacher's outputs per track and 3-s patch, computed once and cached beside the mel cache.

Layout: `ROOT/<teacher>-v1/<sha[:2]>/<sha>.npy` (`<teacher>-s<stride>-v1` when only every
stride-th patch is computed, which divides the teacher's cost for training targets), keyed like the mel cache by the SHA-256 of the
audio file's bytes. Each entry is a float16 (patches, width) array: for MusiCNN every layer
of `LAYERS` side by side (max_pool 753, mean_pool 753, penultimate 200, taggram 50; 1756), so
choosing another layer needs no recomputation; for the tonal teacher `chroma` its one layer
(12, `myna_rpe.teacher.chroma`). Entries are written atomically: an interrupted build keeps
whole entries and the next one carries on.

A view's target (`view_target`) is the mean of the teacher's vectors over the patches whose
centre lies inside the view; a view covering no patch centre takes the patch nearest its middle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from myna_rpe.errors import AudioError
from myna_rpe.fileio import atomic_write
from myna_rpe.teacher.musicnn import LAYER_DIMS, LAYERS, PATCH_SECONDS, SAMPLE_RATE

FORMAT = 1
CHROMA = "chroma"


def teacher_layers(teacher: str) -> dict[str, int]:
    """Layer -> width, in the order an entry stores them."""
    if teacher == CHROMA:
        from myna_rpe.teacher.chroma import DIM

        return {CHROMA: DIM}
    return {name: LAYER_DIMS[name] for name in LAYERS}


def default_layer(teacher: str) -> str:
    return CHROMA if teacher == CHROMA else "max_pool"


def layer_slice(layer: str, teacher: str = "musicnn-msd") -> slice:
    layers = teacher_layers(teacher)
    if layer not in layers:
        raise ValueError(f"unknown layer {layer!r} of teacher {teacher}; use one of {', '.join(layers)}")
    start = 0
    for name, width in layers.items():
        if name == layer:
            return slice(start, start + width)
        start += width
    raise AssertionError(layer)


def view_target(vectors: np.ndarray, start_s: float, end_s: float, stride: int = 1) -> np.ndarray | None:
    """Mean of the per-patch `vectors` (P, D) over the view [start_s, end_s); None when P is 0.
    Row k holds patch k · stride of the track."""
    n = len(vectors)
    if n == 0:
        return None
    centres = (np.arange(n) * stride + 0.5) * PATCH_SECONDS
    inside = (centres >= start_s) & (centres < end_s)
    if not inside.any():
        inside[int(np.argmin(np.abs(centres - 0.5 * (start_s + end_s))))] = True
    return vectors[inside].mean(axis=0)


class TeacherCache:
    def __init__(self, root: str | Path, teacher: str = "musicnn-msd", stride: int = 1) -> None:
        self.teacher, self.stride = teacher, stride
        self.dir = Path(root).expanduser() / (f"{teacher}-v{FORMAT}" if stride == 1 else f"{teacher}-s{stride}-v{FORMAT}")
        self._model = None
        self._loaded: dict[str, np.ndarray] = {}

    def entry(self, sha: str) -> Path:
        return self.dir / sha[:2] / f"{sha}.npy"

    def _compute(self, path: Path) -> np.ndarray:
        from myna_rpe.audio import load_audio
        from myna_rpe.teacher.musicnn import load_teacher, teacher_outputs

        if self.teacher == CHROMA:
            from myna_rpe.teacher.chroma import patch_chroma

            return patch_chroma(load_audio(path, sample_rate=SAMPLE_RATE), stride=self.stride).astype(np.float16)
        if self._model is None:
            self._model = load_teacher(self.teacher)
        out = teacher_outputs(self._model, load_audio(path, sample_rate=SAMPLE_RATE), stride=self.stride)
        return np.concatenate([out.layer(k).numpy() for k in LAYERS], axis=1).astype(np.float16)

    def build(
        self, tracks: Sequence[tuple[Path, str]], on_progress: Callable[[int, int], None] | None = None
    ) -> list[tuple[Path, str]]:
        """Make sure every (path, sha) has an entry; returns (path, reason) of files that fail to decode."""
        todo = [(p, sha) for p, sha in tracks if not self.entry(sha).is_file()]
        failed = []
        if on_progress:
            on_progress(0, len(todo))
        for i, (path, sha) in enumerate(todo, 1):
            try:
                vectors = self._compute(path)
            except AudioError as exc:
                failed.append((path, str(exc)))
            else:
                target = self.entry(sha)
                target.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(target) as fh:
                    np.save(fh, vectors)
            if on_progress:
                on_progress(i, len(todo))
        return failed

    def vectors(self, sha: str, layer: str) -> np.ndarray:
        """(P, D) float32 outputs of `layer` for every 3-s patch of the track (kept in memory)."""
        full = self._loaded.get(sha)
        if full is None:
            full = self._loaded[sha] = np.load(self.entry(sha))
        return full[:, layer_slice(layer, self.teacher)].astype(np.float32)

    def track_mean(self, sha: str, layer: str) -> np.ndarray | None:
        v = self.vectors(sha, layer)
        return v.mean(axis=0) if len(v) else None
