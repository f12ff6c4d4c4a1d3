"""Shared fixtures: paths to the real data beside the repository, and a tidy environment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def shared_file(name: str) -> Path:
    """A file of ../shared/data, or skip the test saying why."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"real data {path} is absent (../shared/data beside the repository)")
    return path


@pytest.fixture
def douyin_csv() -> Path:
    return shared_file("douyin_livestream_2019-12-02.csv")


@pytest.fixture
def taxi_csv() -> Path:
    return shared_file("nab_nyc_taxi.csv")


@pytest.fixture(autouse=True)
def no_inherited_tracking_uri() -> None:
    """``mlflow.set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI`` so subprocesses inherit it:
    one test's store must not become the next test's subprocesses' store. The in-process URI
    (what the test itself set) is untouched."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``small_disk("64k")``: a tmpfs of that size, made and removed by the test; a real full disk
    (needs root to mount; the test is skipped with the reason otherwise)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
        mounted.append(folder)
        return folder

    try:
        yield mount
    finally:
        for folder in mounted:
            subprocess.run(["umount", "--lazy", str(folder)], check=False)
