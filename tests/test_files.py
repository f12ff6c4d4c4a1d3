"""Atomic writes on a full disk: the target stays as it was and no temporary file is left behind."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from sweepcast.files import write_atomic


@pytest.fixture()
def tiny_disk(tmp_path: Path):
    """A 64 KiB tmpfs, made and removed by the test (needs root; skipped otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_leaves_the_target_and_no_temp_file(tiny_disk: Path) -> None:
    target = tiny_disk / "report.html"
    write_atomic(target, "the previous page")
    with pytest.raises(OSError) as caught:
        write_atomic(target, "x" * 400_000)  # more than the disk holds
    assert caught.value.errno == errno.ENOSPC
    assert target.read_text() == "the previous page"
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["report.html"]


def test_a_write_replaces_the_file_in_one_step(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "best.yaml"
    write_atomic(target, "a: 1\n")
    write_atomic(target, "a: 2\n")
    assert target.read_text() == "a: 2\n" and sorted(p.name for p in target.parent.iterdir()) == ["best.yaml"]
