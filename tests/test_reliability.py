"""Reliability and safety checks that need no server: determinism of training, no code
execution of user data anywhere in the source, and the MLflow UI bound to this machine."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_train_e2e import assert_ok, runs, train

SOURCE_DIRS = ("src", "hydra_plugins", "scripts", "bench")
# calls that run or unpickle what they are given: none may appear in our code
FORBIDDEN = {
    r"(?<![\w.])eval\(": "eval",
    r"(?<![\w.])exec\(": "exec",
    r"\bpickle\.loads?\(": "pickle.load",
    r"\bcloudpickle\.loads?\(": "cloudpickle.load",
    r"\bjoblib\.load\(": "joblib.load",
    r"\bdill\.loads?\(": "dill.load",
    r"\bmarshal\.loads?\(": "marshal.load",
    r"\byaml\.load\((?![^)]*SafeLoader)": "yaml.load without SafeLoader",
    r"\byaml\.unsafe_load\(": "yaml.unsafe_load",
    r"allow_pickle\s*=\s*True": "numpy allow_pickle=True",
    r"\bshell\s*=\s*True": "subprocess shell=True",
    r"\bos\.system\(": "os.system",
}


def source_files() -> list[Path]:
    files = [ROOT / "train.py"]
    for folder in SOURCE_DIRS:
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".sh") and p.is_file()]
    return files


def test_no_code_execution_or_unpickling_anywhere_in_the_source() -> None:
    files = source_files()
    assert len(files) > 40  # the scan sees the package, not an empty folder
    found = [f"{path.relative_to(ROOT)}:{number}: {name}: {line.strip()}"
             for path in files for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if not line.lstrip().startswith("#")
             for pattern, name in FORBIDDEN.items() if re.search(pattern, line)]
    assert not found, "\n".join(found)


def test_the_scan_catches_what_it_forbids() -> None:
    """The patterns match real offending lines (a scan that cannot fail proves nothing)."""
    lines = ["x = eval(text)", "exec(code)", "pickle.load(handle)", "yaml.load(text)", "np.load(f, allow_pickle=True)",
             "subprocess.run(cmd, shell=True)", "os.system(cmd)", "joblib.load(path)"]
    for line in lines:
        assert any(re.search(p, line) for p in FORBIDDEN), line
    for fine in ("ast.literal_eval(text)", "yaml.safe_load(text)", "yaml.load(text, Loader=yaml.SafeLoader)",
                 "model.evaluate(x)", "np.load(f)"):
        assert not any(re.search(p, fine) for p in FORBIDDEN), fine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_ui_is_ready_when_it_says_so_serves_loopback_only_and_stops_whole(stop: int, tmp_path: Path) -> None:
    """Issue 16.2: "ready" only once it answers; one worker on 2 cores and no huey job runner; a
    signal to its PID alone (not the group) stops every process it started within seconds; no
    uvicorn INFO or Starlette deprecation lines on the console."""
    import mlflow
    import psutil

    store = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    (tmp_path / "mlruns").mkdir()
    mlflow.MlflowClient(store).create_experiment("seen-in-the-ui")
    port = free_port()
    ui = subprocess.Popen([sys.executable, "-m", "sweepcast", "ui", "--tracking-uri", store, "--port", str(port)],
                          cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True, env={k: v for k, v in os.environ.items() if k != "SWEEPCAST_VERBOSE"})
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(ui.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180
        while not any("MLflow UI ready on" in line for line in lines):
            assert ui.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
            assert answer.status == 200  # at once: "ready" is said after it answered
        request = urllib.request.Request(f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search",
                                         data=b'{"max_results": 10}', headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert b"seen-in-the-ui" in answer.read()
        processes = [psutil.Process(ui.pid), *psutil.Process(ui.pid).children(recursive=True)]
        listening = {c.laddr.ip for p in processes for c in p.net_connections("inet")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        assert listening == {"127.0.0.1"}
        commands = [" ".join(p.cmdline()) for p in processes]
        assert not any("huey" in c for c in commands), commands
        expected = 3 if len(os.sched_getaffinity(0)) < 4 else None  # us, mlflow ui, one uvicorn
        assert expected is None or len(processes) == expected, commands
        asked = time.monotonic()
        ui.send_signal(stop)  # its PID only, as a user's kill or Ctrl-C in its terminal would reach it
        ui.wait(timeout=30)
        _, alive = psutil.wait_procs(processes, timeout=max(0.1, asked + 10 - time.monotonic()))
        assert not alive and time.monotonic() - asked < 10, [p.cmdline() for p in alive]
        assert ui.returncode == 128 + stop
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ui.pid, signal.SIGKILL)
        ui.wait(timeout=30)
        reader.join(timeout=10)
    console = "".join(lines)
    assert "INFO:" not in console and "StarletteDeprecationWarning" not in console, console
    assert "stopping the MLflow UI" in console


@pytest.mark.slow
def test_same_config_and_seed_give_identical_metrics(tmp_path: Path) -> None:
    """trainer.deterministic=true (TF op determinism) plus the seed: two runs, the same numbers."""
    args = ["trainer=smoke", "trainer.max_points=800", "trainer.epochs=2", "data.timestep=20", "model.units=8",
            "trainer.deterministic=true", "tracking.log_model=false"]
    for attempt in ("first", "second"):
        (tmp_path / attempt).mkdir()
        assert_ok(train(tmp_path / attempt, *args))
    (first,), (second,) = runs(tmp_path / "first"), runs(tmp_path / "second")
    keys = ("val_rmse", "test_rmse", "test_mae", "test_r2", "loss", "val_loss", "epoch_val_rmse")
    assert {k: first.data.metrics[k] for k in keys} == {k: second.data.metrics[k] for k in keys}
    assert first.data.tags["data_fingerprint"] == second.data.tags["data_fingerprint"]
