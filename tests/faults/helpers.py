"""Shared tools of the fault-injection suite: run `myna` as a user does, check that a
failure is one line with the path and the fix, compare stores, and mount a small tmpfs or
a read-only view where this process may (root with a working `mount`).

To add a case: make the fault (a file, a mount, a signal, an injected errno), run the
command through `myna()`, then assert with `one_line_error()` and `store_state()`."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from playlist.library.store import LibraryStore

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "250"}


def myna(*args: str | Path, prelude: str = "", **popen: object) -> subprocess.CompletedProcess:
    """Run `myna ARGS` in a subprocess; `prelude` is Python run first (to inject a fault)."""
    code = f"{prelude}\nfrom cli.app import main; main()"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=180, **popen)


def one_line_error(result: subprocess.CompletedProcess, *fragments: str | Path) -> str:
    """Exit status 1, no traceback, and stderr is one `error:` line holding every fragment."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not line.lstrip().startswith(("scanning", "reading tags", "embedding"))]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert " — " in lines[0], lines[0]  # what went wrong — the fix
    for fragment in fragments:
        assert str(fragment) in lines[0], (fragment, lines[0])
    return lines[0]


def store_state(db_dir: Path) -> dict:
    """What a store holds, independent of ids and times: path -> (hash, duration, vector),
    the errors by path, and the model. Two runs that indexed the same files compare equal."""
    with LibraryStore.open(db_dir, readonly=True) as store:
        ids, X = store.embeddings()
        vectors = dict(zip(ids.tolist(), X))
        tracks = {t.rel_path: (t.content_hash, round(t.duration or 0.0, 2), vectors.get(t.id))
                  for t in store.tracks()}
        return {"model": store.model_id, "tracks": tracks,
                "errors": {e.rel_path: e.message for e in store.errors()}}


def assert_same_store(a: dict, b: dict) -> None:
    assert a["model"] == b["model"] and a["errors"] == b["errors"]
    assert sorted(a["tracks"]) == sorted(b["tracks"])
    for rel, (h, duration, vec) in a["tracks"].items():
        h2, duration2, vec2 = b["tracks"][rel]
        assert (h, duration) == (h2, duration2), rel
        assert vec is not None and vec2 is not None and np.allclose(vec, vec2, atol=1e-5), rel


def can_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    probe = Path(f"/tmp/myna-mount-probe-{uuid.uuid4().hex}")
    probe.mkdir()
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                            capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], check=True)
        return ok
    finally:
        probe.rmdir()


@contextlib.contextmanager
def small_tmpfs(path: Path, size_kib: int) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill_disk(folder: Path, leave_kib: int) -> Path:
    """Fill the file system of `folder` up to `leave_kib` KiB of free space."""
    filler = folder / "filler"
    free_kib = shutil.disk_usage(folder).free // 1024
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free_kib - leave_kib) * 1024)
    return filler


@contextlib.contextmanager
def read_only_view(folder: Path, view: Path) -> Iterator[Path]:
    """`folder` seen read-only at `view`. Root ignores permission bits, so as root this is a
    read-only bind mount; otherwise `chmod -R a-w` on the folder itself (view = folder)."""
    if os.geteuid() == 0:
        view.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "--bind", str(folder), str(view)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
            yield view
        finally:
            subprocess.run(["umount", "-l", str(view)], check=True)
        return
    modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")] if not p.is_symlink()}
    for p, mode in modes.items():
        p.chmod(mode & ~0o222)
    try:
        yield folder
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def alive_in_group(pgid: int) -> list[int]:
    """Processes of the process group `pgid` (a run and its workers) still running (zombies,
    dead but not yet reaped by whoever adopted them, do not count)."""
    return [pid for pid, state, _, pgrp in _procs() if pgrp == pgid and state != "Z"]


def workers(pid: int) -> list[int]:
    """The multiprocessing workers (spawn_main) that `pid` started and that still run."""
    out = []
    for child, state, ppid, _ in _procs():
        if ppid == pid and state != "Z":
            try:
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    out.append(child)
            except OSError:
                pass
    return out


def _procs() -> list[tuple[int, str, int, int]]:
    """(pid, state, ppid, pgrp) of every process, from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out.append((int(entry.name), fields[0], int(fields[1]), int(fields[2])))
    return out
