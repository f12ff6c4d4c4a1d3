"""A single run stopped by SIGTERM (``kill``, a scheduler's time limit) is closed, never left RUNNING."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_train_e2e import runs

pytestmark = pytest.mark.slow


def running(db: Path) -> bool:
    """A RUNNING run in the store, read without MLflow (a client here would race the job creating
    the schema)."""
    try:
        with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as store:
            return bool(store.execute("SELECT COUNT(*) FROM runs WHERE status = 'RUNNING'").fetchone()[0])
    except sqlite3.Error:  # not there yet, or its tables not yet made
        return False


def test_sigterm_mid_training_closes_the_run_killed(tmp_path: Path) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("MLFLOW_TRACKING_URI", None)
    job = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "trainer=smoke", "trainer.epochs=50",
                            "trainer.early_stopping_patience=null", "trainer.max_points=4000", "data.timestep=20"],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not running(tmp_path / "mlruns" / "mlflow.db"):
            time.sleep(1)
        assert running(tmp_path / "mlruns" / "mlflow.db"), "the run never started"
        time.sleep(3)  # mid-training
        job.send_signal(signal.SIGTERM)
        stdout, stderr = job.communicate(timeout=120)
    finally:
        job.kill()
    output = stdout + stderr
    assert job.returncode == 128 + signal.SIGTERM, output[-3000:]
    assert "Traceback" not in output and "stopped by SIGTERM" in output, output[-3000:]
    (run,) = runs(tmp_path)
    assert run.info.status == "KILLED" and run.data.tags["error"] == "stopped by SIGTERM"
