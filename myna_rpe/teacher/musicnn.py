"""MusiCNN (Pons & Serra, 2019) in PyTorch: the tagger AudioMuse-AI runs, as a teacher and a peer.

The architecture and frontend follow the `musicnn` package (ISC licence, Music Technology
Group, UPF; see teacher/weights/LICENSE.musicnn). Weights are converted from the wheel's TF1
checkpoints by `scripts/convert_musicnn.py` and shipped as safetensors beside this file.

Frontend (the original's `batch_data`): 16 kHz mono, centred STFT n_fft 512 / hop 256 with zero
padding (librosa >= 0.10), power, 96 Slaney mel bands, rounded to float16, then
`log10(10000 * mel + 1)`; non-overlapping patches of 187 frames (~3 s), the tail dropped.

Network per patch (time T=187 x mel F=96), conv -> ReLU -> batch norm throughout:
- front end: 2 timbral convs (7x38, 7x67 over a time-padded input; 204 filters each) and 3
  temporal convs (128x1, 64x1, 32x1, 'same'; 51 filters each), each max-pooled over frequency
  -> 561 channels per frame;
- mid end: three 7-frame convs of 64 filters, the last two residual -> 561 + 3x64 = 753
  channels per frame;
- back end: max and mean over time (753 each: `max_pool`, `mean_pool`), interleaved per
  channel as TF's flatten orders them, batch norm, dense 200 + ReLU + batch norm
  (`penultimate`), dense 50 + sigmoid (`taggram`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from myna_rpe.config import FrontendConfig
from myna_rpe.errors import CheckpointError
from myna_rpe.frontend import mel_filterbank

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # librosa.time_to_frames(3 s) + 1, as the original computes it
PATCH_SECONDS = PATCH_FRAMES * HOP / SAMPLE_RATE
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization's default

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
TEACHERS = {"musicnn-msd": "msd_musicnn.safetensors", "musicnn-mtt": "mtt_musicnn.safetensors"}
LAYERS = ("max_pool", "mean_pool", "penultimate", "taggram")
LAYER_DIMS = {"max_pool": 753, "mean_pool": 753, "penultimate": 200, "taggram": 50}

MSD_TAGS = ("rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
            "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock",
            "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental",
            "punk", "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental",
            "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy",
            "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop",
            "sad", "House", "happy")


def _frontend_cfg() -> FrontendConfig:
    return FrontendConfig(sample_rate=SAMPLE_RATE, n_mels=N_MELS, n_fft=N_FFT, hop_length=HOP)


@functools.lru_cache(maxsize=1)
def _filterbank() -> torch.Tensor:
    return mel_filterbank(_frontend_cfg(), dtype=torch.float32)


def musicnn_mel(wave: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(S,) 16-kHz mono wave -> (T, 96) MusiCNN input, T = 1 + S // 256."""
    x = torch.as_tensor(np.asarray(wave, dtype=np.float32))
    x = F.pad(x[None, None], (N_FFT // 2, N_FFT // 2)).reshape(-1)
    window = torch.hann_window(N_FFT, periodic=True)
    spec = torch.stft(x, N_FFT, HOP, window=window, center=False, return_complex=True)
    power = spec.real.square() + spec.imag.square()
    mel = (_filterbank() @ power).T
    # The original stores the mel in float16 before the log (numpy 1.x then multiplies in float32).
    mel = mel.to(torch.float16).to(torch.float32)
    return torch.log10(10000.0 * mel + 1.0)


def patches(mel: torch.Tensor) -> torch.Tensor:
    """(T, 96) -> (P, 187, 96) non-overlapping 3-s patches, the tail dropped (P may be 0)."""
    n = mel.shape[0] // PATCH_FRAMES
    return mel[: n * PATCH_FRAMES].reshape(n, PATCH_FRAMES, N_MELS)


class _ConvReluBN(nn.Module):
    """TF's conv2d(activation=relu) followed by batch_normalization, in NCHW (H = time)."""

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int]):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


