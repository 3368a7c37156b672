"""Track -> feature vector, for the probes: the encoder (two protocols) or an MFCC baseline.

Every extractor is a callable `path -> np.ndarray (dim,)` with a stable `id`, so the
encoder, its untrained twin and the MFCC baseline plug into the runner the same way,
and the cache can key vectors by (extractor id, dataset, track).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Protocol

import numpy as np

from myna_rpe.config import FrontendConfig
from myna_rpe.errors import AudioError
from myna_rpe.evaluation.datasets import SPLITS, EvalDataset
from myna_rpe.fileio import atomic_write

EmbedProtocol = Literal["budget", "whole", "chunks"]
PROTOCOLS = ("budget", "whole", "chunks")


class FeatureExtractor(Protocol):
    id: str
    sample_rate: int

    def __call__(self, path: Path) -> np.ndarray: ...

    def from_wave(self, wave: np.ndarray) -> np.ndarray:
        """The same vector from decoded audio at `sample_rate` (for noise added in memory)."""
        ...


class EncoderFeatures:
    """CLS embeddings from an `Embedder`.

    protocol "budget": the whole track in one forward pass under the embedder's token
    budget (a long track read from a draw of patches spread over all of it; what
    `myna index` stores). protocol "whole": the dense pass over every patch, at any
    length. protocol "chunks": Myna's evaluation, the track cut into `chunk_seconds`
    pieces embedded as one batch and averaged; a remainder shorter than a chunk is
    dropped unless the track is shorter than one chunk.
    """

    def __init__(self, embedder, protocol: EmbedProtocol = "budget", chunk_seconds: float = 3.0) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
        if protocol == "whole":
            from myna_rpe.budget import DENSE

            embedder = embedder.with_budget(DENSE)
        self.embedder = embedder
        self.protocol = protocol
        self.chunk_seconds = chunk_seconds
        suffix = f"chunks{chunk_seconds:g}s" if protocol == "chunks" else protocol
        self.id = f"myna-{embedder.model_id}-{suffix}"

    @property
    def sample_rate(self) -> int:
        return self.embedder.sample_rate

    def __call__(self, path: Path) -> np.ndarray:
        if self.protocol != "chunks":
            return np.asarray(self.embedder.embed_file(path), dtype=np.float32)
        from myna_rpe.audio import load_audio

        return self.from_wave(load_audio(path, self.embedder.sample_rate))

    def from_wave(self, wave: np.ndarray) -> np.ndarray:
        if self.protocol != "chunks":
            return np.asarray(self.embedder.embed_waveform(wave), dtype=np.float32)
        return chunk_average(self.embedder.embed_batch, wave, int(round(self.chunk_seconds * self.embedder.sample_rate)))


def chunk_average(embed_batch: Callable[[list[np.ndarray]], np.ndarray], wave: np.ndarray, chunk: int) -> np.ndarray:
    """Mean of the embeddings of consecutive `chunk`-sample pieces of `wave` (one batch)."""
    pieces = [wave[i : i + chunk] for i in range(0, len(wave) - chunk + 1, chunk)] or [wave]
    return np.asarray(embed_batch(pieces), dtype=np.float32).mean(axis=0)


@dataclass(frozen=True)
class MfccFeatures:
    """MFCC baseline: 20 MFCCs and their first and second differences, mean and std over time.

    MFCCs are the type-II orthonormal DCT over the mel axis of the project's log-mel
    (myna_rpe.frontend); differences are `np.gradient` along time. 6 x n_mfcc values.
    """

    n_mfcc: int = 20
    frontend: FrontendConfig = field(default_factory=FrontendConfig)

    @property
    def id(self) -> str:
        digest = hashlib.sha1(repr(self.frontend).encode()).hexdigest()[:8]
        return f"mfcc{self.n_mfcc}-{digest}"

    @property
    def sample_rate(self) -> int:
        return self.frontend.sample_rate

    def __call__(self, path: Path) -> np.ndarray:
        from myna_rpe.audio import load_audio

        return self.from_wave(load_audio(path, self.frontend.sample_rate))

    def from_wave(self, wave: np.ndarray) -> np.ndarray:
        return mfcc_stats(wave, self.frontend, self.n_mfcc)


@dataclass(frozen=True)
class TrackStatsFeatures:
    """The sound statistics a library keeps beside each model vector (`myna_rpe.track_stats`)."""

    frontend: FrontendConfig = field(default_factory=FrontendConfig)

    @property
    def id(self) -> str:
        from myna_rpe.track_stats import ID

        return f"track-stats-{ID}-{hashlib.sha1(repr(self.frontend).encode()).hexdigest()[:8]}"

    def __call__(self, path: Path) -> np.ndarray:
        from myna_rpe.embed import file_log_mel
        from myna_rpe.track_stats import track_stats

        return track_stats(file_log_mel(path, self.frontend)[0], self.frontend)


class MusicnnFeatures:
    """A MusiCNN layer (the teacher, as AudioMuse-AI uses it): the mean over the track's 3-s patches.

    From a file, the per-patch outputs come from the teacher cache that distillation uses
    (`myna_rpe.teacher.targets`, keyed by the file's content), so every layer of a track is
    computed once for training targets and benchmark rows alike.
    """

    sample_rate = 16000

    def __init__(self, teacher: str = "musicnn-msd", layer: str = "max_pool", cache_root: Path | None = None) -> None:
        from myna_rpe.teacher.musicnn import LAYERS

        if layer not in LAYERS:
            raise ValueError(f"unknown MusiCNN layer {layer!r}; use one of {', '.join(LAYERS)}")
        self.teacher, self.layer, self.cache_root = teacher, layer, cache_root
        self.id = f"{teacher}-{layer}-patchmean-v1"
        self._model = None
        self._cache = None

    def __call__(self, path: Path) -> np.ndarray:
        from myna_rpe.teacher.targets import TeacherCache
        from myna_rpe.training.config import default_cache_dir as train_cache_dir
        from myna_rpe.training.mel_cache import content_sha256

        if self._cache is None:
            self._cache = TeacherCache((self.cache_root or train_cache_dir()) / "teacher", self.teacher)
        sha = content_sha256(Path(path))
        failed = self._cache.build([(Path(path), sha)])
        if failed:
            raise AudioError(failed[0][1], path)
        return self._mean(self._cache.vectors(sha, self.layer), path)

    def from_wave(self, wave: np.ndarray) -> np.ndarray:
        from myna_rpe.teacher.musicnn import load_teacher, teacher_outputs

        if self._model is None:
            self._model = load_teacher(self.teacher)
        return self._mean(teacher_outputs(self._model, wave).layer(self.layer).numpy(), None)

    def _mean(self, vectors: np.ndarray, path) -> np.ndarray:
        if len(vectors) == 0:
            raise AudioError("shorter than MusiCNN's 3-s patch", path, "MusiCNN rows need tracks of 3 s or more")
        return vectors.mean(axis=0).astype(np.float32)


def mfcc_stats(wave: np.ndarray, frontend: FrontendConfig, n_mfcc: int = 20) -> np.ndarray:
    from myna_rpe.frontend import log_mel
    from myna_rpe.track_stats import mfcc_stats_of_mel

    return mfcc_stats_of_mel(log_mel(wave, frontend), n_mfcc)


def default_cache_dir() -> Path:
    """The user's cache folder for embeddings (platformdirs when installed, else ~/.cache/myna)."""
    try:
        import platformdirs
    except ImportError:  # platformdirs is optional; XDG layout otherwise
        return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "myna" / "embeddings"
    return Path(platformdirs.user_cache_dir("myna")) / "embeddings"


class EmbeddingCache:
    """One .npy per track under root/<extractor id>/<dataset>/, named by a hash of the track key.

    Track keys are paths relative to the dataset root, so a cache survives moving the
    dataset; replacing audio files in place needs `--no-cache` (or deleting the folder).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, extractor_id: str, dataset: str, key: str) -> Path:
        name = hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]
        return self.root / extractor_id / dataset / f"{name}.npy"

    def get(self, extractor_id: str, dataset: str, key: str) -> np.ndarray | None:
        p = self.path(extractor_id, dataset, key)
        if not p.is_file():
            return None
        try:
            return np.load(p, allow_pickle=False)
        except (OSError, ValueError):  # a half-written or foreign file: recompute it
            return None

    def put(self, extractor_id: str, dataset: str, key: str, vector: np.ndarray) -> None:
        with atomic_write(self.path(extractor_id, dataset, key)) as fh:
            np.save(fh, np.asarray(vector, dtype=np.float32), allow_pickle=False)


class MemoryCache:
    """Vectors kept in memory for one run, in front of the disk cache (or alone, under --no-cache):
    tasks sharing audio (NSynth's two, TinySOL's folds) then decode each file once."""

    def __init__(self, disk: EmbeddingCache | None = None) -> None:
        self.disk = disk
        self.vectors: dict[tuple[str, str, str], np.ndarray] = {}

    def get(self, extractor_id: str, dataset: str, key: str) -> np.ndarray | None:
        vec = self.vectors.get((extractor_id, dataset, key))
        if vec is None and self.disk is not None:
            vec = self.disk.get(extractor_id, dataset, key)
            if vec is not None:
                self.vectors[(extractor_id, dataset, key)] = vec
        return vec

    def put(self, extractor_id: str, dataset: str, key: str, vector: np.ndarray) -> None:
        self.vectors[(extractor_id, dataset, key)] = np.asarray(vector, dtype=np.float32)
        if self.disk is not None:
            self.disk.put(extractor_id, dataset, key, vector)


@dataclass
class DatasetFeatures:
    """Feature matrices per split, the row -> track index they keep, and tracks that failed to decode."""

    X: dict[str, np.ndarray]
    kept: dict[str, list[int]]
    failed: list[str]
    computed: int  # vectors computed now (the rest came from the cache)


def extract(
    dataset: EvalDataset,
    extractor: FeatureExtractor,
    cache: EmbeddingCache | MemoryCache | None = None,
    on_track: Callable[[], None] | None = None,
    splits: tuple[str, ...] = SPLITS,
) -> DatasetFeatures:
    """Features of every track of `splits`; a track that cannot be decoded is skipped and listed in `failed`."""
    X: dict[str, np.ndarray] = {}
    kept: dict[str, list[int]] = {}
    failed: list[str] = []
    computed = 0
    for split in splits:
        rows, idx = [], []
        for i, track in enumerate(dataset.splits[split]):
            vec = cache.get(extractor.id, dataset.cache_name, track.key) if cache else None
            if vec is None:
                try:
                    vec = extractor(track.path)
                except AudioError as exc:
                    failed.append(f"{track.key}: {exc}")
                    vec = None
                else:
                    computed += 1
                    if cache:
                        cache.put(extractor.id, dataset.cache_name, track.key, vec)
            if vec is not None:
                rows.append(vec)
                idx.append(i)
            if on_track:
                on_track()
        X[split] = np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), dtype=np.float32)
        kept[split] = idx
    return DatasetFeatures(X=X, kept=kept, failed=failed, computed=computed)
