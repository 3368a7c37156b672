"""The checks of a `TrainConfig`: every value in its range, and the values that must fit
together. A failure is a `SettingError` naming the settings at fault, so the CLI can say
which flag was wrong (a usage error, exit 2) and a config file can be named instead.
"""

from __future__ import annotations

import math
import re
from dataclasses import fields
from typing import Any

from myna_rpe.config import PE_PRESETS, SIZES
from myna_rpe.errors import SettingError

MAX_CHUNK_SECONDS = 600.0  # a training view; longer ones only cost memory (Myna uses 3 s)
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

# setting -> smallest allowed value, for the counts and sizes (None = the setting may be unset)
_AT_LEAST = {
    "batch_size": 2, "steps": 1, "checkpoint_every": 1, "log_every": 1, "keep_checkpoints": 0,
    "warmup_steps": 0, "jamendo_split_index": 0, "dim": 1, "depth": 1, "heads": 1, "patch_size": 1,
    "proj_dim": 1, "attn_block_size": 1, "max_time_patches": 1, "sample_rate": 4000, "n_mels": 1, "n_fft": 1,
    "hop_length": 1, "chunk_frames": 1, "augment_pitch_bins": 0, "seed": 0, "min_track_seconds": 0,
    "kmeans_weight": 0, "hull_weight": 0, "weight_decay": 0, "grad_clip": 0, "augment_gain_db": 0,
    "augment_eq_db": 0, "f_min": 0, "whole_track_tokens": 1, "distill_weight": 0, "distill_patch_stride": 1,
}
_WHY = {"batch_size": "a step of one track leaves no negatives", "sample_rate": "below 4 kHz is no audio"}
_AT_MOST = {"seed": 2**32 - 1, "chunk_seconds": MAX_CHUNK_SECONDS, "chunk_min_seconds": MAX_CHUNK_SECONDS,
            "chunk_max_seconds": MAX_CHUNK_SECONDS, "batch_size": 65536}


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def bad(message: str, fix: str, *keys: str) -> SettingError:
    return SettingError(message, fix=fix, keys=keys)


