"""The training loop: data → pairs → encoder under patchout → losses → AdamW, with
checkpoints a run can resume from bit for bit.

Run folder (`--out`):
    train_config.json        every setting of the run
    checkpoint -> steps/step-0001000   (a symlink, swapped atomically)
    steps/step-NNNNNNN/      model.safetensors + config.json (myna_rpe.checkpoint: what
                             `myna index --checkpoint RUN/checkpoint` loads), and
                             train_state.safetensors + train_state.json (optimiser,
                             K-Means centroids, RNG, data position; no pickle anywhere)
    metrics.csv              step, epoch, loss terms, lr, grad norm, pairs/s, chunk frames
    tensorboard/             when the tensorboard package is installed

Randomness is a function of (seed, step, rank): data order and chunks (pairs.py) and the
patchout masks (a generator seeded per step) need no saved state, so a resumed run
replays exactly what the uninterrupted run would have done.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import tempfile
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from myna_rpe.checkpoint import build_model, load_checkpoint, save_checkpoint
from myna_rpe.devices import device_problem
from myna_rpe.fileio import atomic_write_bytes
from myna_rpe.errors import CheckpointError, DatasetError, MynaError
from myna_rpe.frontend import silence_value
from myna_rpe.training.config import (
    IDENTITY_KEYS, TrainConfig, absolute_path, default_cache_dir, load_run_config, save_run_config, split_path,
    started_in,
)  # fmt: skip
from myna_rpe.teacher.targets import TeacherCache
from myna_rpe.training.distill import DistillTargets, TeacherSet
from myna_rpe.training.distributed import DistInfo, all_reduce_sum, barrier, gather_with_grad
from myna_rpe.training.losses import KMeansLoss, hull_loss, nt_xent
from myna_rpe.training.mel_cache import MelCache
from myna_rpe.training.augment import Augment, augment_views
from myna_rpe.training.pairs import ChunkSpec, PairSampler, collate
from myna_rpe.training.hdf5_data import PREFIX as HDF5_PREFIX
from myna_rpe.training.hdf5_data import build_from_hdf5
from myna_rpe.training.sources import discover

CHECKPOINT_LINK = "checkpoint"
STATE_TENSORS = "train_state.safetensors"
STATE_JSON = "train_state.json"
METRICS = "metrics.csv"
METRIC_FIELDS = ("step", "epoch", "loss", "nce", "kmeans", "hull", "distill", "lr", "grad_norm", "pairs_per_s", "chunk_frames")


class TrainingDiverged(MynaError):
    """The loss or the gradient became NaN/Inf; the run stopped before touching the checkpoint."""


@dataclass
class StepMetrics:
    step: int  # steps completed
    epoch: int
    loss: float
    nce: float
    kmeans: float
    hull: float
    distill: float
    lr: float
    grad_norm: float
    pairs_per_s: float
    chunk_frames: int


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    interrupted: bool
    signal: int | None = None  # the signal that interrupted the run (SIGINT, SIGTERM), if one did
    history: list[StepMetrics] = field(default_factory=list)


class Reporter(Protocol):
    def message(self, text: str) -> None: ...
    def cache_progress(self, done: int, total: int, what: str = "log-mel cache") -> None: ...
    def start(self, step: int, total: int) -> None: ...
    def step(self, metrics: StepMetrics) -> None: ...
    def saved(self, path: Path, step: int) -> None: ...


class SilentReporter:
    def message(self, text: str) -> None: pass
    def cache_progress(self, done: int, total: int, what: str = "log-mel cache") -> None: pass
    def start(self, step: int, total: int) -> None: pass
    def step(self, metrics: StepMetrics) -> None: pass
    def saved(self, path: Path, step: int) -> None: pass


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up to `lr`, then cosine decay to `lr * min_lr_ratio` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def resolve_device(name: str) -> torch.device:
    """The torch device of `name`; a device from a config file or a resumed run that this
    machine lacks is one line here, before any work (a --device flag was checked on parsing)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if problem := device_problem(name, auto=True):
        raise MynaError(f"device {problem}")
    return torch.device(name)


