"""`embed_catalog`: embed a catalogue of audio files on a Ray cluster into Parquet shards.

    report = embed_catalog("/data/catalogue", "/data/shards", checkpoint=None, ray_address="auto")

The pipeline is Ray Data: the files still to do become a dataset, `map_batches` runs a
pool of actors that each load the model once (`myna_rpe.embed.Embedder`, with the chosen
token budget), and the driver writes the results as shards (`playlist.library.catalog_shards`).

* With GPUs in the cluster, decoding and the log-mel run as CPU tasks and one actor per
  GPU runs the model, so the GPUs never wait for FFmpeg. Without, each actor decodes and
  embeds its own batch with a share of the cores (the model is the larger cost on a CPU,
  and one stage needs no CPUs set aside for the other).
* A file goes through the same steps as in `myna index`: `prepare_file` (decode +
  `file_log_mel`), `Embedder.embed_mels`, and the fingerprint of `playlist.library.scan`, so an
  imported vector equals the one `myna index` computes, and the import can check it.
* The driver, not the workers, writes the shards: they land in `out_dir` on the machine
  that runs the command (no shared filesystem needed), ~0.5 KiB per track at dim 128.
* Resumable: files already in a shard with the same size and mtime are skipped; a killed
  run loses only rows not yet in a written shard.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from myna_rpe.budget import TokenBudget
from myna_rpe.config import FrontendConfig
from myna_rpe.errors import LibraryError
from myna_rpe.fileio import expand_user
from playlist.library.catalog_shards import CatalogMeta, ShardWriter, done_files, read_meta, remove_temporaries, write_meta
from playlist.library.indexer import ProgressHook, prepare_file
from playlist.library.scan import FileStat, content_hash, walk_library

RAY_MISSING_FIX = "install the Ray extra: pip install 'myna-rpe[ray]' (with -c constraints.txt in a checkout)"


@dataclass
class CatalogReport:
    files: int = 0  # listed by the folder or manifest
    already_done: int = 0  # in a shard from an earlier run
    embedded: int = 0
    failed: int = 0
    shards: int = 0  # written by this run
    workers: int = 0  # model actors
    gpus: int = 0  # in the cluster (0: the actors ran on CPUs)
    seconds: float = 0.0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, message), this run

    @property
    def rate(self) -> float:
        done = self.embedded + self.failed
        return done / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------------------- what to embed


def list_catalogue(source: str | Path) -> tuple[Path, list[FileStat]]:
    """(root that shard paths are relative to, files) of a folder or a manifest file."""
    source = expand_user(source)
    if source.is_dir():
        root = source.resolve()
        files, _ = walk_library(root)  # links, FIFOs and bad names are left out, as `myna index` does
        return root, files
    if source.is_file():
        return source.resolve().parent, _read_manifest(source.resolve())
    raise LibraryError("no such folder or manifest", path=source,
                       fix="pass a music folder, or a text file listing one audio file per line")


def _read_manifest(manifest: Path) -> list[FileStat]:
    """One path per line (blank lines and `#` comments skipped), relative to the manifest's
    folder unless absolute. A file that cannot be stat-ed is kept, with size -1, so its
    failure is recorded in a shard and the run goes on."""
    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LibraryError(f"cannot read this manifest ({exc})", path=manifest,
                           fix="give a UTF-8 text file with one audio file path per line") from None
    root = manifest.parent
    files: dict[str, FileStat] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = expand_user(line)
        path = path if path.is_absolute() else root / path
        path = Path(os.path.normpath(path))
        try:
            name = path.relative_to(root).as_posix()
        except ValueError:
            name = path.as_posix()
        try:
            st = path.stat()
            size, mtime_ns = st.st_size, st.st_mtime_ns
        except OSError:
            size, mtime_ns = -1, -1
        files.setdefault(name, FileStat(path=path, rel_path=name, size=size, mtime_ns=mtime_ns))
    if not files:
        raise LibraryError("the manifest lists no files", path=manifest,
                           fix="write one audio file path per line (relative to the manifest's folder, or absolute)")
    return sorted(files.values(), key=lambda f: f.rel_path)


# ---------------------------------------------------------------------------- the Ray stages


def decode_batch(batch: dict[str, np.ndarray], frontend: FrontendConfig) -> dict[str, np.ndarray]:
    """Fingerprint, decode and log-mel every file of a batch (a Ray task, or inside an
    actor). Never raises for a bad file: its `error` says why."""
    fingerprints, mels, frames, seconds, errors = [], [], [], [], []
    for path, size in zip(batch["abs"], batch["size"]):
        try:
            fingerprint = content_hash(Path(path), int(size))
        except OSError as exc:
            fingerprint = ""
            mel, secs, error = None, 0.0, f"cannot read the file ({exc.strerror or exc})"
        else:
            mel, secs, error = prepare_file(str(path), frontend)
        fingerprints.append(fingerprint)
        mels.append(b"" if mel is None else np.ascontiguousarray(mel, dtype=np.float32).tobytes())
        frames.append(0 if mel is None else mel.shape[-1])
        seconds.append(secs)
        errors.append(error or "")
    out = dict(batch)
    out.update(fingerprint=np.array(fingerprints, dtype=object), mel=np.array(mels, dtype=object),
               frames=np.array(frames, dtype=np.int64), seconds=np.array(seconds, dtype=np.float64),
               error=np.array(errors, dtype=object))
    return out


class EmbedActor:
    """A Ray Data actor: loads the model once, then embeds batches of decoded files."""

    def __init__(self, checkpoint: str | None, budget: TokenBudget, device: str, threads: int | None,
                 decode: bool) -> None:
        import torch

        from myna_rpe.embed import Embedder
        from playlist.library.track_vectors import TrackEmbedder

        if threads:
            torch.set_num_threads(threads)
        self.embedder = TrackEmbedder(Embedder.load(checkpoint, device=device, budget=budget))
        self.decode = decode

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        emb = self.embedder
        if self.decode:
            batch = decode_batch(batch, emb.config.frontend)
        n_mels = emb.config.frontend.n_mels
        errors = [str(e) for e in batch["error"]]
        ok = [i for i, e in enumerate(errors) if not e]
        # (copied: Ray hands over read-only buffers, and torch wants writable ones)
        mels = [torch.from_numpy(np.frombuffer(batch["mel"][i], dtype=np.float32)
                                 .reshape(n_mels, int(batch["frames"][i])).copy()) for i in ok]
        vectors = np.zeros((len(errors), emb.dim), dtype=np.float32)
        if ok:
            vectors[ok] = emb.embed_mels(mels)
        for i in ok:
            if not np.all(np.isfinite(vectors[i])):
                errors[i] = "the model produced a non-finite embedding"
                vectors[i] = 0.0
        return {"path": batch["path"], "fingerprint": batch["fingerprint"],
                "model_id": np.array([emb.model_id] * len(errors), dtype=object),
                "duration": batch["seconds"], "size": batch["size"], "mtime_ns": batch["mtime_ns"],
                "vector": vectors, "error": np.array(errors, dtype=object)}


# ---------------------------------------------------------------------------- the run


def embed_catalog(source: str | Path, out_dir: str | Path, *, checkpoint: str | Path | None = None,
                  budget: TokenBudget = TokenBudget(), ray_address: str | None = None, workers: int | None = None,
                  batch_size: int = 8, rows_per_shard: int = 1000, progress: ProgressHook | None = None,
                  on_shard: Callable[[int], None] | None = None, gpu_device: str = "cuda") -> CatalogReport:
    """Embed every file of `source` (a folder or a manifest) not yet in `out_dir`'s shards.

    Connects to the Ray cluster at `ray_address` (None: `RAY_ADDRESS`, else a local Ray
    started for this run and stopped after it); a Ray already initialised in this
    process is used as it is. `workers` is the number of model actors (default: one per
    GPU, else one per two CPUs). `on_shard(n)` is called after each shard is written.
    `gpu_device` is the torch device of the actors placed on GPUs (the tests run that
    layout on CPUs, with GPUs that Ray is told about but that are not there)."""
    started = time.perf_counter()
    report = CatalogReport()
    root, files = list_catalogue(source)
    report.files = len(files)
    out_dir = expand_user(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LibraryError(f"cannot create the output folder ({exc.strerror})", path=out_dir,
                           fix="give --out a folder you can write") from None
    remove_temporaries(out_dir)

    from myna_rpe.embed import Embedder
    from playlist.library.track_vectors import TrackEmbedder

    # on the driver: a bad checkpoint fails before Ray starts
    embedder = TrackEmbedder(Embedder.load(checkpoint, budget=budget))
    meta = CatalogMeta(model_id=embedder.model_id, dim=embedder.dim, source=str(expand_user(source).resolve()),
                       model_config=embedder.record())
    previous = read_meta(out_dir)
    if previous is not None and previous.model_id != meta.model_id:
        raise LibraryError(f"these shards were made by model {previous.model_id}, this run uses {meta.model_id}",
                           path=out_dir, fix="pass the same --checkpoint and budget as before, or another --out folder")
    if previous is None:
        write_meta(out_dir, meta)

    done = done_files(out_dir)
    todo = [f for f in files if (f.rel_path, f.size, f.mtime_ns) not in done]
    report.already_done = len(files) - len(todo)
    if todo:
        _run_ray(todo, out_dir, meta, checkpoint, budget, ray_address, workers, batch_size, rows_per_shard,
                 report, progress, on_shard, gpu_device)
    report.seconds = time.perf_counter() - started
    return report


def _run_ray(todo: list[FileStat], out_dir: Path, meta: CatalogMeta, checkpoint: str | Path | None,
             budget: TokenBudget, ray_address: str | None, workers: int | None, batch_size: int,
             rows_per_shard: int, report: CatalogReport, progress: ProgressHook | None,
             on_shard: Callable[[int], None] | None, gpu_device: str) -> None:
    try:
        import pyarrow as pa
        import ray
    except ImportError:
        raise LibraryError("Ray is not installed", fix=RAY_MISSING_FIX) from None

    started_here = _connect(ray, ray_address)
    if progress:
        progress.phase("embedding", len(todo))
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the command shows its own bar
        context.print_on_execution_start = False
        if progress is not None:  # and Ray Data's per-run notes would break it
            logging.getLogger("ray.data").setLevel(logging.ERROR)
        resources = ray.cluster_resources()
        report.gpus = int(resources.get("GPU", 0))
        cpus = max(1, int(resources.get("CPU", 1)))
        table = pa.table({"abs": [str(f.path) for f in todo], "path": [f.rel_path for f in todo],
                          "size": pa.array([f.size for f in todo], pa.int64()),
                          "mtime_ns": pa.array([f.mtime_ns for f in todo], pa.int64())})
        # A block per few batches: enough blocks to keep every actor busy, few enough to schedule cheaply.
        block_rows = max(batch_size, min(batch_size * 8, -(-len(todo) // (cpus * 2))))
        ds = ray.data.from_arrow([table.slice(i, block_rows) for i in range(0, len(todo), block_rows)])
        ckpt = None if checkpoint is None else str(expand_user(checkpoint).resolve())
        if report.gpus:
            report.workers = workers or report.gpus
            ds = ds.map_batches(decode_batch, fn_kwargs={"frontend": FrontendConfig(**meta.model_config["frontend"])},
                                batch_size=batch_size, num_cpus=1)
            # No core reserved for a GPU actor (it only feeds its GPU): every core is left to the
            # decode tasks, and a node with as many GPUs as cores cannot starve them.
            ds = ds.map_batches(EmbedActor, batch_size=batch_size, num_gpus=1, num_cpus=0,
                                compute=ray.data.ActorPoolStrategy(size=report.workers),
                                fn_constructor_kwargs={"checkpoint": ckpt, "budget": budget, "device": gpu_device,
                                                       "threads": None, "decode": False})
        else:
            report.workers = min(workers or max(1, cpus // 2), cpus)  # an actor beyond the cores never starts
            threads = max(1, cpus // report.workers)
            ds = ds.map_batches(EmbedActor, batch_size=batch_size, num_cpus=threads,
                                compute=ray.data.ActorPoolStrategy(size=report.workers),
                                fn_constructor_kwargs={"checkpoint": ckpt, "budget": budget, "device": "cpu",
                                                       "threads": threads, "decode": True})
        writer = ShardWriter(out_dir, meta.dim, rows_per_shard, on_shard)
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            rows = _rows(batch)
            for row in rows:
                if row["error"]:
                    report.failed += 1
                    report.errors.append((row["path"], row["error"]))
                else:
                    report.embedded += 1
            writer.add(rows)
            if progress:
                progress.advance(len(rows))
        writer.close()
        report.shards = writer.written
    finally:
        if started_here:
            ray.shutdown()


def _connect(ray: Any, address: str | None) -> bool:
    """Join (or start) Ray; True when this call started it (and so must stop it)."""
    if ray.is_initialized():
        return False
    _reachable(address)
    try:
        # Ray's own start-up notes are not the user's business; its errors still show.
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = address or os.environ.get("RAY_ADDRESS") or "a local Ray"
        raise LibraryError(f"cannot connect to the Ray cluster at {where} ({str(exc).splitlines()[0]})",
                           fix="start it (`ray start --head`) and pass its address with --ray-address, "
                               "or leave --ray-address out to run on this machine") from None
    return True


def _reachable(address: str | None) -> None:
    """A "host:port" address that nothing answers on fails here in seconds: `ray.init`
    itself keeps retrying for many minutes."""
    if not address or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise LibraryError(f"not a Ray address: {address!r}",
                           fix="give host:port of the head node (e.g. 10.0.0.5:6379), ray://host:10001, or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise LibraryError(f"cannot connect to the Ray cluster at {address} ({exc.strerror or exc})",
                           fix="start it (`ray start --head`) and pass its address with --ray-address, "
                               "or leave --ray-address out to run on this machine") from None


def _rows(batch: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """A finished batch as shard rows (a failed file has no vector and no duration)."""
    rows = []
    for i in range(len(batch["path"])):
        error = str(batch["error"][i]) or None
        rows.append({"path": str(batch["path"][i]), "fingerprint": str(batch["fingerprint"][i]),
                     "model_id": str(batch["model_id"][i]),
                     "duration": None if error else float(batch["duration"][i]),
                     "size": int(batch["size"][i]), "mtime_ns": int(batch["mtime_ns"][i]),
                     "vector": None if error else np.asarray(batch["vector"][i], dtype=np.float32),
                     "error": error})
    return rows
