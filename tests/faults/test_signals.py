"""Signals at seeded random moments of a real `myna index`, worker start-up included: no
process outlives the run, and a re-run leaves the store equal to a clean run's."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from playlist.library.indexer import IndexOptions, index_library
from tests.faults.helpers import ENV, alive_in_group, assert_same_store, workers, store_state

# (signal, moment): "worker-start" = as soon as the decode worker process exists (it is then
# still importing its modules); a number = that many seconds after it exists, drawn from a
# seeded generator so a failure reproduces.
_rng = random.Random(13)
CASES = [
    (signal.SIGKILL, "worker-start"),
    (signal.SIGKILL, round(_rng.uniform(0.2, 1.5), 2)),
    (signal.SIGTERM, round(_rng.uniform(0.2, 1.5), 2)),
    (signal.SIGINT, round(_rng.uniform(0.2, 1.5), 2)),
]


def _wait_for(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _without_spawn_bootstrap_eof(stderr: str) -> str:
    """stderr less the one traceback no project code can prevent: a worker SIGKILLed out of
    its parent while Python's own `multiprocessing.spawn` is still reading its start-up data
    from the parent gets EOF there and prints it, before any of our code runs in it; the
    worker then exits, which is what the test checks. Any other traceback still fails."""
    start = stderr.find("Traceback (most recent call last):")
    while start != -1:
        end = stderr.find("EOFError: Ran out of input", start)
        block = stderr[start:end] if end != -1 else ""
        if end == -1 or "multiprocessing/spawn.py" not in block or "Traceback" in block[1:]:
            return stderr
        stderr = stderr[:start] + stderr[end + len("EOFError: Ran out of input"):]
        start = stderr.find("Traceback (most recent call last):")
    return stderr


@pytest.mark.parametrize("sig, moment", CASES, ids=[f"{s.name}-{m}" for s, m in CASES])
def test_signal_leaves_no_process_and_a_rerun_equals_a_clean_run(sig: signal.Signals, moment, lib: Path,
                                                                  checkpoint: Path, embedder,
                                                                  clean_state: dict, tmp_path: Path) -> None:
    code = "from cli.app import main; main()"
    log = open(tmp_path / "stderr.txt", "w+")  # a file, not a pipe: an orphan holding it cannot hang the test
    proc = subprocess.Popen([sys.executable, "-c", code, "index", str(lib), "-c", str(checkpoint),
                             "--workers", "1", "--batch-size", "2"],
                            env=ENV, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log)
    try:
        assert _wait_for(lambda: workers(proc.pid) or proc.poll() is not None), "no worker started"
        assert proc.poll() is None, "the run ended before its worker started"
        if moment != "worker-start":
            time.sleep(moment)  # which commit this lands on may vary; the promises must hold anywhere
        proc.send_signal(sig)
        proc.wait(60)
        # Whatever it was doing, every worker (and the resource tracker) goes with the run.
        assert _wait_for(lambda: not alive_in_group(proc.pid), 30), f"orphans: {alive_in_group(proc.pid)}"
    finally:
        for pid in alive_in_group(proc.pid):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.seek(0)
        stderr = log.read()
        log.close()
    assert "Traceback" not in _without_spawn_bootstrap_eof(stderr), stderr
    if sig == signal.SIGINT and proc.returncode != 0:
        assert proc.returncode == 130 and "interrupted" in stderr
    # The lock died with the run; a re-run completes the store as a clean run makes it.
    index_library(lib, embedder, options=IndexOptions(workers=0))
    assert_same_store(store_state(lib / ".myna"), clean_state)


def test_a_ctrl_c_while_workers_start_is_not_theirs(capfd) -> None:
    """Ctrl-C reaches the whole process group: a decode worker still importing its modules
    must neither die of it nor print a KeyboardInterrupt traceback (worker_guard.started_pool)."""
    from myna_rpe.worker_guard import started_pool

    pool = started_pool(2)
    try:
        for process in list(pool._processes.values()):  # at once: they are still starting up
            os.kill(process.pid, signal.SIGINT)
        started = {p.pid for p in pool._processes.values()}
        answered = {pool.submit(os.getpid).result(timeout=120) for _ in range(8)}  # a broken pool raises here
        assert answered <= started and all(p.is_alive() for p in pool._processes.values())
    finally:
        pool.shutdown()
    assert "KeyboardInterrupt" not in capfd.readouterr().err
