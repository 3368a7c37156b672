"""Start-up of worker processes (the indexer's decoders, the training mel cache's): they die
with the process that started them, however early it dies, and leave Ctrl-C to it.

`init_worker(parent_pid)` is the initializer of those pools (`started_pool`). A spawned
worker first re-imports its modules, and only then runs the initializer; if the parent
was SIGKILLed in between, nothing would ever tell the worker, which would wait on its
task queue forever under PID 1. So the initializer

1. on Linux asks the kernel for SIGKILL when the parent goes (`prctl(PR_SET_PDEATHSIG)`),
   elsewhere starts a thread that polls `os.getppid()`; then
2. compares `os.getppid()` with the pid the parent passed in: if they differ, the parent
   died before step 1 (while the worker was starting) and the worker exits at once.

Step 2 after step 1 leaves no gap. This module imports nothing heavy (torch comes after
the guard), so a worker gets here as early as the spawn bootstrap allows. PR_SET_PDEATHSIG
fires when the *thread* that started the worker ends; the indexer starts its pools from
its main thread.

A Ctrl-C reaches every process of the terminal's group, workers still importing included,
which would each print a KeyboardInterrupt traceback. `started_pool` starts every worker
while the main process ignores SIGINT: a process that starts with SIGINT ignored keeps it
ignored (Python installs its KeyboardInterrupt handler only over the default), so a worker
never reacts to Ctrl-C at all; the main process handles it. (A Ctrl-C during the few
milliseconds the workers take to start is not seen; press it again.)
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1


def started_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` spawned processes guarded by `init_worker`, all of them started, with
    SIGINT ignored from their first instruction (see the module docstring)."""
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_worker, initargs=(os.getpid(),))
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        for _ in range(workers):  # no worker is idle yet, so each submit starts one
            pool.submit(int)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    return pool


def init_worker(parent_pid: int) -> None:
    """The decode pool's initializer: die with the parent, leave Ctrl-C to it, one torch thread."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    from myna_rpe.text import VisibleLogHandler

    decoder_log = logging.getLogger("myna_rpe")  # a damaged file's name in a warning, shown safely
    decoder_log.addHandler(VisibleLogHandler(lambda line: print(line, file=sys.stderr, flush=True)))
    decoder_log.propagate = False
    import torch

    torch.set_num_threads(1)  # parallelism comes from the worker count


def die_with_parent(parent_pid: int) -> None:
    """Make this process exit when `parent_pid` (its parent) is gone; see the module docstring."""
    if not _kernel_kills_us_with_parent():
        threading.Thread(target=_watch, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died while this worker was starting
        os._exit(0)


def _kernel_kills_us_with_parent() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(0)
