"""Fixtures of the fault suite: one generated library, indexed cleanly once, as the reference."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from playlist.library.indexer import IndexOptions, index_library
from tests.faults.helpers import store_state
from tests.library_helpers import make_test_library, save_tiny_checkpoint


@pytest.fixture(scope="package")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("faults_ckpt") / "tiny")


@pytest.fixture(scope="package")
def embedder(checkpoint: Path):
    """As `myna index` embeds: the model's vector with the sound statistics beside it."""
    from myna_rpe.embed import Embedder
    from playlist.library.track_vectors import TrackEmbedder

    return TrackEmbedder(Embedder.load(checkpoint))


@pytest.fixture(scope="package")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_library(tmp_path_factory.mktemp("faults_lib") / "lib").root


@pytest.fixture(scope="package")
def clean_state(template: Path, embedder, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The store a clean, uninterrupted run makes of the template library."""
    root = tmp_path_factory.mktemp("faults_clean") / "lib"
    shutil.copytree(template, root)
    index_library(root, embedder, options=IndexOptions(workers=0))
    return store_state(root / ".myna")


@pytest.fixture
def lib(template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    shutil.copytree(template, root)
    return root
