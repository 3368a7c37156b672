"""FAISS index over the store's embeddings: cosine similarity with stable track ids.

Vectors are L2-normalised, so inner product = cosine. Every index is an `IndexIDMap2`
whose ids are the store's track ids, around one of:

- ``flat``: `IndexFlatIP`, exact. Default; right up to ~10^5-10^6 tracks (a query scans
  all vectors, a few ms per 10^5 at dim 128).
- ``hnsw``: `IndexHNSWFlat` (inner product), approximate graph search; sub-millisecond
  queries at 10^6, more memory and a slower build. M=32, efConstruction=80, efSearch=64.
- ``ivf``: `IndexIVFFlat` (inner product), trained k-means cells; nlist ≈ min(4·√n, n/39), nprobe 16.
  Cheap to build, approximate; needs at least a few hundred tracks to be worth it.
- ``auto`` (default): flat below `AUTO_APPROX_FROM` tracks; above, `IndexIVFScalarQuantizer`
  (8-bit codes: a quarter of flat's memory) with nlist, nprobe and the k-means sample
  chosen from the size (`auto_ivf`). Its scores are approximate, so a search through it
  short-lists `RERANK_FACTOR`·k candidates and re-ranks them exactly (`rerank`) with the
  store's float vectors.

Each model's embeddings have their own index file (`index_file`).

The index is derived data: written atomically (`myna_rpe.fileio.atomic_write`) and rebuilt
from the store whenever it is missing, unreadable or stale (see `playlist.library.opened`).
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from myna_rpe.errors import LibraryError
from myna_rpe.fileio import atomic_write_bytes

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf")
# Flat scans every vector: ~15 ms for one query over 10^5 at dim 128 on one thread, and a
# playlist operation sends ~20 queries. Above this size `auto` switches to IVF.
AUTO_APPROX_FROM = 100_000
RERANK_FACTOR = 4  # an approximate index short-lists this many times k for the exact re-rank


def index_file(db_dir: Path, model_id: str | None) -> Path:
    """Where the index of one model's embeddings lives: `index-<hash of the model id>.faiss`
    (the hash keeps any model id a safe file name)."""
    tag = hashlib.sha256((model_id or "").encode()).hexdigest()[:16]
    return Path(db_dir) / f"index-{tag}.faiss"


@dataclass(frozen=True)
class AutoIvf:
    """IVF parameters for n vectors: cells ≈ √n (a power of two, 64..8192), k-means trained
    on 48 points per cell (FAISS warns below 39), and 1/16 of the cells probed (at least 16)."""

    nlist: int
    nprobe: int
    train: int

    @classmethod
    def for_size(cls, n: int) -> AutoIvf:
        nlist = int(min(8192, max(64, 2 ** round(math.log2(max(math.sqrt(n), 1))))))
        nlist = max(1, min(nlist, n // 39 or 1))
        return cls(nlist=nlist, nprobe=min(nlist, max(16, nlist // 16)), train=min(n, 48 * nlist))


@dataclass(frozen=True)
class IndexSpec:
    kind: str = "auto"
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
    if spec.kind == "auto" and len(X) >= AUTO_APPROX_FROM:
        base = _auto_ivf(X, dim)
    elif spec.kind == "hnsw":
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


def _auto_ivf(X: np.ndarray, dim: int) -> faiss.Index:
    params = AutoIvf.for_size(len(X))
    quantizer = faiss.IndexFlatIP(dim)
    base = faiss.IndexIVFScalarQuantizer(quantizer, dim, params.nlist, faiss.ScalarQuantizer.QT_8bit,
                                         faiss.METRIC_INNER_PRODUCT)
    base.own_fields = True
    quantizer.this.disown()
    # An evenly spaced sample trains the cells: seeded by construction, and k-means on all
    # of 10^6 points would cost minutes for no better cells.
    step = max(1, len(X) // params.train)
    base.train(np.ascontiguousarray(X[::step][:params.train]))
    base.nprobe = params.nprobe
    return base


def configure_search(index: faiss.Index, spec: IndexSpec) -> None:
    """Search-time knobs that a saved index does not keep (IVF nprobe) or that the user changed."""
    base = _base(index)
    if isinstance(base, faiss.IndexHNSWFlat):
        base.hnsw.efSearch = spec.hnsw_ef_search
    elif isinstance(base, faiss.IndexIVFScalarQuantizer):
        base.nprobe = AutoIvf.for_size(int(index.ntotal)).nprobe
    elif isinstance(base, faiss.IndexIVF):
        base.nprobe = min(spec.ivf_nprobe, base.nlist)


def _base(index: faiss.Index) -> faiss.Index:
    return faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index


def index_kind(index: faiss.Index) -> str:
    """The built structure: flat, hnsw, ivf or ivf-sq8 (what `auto` picks for large libraries)."""
    base = _base(index)
    if isinstance(base, faiss.IndexHNSWFlat):
        return "hnsw"
    if isinstance(base, faiss.IndexIVFScalarQuantizer):
        return "ivf-sq8"
    if isinstance(base, faiss.IndexIVF):
        return "ivf"
    return "flat"


def is_exact(index: faiss.Index) -> bool:
    return index_kind(index) == "flat"


# FAISS spreads a search over queries; for a handful of queries the OpenMP team only adds
# wake-up cost, which on a busy machine reached 80 ms for one flat query over 2·10^4
# vectors, against 0.15 ms on one thread (benchmarks/bench_index.py).
_FEW_QUERIES = 16


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores (q, k') float32, ids (q, k') int64) with k' = min(k, index size), so a huge k
    costs no more than the whole index; missing neighbours are id -1, score -inf."""
    Q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    k = max(0, min(k, index.ntotal))
    if k == 0:
        return np.full((len(Q), 0), -np.inf, np.float32), np.full((len(Q), 0), -1, np.int64)
    threads = faiss.omp_get_max_threads()
    if len(Q) < _FEW_QUERIES:
        faiss.omp_set_num_threads(1)
    try:
        scores, ids = index.search(Q, k)
    finally:
        faiss.omp_set_num_threads(threads)
    scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
    return scores, ids.astype(np.int64)


