"""A disk that fills up (issue 20.4), on a real tmpfs: one line, exit 2, nothing left RUNNING, the
trial queued again, no temporary or reserve file left behind, and a rerun that resumes."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest

from sweepcast import disk_space
from tests.test_sweeper_e2e import SMOKE, children_and_parent, states, study_of
from tests.test_train_e2e import assert_ok, runs, train

FILL = "hydra.sweeper.custom_search_space=tests.sweep_helpers.fill_disk"


def leftovers(folder: Path) -> list[str]:
    """Temporary files of atomic writes (``.best.yaml.x1y2``) and disk reserves still on disk."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*")
                  if p.is_file() and not p.name.endswith(".lock") and p.parent.name != ".hydra")


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "[ERROR]" in line]


def test_a_full_disk_is_recognised_however_deep_it_is_wrapped() -> None:
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as err:
            raise RuntimeError("An exception is raised during the commit") from err
    except RuntimeError as wrapped:
        assert disk_space.is_disk_full(wrapped)
        assert disk_space.describe(wrapped) == "the disk is full (database or disk is full)"
    assert disk_space.is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert not disk_space.is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not disk_space.is_disk_full(ValueError("full of NaN"))


def test_the_reserve_is_held_then_freed(tmp_path: Path) -> None:
    with disk_space.reserve([tmp_path, tmp_path / "absent"]):
        (held,) = tmp_path.glob(".sweepcast-reserve-*")
        assert held.stat().st_size == disk_space.RESERVE_BYTES
        disk_space.release()
        assert not held.exists()
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("after", ["0", "1.5"], ids=["at-claim", "mid-job"])
def test_a_disk_filling_mid_sweep_ends_it_in_one_line_and_a_rerun_resumes(small_disk, monkeypatch, after: str) -> None:
    disk = small_disk("48m")
    command = ["-m", *SMOKE, "model.layers=1,2", "hydra.sweeper.n_trials=4", FILL]
    monkeypatch.setenv("FILL_DISK_AT", "1")
    monkeypatch.setenv("FILL_DISK_AFTER", after)
    done = train(disk, *command, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]
    assert "Traceback" not in output and "Logging error" not in output, output[-5000:]
    (line,) = error_lines(output)
    assert "the disk is full" in line and "is queued again" in line and "rerun the same command" in line, line
    study = study_of(disk)
    assert "RUNNING" not in states(study) and "WAITING" in states(study)
    assert not [r for r in runs(disk) if r.info.status == "RUNNING"]
    (parent,) = children_and_parent(disk)[1]
    assert parent.info.status == "FAILED" and "the disk is full" in parent.data.tags["error"]
    assert leftovers(disk) == []

    (disk / "ballast").unlink()
    monkeypatch.delenv("FILL_DISK_AT")
    done = train(disk, *command, timeout=600)
    assert_ok(done)
    assert states(study_of(disk)).count("COMPLETE") == 4
    (parent,) = children_and_parent(disk)[1]
    assert parent.info.status == "FINISHED" and "error" not in parent.data.tags
    assert leftovers(disk) == []


@pytest.mark.slow
def test_a_single_run_on_a_full_disk_ends_failed_in_one_line(small_disk) -> None:
    disk = small_disk("8m")
    stat = os.statvfs(disk)
    (disk / "ballast").write_bytes(b"x" * (stat.f_bavail * stat.f_frsize - 3_500_000))  # room for the store, not the model
    done = train(disk, "trainer=smoke", timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in output, output[-5000:]
    (line,) = error_lines(output)
    assert "the disk is full" in line, line
    (run,) = runs(disk)
    assert run.info.status == "FAILED" and "the disk is full" in run.data.tags["error"]
    assert leftovers(disk) == []