class Contrastive(nn.Module):
    """Encoder + projection head (+ the distillation head) in one forward, so DDP sees every
    parameter used once. The distillation head is linear, so the teacher's geometry has to be
    carried by the embedding itself (a deep head could absorb it); it lives in the training
    state only: inference uses the embedding."""

    def __init__(self, encoder: nn.Module, distill_dim: int = 0) -> None:
        super().__init__()
        self.encoder = encoder
        self.distill_head = nn.Linear(encoder.cfg.dim, distill_dim) if distill_dim else None

    def forward(self, mels, lengths, mask_ratio, generator):
        z = self.encoder(mels, lengths=lengths, mask_ratio=mask_ratio, generator=generator)
        d = self.distill_head(z) if self.distill_head is not None else None
        return z, self.encoder.project(z), d


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    # Decay the matrices of linear layers only; norms, biases, the CLS token, positional
    # tables and ALiBi slopes are left alone (as in ViT/GPT training).
    decay, keep = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim == 2 and not name.startswith("abs_pos") else keep).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]


def _step_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step) * 1_009 + rank


class Trainer:
    def __init__(
        self, cfg: TrainConfig, reporter: Reporter | None = None, dist_info: DistInfo | None = None,
        cache_workers: int = 0,
    ) -> None:
        self.cfg = cfg = cfg.with_absolute_paths()  # saved so, a resume from any folder finds the same files
        self.report = reporter or SilentReporter()
        self.dist = dist_info or DistInfo()
        self.device = resolve_device(cfg.device)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.run_dir = Path(cfg.out)
        self.cache_workers = cache_workers
        self.enc_cfg = cfg.encoder_config()
        self.pad_value = silence_value(self.enc_cfg.frontend)
        self.augment = Augment(cfg.augment_gain_db, cfg.augment_eq_db, cfg.augment_noise_snr_db, cfg.augment_pitch_bins)
        self.step = 0
        self._signalled = False  # set by this process's signal handler
        self._signal: int | None = None  # ... with the signal it caught
        self._stop = False  # set on every rank at once, from the reduced flags

    # -- setup -----------------------------------------------------------------------
    def prepare_data(self) -> None:
        cfg = self.cfg
        self.cache = MelCache(cfg.cache_dir or default_cache_dir(), self.enc_cfg.frontend)
        fps = self.enc_cfg.frontend.frames_per_second
        min_frames = max(1, math.ceil(cfg.min_track_seconds * fps))
        on_progress = self.report.cache_progress if self.dist.is_main else None
        if cfg.data.startswith(HDF5_PREFIX):  # a DL-101 audio file: waveforms, no decoding

            def build_cache():
                return build_from_hdf5(self.cache, cfg.data.removeprefix(HDF5_PREFIX), min_frames, on_progress)
        else:
            sources = discover(cfg.data, cfg.jamendo_split, cfg.jamendo_split_index)
            if sources.missing:
                self.report.message(f"{len(sources.missing)} tracks listed in the metadata have no audio on disk; skipped")
            paths = [t.path for t in sources.tracks]

            def build_cache():
                return self.cache.build(paths, min_frames=min_frames, workers=self.cache_workers, on_progress=on_progress)
        # One process per machine decodes (local rank 0); the others then find every entry cached.
        if self.dist.local_rank != 0:
            barrier(self.dist)
        build = build_cache()
        if self.dist.local_rank == 0:
            barrier(self.dist)
        if self.dist.is_main:
            for path, reason in build.failed:
                self.report.message(f"skipped unreadable file: {reason}")
            if build.too_short:
                self.report.message(f"skipped {len(build.too_short)} tracks shorter than {cfg.min_track_seconds:g} s")
        if not build.tracks:
            raise DatasetError("no usable tracks", cfg.data, "check that the files decode and are long enough")
        self.shas = [t.sha for t in build.tracks]
        self.chunk = ChunkSpec.from_settings(
            fps, self.enc_cfg.model.patch_size, cfg.chunk_seconds, cfg.chunk_frames,
            cfg.chunk_min_seconds, cfg.chunk_max_seconds,
        )
        self.sampler = PairSampler(
            [t.frames for t in build.tracks], cfg.batch_size, self.chunk, cfg.seed, self.dist.world, self.dist.rank,
            groups=album_groups([t.path for t in build.tracks]), album_p=cfg.album_positives,
            whole_p=cfg.whole_track_p, whole_max_frames=round(cfg.whole_track_max_seconds * fps),
        )
        self.targets = self._prepare_targets(build.tracks) if cfg.distill_specs() else None

    def _prepare_targets(self, tracks) -> TeacherSet:
        cfg = self.cfg
        if cfg.data.startswith(HDF5_PREFIX):
            raise DatasetError("distillation needs audio files, not a DL-101 .hdf5", cfg.data,
                               "train from a folder of audio, or drop --distill")
        frame_seconds = self.enc_cfg.frontend.hop_length / self.enc_cfg.frontend.sample_rate
        members = []
        for teacher, layer, weight in cfg.distill_specs():
            cache = TeacherCache(Path(cfg.cache_dir or default_cache_dir()) / "teacher", teacher, cfg.distill_patch_stride)
            if self.dist.local_rank != 0:
                barrier(self.dist)
            if self.dist.local_rank == 0:
                progress = ((lambda d, t, name=teacher: self.report.cache_progress(d, t, f"teacher ({name})"))
                            if self.dist.is_main else None)
                failed = cache.build([(t.path, t.sha) for t in tracks], progress)
                barrier(self.dist)
                if failed:  # the mel cache decoded these files, so this is not expected
                    raise DatasetError(f"the teacher could not read {len(failed)} files ({failed[0][1]})",
                                       failed[0][0], "remove or repair the file")
            members.append((DistillTargets(cache, layer, self.shas, frame_seconds), weight))
        return TeacherSet(members)

    def prepare_model(self) -> None:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        self.encoder = build_model(self.enc_cfg).to(self.device)
        # built after the encoder, so that the encoder's initial weights do not depend on distillation
        self.module = Contrastive(self.encoder, self.targets.dim if self.targets is not None else 0).to(self.device)
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net: nn.Module = nn.parallel.DistributedDataParallel(self.module, device_ids=ids)
        else:
            self.net = self.module
        groups = _param_groups(self.encoder, cfg.weight_decay)
        if self.module.distill_head is not None:
            for p in self.module.distill_head.parameters():
                groups[0 if p.ndim == 2 else 1]["params"].append(p)
        self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        self.kmeans = (
            KMeansLoss(cfg.kmeans_k, self.enc_cfg.model.dim, cfg.kmeans_momentum, cfg.kmeans_mode, cfg.seed).to(self.device)
            if cfg.kmeans_weight > 0
            else None
        )
        self.autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if cfg.amp and self.device.type == "cuda"
            else nullcontext()
        )

    # -- one step --------------------------------------------------------------------
    def train_step(self) -> StepMetrics:
        cfg, step = self.cfg, self.step
        t0 = time.perf_counter()
        batch = self.sampler.batch(step)
        a, b, lengths = collate(self.cache.read, self.shas, batch, self.pad_value)
        mels = torch.cat((a, b))
        gen = torch.Generator().manual_seed(_step_seed(cfg.seed, step, self.dist.rank))
        if self.augment.active:  # each view its own draw, from this step's generator: resumable
            mels = augment_views(mels, lengths, self.augment, self.enc_cfg.frontend, gen, self.pad_value)
        mels = mels.to(self.device, non_blocking=True)
        lengths = lengths.to(self.device)
        lr = lr_at(cfg, step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.net.train()
        with self.autocast:
            ratio = self._whole_track_ratios(lengths) if batch.whole else cfg.mask_ratio
            z, p, d = self.net(mels, lengths, ratio, gen)
        z, p = z.float(), p.float()
        n = cfg.batch_size
        all_p = self._gather_views(p)
        g = all_p.shape[0] // 2
        groups = torch.from_numpy(batch.groups) if batch.groups is not None else None
        nce = nt_xent(p[:n], p[n:], cfg.temperature, all_p[:g], all_p[g:], offset=self.dist.rank * n, groups=groups)
        loss = nce
        km = hull = distill = torch.zeros((), device=self.device)
        if d is not None:
            weighted, distill = self.targets.loss(d.float(), batch, cfg.distill_loss)
            loss = loss + weighted
        if self.kmeans is not None or cfg.hull_weight > 0:
            all_z = self._gather_views(z)
            if self.kmeans is not None:
                km = self.kmeans(z, all_z.detach())
                loss = loss + cfg.kmeans_weight * km
            if cfg.hull_weight > 0:
                hull = hull_loss(all_z, cfg.hull_eps)
                loss = loss + cfg.hull_weight * hull
        self.optimizer.zero_grad(set_to_none=True)
        stats = torch.stack([loss.detach(), nce.detach(), km.detach(), hull.detach(), distill.detach()]).float()
        stop = torch.tensor([float(not torch.isfinite(loss)), float(self._signalled)], device=self.device)
        flags = all_reduce_sum(torch.cat((stats / self.dist.world, stop)), self.dist)
        if flags[5] > 0:
            raise self._diverged("loss", flags[0].item())
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(
            self.module.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        )
        if not torch.isfinite(grad_norm):
            raise self._diverged("gradient norm", grad_norm.item())
        self.optimizer.step()
        self.step += 1
        if flags[6] > 0:  # some rank was signalled: every rank stops after this same step
            self._stop = True
        dt = time.perf_counter() - t0
        return StepMetrics(
            step=self.step, epoch=step // self.sampler.steps_per_epoch, loss=flags[0].item(), nce=flags[1].item(),
            kmeans=flags[2].item(), hull=flags[3].item(), distill=flags[4].item(), lr=lr, grad_norm=grad_norm.item(),
            pairs_per_s=self.sampler.global_batch / dt, chunk_frames=batch.length,
        )

    def _whole_track_ratios(self, lengths: torch.Tensor) -> torch.Tensor:
        """Per view: the patchout that keeps `whole_track_tokens` of its patches (never less than --mask-ratio)."""
        m = self.enc_cfg.model
        patches = torch.ceil(lengths.float() / m.patch_size) * (m.n_mels // m.patch_size)
        ratio = 1.0 - self.cfg.whole_track_tokens / patches
        return ratio.clamp(min=self.cfg.mask_ratio, max=0.999).to(self.device)

    def _gather_views(self, x: torch.Tensor) -> torch.Tensor:
        """Every rank's (2n, d) rows as [all views a; all views b], the order one process
        with the whole global batch would have (so K-Means seeding matches too)."""
        if not self.dist.enabled:
            return x
        n = self.cfg.batch_size
        rows = gather_with_grad(x, self.dist).view(self.dist.world, 2, n, -1)
        return rows.transpose(0, 1).reshape(2 * self.dist.world * n, -1)

    def _diverged(self, what: str, value: float) -> TrainingDiverged:
        last = self.run_dir / CHECKPOINT_LINK
        if last.exists():
            state = f"the last checkpoint (step {_saved_step(last)}) is intact"
            then = f"resume with --resume (from {last})"
        else:
            state = "no checkpoint had been written yet"
            then = "start the run again"
        return TrainingDiverged(
            f"{what} became {value} at step {self.step + 1}; the run stopped and {state}",
            self.run_dir,
            f"lower --lr or raise --warmup-steps, then {then}",
        )

    # -- checkpoints -----------------------------------------------------------------
    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Optimiser, K-Means and RNG state as flat tensors + a JSON-able remainder."""
        tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"rng.cuda.{i}"] = s
        opt = self.optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, st in opt["state"].items():
            for key, value in st.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{idx}.{key}"] = value.detach().cpu().contiguous()
                else:
                    scalars.setdefault(str(idx), {})[key] = value
        if self.kmeans is not None:
            for key, value in self.kmeans.state_dict().items():
                tensors[f"kmeans.{key}"] = value.detach().cpu().contiguous()
        if self.module.distill_head is not None:
            for key, value in self.module.distill_head.state_dict().items():
                tensors[f"distill_head.{key}"] = value.detach().cpu().contiguous()
        doc = {
            "step": self.step,
            "position": self.sampler.position(self.step),
            "num_tracks": len(self.shas),
            "tracks_digest": _digest(self.shas),
            "world": self.dist.world,
            "optim_groups": opt["param_groups"],
            "optim_scalars": scalars,
            "torch": torch.__version__,
        }
        return tensors, doc

    def save(self) -> Path:
        """Write a step folder, then point `checkpoint` at it (rank 0; all ranks wait)."""
        target = self.run_dir / "steps" / f"step-{self.step:07d}"
        if self.dist.is_main and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
            try:
                meta = {"step": self.step, "trained_with": "myna train", "pe": self.cfg.pe, "size": self.cfg.size}
                save_checkpoint(tmp, self.encoder, self.enc_cfg, meta)
                tensors, doc = self.state_tensors()
                save_file(tensors, str(tmp / STATE_TENSORS))
                atomic_write_bytes(tmp / STATE_JSON, (json.dumps(doc, indent=1) + "\n").encode())
                _fsync_dir(tmp)
                os.replace(tmp, target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            _point_link(self.run_dir / CHECKPOINT_LINK, target)
            self._prune(target)
        if self.dist.is_main:
            self.report.saved(target, self.step)
        barrier(self.dist)
        return target

    def _prune(self, current: Path) -> None:
        steps = sorted(p for p in current.parent.glob("step-*") if p.is_dir())
        for old in steps[: max(0, len(steps) - 1 - self.cfg.keep_checkpoints)]:
            if old != current:
                shutil.rmtree(old, ignore_errors=True)

    def load(self, directory: Path) -> None:
        """Restore model, optimiser, K-Means, RNG and step from a step folder."""
        state_json, state_bin = directory / STATE_JSON, directory / STATE_TENSORS
        if not state_json.is_file() or not state_bin.is_file():
            raise CheckpointError("no training state beside the weights", directory, "resume needs a checkpoint written by `myna train`")
        try:
            doc = json.loads(state_json.read_text())
            tensors = load_file(str(state_bin))
        except (OSError, ValueError, RecursionError, SafetensorError) as exc:
            raise CheckpointError(f"unreadable training state ({exc})", directory, "resume from an earlier step folder") from None
        head = {k.removeprefix("distill_head."): v for k, v in tensors.items() if k.startswith("distill_head.")}
        if bool(head) != (self.module.distill_head is not None):
            was = "with" if head else "without"
            raise CheckpointError(f"the checkpoint was trained {was} --distill", directory,
                                  f"resume {was} --distill (as the run began), or start a new run with another --out")
        if head and head["weight"].shape[0] != self.module.distill_head.out_features:
            raise CheckpointError("the checkpoint was distilled from another teacher or layer", directory,
                                  "resume with the run's own --distill, or start a new run with another --out")
        saved, _, _ = load_checkpoint(directory)  # verifies the weights against config.json
        self.encoder.load_state_dict(saved.state_dict())
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, idx, name = key.split(".", 2)
                state.setdefault(int(idx), {})[name] = value.to(self.device) if name != "step" else value
        for idx, extra in doc["optim_scalars"].items():
            state.setdefault(int(idx), {}).update(extra)
        self.optimizer.load_state_dict({"state": state, "param_groups": doc["optim_groups"]})
        if self.kmeans is not None:
            km = {k.removeprefix("kmeans."): v for k, v in tensors.items() if k.startswith("kmeans.")}
            if km:
                self.kmeans.load_state_dict(km)
        if self.module.distill_head is not None:
            self.module.distill_head.load_state_dict(head)
        torch.set_rng_state(tensors["rng.torch"])
        cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
        if cuda_states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
        self.step = int(doc["step"])
        if doc.get("tracks_digest") != _digest(self.shas) and self.dist.is_main:
            self.report.message(
                f"the training data changed since the checkpoint ({doc.get('num_tracks')} → {len(self.shas)} tracks): "
                "the run continues, but not on the data order it would have had"
            )

    # -- metrics ---------------------------------------------------------------------
    def _open_metrics(self):
        path = self.run_dir / METRICS
        rows: list[dict[str, str]] = []
        if path.is_file():  # keep rows up to the resumed step; later ones are about to be redone
            with open(path, newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= self.step]
        with tempfile.NamedTemporaryFile("w", newline="", dir=self.run_dir, delete=False, suffix=".tmp") as tmp:
            writer = csv.DictWriter(tmp, fieldnames=METRIC_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp.name, path)
        fh = open(path, "a", newline="")
        return fh, csv.DictWriter(fh, fieldnames=METRIC_FIELDS)

    def _tensorboard(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard not installed: CSV only
            return None
        return SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=self.step)

    # -- the run ---------------------------------------------------------------------
    def run(self, resume: bool = False) -> TrainResult:
        cfg = self.cfg
        if not cfg.data:
            raise DatasetError("no training data given", fix="pass --data DIR (a folder of audio) or --data jamendo:DIR")
        link = self.run_dir / CHECKPOINT_LINK
        if not resume and (link.exists() or link.is_symlink()):
            raise MynaError(
                "this run folder already holds a checkpoint", self.run_dir,
                "pass --resume to continue it, or another --out for a new run",
            )
        if resume and not link.exists():
            raise CheckpointError("nothing to resume: no checkpoint in the run folder", self.run_dir, "start the run without --resume")
        self.prepare_data()
        self.prepare_model()
        if resume:
            self.load(link.resolve())
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_run_config(cfg, self.run_dir / "train_config.json")
        result = TrainResult(self.run_dir, self.step, interrupted=False)
        metrics_fh = writer = tb = None
        if self.dist.is_main:
            metrics_fh, writer = self._open_metrics()
            tb = self._tensorboard()
        self.report.start(self.step, cfg.steps)
        try:
            with self._catch_signals():
                while self.step < cfg.steps:
                    m = self.train_step()
                    result.history.append(m)
                    if self.dist.is_main:
                        self.report.step(m)
                        if m.step % cfg.log_every == 0 or m.step == cfg.steps:
                            writer.writerow({k: getattr(m, k) for k in METRIC_FIELDS})
                            metrics_fh.flush()
                            if tb is not None:
                                for k in METRIC_FIELDS[2:]:
                                    tb.add_scalar(f"train/{k}", getattr(m, k), m.step)
                    if self._stop:
                        result.interrupted = True
                        # Another rank may have caught it: then it was the scheduler's SIGTERM.
                        result.signal = self._signal or signal.SIGTERM
                        break
                    if m.step % cfg.checkpoint_every == 0:
                        self.save()
                if result.interrupted or self.step % cfg.checkpoint_every:
                    self.save()
        finally:
            if metrics_fh is not None:
                metrics_fh.close()
            if tb is not None:
                tb.close()
        result.step = self.step
        return result

    @contextmanager
    def _catch_signals(self):
        """Ctrl-C (or SIGTERM, e.g. a scheduler's preemption) stops the loop after the
        current step and saves; a second Ctrl-C aborts at once, leaving the last checkpoint."""
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self._signalled and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self._signalled = True
            self._signal = signum
            self.report.message("stopping after this step and saving a checkpoint (Ctrl-C again to abort)")

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


def album_groups(paths: list[Path]) -> list[int]:
    """A group number per track: its folder (an album, or a game's soundtrack)."""
    ids: dict[str, int] = {}
    return [ids.setdefault(str(Path(p).parent), len(ids)) for p in paths]


def _digest(shas: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(shas).encode()).hexdigest()[:16]


def _fsync_dir(path: Path) -> None:
    for f in path.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())


def _point_link(link: Path, target: Path) -> None:
    """Make `link` a relative symlink to `target` atomically (readers see old or new)."""
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, link.parent), tmp)
    os.replace(tmp, link)


def _saved_step(link: Path) -> int | str:
    try:
        return json.loads((link / STATE_JSON).read_text())["step"]
    except (OSError, ValueError, KeyError):
        return "?"


def resume_config(run_dir: Path, *overrides: dict[str, Any], source: str | Path | None = None,
                  say: Callable[[str], None] = lambda text: None) -> TrainConfig:
    """The saved settings of a run, updated by a config file and flags; shape-defining keys must not change.
    The run stays in `run_dir`, wherever it was first written."""
    path = run_dir / "train_config.json"
    if not path.is_file():
        raise MynaError("no run to resume here (no train_config.json)", run_dir,
                        "check --out, or drop --resume to start a new run")
    saved = load_run_config(path)
    saved = {**saved, **_old_relative_paths(saved, run_dir, overrides, say), "out": str(run_dir)}
    cfg = TrainConfig.from_sources(saved, *overrides, source=source)
    changed = [k for k in IDENTITY_KEYS if saved.get(k) != getattr(cfg, k)]
    if changed:
        raise MynaError(
            f"cannot resume with changed model/frontend settings: {', '.join(changed)}",
            run_dir, "drop those flags, or start a new run with another --out",
        )
    # the distillation head's rows are the teachers' targets in order: weights may change, teachers not
    began = [spec[:2] for spec in TrainConfig.from_sources(saved).distill_specs()]
    now = [spec[:2] for spec in cfg.distill_specs()]
    if began and now and began != now:
        names = lambda specs: ",".join(f"{t}:{layer}" for t, layer in specs)  # noqa: E731
        raise MynaError(f"cannot resume with other distillation teachers ({names(now)}; the run has {names(began)})",
                        run_dir, f"resume with --distill {names(began)} (weights may change), or start a new run "
                                 "with another --out")
    return cfg


def _old_relative_paths(saved: dict[str, Any], run_dir: Path, overrides: tuple[dict[str, Any], ...],
                        say: Callable[[str], None]) -> dict[str, str]:
    """A run saved before paths were stored absolute: its relative data and cache_dir, taken from
    the folder it was started in (its run folder less the relative `out` it saved), else from the
    current folder, saying which."""
    given = {k for layer in overrides for k, v in layer.items() if v is not None}
    old = [k for k in ("data", "cache_dir")
           if k not in given and saved.get(k) and not split_path(saved[k])[1].is_absolute()]
    if not old:
        return {}
    base = started_in(str(saved.get("out") or ""), run_dir)
    where = "the folder the run was started in" if base else "the current folder; the run does not say where it began"
    found = {k: absolute_path(saved[k], base or Path.cwd()) for k in old}
    say(f"{run_dir / 'train_config.json'} holds relative paths (an older myna): reading "
        + ", ".join(f"{k} {saved[k]!r} as {found[k]}" for k in old) + f" ({where})")
    return found


def train(
    cfg: TrainConfig, resume: bool = False, reporter: Reporter | None = None, cache_workers: int = 0
) -> TrainResult:
    """Run (or resume) training as described by `cfg`, under torchrun if its environment is set."""
    from myna_rpe.training.distributed import init_from_env, shutdown

    info = init_from_env(cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        return Trainer(cfg, reporter, info, cache_workers).run(resume=resume)
    finally:
        shutdown(info)
