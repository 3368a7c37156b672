"""TrainConfig: every data, model, frontend, objective and optimiser setting of a run.

One flat dataclass, so every field is also a `myna train --flag` and a key of a TOML
or YAML file. Files may group keys under tables ([model], [optim], ...): the tables are
only for the reader and are flattened; each key still names one field. Precedence:
defaults < the run's saved config (on --resume) < the --config file < flags.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from myna_rpe.config import PE_PRESETS, SIZES, EncoderConfig, FrontendConfig, ModelConfig
from myna_rpe.errors import MynaError, SettingError
from myna_rpe.training.config_checks import check


def _f(default: Any, help: str, group: str) -> Any:
    return field(default=default, metadata={"help": help, "group": group})


@dataclass(frozen=True)
class TrainConfig:
    # -- data ------------------------------------------------------------------------
    data: str = _f("", "a folder of audio (searched recursively), jamendo:DIR for MTG-Jamendo, or hdf5:FILE for a "
                   "DL-101 .hdf5 audio file", "data")
    out: str = _f("runs/myna", "run folder: checkpoint/, metrics.csv, train_config.json", "data")
    cache_dir: str | None = _f(None, "log-mel cache folder (default: $XDG_CACHE_HOME/myna-rpe/mels)", "data")
    jamendo_split: str = _f("train", "MTG-Jamendo split: train, validation, test or all", "data")
    jamendo_split_index: int = _f(0, "MTG-Jamendo split number (data/splits/split-N)", "data")
    min_track_seconds: float = _f(1.0, "tracks shorter than this are skipped", "data")
    # -- pairs -----------------------------------------------------------------------
    batch_size: int = _f(32, "tracks (positive pairs) per step on each process", "pairs")
    chunk_seconds: float = _f(3.0, "chunk length in seconds", "pairs")
    chunk_frames: int | None = _f(None, "chunk length in mel frames (overrides chunk_seconds)", "pairs")
    chunk_min_seconds: float | None = _f(None, "variable length: shortest chunk (with chunk_max_seconds)", "pairs")
    chunk_max_seconds: float | None = _f(None, "variable length: longest chunk (with chunk_min_seconds)", "pairs")
    whole_track_p: float = _f(0.0, "chance that a step's views are whole tracks, as inference embeds them (0 = never)",
                              "pairs")
    whole_track_tokens: int = _f(512, "patches a whole-track view keeps (its patchout; at least --mask-ratio's)", "pairs")
    whole_track_max_seconds: float = _f(600.0, "whole-track views of longer tracks: a random stretch this long", "pairs")
    # -- model -----------------------------------------------------------------------
    size: str = _f("mini", f"model size: {', '.join(SIZES)}", "model")
    pe: str = _f("alibi2d", f"positional scheme: {', '.join(PE_PRESETS)}", "model")
    dim: int | None = _f(None, "embedding width (overrides the size preset)", "model")
    depth: int | None = _f(None, "transformer blocks (overrides the size preset)", "model")
    heads: int | None = _f(None, "attention heads (overrides the size preset)", "model")
    mlp_ratio: float = _f(4.0, "MLP hidden width / dim", "model")
    patch_size: int = _f(16, "square patch side in mel bins and frames", "model")
    proj_dim: int = _f(128, "projection head width for the contrastive loss", "model")
    attn_block_size: int = _f(512, "query block size of attention (memory linear in length)", "model")
    alibi_time_weight: float | None = _f(None, "ALiBi weight of time distance (default: the preset's, 1.0)", "model")
    alibi_freq_weight: float | None = _f(None, "ALiBi weight of frequency distance (default: the preset's, 1.0)", "model")
    alibi_learnable_slopes: bool | None = _f(None, "learn the ALiBi slopes (default: the preset's, fixed)", "model")
    rope_base: float | None = _f(None, "RoPE base (default: the preset's, 10000)", "model")
    max_time_patches: int | None = _f(None, "learned absolute table length in time patches (default: 64)", "model")
    # -- frontend --------------------------------------------------------------------
    sample_rate: int = _f(16000, "audio sample rate (Hz)", "frontend")
    n_mels: int = _f(128, "mel bins", "frontend")
    n_fft: int = _f(2048, "FFT size", "frontend")
    hop_length: int = _f(512, "hop between frames (samples)", "frontend")
    f_min: float = _f(0.0, "lowest mel frequency (Hz)", "frontend")
    f_max: float | None = _f(None, "highest mel frequency (Hz; default sample_rate/2)", "frontend")
    top_db: float | None = _f(80.0, "dynamic range clip of the log-mel (dB)", "frontend")
    db_mean: float = _f(-30.0, "log-mel standardisation: subtract this (dB)", "frontend")
    db_std: float = _f(20.0, "log-mel standardisation: divide by this (dB)", "frontend")
    # -- objective -------------------------------------------------------------------
    mask_ratio: float = _f(0.9, "patchout: fraction of patches dropped per view", "objective")
    temperature: float = _f(0.1, "NT-Xent temperature", "objective")
    kmeans_weight: float = _f(0.0, "weight of the K-Means loss (0 = off)", "objective")
    kmeans_k: int = _f(16, "K-Means clusters", "objective")
    kmeans_mode: str = _f("ema", "K-Means centroids: ema (moving state) or batch", "objective")
    kmeans_momentum: float = _f(0.99, "EMA momentum of the K-Means centroids", "objective")
    hull_weight: float = _f(0.0, "weight of the convex-hull (spread) loss (0 = off)", "objective")
    hull_eps: float = _f(1e-3, "ridge ε inside the hull loss's log-det", "objective")
    album_positives: float = _f(0.0, "chance that a pair's second view comes from another track of the same folder "
                                "(album); same-folder tracks are then never negatives (0 = same track only)", "objective")
    # -- distillation (myna_rpe.teacher) -----------------------------------------------
    distill: str | None = _f(None, "also learn a teacher's outputs: musicnn-msd or musicnn-mtt, optionally :LAYER "
                             "(max_pool, mean_pool, penultimate or taggram; default max_pool), or chroma (each "
                             "view's pitch-class profile, to keep key); several teachers comma-separated, each "
                             "optionally =WEIGHT (e.g. musicnn-msd=0.3,chroma=1); off by default", "distillation")
    distill_weight: float = _f(1.0, "weight of each distillation loss beside the contrastive one (a teacher's own "
                               "=WEIGHT wins)", "distillation")
    distill_loss: str = _f("cosine", "distillation loss on standardised targets: cosine or mse", "distillation")
    distill_patch_stride: int = _f(1, "run the teacher on every Nth 3-s patch only (its cost / N; targets average "
                                   "the patches computed)", "distillation")
    # -- augmentation (per view, on the log-mel; myna_rpe.training.augment) -----------
    augment_gain_db: float = _f(0.0, "random level change up to ± this many dB (0 = off)", "augmentation")
    augment_eq_db: float = _f(0.0, "random tilt and bell EQ up to ± this many dB (0 = off)", "augmentation")
    augment_noise_snr_db: float | None = _f(None, "add a noise floor this many dB (up to +20) below the view's peak (default off)", "augmentation")
    augment_pitch_bins: int = _f(0, "shift the mel axis by up to ± this many bins (0 = off)", "augmentation")
    # -- optimiser -------------------------------------------------------------------
    steps: int = _f(10000, "optimiser steps in total", "optim")
    lr: float = _f(5e-4, "peak learning rate", "optim")
    min_lr_ratio: float = _f(0.1, "final learning rate / peak after the cosine decay", "optim")
    warmup_steps: int = _f(500, "linear warm-up steps", "optim")
    weight_decay: float = _f(0.05, "AdamW weight decay (matrices only, not norms/biases/tokens)", "optim")
    beta1: float = _f(0.9, "AdamW β1", "optim")
    beta2: float = _f(0.95, "AdamW β2", "optim")
    grad_clip: float = _f(1.0, "clip the global gradient norm to this (0 = off)", "optim")
    # -- run -------------------------------------------------------------------------
    seed: int = _f(0, "seed of data order, chunks, masks and initial weights", "run")
    device: str = _f("auto", "auto, cpu, cuda, cuda:N or mps", "run")
    amp: bool = _f(True, "bf16 autocast on CUDA (never on CPU)", "run")
    checkpoint_every: int = _f(500, "save a checkpoint every N steps", "run")
    keep_checkpoints: int = _f(2, "step folders kept beside the current one", "run")
    log_every: int = _f(10, "write metrics every N steps", "run")

    def __post_init__(self) -> None:
        check(self)

    # -- derived configs -------------------------------------------------------------
    def frontend_config(self) -> FrontendConfig:
        return FrontendConfig(
            sample_rate=self.sample_rate, n_mels=self.n_mels, n_fft=self.n_fft, hop_length=self.hop_length,
            f_min=self.f_min, f_max=self.f_max, top_db=self.top_db, db_mean=self.db_mean, db_std=self.db_std,
        )

    def model_config(self) -> ModelConfig:
        dim, depth, heads = SIZES[self.size]
        cfg = ModelConfig.from_preset(
            self.size, self.pe, mlp_ratio=self.mlp_ratio, patch_size=self.patch_size, n_mels=self.n_mels,
            proj_dim=self.proj_dim, attn_block_size=self.attn_block_size,
        )
        pe_overrides = {
            k: getattr(self, k)
            for k in ("alibi_time_weight", "alibi_freq_weight", "alibi_learnable_slopes", "rope_base", "max_time_patches")
            if getattr(self, k) is not None
        }
        return replace(
            cfg, dim=self.dim or dim, depth=self.depth or depth, heads=self.heads or heads,
            pe=replace(cfg.pe, **pe_overrides),
        )

    def distill_specs(self) -> list[tuple[str, str, float]]:
        """(teacher, layer, weight) of each teacher, in the order given; empty when not distilling.
        `distill` is checked before this is called (config_checks)."""
        if self.distill is None:
            return []
        from myna_rpe.teacher.targets import default_layer

        specs = []
        for part in self.distill.split(","):
            name, _, weight = part.strip().partition("=")
            teacher, _, layer = name.strip().partition(":")
            specs.append((teacher, layer or default_layer(teacher), float(weight) if weight else self.distill_weight))
        return specs

    def encoder_config(self) -> EncoderConfig:
        return EncoderConfig(frontend=self.frontend_config(), model=self.model_config())

    def with_absolute_paths(self, base: Path | None = None) -> "TrainConfig":
        """data, out and cache_dir made absolute (relative ones from `base`, default the current
        folder), so that the run's saved config means the same files from any folder."""
        base = base or Path.cwd()
        return replace(self, **{k: absolute_path(getattr(self, k), base) for k in PATH_KEYS if getattr(self, k)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # -- loading ---------------------------------------------------------------------
    @classmethod
    def from_sources(cls, *layers: dict[str, Any], source: str | Path | None = None) -> "TrainConfig":
        """Defaults updated by each layer in turn (later wins); None values are skipped."""
        merged: dict[str, Any] = {}
        for layer in layers:
            merged.update({k: v for k, v in layer.items() if v is not None})
        try:
            return cls(**_coerce(merged, source))
        except SettingError as exc:
            if source is None:
                raise
            raise SettingError(exc.message, source, exc.fix, exc.keys) from None


# Keys that decide the shape of the weights or the meaning of the cached mels: a resumed
# run must keep them.
IDENTITY_KEYS = (
    "size", "pe", "dim", "depth", "heads", "mlp_ratio", "patch_size", "proj_dim",
    "alibi_time_weight", "alibi_freq_weight", "alibi_learnable_slopes", "rope_base", "max_time_patches",
    "sample_rate", "n_mels", "n_fft", "hop_length", "f_min", "f_max", "top_db", "db_mean", "db_std",
)


# Settings that name files; a run saves them absolute.
PATH_KEYS = ("data", "out", "cache_dir")
_DATA_KINDS = ("jamendo:", "hdf5:")  # --data prefixes (training/sources.py, training/hdf5_data.py)


def split_path(value: str) -> tuple[str, Path]:
    """A path setting as (its `jamendo:`/`hdf5:` prefix or "", the path with `~` expanded)."""
    kind = next((k for k in _DATA_KINDS if value.startswith(k)), "")
    return kind, Path(value.removeprefix(kind)).expanduser()


def absolute_path(value: str, base: Path) -> str:
    """A path setting made absolute, a relative one taken from `base`; the prefix kept."""
    kind, path = split_path(value)
    return kind + os.path.abspath(base / path)


def started_in(saved_out: str, run_dir: Path) -> Path | None:
    """The folder a run was started from, when its config saved a relative `out` (myna before
    absolute paths): `run_dir` less that relative path; None when they do not fit."""
    rel = Path(os.path.normpath(saved_out)).parts  # "." has no parts: the run folder itself
    if not rel or rel[0] == "/" or rel[0].startswith("~") or ".." in rel:
        return None if rel else Path(os.path.abspath(run_dir))
    here = Path(os.path.abspath(run_dir)).parts
    return Path(*here[:-len(rel)]) if here[-len(rel):] == rel else None


def _coerce(values: dict[str, Any], source: str | Path | None) -> dict[str, Any]:
    """Check names and types of config values; ints are accepted where floats are expected."""
    hints = get_type_hints(TrainConfig)
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise MynaError(
            f"unknown training setting(s): {', '.join(unknown)}", source, "see `myna train --help` for the names"
        )
    out = {}
    for key, value in values.items():
        allowed = get_args(hints[key]) if get_origin(hints[key]) is not None else (hints[key],)
        if value is None and type(None) in allowed:
            out[key] = None
            continue
        allowed = tuple(t for t in allowed if t is not type(None))
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            names = " or ".join(t.__name__ for t in allowed)
            raise MynaError(f"setting {key} must be {names}, not {value!r}", source, "fix the value's type")
        out[key] = value
    return out


def _flatten(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        items = value.items() if isinstance(value, dict) else [(key, value)]
        for k, v in items:
            k = k.replace("-", "_")
            if isinstance(v, dict):
                raise MynaError(f"tables nest one level at most ({key}.{k})", path, "flatten the config file")
            if k in flat:
                raise MynaError(f"setting {k} appears twice", path, "keep one")
            flat[k] = v
    return flat


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (.toml) or YAML (.yaml/.yml) training config into flat settings."""
    path = Path(path)
    if not path.is_file():
        raise MynaError("config file not found", path, "pass an existing .toml or .yaml file to --config")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise MynaError(f"invalid TOML ({exc})", path, "fix the syntax") from None
    elif path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise MynaError(f"invalid YAML ({exc})", path, "fix the syntax") from None
    else:
        raise MynaError("unknown config format", path, "use a .toml, .yaml or .yml file")
    if not isinstance(doc, dict):
        raise MynaError("config file must hold key = value settings", path, "see docs/training.md")
    flat = _flatten(doc, path)
    _coerce(flat, path)  # report unknown names and wrong types against this file
    return flat


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "myna-rpe" / "mels"


def save_run_config(cfg: TrainConfig, path: Path) -> None:
    from myna_rpe.checkpoint import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(cfg.to_dict(), indent=2) + "\n").encode())


def load_run_config(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else exc  # no "[Errno 13] ...: 'path'" repeating the path
        raise MynaError(f"unreadable run config ({reason})", path, "start a new run with another --out") from None
    return _coerce(doc, path)
