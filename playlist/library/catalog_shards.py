"""The on-disk form of an embedded catalogue: a folder of Parquet shards plus `catalog.json`.

    DIR/catalog.json           {"format", "model_id", "model_config", "dim", "source"}
    DIR/part-<run>-<n>.parquet one row per file: path, fingerprint, model_id, duration,
                               size, mtime_ns, vector (float32 × dim, raw CLS), error

`path` is relative to the catalogue's root (the folder, or the manifest's folder) with
POSIX separators, or absolute for a manifest entry outside that folder, so the shards
still name the right files once the library is mounted elsewhere. A row with an `error`
has no vector. A shard is written to a hidden temporary file, fsynced and renamed into
place (`myna_rpe.fileio.atomic_write`), so every `part-*.parquet` is complete: a killed
run leaves whole shards and, at most, a temporary file that the next run removes. Which files are done is read back from the
shards (path, size, mtime_ns), so a rerun skips them and redoes a file that changed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from myna_rpe.errors import LibraryError
from myna_rpe.fileio import atomic_write, atomic_write_text

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError:  # an optional extra: say how to get it, in one line
    raise LibraryError("pyarrow is not installed (catalogue shards are Parquet)",
                       fix="install the Ray extra: pip install 'myna-rpe[ray]'") from None

FORMAT = "myna-catalog/1"
META_FILENAME = "catalog.json"
SHARD_GLOB = "part-*.parquet"
_TMP_GLOB = ".*.tmp"  # what `atomic_write` names a file until it is complete


def schema(dim: int) -> pa.Schema:
    return pa.schema([
        ("path", pa.string()),
        ("fingerprint", pa.string()),
        ("model_id", pa.string()),
        ("duration", pa.float64()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("vector", pa.list_(pa.float32(), dim)),
        ("error", pa.string()),
    ])


@dataclass(frozen=True)
class CatalogMeta:
    model_id: str
    model_config: dict[str, Any]
    dim: int
    source: str  # the folder or manifest embedded (for the reader; paths in shards are relative)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "model_id": self.model_id, "model_config": self.model_config,
                "dim": self.dim, "source": self.source}


def read_meta(out_dir: Path) -> CatalogMeta | None:
    """The catalogue's `catalog.json`, or None where the folder has none yet."""
    path = Path(out_dir) / META_FILENAME
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {FORMAT!r}")
        return CatalogMeta(model_id=str(doc["model_id"]), model_config=dict(doc["model_config"]),
                           dim=int(doc["dim"]), source=str(doc.get("source", "")))
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise LibraryError(f"unreadable catalogue description ({exc})", path=path,
                           fix="point at a folder written by `myna embed-catalog`, or move this one aside") from None


def write_meta(out_dir: Path, meta: CatalogMeta) -> None:
    atomic_write_text(Path(out_dir) / META_FILENAME, json.dumps(meta.to_dict(), indent=2, sort_keys=True))


def shard_paths(out_dir: Path) -> list[Path]:
    return sorted(Path(out_dir).glob(SHARD_GLOB))


def remove_temporaries(out_dir: Path) -> int:
    """Delete the half-written files a killed run left; returns how many."""
    n = 0
    for tmp in Path(out_dir).glob(_TMP_GLOB):
        tmp.unlink(missing_ok=True)
        n += 1
    return n


def read_shard(path: Path, columns: Sequence[str] | None = None) -> pa.Table:
    try:
        return pq.read_table(path, columns=list(columns) if columns is not None else None)
    except (OSError, pa.ArrowException) as exc:
        raise LibraryError(f"unreadable catalogue shard ({exc})", path=path, fix=_FIX_SHARD) from None


def read_checked_shard(path: Path, dim: int) -> pa.Table:
    """A whole shard, refused (`LibraryError`) unless its columns have the types `schema(dim)`
    gives them and every vector is finite: what an import may merge without a second look."""
    table = read_shard(path)
    expected = schema(dim)
    for name in expected.names:
        wanted = expected.field(name).type
        got = table.schema.field(name).type if name in table.schema.names else None
        if got != wanted:
            what = "no column" if got is None else f"column of type {got}"
            raise LibraryError(f"this shard has {what} {name!r} where {wanted} belongs", path=path,
                               fix=_FIX_SHARD)
    vectors = table["vector"].combine_chunks()
    flat = np.asarray(vectors.values.slice(vectors.offset * dim, len(vectors) * dim),
                      dtype=np.float32).reshape(-1, dim)  # null rows too (`flatten` drops them)
    bad = ~np.isfinite(flat).all(axis=1) & np.asarray(vectors.is_valid())
    if bad.any():
        name = table["path"][int(np.flatnonzero(bad)[0])].as_py()
        raise LibraryError(f"the vector of {name} is not finite (NaN or infinity)", path=path, fix=_FIX_SHARD)
    return table


_FIX_SHARD = "delete this shard and run `myna embed-catalog` again (only its files are redone)"


def done_files(out_dir: Path) -> set[tuple[str, int, int]]:
    """(path, size, mtime_ns) of every file a shard already holds, embedded or failed."""
    done: set[tuple[str, int, int]] = set()
    for shard in shard_paths(out_dir):
        table = read_shard(shard, ["path", "size", "mtime_ns"])
        done.update(zip(table["path"].to_pylist(), table["size"].to_pylist(), table["mtime_ns"].to_pylist()))
    return done


def iter_rows(shards: Iterable[Path]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(shard, row) for every row of these shards; `vector` is a float32 array or None."""
    for shard in shards:
        table = read_shard(shard)
        vectors = table["vector"]
        for i, row in enumerate(table.drop_columns(["vector"]).to_pylist()):
            vec = vectors[i]
            row["vector"] = None if not vec.is_valid else np.asarray(vec.values, dtype=np.float32)
            yield shard, row


class ShardWriter:
    """Collects finished rows and writes them as shards of `rows_per_shard` rows, each
    atomically; `close` writes the rest. Shard names carry a run id, so two runs never
    overwrite each other's shards."""

    def __init__(self, out_dir: Path, dim: int, rows_per_shard: int,
                 on_shard: Callable[[int], None] | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.schema = schema(dim)
        self.dim = dim
        self.rows_per_shard = rows_per_shard
        self.run = uuid.uuid4().hex[:8]
        self.pending: list[dict[str, Any]] = []
        self.written = 0  # shards
        self.on_shard = on_shard  # called with the count after each shard is in place

    def add(self, rows: list[dict[str, Any]]) -> None:
        self.pending.extend(rows)
        while len(self.pending) >= self.rows_per_shard:
            self._write(self.pending[:self.rows_per_shard])
            self.pending = self.pending[self.rows_per_shard:]

    def close(self) -> None:
        if self.pending:
            self._write(self.pending)
            self.pending = []

    def _write(self, rows: list[dict[str, Any]]) -> None:
        columns = {name: [r[name] for r in rows] for name in self.schema.names if name != "vector"}
        flat = np.zeros((len(rows), self.dim), dtype=np.float32)
        valid = np.zeros(len(rows), dtype=bool)
        for i, r in enumerate(rows):
            if r["vector"] is not None:
                flat[i] = r["vector"]
                valid[i] = True
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), self.dim, mask=pa.array(~valid))
        arrays = [vectors if name == "vector" else pa.array(columns[name], type=self.schema.field(name).type)
                  for name in self.schema.names]
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        # A reader (or a rerun) sees the whole shard or none of it.
        with atomic_write(self.out_dir / f"part-{self.run}-{self.written:05d}.parquet") as fh:
            pq.write_table(table, fh)
        self.written += 1
        if self.on_shard is not None:
            self.on_shard(self.written)
