"""Atomic writes on a full disk: the target stays as it was and no temporary file is left behind."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from sweepcast.files import write_atomic


def test_a_full_disk_leaves_the_target_and_no_temp_file(small_disk) -> None:
    tiny_disk = small_disk("64k")
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
