"""Hugging Face-style checkpoints: a hub repo holds the same two files as a local checkpoint
folder (`config.json` + `model.safetensors`, see myna_rpe.checkpoint), so anything that
takes a checkpoint path takes a repo id too.

    emb = Embedder.from_pretrained("owner/myna-alibi2d")   # or a folder; "owner/name@revision" pins one
    emb.save_pretrained("out/folder")
    emb.push_to_hub("owner/myna-alibi2d")

A repo id is resolved through huggingface_hub's cache (`HF_HUB_CACHE`, by default
~/.cache/huggingface/hub): with `HF_HUB_OFFLINE=1`, or with no network, a cached snapshot
is used as it is; a repo neither cached nor reachable is one CheckpointError line. Only
those two files (and the model card) are ever fetched, and loading never unpickles.
Torch-free, like checkpoint_config: `myna index` resolves a repo before importing torch.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from myna_rpe.errors import CheckpointError

FILES = ["config.json", "model.safetensors", "README.md"]

# owner/name with the hub's characters, optionally @revision; a path with more slashes,
# or starting with '.', '/' or '~', is always a local path.
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+(@[A-Za-z0-9_./-]+)?$")


def looks_like_repo_id(ref: str | Path) -> bool:
    return bool(_REPO_ID.match(str(ref))) and not str(ref).endswith((".safetensors", ".json"))


def resolve_checkpoint(ref: str | Path) -> Path:
    """A local checkpoint path as it is; a hub repo id as its snapshot folder in the cache
    (downloaded first when online and not cached yet)."""
    path = Path(ref)
    if path.exists() or not looks_like_repo_id(ref):
        return path
    from huggingface_hub import constants

    return _snapshot(str(ref), constants.HF_HUB_CACHE, constants.is_offline_mode())


@functools.lru_cache(maxsize=16)
def _snapshot(ref: str, cache: str, offline: bool) -> Path:
    # One resolution per repo, cache and mode in a process: loading reads config.json more than once.
    import httpx2  # huggingface_hub's HTTP client
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, HFValidationError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    repo, _, revision = ref.partition("@")
    try:
        return Path(snapshot_download(repo, revision=revision or None, allow_patterns=FILES))
    except RevisionNotFoundError:
        raise CheckpointError(f"the hub repo {repo} has no revision {revision!r}", ref,
                              "give a branch, tag or commit of the repo") from None
    except GatedRepoError:
        raise CheckpointError(f"the hub repo {repo} is gated", ref,
                              "accept its terms on the hub and log in (`hf auth login`)") from None
    except RepositoryNotFoundError:
        raise CheckpointError(f"no local folder, and no hub repo {repo} (or it is private)", ref,
                              "check the path or repo id; for a private repo log in (`hf auth login`)") from None
    except LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE is set" if offline else "the hub cannot be reached"
        raise CheckpointError(f"no local folder, and hub repo {repo} is not in the hub cache ({cache}) while {why}",
                              ref, "check the path, or download the repo once while online") from None
    except HFValidationError:
        raise CheckpointError("checkpoint not found", ref, "pass a folder holding model.safetensors and config.json") from None
    except (httpx2.HTTPError, HfHubHTTPError, OSError) as exc:  # dropped connection, 5xx, a proxy's garbage
        raise CheckpointError(f"the hub did not answer for {repo} ({type(exc).__name__}: {str(exc)[:80]})", ref,
                              "try again later, or use a local folder (or a cached copy with HF_HUB_OFFLINE=1)") from None


def model_card(repo_name: str, config: dict) -> str:
    model = config["model"]
    pe = ", ".join(k for k, v in model["pe"].items() if v is True) or model["pe"]["rope"]
    return (
        "---\nlibrary_name: myna-rpe\ntags:\n- audio\n- music\n- feature-extraction\n---\n\n"
        f"# {repo_name}\n\nA Myna-RPE audio encoder ({model['size']}: dim {model['dim']}, depth {model['depth']}, "
        f"positions: {pe}). Load it with\n\n```python\nfrom myna_rpe.embed import Embedder\n"
        f"emb = Embedder.from_pretrained(\"{repo_name}\")\nv = emb.embed_file(\"song.flac\")\n```\n\n"
        "or pass the repo id as `--checkpoint` / `--model` to the `myna` command.\n"
    )


def push_folder(folder: Path, repo_id: str, private: bool | None = None, token: str | None = None,
                commit_message: str = "Upload Myna-RPE checkpoint") -> str:
    """Upload a saved checkpoint folder to `repo_id` (created if missing); returns the commit URL."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if not _REPO_ID.match(repo_id) or "@" in repo_id:
        raise CheckpointError("not a hub repo id", repo_id, "give owner/name")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, allow_patterns=FILES,
                                 commit_message=commit_message)
    except OfflineModeIsEnabled:
        raise CheckpointError("cannot push while HF_HUB_OFFLINE is set", repo_id, "unset HF_HUB_OFFLINE") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        fix = "log in with a write token (`hf auth login`)" if status in (401, 403) else "try again later"
        raise CheckpointError(f"the hub refused the upload (HTTP {status})", repo_id, fix) from None
    except OSError as exc:  # no network
        raise CheckpointError(f"cannot reach the hub ({exc.__class__.__name__})", repo_id,
                              "check the connection and try again") from None
    return str(info)


__all__ = ["looks_like_repo_id", "resolve_checkpoint", "push_folder", "model_card"]
