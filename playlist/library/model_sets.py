"""The embedding sets of a library store: one per model, keyed by the model's id.

`ModelSets` sits between the SQLite layer (`store_db.StoreDatabase`) and the track queries
(`store.LibraryStore`): it knows which models the store has, which one is current (the
one `myna index` ran with last), and which one this store object reads and writes (chosen
when it is opened), so every read of embeddings names exactly one model.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from myna_rpe.errors import LibraryError
from playlist.library.sqlite_guard import damaged
from playlist.library.store_db import DB_FILENAME, StoreDatabase


@dataclass(frozen=True)
class ModelSet:
    """The embeddings of one model in the store."""

    model_id: str
    config: dict | None
    dim: int | None
    added_at: float | None
    count: int
    current: bool


class ModelSets(StoreDatabase):
    """Which model's embeddings a store reads and writes, and the sets it holds."""

    def __init__(self, conn, db_dir: Path, readonly: bool) -> None:
        super().__init__(conn, db_dir, readonly)
        self._model: str | None = None

    @property
    def model_id(self) -> str | None:
        """The model whose embeddings this store object reads and writes."""
        return self._model

    @property
    def current_model(self) -> str | None:
        """The library's default model: the one `myna index` ran with last."""
        return self.get_meta("model_id", str)

    def models(self) -> list[ModelSet]:
        """Every model with a set in the store, oldest first."""
        counts = dict(self._conn.execute("SELECT model_id, COUNT(*) FROM embeddings GROUP BY model_id"))
        current = self.current_model
        if self.schema < 2:  # read-only store of schema 1: one model, described in meta
            if current is None:
                return []
            return [ModelSet(current, self.get_meta("model_config", dict), self.get_meta("dim", int), None,
                             counts.get(current, 0), True)]
        rows = self._conn.execute("SELECT id, config, dim, added_at FROM models ORDER BY added_at, id")
        return [ModelSet(r[0], self._config(r[0], r[1]), r[2], r[3], counts.get(r[0], 0), r[0] == current)
                for r in rows]

    def _config(self, model_id: str, text: str | None) -> dict | None:
        """A model row's config (a JSON object, or nothing); anything else is damage."""
        try:
            config = json.loads(text) if text else None
        except (TypeError, ValueError, RecursionError):
            config = []
        if config is not None and not isinstance(config, dict):
            raise damaged(self.db_dir / DB_FILENAME, f"model {model_id}'s config is not a JSON object")
        return config

    def resolve_model(self, text: str) -> str:
        """The model id that `text` names: an id or a prefix of exactly one."""
        ids = [m.model_id for m in self.models()]
        if text in ids:
            return text
        if not text.strip():  # every id starts with "": it would match them all
            raise LibraryError("an empty model id", path=self.db_dir,
                               fix=f"give a model id or its first characters (models: {', '.join(ids) or 'none'})")
        hits = [i for i in ids if i.startswith(text)]
        if len(hits) == 1:
            return hits[0]
        known = ", ".join(ids) or "none"
        if hits:
            raise LibraryError(f"--model {text!r} matches {len(hits)} models ({', '.join(hits)})", path=self.db_dir,
                               fix="give more characters of the id")
        raise LibraryError(f"no embeddings of model {text!r} in this store (models: {known})", path=self.db_dir,
                           fix="pick one listed by `myna index --status`, or index with that checkpoint")

    def _model_row(self) -> ModelSet | None:
        return next((m for m in self.models() if m.model_id == self._model), None)

    @property
    def model_config(self) -> dict | None:
        row = self._model_row()
        return None if row is None else row.config

    @property
    def dim(self) -> int | None:
        """The embedding size of this store's model (None before its first vector)."""
        if self.schema < 2:
            dim = self.get_meta("dim", int)
        else:
            row = self._conn.execute("SELECT dim FROM models WHERE id = ?", (self._model,)).fetchone()
            dim = None if row is None else row[0]
        return None if dim is None else int(dim)

    def set_model(self, model_id: str, config: dict | None = None, dim: int | None = None) -> int:
        """Make `model_id` current (recording its config and embedding size when given) and
        read and write its set from now on. The other models' sets are kept; returns how
        many embeddings this model already has."""
        with self.transaction():
            self._conn.execute(
                "INSERT INTO models(id, config, dim, added_at) VALUES (?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                "config = COALESCE(excluded.config, config), dim = COALESCE(excluded.dim, dim)",
                (model_id, None if config is None else json.dumps(config), dim, time.time()))
            self.set_meta("model_id", model_id)
        self._model = model_id
        return self.count_embeddings()

    def drop_model(self, model_id: str) -> int:
        """Delete one model's set; the newest remaining model becomes current if it was.
        Returns how many embeddings were deleted."""
        with self.transaction():
            n = self._conn.execute("DELETE FROM embeddings WHERE model_id = ?", (model_id,)).rowcount
            self._conn.execute("DELETE FROM models WHERE id = ?", (model_id,))
            self.delete_meta(f"index_state:{model_id}")
            if self.current_model == model_id:
                rest = [m.model_id for m in self.models()]
                if rest:
                    self.set_meta("model_id", rest[-1])
                else:
                    self.delete_meta("model_id")
            self._bump()
        if self._model == model_id:
            self._model = self.current_model
        return n

    def count_embeddings(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM embeddings WHERE model_id = ?",
                                  (self.model_id,)).fetchone()[0]

    def embedded_ids(self) -> set[int]:
        rows = self._conn.execute("SELECT track_id FROM embeddings WHERE model_id = ?", (self.model_id,))
        return {r[0] for r in rows}
