"""Atomic writes leave the old file whole when writing fails, and set sane permissions."""

from __future__ import annotations

import stat

import pytest

from myna_rpe.fileio import atomic_write, atomic_write_bytes, atomic_write_text


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write(b"half of the new")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_permissions_follow_umask_or_the_mode_given(tmp_path):
    public = atomic_write_bytes(tmp_path / "sub" / "list.m3u8", b"#EXTM3U\n")
    secret = atomic_write_bytes(tmp_path / "token.json", b"{}", mode=0o600)
    assert stat.S_IMODE(public.stat().st_mode) & 0o044  # readable by others, like a plain open
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
