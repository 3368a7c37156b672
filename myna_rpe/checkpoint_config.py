"""What a checkpoint folder says about its model, read without torch: its config.json
(config, metadata, the SHA-256 of the weights), the bundled default checkpoint, and the
model id that a store records.

The id is computed here and only here: `Embedder.load` uses it for a loaded model, and
`myna index` uses it to see, before importing torch, whether a library's store was
made by the requested checkpoint and token budget (a no-op update then loads nothing).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from myna_rpe.budget import TokenBudget
from myna_rpe.config import EncoderConfig
from myna_rpe.errors import CheckpointError
from myna_rpe.hub import resolve_checkpoint

FORMAT = "myna-rpe/1"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"

# The model that ships with the package; `Embedder.load()` uses it when present.
DEFAULT_CHECKPOINT = Path(__file__).parent / "pretrained"


BUNDLED = "bundled"  # `--checkpoint bundled`: the model shipped with the package, said explicitly


def checkpoint_path(checkpoint: str | Path | None) -> Path:
    """The folder a `--checkpoint` value names: None or "bundled" (unless a folder of that
    name exists here) is the bundled model."""
    if checkpoint is None or (str(checkpoint) == BUNDLED and not Path(checkpoint).exists()):
        return default_checkpoint()
    return Path(checkpoint)


def default_checkpoint() -> Path:
    if not (DEFAULT_CHECKPOINT / CONFIG).is_file():
        raise CheckpointError(
            "no default model is bundled with this install",
            DEFAULT_CHECKPOINT,
            "pass --checkpoint PATH (a folder written by `myna train`)",
        )
    return DEFAULT_CHECKPOINT


def _locate(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        return path / WEIGHTS, path / CONFIG
    if path.name == CONFIG:
        return path.parent / WEIGHTS, path
    return path, path.parent / CONFIG


def read_config(path: str | Path) -> tuple[EncoderConfig, dict[str, Any], str]:
    """(config, meta, weights sha256) of a checkpoint (a folder, one of its files, or a hub
    repo id), without loading weights."""
    path = resolve_checkpoint(path)
    if not path.exists():
        raise CheckpointError("checkpoint not found", path, "pass a folder holding model.safetensors and config.json, "
                              "or a hub repo id (owner/name)")
    weights, config = _locate(path)
    if path.suffix in (".pt", ".pth", ".ckpt", ".bin"):
        raise CheckpointError(
            "pickle-based checkpoints are never loaded", path, "use a Myna checkpoint folder (model.safetensors + config.json)"
        )
    if not config.is_file():
        if (config.parent / "checkpoint" / CONFIG).is_file():  # a `myna train --out` folder
            raise CheckpointError("this is a training run's folder, not its checkpoint", config.parent,
                                  f"pass {config.parent / 'checkpoint'}")
        raise CheckpointError("no config.json beside the weights", config.parent,
                              "a Myna checkpoint folder holds model.safetensors and config.json")
    try:
        doc = json.loads(config.read_text())
        if not isinstance(doc, dict):
            raise ValueError(f"the file holds a JSON {type(doc).__name__}, not an object")
        if doc.get("format") != FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {FORMAT!r}")
        cfg = EncoderConfig.from_dict(doc["config"])
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise CheckpointError(f"config.json is not a valid Myna config ({exc})", config,
                              "restore the config.json saved with the weights, or re-save the checkpoint "
                              "with this version") from None
    return cfg, doc.get("meta", {}), doc.get("weights_sha256", "")


def weights_id(digest: str, cfg: EncoderConfig) -> str:
    """The id of weights (their SHA-256) with their config: a new frontend setting is a new model."""
    config = json.dumps(cfg.to_dict(), sort_keys=True)
    return hashlib.sha256((digest + config).encode()).hexdigest()[:16]


def model_id(weights: str, budget: TokenBudget) -> str:
    """What a store records: the weights id, combined with the budget unless dense (the
    dense id is the one from before budgets existed, so those stores stay valid)."""
    if budget.dense:
        return weights
    record = json.dumps(budget.to_dict(), sort_keys=True)
    return hashlib.sha256(f"{weights}:{record}".encode()).hexdigest()[:16]


def checkpoint_model_id(checkpoint: str | Path | None, budget: TokenBudget) -> str | None:
    """The model id `Embedder.load(checkpoint, budget=budget)` will have, from config.json
    alone; None for a checkpoint without a recorded weights digest (only loading tells)."""
    path = checkpoint_path(checkpoint)
    cfg, _, digest = read_config(path)
    return model_id(weights_id(digest, cfg), budget) if digest else None


__all__ = ["BUNDLED", "CONFIG", "DEFAULT_CHECKPOINT", "FORMAT", "WEIGHTS", "checkpoint_model_id", "checkpoint_path",
           "default_checkpoint", "model_id", "read_config", "weights_id"]
