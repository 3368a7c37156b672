"""`myna train --data hdf5:FILE.hdf5`: train from a DL-101 audio file (one dataset per
track, attribute `sr_hz`; see myna_rpe.evaluation.dl101) instead of a folder.

Each waveform is turned into the same log-mel cache entry a decoded file gets, keyed by
the SHA-256 of the stored array and its rate, so a second run (or a second copy of the
file) computes nothing; the rest of training cannot tell where the audio came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from myna_rpe.errors import DatasetError
from myna_rpe.evaluation.dl101 import Hdf5Audio, content_key, to_mono
from myna_rpe.fileio import atomic_write
from myna_rpe.training.mel_cache import BuildReport, CachedTrack, MelCache

PREFIX = "hdf5:"


def build_from_hdf5(cache: MelCache, path: str | Path, min_frames: int = 1,
                    on_progress: Callable[[int, int], None] | None = None) -> BuildReport:
    """Cache every waveform of the .hdf5 file; the usable tracks in key order."""
    from myna_rpe.frontend import log_mel

    cfg = cache.frontend
    cache.dir.mkdir(parents=True, exist_ok=True)
    tracks, failed, too_short, computed = [], [], [], 0
    with Hdf5Audio(path, cfg.sample_rate, given_as=f"--data {PREFIX}FILE") as h5:
        keys = sorted(h5.keys())
        if not keys:
            raise DatasetError("the .hdf5 file holds no audio", h5.path, "pass a DL-101 audio file (one dataset per track)")
        for done, key in enumerate(keys, 1):
            label = Path(f"{h5.path}:{key}")
            try:
                array, rate = h5.raw(key)
            except DatasetError as exc:  # one damaged waveform (its rate, its type): the others still train
                failed.append((label, str(exc)))
                continue
            sha = content_key(array, rate)
            entry = cache.entry(sha)
            if not entry.is_file():
                wave = to_mono(array, rate, cfg.sample_rate)
                if not len(wave) or not np.isfinite(wave).all():
                    failed.append((label, f"{label}: empty or not finite audio"))
                    continue
                mel = np.ascontiguousarray(log_mel(wave, cfg).numpy().T.astype(np.float16))
                with atomic_write(entry) as fh:
                    np.save(fh, mel)
                computed += 1
            frames = cache.frames(sha)
            if frames >= min_frames:
                tracks.append(CachedTrack(label, sha, frames))
            else:
                too_short.append(label)
            if on_progress:
                on_progress(done, len(keys))
    return BuildReport(tracks, failed, too_short, computed)
