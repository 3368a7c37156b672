#!/usr/bin/env python3
"""Set up a virtual environment in .venv and run the demo or the tests.

    ./bootstrap.py demo     # install, then run `myna demo` on built-in defaults
    ./bootstrap.py test     # install (with test extras), then run the whole test suite

Idempotent: the install is redone only when pyproject.toml or constraints.txt change.
Needs nothing but Python >= 3.11. Extra arguments go to `myna demo` or to pytest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
NEEDED_GIB = 3  # the installed .venv with the test extras, torch's CPU build included (2.4 GiB measured)


def ensure_env(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Python >= 3.11 is required, this is {sys.version.split()[0]}")
    spec = f".[{extras}]" if extras else "."
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    digest.update(spec.encode())
    stamp = VENV / ".myna-install"
    if stamp.exists() and stamp.read_text() == digest.hexdigest() and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except (OSError, subprocess.CalledProcessError) as err:
            sys.exit(f"bootstrap: could not create {VENV}: {err}; fix that and run ./bootstrap.py again")
    print(f"installing myna-rpe {spec} (pinned by constraints.txt)", flush=True)
    # torch is pinned to the CPU build (2.13.0); an unpinned torch would pull GBs of CUDA.
    pip = subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "-c", "constraints.txt", "-e", spec],
        cwd=ROOT,
    )
    if pip.returncode != 0:
        # pip has printed its reason; add the free space (a full disk is the commonest cause) and the way on.
        free_gib = shutil.disk_usage(VENV).free / 2**30
        sys.exit(
            f"bootstrap: installing failed (pip exited {pip.returncode}, its reason is above); "
            f"{free_gib:.1f} GiB free where {VENV} lives, and the environment needs about {NEEDED_GIB} GiB. "
            f"Fix the cause and run ./bootstrap.py again; it picks up where this stopped."
        )
    stamp.write_text(digest.hexdigest())


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    what, rest = argv[0], argv[1:]
    if what == "demo":
        ensure_env("")
        return subprocess.call([str(BIN / "myna"), "demo", *rest], cwd=ROOT)
    ensure_env("test")
    return subprocess.call([str(PYTHON), "-m", "pytest", *rest], cwd=ROOT)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit("bootstrap: interrupted; run it again to go on (a finished install is kept)")
