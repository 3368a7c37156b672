"""Two CPU processes under the gloo backend train as one: both ranks hold identical
weights, equal to one process training on the same global batch."""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from myna_rpe.audio import write_audio
from myna_rpe.checkpoint import build_model
from myna_rpe.synth import TrackSpec, synth_track
from myna_rpe.training.config import TrainConfig
from myna_rpe.training.loop import Trainer

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, port: int, cfg: dict, out: str) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    from myna_rpe.training.distributed import init_from_env, shutdown

    info = init_from_env("cpu")
    try:
        trainer = Trainer(TrainConfig(**cfg), dist_info=info)
        trainer.run()
        state = {k: v.detach().contiguous() for k, v in trainer.encoder.state_dict().items()}
        save_file(state, str(Path(out) / f"rank{rank}.safetensors"))
    finally:
        shutdown(info)


def test_two_gloo_ranks_stay_in_sync_and_match_one_process(tmp_path):
    rng = np.random.default_rng(2)
    for i in range(8):
        write_audio(tmp_path / "lib" / f"{i}.wav", synth_track(TrackSpec.random(rng), 2.0), 16000)
    # mask_ratio 0 so the two set-ups see identical inputs (patchout masks are drawn per rank).
    cfg = TrainConfig(
        data=str(tmp_path / "lib"), out=str(tmp_path / "ddp"), cache_dir=str(tmp_path / "mels"), size="tiny",
        batch_size=2, chunk_seconds=1.0, mask_ratio=0.0, steps=3, warmup_steps=1, checkpoint_every=3,
        kmeans_weight=0.2, kmeans_k=2, hull_weight=0.1,
    )
    mp.spawn(_rank_main, args=(_free_port(), asdict(cfg), str(tmp_path)), nprocs=WORLD, join=True)
    r0, r1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    # Rank 0 wrote the run's checkpoint, and it holds the trained weights.
    saved = load_file(str(tmp_path / "ddp" / "checkpoint" / "model.safetensors"))
    assert all(torch.equal(saved[k], r0[k]) for k in r0)

    # One process with the whole global batch (2 × 2) computes the same update.
    single = Trainer(replace(cfg, batch_size=WORLD * cfg.batch_size, out=str(tmp_path / "single")))
    single.run()
    torch.manual_seed(cfg.seed)
    initial = build_model(cfg.encoder_config()).state_dict()
    assert max((r0[k] - initial[k]).abs().max().item() for k in r0) > 1e-4  # training moved the weights
    # Compared per tensor as the size of the difference against the size of the update:
    # summation order differs between the set-ups, and Adam turns rounding noise in a
    # near-zero gradient into a ±lr step for that element.
    dim = cfg.encoder_config().model.dim
    for k, v in single.encoder.state_dict().items():
        a, b, a0 = r0[k], v.detach(), initial[k]
        if k.endswith("qkv.bias"):
            # The key bias shifts every logit of a query equally, so softmax makes its true
            # gradient zero: all it ever gets is that noise.
            keep = torch.ones_like(a, dtype=torch.bool)
            keep[dim : 2 * dim] = False
            a, b, a0 = a[keep], b[keep], a0[keep]
        assert (a - b).norm() <= 0.02 * (a - a0).norm() + 1e-7, (k, ((a - b).norm() / (a - a0).norm()).item())
