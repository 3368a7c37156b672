"""Configs for the frontend and the encoder, stored together in every checkpoint.

Dataclasses, so a config is a plain value: `asdict` to JSON, `from_dict` back.
Unknown keys in a stored config are an error (a checkpoint from another version
should fail loudly, not half-load).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any


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
    def from_dict(cls, d: dict[str, Any]) -> "EncoderConfig":
        model = dict(d["model"])
        model["pe"] = _strict(PositionalConfig, model.get("pe", {}))
        return cls(
            frontend=_strict(FrontendConfig, d["frontend"]),
            model=_strict(ModelConfig, model, nested=("pe",)),
        )


def _strict(cls: type, d: dict[str, Any], nested: tuple[str, ...] = ()) -> Any:
    if isinstance(d, cls):
        return d
    known = {f.name for f in fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {', '.join(sorted(unknown))}")
    return cls(**d)


__all__ = [
    "FrontendConfig",
    "PositionalConfig",
    "ModelConfig",
    "EncoderConfig",
    "PE_PRESETS",
    "SIZES",
    "replace",
]