def _same_time_pad(kernel: int) -> tuple[int, int, int, int]:
    total = kernel - 1  # TF 'same': the extra row goes after
    return (0, 0, total // 2, total - total // 2)


@dataclass(frozen=True)
class MusicnnOutputs:
    """Per-patch outputs, each (P, dim)."""

    taggram: torch.Tensor
    penultimate: torch.Tensor
    mean_pool: torch.Tensor
    max_pool: torch.Tensor

    def layer(self, name: str) -> torch.Tensor:
        return getattr(self, name)


class Musicnn(nn.Module):
    """patches (P, 187, 96) -> MusicnnOutputs. Inference only (batch norm uses moving stats)."""

    def __init__(self, num_classes: int = 50, midend_filters: int = 64, backend_units: int = 200):
        super().__init__()
        timbral, temporal = int(1.6 * 128), int(1.6 * 32)
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        self.timbral = nn.ModuleList(
            [_ConvReluBN(1, timbral, (7, int(0.4 * N_MELS))), _ConvReluBN(1, timbral, (7, int(0.7 * N_MELS)))]
        )
        self.temporal_kernels = (128, 64, 32)
        self.temporal = nn.ModuleList([_ConvReluBN(1, temporal, (k, 1)) for k in self.temporal_kernels])
        front = 2 * timbral + 3 * temporal
        self.mid = nn.ModuleList(
            [_ConvReluBN(1, midend_filters, (7, front))]
            + [_ConvReluBN(1, midend_filters, (7, midend_filters)) for _ in range(2)]
        )
        pooled = front + 3 * midend_filters
        self.pool_bn = nn.BatchNorm1d(2 * pooled, eps=BN_EPS)
        self.dense = nn.Linear(2 * pooled, backend_units)
        self.dense_bn = nn.BatchNorm1d(backend_units, eps=BN_EPS)
        self.logits = nn.Linear(backend_units, num_classes)

    def forward(self, x: torch.Tensor) -> MusicnnOutputs:
        x = self.input_bn(x[:, None])  # (P, 1, T, F)
        padded = F.pad(x, (0, 0, 3, 3))
        fronts = [block(padded).amax(dim=3) for block in self.timbral]  # (P, C, T) each
        for k, block in zip(self.temporal_kernels, self.temporal):
            fronts.append(block(F.pad(x, _same_time_pad(k))).amax(dim=3))
        front = torch.cat(fronts, dim=1)  # (P, 561, T)
        feats, h = [front], front
        for i, block in enumerate(self.mid):
            # Each mid-end conv sees (time, channel) as a one-channel image (TF's expand/transpose).
            y = block(F.pad(h.transpose(1, 2)[:, None], (0, 0, 3, 3))).squeeze(3)  # (P, 64, T)
            h = y if i == 0 else y + h
            feats.append(h)
        mid = torch.cat(feats, dim=1)  # (P, 753, T)
        max_pool, mean_pool = mid.amax(dim=2), mid.mean(dim=2)
        flat = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # TF's flatten interleaves them
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(flat))))
        taggram = torch.sigmoid(self.logits(penultimate))
        return MusicnnOutputs(taggram=taggram, penultimate=penultimate, mean_pool=mean_pool, max_pool=max_pool)


def load_teacher(name: str = "musicnn-msd") -> Musicnn:
    """The converted teacher `name` (musicnn-msd or musicnn-mtt), in eval mode."""
    from safetensors.torch import load_file

    if name not in TEACHERS:
        raise CheckpointError(f"unknown teacher {name!r}", fix=f"use one of: {', '.join(TEACHERS)}")
    path = WEIGHTS_DIR / TEACHERS[name]
    if not path.is_file():
        raise CheckpointError("teacher weights missing", path,
                              "reinstall myna-rpe, or rebuild them with scripts/convert_musicnn.py")
    model = Musicnn()
    model.load_state_dict(load_file(str(path)))
    return model.eval()


@torch.no_grad()
def teacher_outputs(model: Musicnn, wave: np.ndarray, batch: int = 64, stride: int = 1) -> MusicnnOutputs:
    """Per-patch outputs of a whole 16-kHz wave (P may be 0 for a wave under 3 s); with
    `stride` > 1 only patches 0, stride, 2·stride, ..."""
    p = patches(musicnn_mel(wave))[::stride]
    if p.shape[0] == 0:
        empty = {k: torch.zeros(0, LAYER_DIMS[k]) for k in LAYERS}
        return MusicnnOutputs(**empty)
    parts = [model(p[i : i + batch]) for i in range(0, p.shape[0], batch)]
    return MusicnnOutputs(**{k: torch.cat([o.layer(k) for o in parts]) for k in LAYERS})
