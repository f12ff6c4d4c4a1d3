"""The report of a real smoke sweep (with failed trials), and that report in a real browser.

The browser is Debian's ``chromium``; the fixture installs it with apt-get when it is missing
(as root, which CI is), and skips with the reason when that is impossible.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.test_report import page_figures, traces_of
from tests.test_train_e2e import assert_ok, train

pytestmark = pytest.mark.slow

# 8 grid points, the too-long timestep varying fastest: 4 finished trials over a 2 x 2 (units, dropout)
# grid, 4 failed ones, and a failure rate of exactly 0.5 whenever the sweep judges it
SWEEP = ["-m", "trainer=smoke", "trainer.max_points=600", "model.units=8,16", "model.dropout=0,0.2",
         "data.timestep=20,5000"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("report")
    assert_ok(train(cwd, *SWEEP, timeout=600))
    (folder,) = (cwd / "sweeps").iterdir()
    return folder


def test_a_sweep_ends_with_its_report_logged_to_mlflow(swept: Path) -> None:
    import mlflow

    page = (swept / "report.html").read_text()
    assert "4 complete, 4 fail" in page
    (heatmap,) = traces_of(page, "heatmap")  # timestep took one value among finished trials: not swept there
    assert {tuple(heatmap["x"]), tuple(heatmap["y"])} == {("8", "16"), ("0", "0.2")}
    assert all(v is not None for row in heatmap["z"] for v in row)  # each cell has its trial
    assert re.findall(r"<h2>(.*?)</h2>", page)[-1] == "Best trial"
    assert any(t.get("name") == "forecast" for t in traces_of(page, "scatter"))  # the best trial's test forecast
    client = mlflow.MlflowClient(f"sqlite:///{swept.parent.parent / 'mlruns' / 'mlflow.db'}")
    parents = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])
               if "trial_number" not in r.data.tags]
    assert any("report.html" in {a.path for a in client.list_artifacts(r.info.run_id)} for r in parents)


def chromium_binary() -> str:
    """Debian's chromium, installed here if missing; skip (saying why) when it cannot be."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("browser test: chromium is not installed and cannot be (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0 and command[1] == "install":
            pytest.skip(f"browser test: apt-get install chromium failed: {done.stderr.strip().splitlines()[-1:]}")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("browser test: chromium still missing after apt-get install")
    return found


def headless(binary: str, url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1300,4000",
         "--virtual-time-budget=20000", "--enable-logging=stderr", "--v=0", *extra, url],
        capture_output=True, text=True, timeout=180)


def non_white_share(png: bytes) -> float:
    """Share of pixels that are not white in an 8-bit RGB(A) PNG (what Chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6), (depth, color)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    previous, coloured = bytearray(stride), 0
    for row in range(height):
        kind, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        coloured += sum(1 for x in range(0, stride, channels) if min(line[x:x + 3]) < 235)
        previous = line
    return coloured / (width * height)


def test_the_report_renders_in_chromium_without_javascript_errors(swept: Path, tmp_path: Path) -> None:
    binary = chromium_binary()
    url = (swept / "report.html").resolve().as_uri()
    dom = headless(binary, url, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-3000:]
    errors = [line for line in dom.stderr.splitlines() if "CONSOLE" in line and ("Error" in line or "Uncaught" in line)]
    assert not errors, errors
    figures = page_figures((swept / "report.html").read_text())
    assert dom.stdout.count('class="main-svg"') >= len(figures)  # every figure drew its svg
    assert re.search(r'<g class="hm"><image [^>]*xlink:href="data:image/png', dom.stdout)  # the heatmap drew
    bars = re.findall(r'<g class="point"><path d="M[^"]+"', dom.stdout)
    assert len(bars) >= 2  # the RMSE and R² bars have drawn paths

    shot = tmp_path / "report.png"
    done = headless(binary, url, f"--screenshot={shot}")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-3000:]
    assert non_white_share(shot.read_bytes()) > 0.03  # a blank page is ~0
