"""Whether a torch device can run here: the one check behind every command's `--device` (the
CLI's usage errors) and behind training settings that come from a file or a resumed run."""

from __future__ import annotations

from myna_rpe.text import visible


def device_problem(name: str, auto: bool = False) -> str | None:
    """None when `name` (cpu, cuda, cuda:N or mps; with `auto`, auto too: training picks the GPU
    itself) can run on this machine; else one line saying what is wrong and what to give instead."""
    if name == "cpu" or (auto and name == "auto"):
        return None
    import torch

    try:
        chosen = torch.device(name)
    except RuntimeError:
        return f"{visible(name)!r} is not a device: give cpu, cuda, cuda:N or mps"
    if chosen.type == "cuda" and (not torch.cuda.is_available()
                                  or (chosen.index or 0) >= torch.cuda.device_count()):
        return f"{name}: no such CUDA device here: give cpu"
    if chosen.type == "mps" and not torch.backends.mps.is_available():
        return f"{name}: Apple's MPS is not available here: give cpu"
    if chosen.type not in ("cpu", "cuda", "mps"):
        return f"{name}: not a device myna runs on: give cpu, cuda, cuda:N or mps"
    return None
