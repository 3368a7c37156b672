"""Checkpoints: `model.safetensors` + `config.json` in one folder. Loading never unpickles.

config.json holds the frontend and model configs, free-form metadata, and the SHA-256
of the weights file, so a weights file that was truncated, replaced or paired with the
wrong config is caught before it is used. The weights file records the config it was
saved with too (safetensors metadata, covered by that hash), so an edited config.json
that still fits the tensors (another positional scheme: ALiBi and RoPE have no
weights) is caught as well. `EncoderConfig.from_dict` checks every key, type and range. Both files are written through a temporary
file and `os.replace`, weights first, so a crash leaves the previous checkpoint whole.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from myna_rpe.checkpoint_config import CONFIG, FORMAT, WEIGHTS, _locate, read_config  # noqa: F401 (read_config: API)
from myna_rpe.config import EncoderConfig
from myna_rpe.errors import CheckpointError
from myna_rpe.fileio import atomic_write_bytes
from myna_rpe.hub import resolve_checkpoint
from myna_rpe.model import MynaEncoder



def build_model(cfg: EncoderConfig) -> MynaEncoder:
    """A fresh encoder for `cfg`, padding short inputs with the frontend's silence."""
    from myna_rpe.frontend import silence_value

    return MynaEncoder(cfg.model, pad_value=silence_value(cfg.frontend))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(
    directory: str | Path, model: MynaEncoder, cfg: EncoderConfig, meta: dict[str, Any] | None = None
) -> Path:
    """Write the model and its config into `directory`; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    record = json.dumps(cfg.to_dict(), sort_keys=True)
    weights = safetensors_bytes(state, metadata={"format": FORMAT, "config": record})
    atomic_write_bytes(directory / WEIGHTS, weights)
    digest = hashlib.sha256(weights).hexdigest()
    doc = {"format": FORMAT, "config": cfg.to_dict(), "weights_sha256": digest, "meta": meta or {}}
    atomic_write_bytes(directory / CONFIG, (json.dumps(doc, indent=2) + "\n").encode())
    return directory


def _differences(saved: dict[str, Any], given: dict[str, Any], prefix: str = "") -> list[str]:
    """'key: saved -> given' for each setting that differs (nested keys joined with dots)."""
    out = []
    for key in sorted(set(saved) | set(given)):
        a, b = saved.get(key), given.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} in the weights, {b!r} in config.json")
    return out


def _check_shapes(cfg: EncoderConfig, shapes: dict[str, tuple[int, ...]], weights: Path) -> None:
    """The weights' tensor names and shapes against the model `cfg` describes, built on the
    meta device (no memory): a config that does not fit fails here, however large it is."""
    with torch.device("meta"):
        expected = {name: tuple(t.shape) for name, t in build_model(cfg).state_dict().items()}
    wrong = [f"{name}: {shapes[name]} in the weights, {shape} in the config" for name, shape in expected.items()
             if name in shapes and shapes[name] != shape]
    missing, unexpected = sorted(set(expected) - set(shapes)), sorted(set(shapes) - set(expected))
    if wrong or missing or unexpected:
        what = "; ".join(wrong[:2]) or (f"missing {len(missing)}: {', '.join(missing[:3])}; "
                                        f"unexpected {len(unexpected)}: {', '.join(unexpected[:3])}")
        raise CheckpointError(f"weights do not fit the config ({what})", weights,
                              "use the config.json saved with these weights")


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[MynaEncoder, EncoderConfig, dict[str, Any]]:
    """Load (model, config, meta) from a checkpoint folder, its weights/config file, or a hub repo id."""
    path = resolve_checkpoint(path)
    cfg, meta, digest = read_config(path)
    weights, _ = _locate(path)
    if not weights.is_file():
        raise CheckpointError("weights file missing", weights, "copy model.safetensors next to config.json")
    if digest and file_sha256(weights) != digest:
        raise CheckpointError(
            "weights do not match config.json (corrupt, truncated, or from another checkpoint)",
            weights,
            "restore both files of the checkpoint together",
        )
    try:
        with safe_open(str(weights), "pt") as fh:
            record = (fh.metadata() or {}).get("config")
            shapes = {name: tuple(fh.get_slice(name).get_shape()) for name in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"unreadable safetensors file ({exc})", weights, "restore the checkpoint from a good copy") from None
    _check_shapes(cfg, shapes, weights)  # before anything of the config's size is allocated
    try:
        state = load_file(str(weights), device=str(device))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"unreadable safetensors file ({exc})", weights, "restore the checkpoint from a good copy") from None
    model = build_model(cfg)
    model.load_state_dict(state)  # names and shapes were checked above
    if record is not None:  # checkpoints saved before the weights carried their config have none
        try:
            saved = json.loads(record)
            differ = _differences(saved, cfg.to_dict()) if isinstance(saved, dict) else ["not a JSON object"]
        except (ValueError, RecursionError):
            differ = ["the weights' own record is not JSON"]
        if differ:
            raise CheckpointError(
                f"config.json disagrees with the config the weights were saved with ({', '.join(differ[:4])})",
                weights.parent / CONFIG, "restore the config.json saved with these weights")
    return model.to(device).eval(), cfg, meta
