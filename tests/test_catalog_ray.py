"""`myna embed-catalog` on a real local Ray (2 CPUs) and `myna index --import`: the vectors
equal `myna index`'s own, a killed run resumes, and mismatched shards are refused."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from myna_rpe.embed import Embedder
from playlist.library.track_vectors import TrackEmbedder
from myna_rpe.errors import LibraryError
from playlist.library.catalog_import import import_catalog
from playlist.library.catalog_ray import embed_catalog
from playlist.library.catalog_shards import ShardWriter, done_files, iter_rows, shard_paths
from playlist.library.indexer import IndexOptions, index_library
from playlist.library.store import LibraryStore
from tests.cli_helpers import myna, wide_console  # noqa: F401 (an autouse fixture)
from tests.library_helpers import BAD_FILES, GOOD_FILES, make_test_library, save_tiny_checkpoint, write_track

ray = pytest.importorskip("ray")

ALL_FILES = len(GOOD_FILES) + len(BAD_FILES)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module; `embed_catalog` uses a Ray already started in its process."""
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 << 20, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_library(tmp_path_factory.mktemp("template") / "lib").root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", seed=0)


@pytest.fixture(scope="module")
def catalogue(template: Path, checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template library embedded once on Ray, two model actors, shards of 4 rows."""
    out = tmp_path_factory.mktemp("catalogue") / "shards"
    report = embed_catalog(template, out, checkpoint=checkpoint, workers=2, rows_per_shard=4)
    assert (report.files, report.embedded, report.failed) == (ALL_FILES, len(GOOD_FILES), len(BAD_FILES))
    assert report.workers == 2 and report.gpus == 0
    assert report.shards == len(shard_paths(out)) == -(-ALL_FILES // 4)
    return out


@pytest.fixture
def lib(template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    shutil.copytree(template, root)
    return root


def vectors_by_path(db_dir: Path, model: str | None = None) -> dict[str, np.ndarray]:
    with LibraryStore.open(db_dir, readonly=True, model=model) as store:
        ids, X = store.embeddings()
        tracks = store.tracks_by_id(ids)
        return {tracks[int(i)].rel_path: x for i, x in zip(ids, X)}


def test_imported_vectors_equal_myna_index_and_leave_nothing_to_do(lib: Path, catalogue: Path, checkpoint: Path,
                                                                   tmp_path: Path) -> None:
    embedder = TrackEmbedder(Embedder.load(checkpoint))  # as `myna index` embeds
    index_library(lib, embedder, db_dir=tmp_path / "indexed", options=IndexOptions(workers=0, batch_size=4))
    report = import_catalog(lib, catalogue, db_dir=tmp_path / "imported")
    assert (report.rows, report.imported, report.failed_rows) == (ALL_FILES, len(GOOD_FILES), len(BAD_FILES))
    assert report.not_in_catalogue == len(BAD_FILES) and not report.not_in_library

    indexed, imported = vectors_by_path(tmp_path / "indexed"), vectors_by_path(tmp_path / "imported")
    assert sorted(imported) == sorted(indexed) == sorted(g[0] for g in GOOD_FILES)
    for path, x in indexed.items():
        assert np.allclose(imported[path], x, atol=1e-5), path
    with LibraryStore.open(tmp_path / "imported", readonly=True) as store:
        assert store.model_id == embedder.model_id
        song = store.track_at(GOOD_FILES[0][0])
        assert (song.title, song.artist, song.duration) == ("Söng", "Ärtist", 3.0)

    # `myna index` on the imported store finds every imported track unchanged.
    again = index_library(lib, embedder, db_dir=tmp_path / "imported", options=IndexOptions(workers=0))
    assert (again.unchanged, again.embedded, again.previous_model) == (len(GOOD_FILES), 0, embedder.model_id)
    # A second import changes nothing.
    twice = import_catalog(lib, catalogue, db_dir=tmp_path / "imported")
    assert (twice.imported, twice.already) == (0, len(GOOD_FILES))


def test_a_killed_run_resumes_and_a_rerun_embeds_only_what_changed(lib: Path, checkpoint: Path, catalogue: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "shards"

    def kill_after_first_shard(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embed_catalog(lib, out, checkpoint=checkpoint, rows_per_shard=4, on_shard=kill_after_first_shard)
    assert len(shard_paths(out)) == 1 and len(done_files(out)) == 4
    (out / ".part-x-00001.parquet.k2j4.tmp").write_bytes(b"PAR1 cut short")  # as a kill mid-write leaves

    rest = embed_catalog(lib, out, checkpoint=checkpoint, rows_per_shard=4)
    assert (rest.already_done, rest.embedded + rest.failed) == (4, ALL_FILES - 4)
    assert not list(out.glob(".*.tmp"))
    rows = [row for _, row in iter_rows(shard_paths(out))]
    assert sorted(r["path"] for r in rows) == sorted(r["path"] for _, r in iter_rows(shard_paths(catalogue)))

    nothing = embed_catalog(lib, out, checkpoint=checkpoint)
    assert (nothing.already_done, nothing.embedded, nothing.workers) == (ALL_FILES, 0, 0)  # Ray not even used

    write_track(lib / "new" / "added.flac", 77, 2.0)
    write_track(lib / GOOD_FILES[1][0], 78, 2.0)  # same path, new content
    changed = embed_catalog(lib, out, checkpoint=checkpoint)
    assert (changed.files, changed.already_done, changed.embedded) == (ALL_FILES + 1, ALL_FILES - 1, 2)
    # The import takes, for the rewritten file, the row whose fingerprint matches it.
    report = import_catalog(lib, out, db_dir=tmp_path / "store")
    assert report.imported == len(GOOD_FILES) + 1
    index_library(lib, TrackEmbedder(Embedder.load(checkpoint)), db_dir=tmp_path / "indexed", options=IndexOptions(workers=0))
    assert np.allclose(vectors_by_path(tmp_path / "store")[GOOD_FILES[1][0]],
                       vectors_by_path(tmp_path / "indexed")[GOOD_FILES[1][0]], atol=1e-5)


def test_a_manifest_lists_files_relative_to_itself_and_a_missing_one_fails_alone(template: Path, checkpoint: Path,
                                                                                tmp_path: Path) -> None:
    manifest = tmp_path / "list.txt"
    manifest.write_text(f"# two files and a missing one\n{template / GOOD_FILES[0][0]}\n\n"
                        f"{Path('..') / template.name / GOOD_FILES[2][0]}\nnot/there.mp3\n", encoding="utf-8")
    shutil.copytree(template, tmp_path.parent / template.name, dirs_exist_ok=True)  # what the relative line names
    report = embed_catalog(manifest, tmp_path / "out", checkpoint=checkpoint)
    assert (report.files, report.embedded, report.failed) == (3, 2, 1)
    assert report.errors[0][0] == "not/there.mp3"


def test_import_refuses_a_changed_file_and_leaves_no_store(lib: Path, catalogue: Path, tmp_path: Path) -> None:
    write_track(lib / GOOD_FILES[3][0], 99, 2.0)
    with pytest.raises(LibraryError, match="fingerprint mismatch: Band/Live/track.m4a") as err:
        import_catalog(lib, catalogue, db_dir=tmp_path / "store")
    assert "\n" not in str(err.value) and "myna embed-catalog" in str(err.value)
    assert not (tmp_path / "store").exists()


def test_import_of_another_model_adds_a_set_and_keeps_the_first(lib: Path, catalogue: Path, tmp_path: Path) -> None:
    other = Embedder.load(save_tiny_checkpoint(tmp_path / "other", seed=1))
    index_library(lib, other, options=IndexOptions(workers=0))
    before = vectors_by_path(lib / ".myna")
    report = import_catalog(lib, catalogue)
    with LibraryStore.open(lib / ".myna", readonly=True) as store:
        assert {m.model_id for m in store.models()} == {other.model_id, report.model_id}
        assert store.model_id == report.model_id
    assert report.model_id != other.model_id
    after = vectors_by_path(lib / ".myna", model=other.model_id)  # the first set is untouched
    assert sorted(after) == sorted(before) and all(np.array_equal(after[p], before[p]) for p in before)
    assert len(vectors_by_path(lib / ".myna")) == len(GOOD_FILES)


def test_import_refuses_a_shard_of_another_model_and_the_wrong_library(lib: Path, catalogue: Path,
                                                                       tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    shutil.copytree(catalogue, mixed)
    writer = ShardWriter(mixed, dim=int(next(iter_rows(shard_paths(catalogue)))[1]["vector"].size), rows_per_shard=1)
    writer.add([{"path": GOOD_FILES[0][0], "fingerprint": "0" * 32, "model_id": "someothermodel", "duration": 1.0,
                 "size": 1, "mtime_ns": 1, "vector": np.ones(writer.dim, np.float32), "error": None}])
    with pytest.raises(LibraryError, match="holds vectors of model someothermodel"):
        import_catalog(lib, mixed, db_dir=tmp_path / "store")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_track(elsewhere / "x.flac", 5, 1.0)
    with pytest.raises(LibraryError, match=f"none of the catalogue's {len(GOOD_FILES)} files is in this library"):
        import_catalog(elsewhere, catalogue)


def test_a_rerun_with_another_model_is_refused(template: Path, catalogue: Path, tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="these shards were made by model"):
        embed_catalog(template, catalogue, checkpoint=save_tiny_checkpoint(tmp_path / "other", seed=1))


def test_cli_embeds_imports_and_says_one_line_on_failure(lib: Path, checkpoint: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "shards"
    code, text = myna(capsys, "embed-catalog", str(lib), "--out", str(out), "--checkpoint", str(checkpoint))
    assert code == 0, text
    assert re.search(rf"embedded\W+{len(GOOD_FILES)}\b", text) and re.search(r"shards written\W+1\b", text)
    assert f"{len(BAD_FILES)} file(s) could not be embedded" in text

    code, text = myna(capsys, "index", str(lib), "--import", str(out))
    assert code == 0, text
    assert "imported" in text and f"{len(BAD_FILES)} file(s) of the library have no vector from the catalogue" in text
    code, text = myna(capsys, "similar", GOOD_FILES[0][0], "--db", str(lib / ".myna"), "--n", "3")
    assert code == 0, text

    code, text = myna(capsys, "index", str(lib), "--import", str(tmp_path))
    assert code == 1 and text.count("\n") == 1 and "no catalogue shards here" in text
    code, text = myna(capsys, "embed-catalog", str(tmp_path / "nope"), "--out", str(out))
    assert code == 1 and text.count("\n") == 1 and "no such folder or manifest" in text
    code, text = myna(capsys, "embed-catalog", str(lib), "--out", str(out), "-c", str(checkpoint),
                      "--ray-address", "127.0.0.1:1")
    assert code == 0 and re.search(rf"done before \(skipped\)\W+{ALL_FILES}\b", text), text  # nothing to do


def test_an_unreachable_cluster_is_one_line(lib: Path, checkpoint: Path, tmp_path: Path) -> None:
    # A fresh process (this one has a Ray already); nothing listens on port 1.
    run = subprocess.run([sys.executable, "-m", "cli.app", "embed-catalog", str(lib), "--out", str(tmp_path / "o"),
                          "--checkpoint", str(checkpoint), "--ray-address", "127.0.0.1:1"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "RAY_ADDRESS": ""})
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip().count("\n") == 0 and "cannot connect to the Ray cluster at 127.0.0.1:1" in run.stderr
