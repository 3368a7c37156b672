"""The remaining surfaces a user's input reaches: each failure is one line naming the path and
the fix (or the server), never a traceback: another protocol on MPD's port, a hub that drops
the connection, outputs where no file can be made, deeply nested JSON, damaged DL-101 and
TinySOL inputs."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from myna_rpe.errors import CheckpointError, DatasetError, LibraryError, StorageError
from tests.cli_helpers import myna as myna_here, wide_console  # noqa: F401  (fixture)
from tests.faults.helpers import myna, one_line_error
from tests.library_helpers import write_track


def _server(answer: bytes | None):
    """A local TCP server answering every connection with `answer` (None: close at once)."""
    sock = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                if answer is None:
                    conn.recv(65536)
                else:
                    conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    return sock


def test_another_protocol_on_the_mpd_port_is_one_line() -> None:
    from playlist.players.mpd import MpdAddress, MpdError, connect

    sock = _server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    try:
        with pytest.raises(MpdError, match="is not MPD") as err:
            connect(MpdAddress("127.0.0.1", sock.getsockname()[1]))
        assert "6600" in str(err.value)
    finally:
        sock.close()


def test_a_hub_that_drops_the_connection_is_one_line(tmp_path: Path) -> None:
    sock = _server(None)
    wav = write_track(tmp_path / "a.wav", 0, 1.0)
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{sock.getsockname()[1]}", "HF_HUB_CACHE": str(tmp_path / "hf"),
           "HF_HUB_OFFLINE": "0"}
    try:
        result = myna("embed", wav, "--checkpoint", "someone/model", prelude=f"import os; os.environ.update({env!r})")
    finally:
        sock.close()
    one_line_error(result, "someone/model", "the hub did not answer")


@pytest.mark.parametrize("target", ["/proc/self/x.npy", "/proc/x.npy"])
def test_an_output_where_no_file_can_be_made_is_one_line(target: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(StorageError, match="cannot write a file here"):
        from myna_rpe.fileio import atomic_write_bytes

        atomic_write_bytes(target, b"x")
    wav = write_track(tmp_path / "a.wav", 0, 1.0)
    code, out = myna_here(capsys, "embed", str(wav), "--out", target)  # refused before the model is loaded
    line = [x for x in out.splitlines() if "Invalid value for '--out'" in x]
    assert code == 2 and "Traceback" not in out and len(line) == 1 and f"{target} cannot be written" in line[0], out


def _deep(n: int = 100_000) -> str:
    return "[" * n + "]" * n


def test_deeply_nested_json_is_one_line(tmp_path: Path, checkpoint: Path) -> None:
    import shutil

    from myna_rpe.checkpoint import load_checkpoint
    from playlist.library.catalog_shards import read_meta

    copy = tmp_path / "ckpt"
    shutil.copytree(checkpoint, copy)
    (copy / "config.json").write_text(_deep())
    with pytest.raises(CheckpointError, match="not a valid Myna config"):
        load_checkpoint(copy)
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "catalog.json").write_text(_deep())
    with pytest.raises(LibraryError, match="unreadable catalogue description"):
        read_meta(shards)


def _hdf5(path: Path, rate, data=None) -> Path:
    import h5py

    with h5py.File(path, "w") as h5:
        h5["a.wav"] = np.zeros(16000, dtype=np.float32) if data is None else data
        h5["a.wav"].attrs["sr_hz"] = rate
    return path


@pytest.mark.parametrize("rate, data, expect", [
    (0, None, "not a sample rate"),
    ("sixteen k", None, "not a sample rate"),
    (1, None, "not a sample rate"),
    (16000, np.array([b"text", b"data"]), "not samples"),
])
def test_damaged_dl101_audio_is_one_line(tmp_path: Path, rate, data, expect) -> None:
    from myna_rpe.evaluation.dl101 import Hdf5Audio

    with Hdf5Audio(_hdf5(tmp_path / "a.hdf5", rate, data), 16000) as h5, pytest.raises(DatasetError, match=expect):
        h5.wave("a.wav")


def test_a_file_that_is_not_hdf5_is_one_line(tmp_path: Path) -> None:
    from myna_rpe.evaluation.dl101 import load_dl101

    pyjama = tmp_path / "d.pyjama"
    pyjama.write_text(json.dumps({"collection": {"entry": [{"filepath": [{"value": "a.wav"}],
                                                            "genre": [{"value": "x"}]}]}}))
    fake = tmp_path / "audio.hdf5"
    fake.write_text("not hdf5 at all")
    with pytest.raises(DatasetError, match="not an HDF5 file") as err:
        load_dl101(pyjama, fake, "genre")
    assert err.value.path == fake


def test_a_tinysol_table_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    from myna_rpe.evaluation.tinysol import METADATA, load_tasks

    (tmp_path / METADATA).write_bytes(b"Path,Fold\n\xff\xfe\xfa broken,0\n")
    with pytest.raises(DatasetError, match="cannot read this table") as err:
        load_tasks(tmp_path)
    assert err.value.path == tmp_path / METADATA


def test_a_search_string_starting_with_an_unknown_user_is_taken_as_written() -> None:
    from myna_rpe.fileio import expand_user

    assert expand_user("~no-such-user-here-xyz/song.flac") == Path("~no-such-user-here-xyz/song.flac")
    assert expand_user("~/song.flac") == Path(os.path.expanduser("~/song.flac"))
