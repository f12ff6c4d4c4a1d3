"""What an export may replace: never the current directory, a store, a sweep or a user's folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sweepcast.errors import SweepcastError
from sweepcast.export.target import MARKER, check_target, is_export, write_marker


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A working folder as users have it: a store, a sweep, an export, a folder of their own."""
    (tmp_path / "mlruns" / "artifacts").mkdir(parents=True)
    (tmp_path / "mlruns" / "mlflow.db").write_bytes(b"runs")
    (tmp_path / "sweeps" / "s1").mkdir(parents=True)
    (tmp_path / "sweeps" / "s1" / "optuna.db").write_bytes(b"study")
    (tmp_path / "exports" / "best").mkdir(parents=True)
    write_marker(tmp_path / "exports" / "best", "abc")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    cwd = Path.cwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(cwd)


@pytest.mark.parametrize(("to", "expected"), [
    (".", "is the current directory or holds it"),
    ("..", "is the current directory or holds it"),
    ("mlruns", "is, holds or lies inside the MLflow store"),
    ("mlruns/artifacts/x", "is, holds or lies inside the MLflow store"),
    ("sweeps/s1", "is, holds or lies inside the sweep folder"),
    ("sweeps/s1/export", "is, holds or lies inside the sweep folder"),
    ("sweeps", "is, holds or lies inside the sweep folder"),
    ("mine", "is not an export folder"),
])
def test_force_never_replaces_what_is_not_an_export(project: Path, to: str, expected: str) -> None:
    with pytest.raises(SweepcastError, match=expected):
        check_target(Path(to), True, project / "mlruns", [project / "sweeps" / "s1"])
    assert (project / "mine" / "notes.txt").read_text() == "keep me"


def test_a_sweep_folder_is_protected_even_when_the_command_reads_another(project: Path) -> None:
    with pytest.raises(SweepcastError, match="holds a study or an MLflow store"):
        check_target(Path("sweeps/s1/out"), True, None)


def test_an_export_is_replaced_only_with_force_and_a_new_folder_is_fine(project: Path) -> None:
    with pytest.raises(SweepcastError, match="already exists; pass --force"):
        check_target(Path("exports/best"), False, project / "mlruns")
    check_target(Path("exports/best"), True, project / "mlruns")
    check_target(Path("exports/new"), False, project / "mlruns")
    check_target(Path("mine-empty"), False, project / "mlruns")


def test_what_counts_as_an_export(project: Path) -> None:
    assert is_export(project / "exports" / "best") and (project / "exports" / "best" / MARKER).is_file()
    legacy = project / "exports" / "old"  # written before the marker existed
    legacy.mkdir()
    for name in ("MLmodel", "MODEL_CARD.md", "model_code.py"):
        (legacy / name).write_text("x")
    assert is_export(legacy)
    (legacy / "sub").mkdir()
    (legacy / "sub" / "optuna.db").write_bytes(b"")
    assert not is_export(legacy)  # a study moved inside it: not ours to delete
    assert not is_export(project / "mine")


def test_the_champion_rule_on_smoke_budgets_and_other_data() -> None:
    """A newcomer's smoke champion must not block a trained model, and metrics scored on other data
    (another max_points, another file) must not decide who is champion."""
    from sweepcast.export.package import RunArtifacts, champion_verdict
    from sweepcast.export.select import Candidate
    from sweepcast.tracking.views import ModelVersionView

    def run(epochs: int, fingerprint: str) -> RunArtifacts:
        return RunArtifacts(config={"model": {"name": "lstm"}, "trainer": {"epochs": epochs}}, preprocessing=None,
                            tags={"data_fingerprint": fingerprint}, metrics={"val_rmse": 4.0})

    candidate = Candidate("r2", "lstm", "1", "val_rmse", "minimize", 4.0, "runs:/r2/model", "experiment 'x'")
    champion = {"metric": "val_rmse", "direction": "minimize", "metric_value": "3.0", "data_fingerprint": "aaa"}
    smoke = ModelVersionView("1", {**champion, "smoke_budget": "True"})
    trained = ModelVersionView("1", {**champion, "smoke_budget": "False"})
    assert champion_verdict(smoke, candidate, run(10, "bbb")) == ("version 1 was trained on a smoke budget", True)
    assert champion_verdict(smoke, candidate, run(1, "aaa"))[1] is False  # smoke against smoke: the metric decides
    verdict, moves = champion_verdict(trained, candidate, run(10, "bbb"))
    assert not moves and "scored on other data" in verdict
    assert champion_verdict(trained, candidate, run(10, "aaa")) == ("its val_rmse 3 is not beaten by 4", False)
