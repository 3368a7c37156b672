"""The library index: a SQLite store of tracks and embeddings (`store`), its FAISS index
(`vector_index`), the incremental indexer (`indexer`, `scan`, `tags`, `lock`; its decode
workers are started by `myna_rpe.worker_guard`), finding a store (`locate_store`, `user_config`), and `Library`, a store
opened for searching (`opened`)."""

from playlist.library.opened import Library

__all__ = ["Library"]
