"""The GPU layout of `embed_catalog` (decode tasks, then one model actor per GPU) on a local
Ray told it has GPUs; the actors run on the CPU here. Its vectors equal the CPU layout's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from myna_rpe.embed import Embedder
from playlist.library.track_vectors import TrackEmbedder
from playlist.library.catalog_ray import embed_catalog
from playlist.library.catalog_shards import iter_rows, shard_paths
from tests.library_helpers import BAD_FILES, GOOD_FILES, make_test_library, save_tiny_checkpoint

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray_with_gpus():
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, object_store_memory=256 << 20, log_to_driver=False)
    yield
    ray.shutdown()


def test_decode_tasks_feed_one_actor_per_gpu_and_give_the_same_vectors(tmp_path: Path) -> None:
    lib = make_test_library(tmp_path / "lib").root
    checkpoint = save_tiny_checkpoint(tmp_path / "tiny")
    report = embed_catalog(lib, tmp_path / "shards", checkpoint=checkpoint, gpu_device="cpu")
    assert (report.gpus, report.workers) == (2, 2)
    assert (report.embedded, report.failed) == (len(GOOD_FILES), len(BAD_FILES))
    embedder = TrackEmbedder(Embedder.load(checkpoint))  # as the actors embed
    for _, row in iter_rows(shard_paths(tmp_path / "shards")):
        if row["error"] is None:
            alone = embedder.embed_file(lib / row["path"])
            assert np.allclose(row["vector"], alone, atol=1e-4), row["path"]
            assert row["model_id"] == embedder.model_id
