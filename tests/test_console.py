"""The quiet console (issue 16.3/16.4): TensorFlow's start-up chatter hidden, real errors kept,
the full noise one switch away, and a first line before the heavy imports."""

from __future__ import annotations

import logging
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from sweepcast.console import drop_retracing, filtered_stderr

ROOT = Path(__file__).resolve().parents[1]
IMPORT_TF = "from sweepcast.console import quiet; quiet(); import tensorflow; print('imported')"


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("SWEEPCAST_VERBOSE", "TF_CPP_MIN_LOG_LEVEL")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**environ, **env})


def test_tensorflow_imports_without_its_start_up_lines_unless_verbose():
    quiet = run_python(IMPORT_TF)
    assert quiet.returncode == 0 and quiet.stdout.strip() == "imported"
    assert "oneDNN" not in quiet.stderr and "absl::InitializeLog" not in quiet.stderr, quiet.stderr
    loud = run_python(IMPORT_TF, SWEEPCAST_VERBOSE="1")
    assert loud.returncode == 0 and "oneDNN custom operations are on" in loud.stderr  # the switch keeps it all


def test_filtered_stderr_replays_every_other_line_in_order(capfd):
    with filtered_stderr(re.compile("noise")):
        os.write(2, b"first\nsome noise here\n")
        os.write(2, b"second\n")
    assert capfd.readouterr().err == "first\nsecond\n"


def test_only_the_retracing_warning_is_dropped():
    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("tensorflow", logging.WARNING, __file__, 1, message, None, None)

    assert not drop_retracing(record("5 out of the last 19 calls to <function f> triggered tf.function retracing."))
    assert drop_retracing(record("a warning the user must read"))


def test_train_py_says_it_is_starting_before_the_imports_on_a_terminal_only():
    main, terminal = pty.openpty()  # stderr on a real terminal, as a user at a shell has it
    try:
        result = subprocess.run([sys.executable, "train.py", "--help"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=terminal, timeout=120)
        os.close(terminal)
        terminal = -1
        seen = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal side closed: all read
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(main)
        if terminal >= 0:
            os.close(terminal)
    assert result.returncode == 0
    assert seen.decode().splitlines()[0].startswith("sweepcast: train.py starting")
    piped = subprocess.run([sys.executable, "train.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert "starting" not in piped.stderr  # a pipe gets no progress line: bad input stays one line
