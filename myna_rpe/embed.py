"""The researcher-facing API: load an encoder and embed files, waveforms or batches.

    from myna_rpe.embed import Embedder
    emb = Embedder.load("runs/alibi2d/checkpoint")   # or Embedder.load() for the bundled model
    v = emb.embed_file("song.flac")                   # (dim,) float32, whole track, one pass

A track longer than the token budget (myna_rpe.budget; 1024 patches ≈ 66 s by default)
is read from that many patches spread over its whole length, so every track costs about
the same; `Embedder.load(..., budget=DENSE)` gives the dense pass at any length.
Embeddings are the raw CLS vectors; L2-normalise them where cosine similarity is meant.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from myna_rpe.budget import TokenBudget, choose_patches, content_seed
from myna_rpe.checkpoint import build_model, load_checkpoint
from myna_rpe.checkpoint_config import DEFAULT_CHECKPOINT, checkpoint_path, default_checkpoint, read_config, weights_id
from myna_rpe.checkpoint_config import model_id as store_model_id
from myna_rpe.config import EncoderConfig, FrontendConfig
from myna_rpe.errors import AudioError, CheckpointError
from myna_rpe.model import MynaEncoder
from myna_rpe.positional import Coords


class Embedder:
    def __init__(self, model: MynaEncoder, cfg: EncoderConfig, model_id: str, device: str = "cpu",
                 budget: TokenBudget = TokenBudget()) -> None:
        from myna_rpe.frontend import LogMel

        self.model = model.to(device).eval()
        self.config = cfg
        self.weights_id = model_id
        self.budget = budget
        self.device = torch.device(device)
        self.frontend = LogMel(cfg.frontend).to(device)

    @property
    def model_id(self) -> str:
        """What a store records (`checkpoint_config.model_id`: weights, config and budget)."""
        return store_model_id(self.weights_id, self.budget)

    def with_budget(self, budget: TokenBudget) -> "Embedder":
        """The same model (shared, not copied) under another token budget."""
        other = copy.copy(self)
        other.budget = budget
        return other

    # -- construction ---------------------------------------------------------------

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, device: str = "cpu",
             budget: TokenBudget = TokenBudget()) -> "Embedder":
        path = checkpoint_path(checkpoint)
        model, cfg, _ = load_checkpoint(path, device)
        _, _, digest = read_config(path)
        weights = weights_id(digest, cfg) if digest else _state_hash(model, cfg)
        return cls(model, cfg, model_id=weights, device=device, budget=budget)

    @classmethod
    def from_pretrained(cls, checkpoint: str | Path, device: str = "cpu",
                        budget: TokenBudget = TokenBudget()) -> "Embedder":
        """`load` by its Hugging Face name: a checkpoint folder or a hub repo id ("owner/name[@revision]")."""
        return cls.load(checkpoint, device=device, budget=budget)

    def save_pretrained(self, directory: str | Path, meta: dict | None = None, name: str | None = None) -> Path:
        """Write config.json + model.safetensors (the format `load` reads) and a model card
        titled `name` (default: the folder's name)."""
        from myna_rpe.checkpoint import save_checkpoint
        from myna_rpe.hub import model_card

        directory = save_checkpoint(directory, self.model, self.config, meta)
        (directory / "README.md").write_text(model_card(name or directory.name, self.config.to_dict()))
        return directory

    def push_to_hub(self, repo_id: str, private: bool | None = None, token: str | None = None,
                    commit_message: str = "Upload Myna-RPE checkpoint") -> str:
        """Save this encoder (as `save_pretrained`) and upload it to the hub repo `repo_id`."""
        import tempfile

        from myna_rpe.hub import push_folder

        with tempfile.TemporaryDirectory() as tmp:
            folder = self.save_pretrained(tmp, name=repo_id)
            return push_folder(folder, repo_id, private=private, token=token, commit_message=commit_message)

    @classmethod
    def random(cls, cfg: EncoderConfig | None = None, seed: int = 0, device: str = "cpu",
               budget: TokenBudget = TokenBudget()) -> "Embedder":
        """The untrained architecture (a baseline): same seed, same weights."""
        cfg = cfg or EncoderConfig()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = build_model(cfg)
        return cls(model, cfg, model_id=_state_hash(model, cfg), device=device, budget=budget)

    @property
    def dim(self) -> int:
        return self.config.model.dim

    @property
    def sample_rate(self) -> int:
        return self.config.frontend.sample_rate

    # -- embedding ------------------------------------------------------------------

    def mels(self, wave: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Log-mel (n_mels, T) of one mono waveform at the model's sample rate."""
        w = torch.as_tensor(np.asarray(wave, dtype=np.float32), device=self.device)
        if not torch.isfinite(w).all():
            raise AudioError("the waveform holds NaN or infinite samples", fix="pass finite samples in [-1, 1]")
        with torch.inference_mode():
            return self.frontend(w)[0]

    # Items are batched into one forward pass only while batch × tokens stays under this:
    # on a CPU, a batch of whole tracks (each ~3,000 tokens) is slower per track than one
    # track at a time (measured 1.07 s vs 0.58 s per 3.5-min track, one thread), because
    # each query block's bias grows with the batch and falls out of cache.
    max_batch_tokens = 4096

    def embed_mels(self, mels: Sequence[torch.Tensor]) -> np.ndarray:
        """(B, dim) for log-mels (n_mels, T) of any lengths, in order.

        Items within the budget share padded dense passes; items over it are read from
        their draws, which all have `budget.tokens` patches and so share passes unpadded.
        """
        out = np.zeros((len(mels), self.dim), dtype=np.float32)
        over = [self.budget.applies(self._patches(m.shape[-1])) for m in mels]
        dense = [i for i, o in enumerate(over) if not o]
        sparse = [i for i, o in enumerate(over) if o]
        for group in self._groups([self._patches(mels[i].shape[-1]) + 1 for i in dense]):
            out[[dense[j] for j in group]] = self._forward([mels[dense[j]] for j in group])
        if sparse:
            per_item = self.budget.draws * (self.budget.tokens + 1)
            for group in self._groups([per_item] * len(sparse)):
                out[[sparse[j] for j in group]] = self._forward_draws([mels[sparse[j]] for j in group])
        return out

    def _groups(self, tokens: list[int]) -> list[list[int]]:
        """Consecutive runs of items whose padded batch stays under max_batch_tokens."""
        groups: list[list[int]] = []
        group: list[int] = []
        longest = 0
        for i, n in enumerate(tokens):
            if group and (len(group) + 1) * max(longest, n) > self.max_batch_tokens:
                groups.append(group)
                group, longest = [], 0
            group.append(i)
            longest = max(longest, n)
        if group:
            groups.append(group)
        return groups

    def _patches(self, frames: int) -> int:
        p = self.config.model.patch_size
        return self.config.model.freq_patches * max(1, -(-frames // p))

    @torch.inference_mode()
    def _forward(self, mels: Sequence[torch.Tensor]) -> np.ndarray:
        """One padded forward pass with a key mask: the same vectors as item by item."""
        lengths = torch.tensor([m.shape[-1] for m in mels])
        batch = torch.full(
            (len(mels), self.config.model.n_mels, int(lengths.max())), self.model.pad_value, device=self.device
        )
        for i, m in enumerate(mels):
            batch[i, :, : m.shape[-1]] = m.to(self.device)
        return self.model(batch, lengths).float().cpu().numpy()

    @torch.inference_mode()
    def _forward_draws(self, mels: Sequence[torch.Tensor]) -> np.ndarray:
        """Each item from `budget.draws` draws of `budget.tokens` patches, averaged."""
        draws = self.budget.draws
        tokens, coords = [], []
        for m in mels:
            m = m.to(self.device)
            seed = content_seed(m)
            n = self._patches(m.shape[-1])
            index = torch.from_numpy(np.stack([choose_patches(n, self.budget, seed, d) for d in range(draws)]))
            tok, kept = self.model.patches_at(m, index.to(self.device))
            tokens.append(tok)
            coords.append(kept)
        cat = lambda name: torch.cat([getattr(c, name) for c in coords])  # noqa: E731
        z = self.model.encode(torch.cat(tokens), Coords(cat("t"), cat("f"), cat("is_cls"), cat("valid")))
        return z.float().view(len(mels), draws, -1).mean(1).cpu().numpy()

    def embed_batch(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """(B, dim): each waveform embedded whole, in one forward pass for the batch."""
        return self.finite(self.embed_mels([self.mels(w) for w in waves]))

    def embed_waveform(self, wave: np.ndarray) -> np.ndarray:
        return self.embed_batch([wave])[0]

    def embed_file(self, path: str | Path, offset: float = 0.0, duration: float | None = None) -> np.ndarray:
        return self.finite(self.embed_mels([file_log_mel(path, self.config.frontend, offset, duration)[0]]))[0]

    def finite(self, vectors: np.ndarray) -> np.ndarray:
        """`vectors`, or a CheckpointError: finite audio gave NaN or infinity, so the weights are broken."""
        if not np.isfinite(vectors).all():
            raise CheckpointError(f"model {self.model_id} gives non-finite embeddings (NaN or infinity)",
                                  fix="its weights are damaged: use another checkpoint")
        return vectors


def file_log_mel(path: str | Path, frontend: FrontendConfig, offset: float = 0.0,
                 duration: float | None = None) -> tuple[torch.Tensor, int]:
    """(log-mel (n_mels, T), samples decoded) of a file. A whole file is decoded and
    turned into its log-mel piece by piece, so an hour of audio never sits in memory as
    a waveform or a spectrogram; a chunk is decoded with a seek."""
    from myna_rpe.audio import load_audio, stream_audio
    from myna_rpe.frontend import log_mel, log_mel_stream

    if offset == 0.0 and duration is None:
        return log_mel_stream(stream_audio(path, frontend.sample_rate), frontend)
    wave = load_audio(path, frontend.sample_rate, offset=offset, duration=duration)
    if not len(wave):
        raise AudioError(f"no audio at {offset:g} s and after: the track is shorter", path=path, fix="give a smaller offset")
    return log_mel(wave, frontend), len(wave)


def _state_hash(model: MynaEncoder, cfg: EncoderConfig) -> str:
    h = hashlib.sha256(repr(cfg.to_dict()).encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


__all__ = ["Embedder", "DEFAULT_CHECKPOINT", "default_checkpoint", "file_log_mel"]
