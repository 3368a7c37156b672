"""bootstrap.py, the README's two set-up commands: a failed install ends in one line, not a traceback."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A project pip cannot build, offline: its build backend does not exist.
UNBUILDABLE = """
[build-system]
requires = []
build-backend = "no_such_backend_myna_test"

[project]
name = "unbuildable"
version = "0"
"""


def test_failed_install_says_why_in_one_line_and_leaves_no_stamp(tmp_path):
    shutil.copy(ROOT / "bootstrap.py", tmp_path / "bootstrap.py")
    (tmp_path / "pyproject.toml").write_text(UNBUILDABLE)
    (tmp_path / "constraints.txt").write_text("")
    run = subprocess.run(
        [sys.executable, str(tmp_path / "bootstrap.py"), "demo"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 1, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert re.match(r"bootstrap: installing failed \(pip exited [1-9]\d*, its reason is above\); ", last), last
    assert f"GiB free where {tmp_path / '.venv'} lives" in last
    assert 'bootstrap.py", line' not in run.stderr  # pip's own report may hold its backend's traceback; ours adds none
    assert not (tmp_path / ".venv" / ".myna-install").exists()  # the next run installs again


def test_unknown_command_prints_the_usage():
    run = subprocess.run([sys.executable, str(ROOT / "bootstrap.py"), "tset"], capture_output=True, text=True)
    assert run.returncode == 2
    assert "./bootstrap.py test" in run.stdout
