"""Embedding a file that is not in the library, with the library's own model, for one
command (`myna similar FILE`, `myna playlist check PLAYLIST FILE`; nothing is stored) or for
songs streamed from a Subsonic server (`myna subsonic link --stream`, `playlist.subsonic.streamed`).

The vector must come from the same model as the set it is compared with, or the distances
mean nothing. The store knows that model's id and token budget but not where its
checkpoint lives, so the caller names the checkpoint (default: the bundled model), and it
is used only if checkpoint + recorded budget give exactly the store's model id.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from myna_rpe.errors import LibraryError
from playlist.library.sqlite_guard import damaged
from playlist.library.store import DB_FILENAME, LibraryStore


def is_outside(store: LibraryStore, path: Path) -> bool:
    """An existing audio file that the store has no track for."""
    return path.is_file() and store.track_by_path(path) is None


def embed_outside(library, path: Path, checkpoint: Path | None, device: str = "cpu") -> np.ndarray:
    """The embedding of `path` by the store's model (its recorded budget), in the library's
    space (`playlist.library.opened.Library.to_space`), L2-normalised."""
    return outside_embedder(library, checkpoint, device)(path)


def outside_embedder(library, checkpoint: Path | None, device: str = "cpu") -> Callable[[Path], np.ndarray]:
    """`embed_outside` for several files: the model is loaded once, at the first file."""
    loaded = []

    def embed(path: Path) -> np.ndarray:
        if not loaded:
            loaded.append(library_embedder(library.store, checkpoint, device, path, "this file is not in the library"))
        return library.to_space(loaded[0].embed_file(path))[0]

    return embed


def library_embedder(store: LibraryStore, checkpoint: Path | None, device: str, path: Path, why: str):
    """The `Embedder` of the store's model (its recorded budget) from `checkpoint`; a checkpoint
    of another model is a LibraryError about `path`, starting with `why` it is embedded now."""
    from myna_rpe.budget import DENSE, TokenBudget
    from myna_rpe.checkpoint_config import checkpoint_model_id
    from myna_rpe.embed import Embedder
    from playlist.library.track_vectors import TrackEmbedder, stats_dim, track_model_id

    recorded = (store.model_config or {}).get("budget")
    try:
        budget = DENSE if recorded is None else TokenBudget(**recorded)  # no record: stores from before budgets
    except (TypeError, ValueError):
        raise damaged(store.db_dir / DB_FILENAME, f"model {store.model_id}'s token budget {recorded!r} is not one") \
            from None
    # a library indexed with sound statistics beside the vectors (track_vectors), or one from before them
    with_stats = stats_dim(store.model_config) > 0
    expected = checkpoint_model_id(checkpoint, budget)
    expected = track_model_id(expected) if with_stats else expected
    if expected is not None and expected != store.model_id:
        raise _wrong_model(store, path, expected, why)
    embedder = Embedder.load(checkpoint, device=device, budget=budget)
    embedder = TrackEmbedder(embedder) if with_stats else embedder
    if embedder.model_id != store.model_id:
        raise _wrong_model(store, path, embedder.model_id, why)
    return embedder


def _wrong_model(store: LibraryStore, path: Path, got: str, why: str) -> LibraryError:
    return LibraryError(f"{why}, and embedding it with this checkpoint gives model {got}, "
                        f"not the library's {store.model_id}", path=path,
                        fix="pass --checkpoint with the checkpoint `myna index` used (or --model to search another "
                            "of the library's sets)")