def check(c: Any) -> None:
    """Raise a `SettingError` for the first value of the TrainConfig `c` that is wrong."""
    for f in fields(c):  # NaN/inf pass every comparison below, so they are refused first
        value = getattr(c, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise bad(f"{f.name} is {value}, not a finite number", f"give {_flag(f.name)} a number", f.name)
    for key, low in _AT_LEAST.items():
        value = getattr(c, key)
        if value is not None and value < low:
            why = f" ({_WHY[key]})" if key in _WHY else ""
            raise bad(f"{key} is {value:g}; it must be at least {low}{why}", f"give {_flag(key)} {low} or more", key)
    for key, high in _AT_MOST.items():
        value = getattr(c, key)
        if value is not None and value > high:
            raise bad(f"{key} is {value:g}; it must be at most {high:g}", f"give {_flag(key)} {high:g} or less", key)
    _check_choices(c)
    _check_ranges(c)
    try:
        c.encoder_config()
    except ValueError as exc:
        raise bad(f"model settings do not fit together ({exc})", "check size/dim/heads/n_mels/patch_size",
                  "size", "dim", "depth", "heads", "n_mels", "patch_size") from None


def _check_choices(c: Any) -> None:
    if c.size not in SIZES:
        raise bad(f"unknown model size {c.size!r}", f"choose one of {', '.join(SIZES)}", "size")
    if c.pe not in PE_PRESETS:
        raise bad(f"unknown positional scheme {c.pe!r}", f"choose one of {', '.join(PE_PRESETS)}", "pe")
    if c.kmeans_mode not in ("ema", "batch"):
        raise bad(f"unknown kmeans_mode {c.kmeans_mode!r}", "use ema or batch", "kmeans_mode")
    if c.jamendo_split not in ("train", "validation", "test", "all"):
        raise bad(f"unknown jamendo_split {c.jamendo_split!r}", "use train, validation, test or all", "jamendo_split")
    if not _DEVICE.match(c.device):
        raise bad(f"unknown device {c.device!r}", "use auto, cpu, mps, cuda or cuda:N", "device")


def _check_ranges(c: Any) -> None:
    if c.lr <= 0:
        raise bad(f"lr {c.lr} must be positive", "use e.g. --lr 5e-4", "lr")
    for key, closed in (("min_lr_ratio", True), ("kmeans_momentum", False), ("beta1", False), ("beta2", False)):
        value = getattr(c, key)
        if not (0 <= value <= 1 if closed else 0 <= value < 1):
            raise bad(f"{key} is {value:g}; it must be in [0, 1{']' if closed else ')'}",
                      "see `myna train --help` for the defaults", key)
    if c.hull_eps <= 0:
        raise bad(f"hull_eps {c.hull_eps:g} must be positive", "use e.g. --hull-eps 1e-3", "hull_eps")
    if not 0.0 <= c.mask_ratio < 1.0:
        raise bad(f"mask_ratio {c.mask_ratio} is outside [0, 1)", "use e.g. --mask-ratio 0.9", "mask_ratio")
    if c.temperature <= 0:
        raise bad(f"temperature {c.temperature} must be positive", "use e.g. --temperature 0.1", "temperature")
    if (c.chunk_min_seconds is None) != (c.chunk_max_seconds is None):
        raise bad("variable-length chunks need both bounds", "pass --chunk-min-seconds and --chunk-max-seconds",
                  "chunk_min_seconds", "chunk_max_seconds")
    if c.chunk_min_seconds is not None and not 0 < c.chunk_min_seconds <= c.chunk_max_seconds:
        raise bad("chunk_min_seconds must be > 0 and <= chunk_max_seconds",
                  "e.g. --chunk-min-seconds 1 --chunk-max-seconds 10", "chunk_min_seconds", "chunk_max_seconds")
    if c.chunk_seconds <= 0:
        raise bad("chunk length must be positive", "use e.g. --chunk-seconds 3", "chunk_seconds")
    if c.chunk_frames is not None and c.chunk_frames * c.hop_length > MAX_CHUNK_SECONDS * c.sample_rate:
        raise bad(f"chunk_frames {c.chunk_frames} is longer than {MAX_CHUNK_SECONDS:g} s",
                  "give fewer --chunk-frames", "chunk_frames")
    if not 0.0 <= c.album_positives <= 1.0:
        raise bad(f"album_positives {c.album_positives:g} is not a probability", "use a value from 0 to 1, e.g. 0.5",
                  "album_positives")
    if not 0.0 <= c.whole_track_p <= 1.0:
        raise bad(f"whole_track_p {c.whole_track_p:g} is not a probability", "use a value from 0 to 1, e.g. 0.25",
                  "whole_track_p")
    if c.whole_track_max_seconds <= 0:
        raise bad("whole_track_max_seconds must be positive", "use e.g. --whole-track-max-seconds 600",
                  "whole_track_max_seconds")
    if c.distill is not None:
        _check_distill(c.distill)
    if c.distill_loss not in ("cosine", "mse"):
        raise bad(f"unknown distill_loss {c.distill_loss!r}", "use cosine or mse", "distill_loss")
    if c.kmeans_weight > 0 and c.kmeans_k < 2:
        raise bad("kmeans_k must be at least 2", "use e.g. --kmeans-k 16", "kmeans_k")
    if c.kmeans_weight > 0 and c.kmeans_k > 2 * c.batch_size:  # k-means runs on the 2 views of a batch
        raise bad(f"kmeans_k {c.kmeans_k} is more clusters than the {2 * c.batch_size} embeddings of a batch",
                  f"use --kmeans-k {2 * c.batch_size} or less, or a larger --batch-size", "kmeans_k", "batch_size")
    if c.augment_pitch_bins >= c.n_mels // 4:
        raise bad("augment_pitch_bins must be under a quarter of n_mels", "use e.g. --augment-pitch-bins 2",
                  "augment_pitch_bins")


def _check_distill(spec: str) -> None:
    """`spec` is TEACHER[:LAYER][=WEIGHT], comma-separated, each teacher once."""
    from myna_rpe.teacher.musicnn import LAYERS, TEACHERS
    from myna_rpe.teacher.targets import CHROMA

    seen = set()
    for part in spec.split(","):
        name, has_weight, weight = part.strip().partition("=")
        teacher, _, layer = name.strip().partition(":")
        known = layer in ("", CHROMA) if teacher == CHROMA else teacher in TEACHERS and (not layer or layer in LAYERS)
        if not known:
            raise bad(f"unknown distillation teacher {part.strip()!r}",
                      f"use {' or '.join(TEACHERS)}, optionally with :LAYER ({', '.join(LAYERS)}), or {CHROMA}; "
                      "several comma-separated", "distill")
        if teacher in seen:
            raise bad(f"distillation teacher {teacher} is given twice in {spec!r}", "name each teacher once",
                      "distill")
        seen.add(teacher)
        if has_weight:
            try:
                w = float(weight)
            except ValueError:
                w = math.nan
            if not (math.isfinite(w) and w >= 0):
                raise bad(f"distillation weight {weight!r} of {teacher} is not a number of 0 or more",
                          f"write e.g. {teacher}=0.3", "distill")
