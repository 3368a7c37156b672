"""The HEAR 2021 common API, so hear-eval-kit (and wrappers built on it) can run this encoder.

    from myna_rpe import hear
    model = hear.load_model()                          # or load_model("runs/x/checkpoint" | "owner/repo")
    scene = hear.get_scene_embeddings(audio, model)    # audio (n_sounds, n_samples) float32 in [-1, 1]
    emb, ts = hear.get_timestamp_embeddings(audio, model)

Scene embedding: the clip in one forward pass, exactly what `Embedder.embed_waveform`
gives (the CLS vector, under the token budget: a clip longer than the budget is read from
that many patches spread over all of it).

Timestamp embedding: the encoder's time resolution is one patch column (16 frames ×
512 samples at 16 kHz = 512 ms), so a timestamp embedding is a column: the whole clip
goes through one dense pass in which the last layer updates every token, not only CLS,
and the tokens of each time column (its 8 frequency rows) are averaged. Column c covers
frames 16c … 16c+15 and is stamped at its centre, (16c + 7.5) · hop / sample_rate
(240 ms, 752 ms, … at the defaults): hop 512 ms. Why this and not a sliding window of
CLS vectors: every timestamp then sees the whole clip through attention (the point of
relative positions), costs one pass for the clip instead of one per window, and claims
no resolution finer than the patches the model reads. HEAR suggests a hop ≤ 50 ms for
transcription; this encoder cannot honestly offer that. Columns whose centre lies past
the end of the clip are dropped (their frames are mostly padding); a clip shorter than
half a column still gets its one column, stamped at the clip's middle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from myna_rpe.budget import TokenBudget
from myna_rpe.embed import Embedder


class HearModel(nn.Module):
    """The loaded encoder with the attributes the HEAR API asks for. A torch Module, so
    `model.to("cuda")` moves it (the evaluation kit does that)."""

    def __init__(self, embedder: Embedder) -> None:
        super().__init__()
        self.encoder = embedder.model
        self.frontend = embedder.frontend
        self._embedder = embedder  # shares the two modules above; follows them across devices
        self.sample_rate: int = embedder.sample_rate
        self.scene_embedding_size: int = embedder.dim
        self.timestamp_embedding_size: int = embedder.dim

    @property
    def column_frames(self) -> int:
        return self.encoder.cfg.patch_size

    @property
    def timestamp_hop_ms(self) -> float:
        """Milliseconds between timestamp embeddings (one patch column)."""
        return 1000.0 * self.column_frames * self._embedder.config.frontend.hop_length / self.sample_rate

    def embedder(self) -> Embedder:
        self._embedder.device = self.encoder.cls_token.device
        return self._embedder


def load_model(model_file_path: str = "", budget: TokenBudget = TokenBudget()) -> HearModel:
    """A checkpoint folder, a hub repo id ("owner/name"), or "" for the bundled model."""
    return HearModel(Embedder.load(Path(model_file_path) if model_file_path else None, budget=budget))


def _audio(audio: torch.Tensor | np.ndarray, model: HearModel) -> torch.Tensor:
    audio = torch.as_tensor(audio)
    if audio.dim() != 2 or audio.shape[1] == 0:
        raise ValueError(f"audio must be (n_sounds, n_samples) with n_samples > 0, got {tuple(audio.shape)}")
    return audio.to(device=model.encoder.cls_token.device, dtype=torch.float32)


@torch.inference_mode()
def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """(n_sounds, scene_embedding_size) float32: each clip whole, in one pass, under the budget."""
    audio = _audio(audio, model)
    embedder = model.embedder()
    mels = model.frontend(audio)
    return torch.from_numpy(embedder.embed_mels(list(mels))).to(audio.device)


@torch.inference_mode()
def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """(embeddings (n_sounds, n_timestamps, D) float32, timestamps (n_sounds, n_timestamps) in ms)."""
    audio = _audio(audio, model)
    encoder = model.encoder
    patches, coords = encoder.patchify(model.frontend(audio), None)
    tokens = encoder.encode_tokens(patches, coords)[:, 1:]  # CLS dropped; time-major order
    rows = encoder.cfg.freq_patches
    columns = tokens.reshape(tokens.shape[0], -1, rows, tokens.shape[-1]).mean(2)
    hop = model.timestamp_hop_ms
    duration_ms = 1000.0 * audio.shape[1] / model.sample_rate
    centres = (torch.arange(columns.shape[1], dtype=torch.float64) + 7.5 / model.column_frames) * hop
    keep = max(1, int((centres <= duration_ms).sum()))
    stamps = centres[:keep] if keep > 1 or centres[0] <= duration_ms else torch.tensor([duration_ms / 2])
    stamps = stamps.to(torch.float32).expand(audio.shape[0], -1).to(audio.device)
    return columns[:, :keep].float().contiguous(), stamps.contiguous()


__all__ = ["HearModel", "load_model", "get_scene_embeddings", "get_timestamp_embeddings"]
