"""Configs for the frontend and the encoder, stored together in every checkpoint.

Dataclasses, so a config is a plain value: `asdict` to JSON, `from_dict` back.
A stored config is checked whole by `from_dict`: unknown or missing keys, values of
the wrong type and values out of range are a ValueError naming the key (a checkpoint
from another version, or an edited config.json, should fail loudly, not half-load).
Ranges are checked in `__post_init__`, so configs built in code get the same checks.
"""

from __future__ import annotations

import math
import types
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Union, get_args, get_origin, get_type_hints


def _positive(cfg: Any, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, not {value!r}")


def _finite(cfg: Any, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number, not {value!r}")


@dataclass(frozen=True)
class FrontendConfig:
    """Waveform -> log-mel. Defaults follow Myna: 16 kHz, 128 mels, n_fft 2048, hop 512."""

    sample_rate: int = 16000
    n_mels: int = 128
    n_fft: int = 2048
    hop_length: int = 512
    f_min: float = 0.0
    f_max: float | None = None  # None = sample_rate / 2
    top_db: float | None = 80.0  # clip the dB range per input, like librosa.power_to_db
    # Fixed standardisation of the dB values so the encoder sees ~zero-mean, unit-scale input.
    db_mean: float = -30.0
    db_std: float = 20.0

    def __post_init__(self) -> None:
        _positive(self, "sample_rate", "n_mels", "n_fft", "hop_length", "db_std")
        _finite(self, "f_min", "f_max", "top_db", "db_mean")
        if self.f_min < 0:
            raise ValueError(f"f_min {self.f_min} is negative")
        if self.f_max is not None and not self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(f"f_max {self.f_max} is not between f_min {self.f_min} and half the sample rate")
        if self.top_db is not None and self.top_db <= 0:
            raise ValueError(f"top_db {self.top_db} must be positive (or null)")

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length


@dataclass(frozen=True)
class PositionalConfig:
    """Every positional scheme is an independent switch; presets (PE_PRESETS) combine them.

    Relative schemes (ALiBi, RoPE) use each token's original (frequency row, time column)
    on the patch grid, kept through patchout. The CLS token gets no bias and no rotation.
    """

    alibi2d: bool = False  # bias -m_h * (w_t |dt| + w_f |df|)
    alibi1d: bool = False  # bias -m_h * |dt|
    alibi_time_weight: float = 1.0
    alibi_freq_weight: float = 1.0
    alibi_learnable_slopes: bool = False
    freq_embed: bool = False  # learned embedding per frequency row (added to patch tokens)
    rope: str = "none"  # "none" | "1d" (time) | "2d" (axial: half the head dim time, half frequency)
    rope_base: float = 10000.0
    absolute: str = "none"  # "none" | "sincos" (2D sinusoidal) | "learned" (2D table)
    # Learned absolute table size in time patches; longer inputs reuse the last column
    # (clamped), so positions past this are indistinguishable. sincos extrapolates by formula.
    max_time_patches: int = 64

    def __post_init__(self) -> None:
        _positive(self, "rope_base", "max_time_patches")
        _finite(self, "alibi_time_weight", "alibi_freq_weight")
        if self.rope not in ("none", "1d", "2d"):
            raise ValueError(f"rope must be none, 1d or 2d, not {self.rope!r}")
        if self.absolute not in ("none", "sincos", "learned"):
            raise ValueError(f"absolute must be none, sincos or learned, not {self.absolute!r}")

    @property
    def has_alibi(self) -> bool:
        return self.alibi2d or self.alibi1d

    @property
    def is_relative_only(self) -> bool:
        return self.absolute == "none"


PE_PRESETS: dict[str, PositionalConfig] = {
    "alibi2d": PositionalConfig(alibi2d=True),
    "alibi1d": PositionalConfig(alibi1d=True, freq_embed=True),
    "rope2d": PositionalConfig(rope="2d"),
    "rope1d": PositionalConfig(rope="1d", freq_embed=True),
    "sincos": PositionalConfig(absolute="sincos"),
    "learned": PositionalConfig(absolute="learned"),
    "none": PositionalConfig(),
}

# name -> (dim, depth, heads)
SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (64, 2, 4),  # tests
    "mini": (128, 4, 4),  # default: CPU-friendly for whole libraries
    "small": (256, 6, 4),
    "vit-s": (384, 12, 6),  # ViT-S as in the Myna paper
}


@dataclass(frozen=True)
class ModelConfig:
    size: str = "mini"
    dim: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    patch_size: int = 16
    n_mels: int = 128  # must equal the frontend's n_mels; a multiple of patch_size
    proj_dim: int | None = 128  # projection head for contrastive training; None = no head
    attn_block_size: int = 512  # query block for long inputs: memory grows linearly with N
    pe: PositionalConfig = field(default_factory=lambda: PE_PRESETS["alibi2d"])

    def __post_init__(self) -> None:
        _positive(self, "dim", "depth", "heads", "mlp_ratio", "patch_size", "n_mels", "proj_dim", "attn_block_size")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")
        if self.n_mels % self.patch_size:
            raise ValueError(f"n_mels {self.n_mels} is not a multiple of patch_size {self.patch_size}")
        head_dim = self.dim // self.heads
        if self.pe.rope == "2d" and head_dim % 4:
            raise ValueError(f"2D RoPE needs a head dim divisible by 4, got {head_dim}")
        if self.pe.rope == "1d" and head_dim % 2:
            raise ValueError(f"1D RoPE needs an even head dim, got {head_dim}")

    @property
    def freq_patches(self) -> int:
        return self.n_mels // self.patch_size

    @classmethod
    def from_preset(cls, size: str = "mini", pe: str = "alibi2d", **overrides: Any) -> "ModelConfig":
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
        if pe not in PE_PRESETS:
            raise ValueError(f"unknown positional preset {pe!r}; choose from {', '.join(PE_PRESETS)}")
        dim, depth, heads = SIZES[size]
        return cls(size=size, dim=dim, depth=depth, heads=heads, pe=PE_PRESETS[pe], **overrides)


@dataclass(frozen=True)
class EncoderConfig:
    """What a checkpoint stores next to its weights: the frontend and the model."""

    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    model: ModelConfig = field(default_factory=ModelConfig)

    def __post_init__(self) -> None:
        if self.frontend.n_mels != self.model.n_mels:
            raise ValueError(
                f"frontend n_mels {self.frontend.n_mels} != model n_mels {self.model.n_mels}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> "EncoderConfig":
        """The config stored as `d` (what `to_dict` wrote); ValueError naming the first bad key."""
        _keys(d, {"frontend", "model"}, "config")
        _keys(d["model"], {f.name for f in fields(ModelConfig)}, "model")
        model = dict(d["model"], pe=_strict(PositionalConfig, d["model"]["pe"], "model.pe"))
        return cls(frontend=_strict(FrontendConfig, d["frontend"], "frontend"),
                   model=_strict(ModelConfig, model, "model"))


def _keys(d: Any, wanted: set[str], where: str) -> None:
    if not isinstance(d, dict):
        raise ValueError(f"{where} must be an object of settings, not {type(d).__name__}")
    if unknown := set(d) - wanted:
        raise ValueError(f"unknown {where} keys: {', '.join(sorted(unknown))}")
    if missing := wanted - set(d):
        raise ValueError(f"missing {where} keys: {', '.join(sorted(missing))}")


def _strict(cls: type, d: Any, where: str) -> Any:
    """cls(**d) after checking that d has exactly cls's keys, each of its declared type."""
    _keys(d, {f.name for f in fields(cls)}, where)
    hints = get_type_hints(cls)
    for name, value in d.items():
        allowed = _types(hints[name])
        if allowed is not None and not _is_a(value, allowed):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            raise ValueError(f"{where}.{name} must be {names}, not {value!r}")
    try:
        return cls(**d)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _types(hint: Any) -> tuple[type, ...] | None:
    """The plain types a field accepts (None for nested configs, checked by their own class)."""
    if get_origin(hint) in (Union, types.UnionType):
        return tuple(t for t in get_args(hint))
    return (hint,) if hint in (int, float, str, bool) else None


def _is_a(value: Any, allowed: tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # JSON true/false are not numbers
        return bool in allowed
    if isinstance(value, int) and float in allowed:
        return True
    return isinstance(value, allowed)


__all__ = [
    "FrontendConfig",
    "PositionalConfig",
    "ModelConfig",
    "EncoderConfig",
    "PE_PRESETS",
    "SIZES",
    "replace",
]
