"""FAISS index over the store's embeddings: cosine similarity with stable track ids.

Vectors are L2-normalised, so inner product = cosine. Every index is an `IndexIDMap2`
whose ids are the store's track ids, around one of:

- ``flat``: `IndexFlatIP`, exact. Default; right up to ~10^5-10^6 tracks (a query scans
  all vectors, a few ms per 10^5 at dim 128).
- ``hnsw``: `IndexHNSWFlat` (inner product), approximate graph search; sub-millisecond
  queries at 10^6, more memory and a slower build. M=32, efConstruction=80, efSearch=64.
- ``ivf``: `IndexIVFFlat` (inner product), trained k-means cells; nlist ≈ min(4·√n, n/39), nprobe 16.
  Cheap to build, approximate; needs at least a few hundred tracks to be worth it.

The index is derived data: written atomically (`myna_rpe.fileio.atomic_write`) and rebuilt
from the store whenever it is missing, unreadable or stale (see `playlist.library`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from myna_rpe.errors import LibraryError
from myna_rpe.fileio import atomic_write_bytes

INDEX_FILENAME = "index.faiss"
INDEX_TYPES = ("flat", "hnsw", "ivf")


@dataclass(frozen=True)
class IndexSpec:
    kind: str = "flat"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 64
    ivf_nlist: int | None = None  # None: min(4·sqrt(n), n/39)
    ivf_nprobe: int = 16

    def __post_init__(self) -> None:
        if self.kind not in INDEX_TYPES:
            raise LibraryError(f"unknown index type {self.kind!r}", fix=f"choose one of {', '.join(INDEX_TYPES)}")


def build_index(ids: np.ndarray, X: np.ndarray, spec: IndexSpec = IndexSpec()) -> faiss.Index:
    """An IndexIDMap2 over `X` (n, dim), rows assumed L2-normalised, with ids `ids` (n,)."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if X.ndim != 2 or len(ids) != len(X):
        raise ValueError(f"need X (n, dim) and ids (n,), got {X.shape} and {ids.shape}")
    dim = X.shape[1]
    if spec.kind == "hnsw":
        base = faiss.IndexHNSWFlat(dim, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        base.hnsw.efConstruction = spec.hnsw_ef_construction
        base.hnsw.efSearch = spec.hnsw_ef_search
    elif spec.kind == "ivf":
        # 4·sqrt(n) cells, but at least 39 training points per cell (FAISS's k-means minimum).
        nlist = spec.ivf_nlist or min(round(4 * math.sqrt(len(X))), len(X) // 39)
        nlist = max(1, min(nlist, len(X)))
        quantizer = faiss.IndexFlatIP(dim)
        base = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        base.own_fields = True
        quantizer.this.disown()  # the IVF index now frees its quantizer
        if len(X):
            base.train(X)
        base.nprobe = min(spec.ivf_nprobe, nlist)
    else:
        base = faiss.IndexFlatIP(dim)
    index = faiss.IndexIDMap2(base)
    if len(X):
        index.add_with_ids(X, ids)
    return index


def configure_search(index: faiss.Index, spec: IndexSpec) -> None:
    """Search-time knobs that a saved index does not keep (IVF nprobe) or that the user changed."""
    base = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    if isinstance(base, faiss.IndexHNSWFlat):
        base.hnsw.efSearch = spec.hnsw_ef_search
    elif isinstance(base, faiss.IndexIVF):
        base.nprobe = min(spec.ivf_nprobe, base.nlist)


def index_kind(index: faiss.Index) -> str:
    base = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    if isinstance(base, faiss.IndexHNSWFlat):
        return "hnsw"
    if isinstance(base, faiss.IndexIVF):
        return "ivf"
    return "flat"


# FAISS spreads a search over queries; for a handful of queries the OpenMP team only adds
# wake-up cost, which on a busy machine reached 80 ms for one flat query over 2·10^4
# vectors, against 0.15 ms on one thread (benchmarks/bench_index.py).
_FEW_QUERIES = 16


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores (q, k) float32, ids (q, k) int64); missing neighbours are id -1, score -inf."""
    Q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    if k <= 0 or index.ntotal == 0:
        return np.full((len(Q), max(k, 0)), -np.inf, np.float32), np.full((len(Q), max(k, 0)), -1, np.int64)
    threads = faiss.omp_get_max_threads()
    if len(Q) < _FEW_QUERIES:
        faiss.omp_set_num_threads(1)
    try:
        scores, ids = index.search(Q, k)
    finally:
        faiss.omp_set_num_threads(threads)
    scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
    return scores, ids.astype(np.int64)


def write_index_atomic(index: faiss.Index, path: Path) -> None:
    """A reader sees either the old index or the new one, never half of one (see
    `myna_rpe.fileio`); a full disk is one `StorageError` and leaves the old file."""
    atomic_write_bytes(path, faiss.serialize_index(index).tobytes())


def read_index(path: Path) -> faiss.Index:
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        raise LibraryError(f"unreadable FAISS index ({str(exc).splitlines()[0]})", path=path,
                           fix="run `myna index --rebuild-index`") from exc