def rerank(queries: np.ndarray, candidates: np.ndarray, vectors: Callable[[list[int]], tuple[np.ndarray, np.ndarray]],
           k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k among each query's short-listed candidate ids (-1 = none), scored with
    `vectors(ids) -> (ids, rows)`, L2-normalised float vectors; same output as `search`."""
    Q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    wanted = np.unique(candidates[candidates >= 0])
    got, V = vectors(wanted.tolist())
    row = {int(i): r for r, i in enumerate(got)}
    scores = np.full((len(Q), k), -np.inf, np.float32)
    ids = np.full((len(Q), k), -1, np.int64)
    for q, cand in enumerate(candidates):
        cand = np.array([c for c in dict.fromkeys(cand.tolist()) if c in row], dtype=np.int64)
        if not len(cand):
            continue
        s = V[[row[int(c)] for c in cand]] @ Q[q]
        top = np.lexsort((cand, -s))[:k]  # best first; equal scores by id, so the order is stable
        scores[q, :len(top)], ids[q, :len(top)] = s[top], cand[top]
    return scores, ids


def write_index_atomic(index: faiss.Index, path: Path) -> int:
    """A reader sees either the old index or the new one, never half of one (see
    `myna_rpe.fileio`); a full disk is one `StorageError` and leaves the old file.
    Returns the file's checksum (CRC-32), which `read_index` checks."""
    data = faiss.serialize_index(index).tobytes()
    atomic_write_bytes(path, data)
    return zlib.crc32(data)


def read_index(path: Path, checksum: int | None = None) -> faiss.Index:
    """The index in `path`; a `LibraryError` if it cannot be read or its bytes are not the
    ones written with `checksum` (a foreign, edited or damaged file)."""
    fix = "run `myna index --rebuild-index`"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LibraryError(f"cannot read the FAISS index ({exc.strerror})", path=path, fix=fix) from None
    if checksum is not None and zlib.crc32(data) != checksum:
        raise LibraryError("the FAISS index is not the one built from this store", path=path, fix=fix)
    try:
        return faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    except RuntimeError as exc:
        raise LibraryError(f"unreadable FAISS index ({str(exc).splitlines()[0]})", path=path, fix=fix) from exc
