"""A damaged store says so in one line wherever it is touched, and `myna index` repairs what
is derived (an empty file, the errors table, index stamps); a foreign or edited FAISS file
is never trusted: it is rebuilt from the store."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import faiss
import numpy as np
import pytest

from playlist.library.indexer import IndexOptions, index_library
from tests.cli_helpers import myna, wide_console  # noqa: F401  (fixture)

READERS = (("similar", "{lib}/loose one.flac", "--n", "3"), ("index", "{lib}", "--status"),
           ("index", "{lib}", "--errors"), ("playlist", "extend", "{lib}/pl.m3u8", "--n", "2", "--dry-run"))


@pytest.fixture(scope="module")
def indexed(template: Path, embedder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("damaged_store") / "lib"
    shutil.copytree(template, root)
    (root / "pl.m3u8").write_text("loose one.flac\nBand/track.m4a\n", encoding="utf-8")
    index_library(root, embedder, options=IndexOptions(workers=0))
    return root


@pytest.fixture
def lib(indexed: Path, tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    shutil.copytree(indexed, root)
    return root


def run(capsys, lib: Path, *args: str) -> tuple[int, str]:
    return myna(capsys, *(a.format(lib=lib) for a in args))


def assert_one_line(code: int, out: str, *fragments: str) -> None:
    assert code == 1 and "Traceback" not in out, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and " — " in lines[0], out
    assert all(f in lines[0] for f in fragments), (fragments, lines[0])


def sql(lib: Path, *statements: str, params=()) -> None:
    with sqlite3.connect(lib / ".myna" / "library.sqlite") as db:
        for statement in statements:
            db.execute(statement, params)


def reindex(capsys, lib: Path, checkpoint: Path) -> str:
    code, out = run(capsys, lib, "index", "{lib}", "-c", str(checkpoint), "--workers", "0")
    assert code == 0 and "Traceback" not in out, out
    return out


def test_an_empty_store_file_is_named_and_rebuilt_by_index(lib, capsys, checkpoint) -> None:
    (lib / ".myna" / "library.sqlite").write_bytes(b"")  # what a disk-full first index leaves
    for command in READERS:
        assert_one_line(*run(capsys, lib, *command), "the store is empty", "run `myna index")
    reindex(capsys, lib, checkpoint)
    assert run(capsys, lib, *READERS[0])[0] == 0


def test_a_corrupt_page_is_one_line_that_keeps_the_store(lib, capsys, checkpoint) -> None:
    db = lib / ".myna" / "library.sqlite"
    data = bytearray(db.read_bytes())
    data[4096 * 2: 4096 * 4] = b"\xde\xad" * 4096
    db.write_bytes(bytes(data))
    for command in (*READERS, ("index", "{lib}", "-c", str(checkpoint), "--workers", "0")):
        code, out = run(capsys, lib, *command)
        if code:
            assert_one_line(code, out, "the store is damaged", "move the .myna folder aside")
    assert db.read_bytes() == bytes(data)  # the advice never deletes, and nothing was written


@pytest.mark.parametrize("statement", [
    "UPDATE meta SET value = '{bad' WHERE key = 'generation'",
    "UPDATE meta SET value = '\"seven\"' WHERE key = 'generation'",
    "UPDATE meta SET value = '[1]' WHERE key LIKE 'index_state:%'",
    "UPDATE meta SET value = '{\"kind\": \"bogus\"}' WHERE key = 'index_spec'",
    "UPDATE meta SET value = '{\"finished_at\": \"x\"}' WHERE key = 'last_run'",
    "DROP TABLE errors",
])
def test_damaged_derived_data_is_named_then_repaired_by_index(lib, capsys, checkpoint, statement) -> None:
    sql(lib, statement)
    for command in READERS:
        code, out = run(capsys, lib, *command)
        if code:
            assert_one_line(code, out, "the store is damaged", "run `myna index")
    reindex(capsys, lib, checkpoint)
    for command in READERS:
        code, out = run(capsys, lib, *command)
        assert code == 0 and "Traceback" not in out, (command, out)


def _nan_vector(lib: Path) -> bytes:
    with sqlite3.connect(lib / ".myna" / "library.sqlite") as db:
        (blob,) = db.execute("SELECT vector FROM embeddings LIMIT 1").fetchone()
    return np.full(len(blob) // 4, np.nan, dtype="<f4").tobytes()


FIRST = "WHERE track_id = (SELECT MIN(track_id) FROM embeddings)"


@pytest.mark.parametrize("statement, what", [
    ("DROP TABLE tracks", "table tracks missing"),
    ("UPDATE meta SET value = '42' WHERE key = 'model_id'", "meta value 'model_id' is not a text"),
    (f"UPDATE embeddings SET vector = x'0000' {FIRST}", "numbers"),
    (f"UPDATE embeddings SET vector = :nan {FIRST}", "is not finite"),
])
def test_damaged_source_data_is_one_line_everywhere(lib, capsys, statement, what) -> None:
    sql(lib, statement, params={"nan": _nan_vector(lib)} if ":nan" in statement else ())
    _index_file(lib).unlink()  # read every vector: the index is rebuilt from the store
    for command in (READERS[0], READERS[3]):
        assert_one_line(*run(capsys, lib, *command), "the store is damaged", what)


def _index_file(lib: Path) -> Path:
    (path,) = (lib / ".myna").glob("index-*.faiss")
    return path


def _answer(capsys, lib: Path) -> str:
    code, out = run(capsys, lib, *READERS[0])
    assert code == 0, out
    return out


def test_an_index_of_another_dimension_is_rebuilt(lib, capsys, checkpoint) -> None:
    clean = _answer(capsys, lib)
    path = _index_file(lib)
    other = faiss.IndexIDMap2(faiss.IndexFlatIP(7))
    other.add_with_ids(np.ones((5, 7), dtype=np.float32), np.arange(1, 6))
    faiss.write_index(other, str(path))
    assert _answer(capsys, lib) == clean
    reindex(capsys, lib, checkpoint)  # nothing to embed: still repairs the file
    assert faiss.read_index(str(path)).d != 7


def test_an_index_whose_vectors_disagree_with_the_store_is_not_trusted(lib, capsys) -> None:
    clean = _answer(capsys, lib)
    path = _index_file(lib)
    index = faiss.read_index(str(path))
    ids = faiss.vector_to_array(index.id_map)
    forged = faiss.IndexIDMap2(faiss.IndexFlatIP(index.d))
    forged.add_with_ids(np.random.default_rng(0).normal(size=(index.ntotal, index.d)).astype(np.float32), ids)
    faiss.write_index(forged, str(path))
    assert path.stat().st_size == len(faiss.serialize_index(index))  # same size: only the checksum tells
    assert _answer(capsys, lib) == clean


def test_a_damaged_model_config_is_named_where_it_is_read(lib, capsys) -> None:
    sql(lib, "UPDATE models SET config = '[1, 2]'")
    assert_one_line(*run(capsys, lib, "index", "{lib}", "--status"), "the store is damaged",
                    "config is not a JSON object")
    code, out = run(capsys, lib, *READERS[0])  # searching does not need it
    assert code == 0, out
