"""The bad-input catalog: one line naming the culprit, non-zero exit, no traceback, no FINISHED
run, no broken study.

Each table is a list of cases (name -> arguments, text the one error line must contain); adding
a case is one line. ``CASES``: data files and configs of ``train.py`` jobs (livestream, CSV
series, check-ins). ``SWEEP_CASES``: sweeper settings, search spaces and storage URLs of
``train.py -m``. ``CLI_CASES``: the ``python -m sweepcast`` verbs. Bad requests to an exported
model live beside their model fixture in ``test_export_e2e.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_train_e2e import runs, train

DOUYIN_HEADER = (
    ",natural_flow_trend_index,pay_flow_trend_index,UV_VALUE,COMMENT_CNT,date_time,INCR_FANS_CNT,"
    "LEAVE_UCNT,FANS_CLUB_UCNT,PAY_ORDER_GMV,ONLINE_USER_CNT,WATCH_UCNT,PAY_CNT,PAY_UCNT\n"
)


def douyin_row(i: int, natural: str = "{'全部自然流量': 7, '关注': 4}", watch: str = "19.0") -> str:
    return f"{i},\"{natural}\",\"{{'全部付费流量': 0}}\",0.0,9,2019-12-02 08:{10 + i:02d}:00,0.0,10.0,0.0,0.0,11,{watch},0.0,0.0\n"


def checkin_lines(users: int = 3, per_user: int = 15) -> str:
    """Sound check-ins in SNAP's layout: ``per_user`` a few hours apart per user, inside New York."""
    return "".join(f"{u}\t2010-10-{1 + i // 4:02d}T{(i % 4) * 5:02d}:00:00Z\t{40.70 + 0.001 * i}\t{-73.95 - 0.001 * u}\t{i}\n"
                   for u in range(users) for i in range(per_user))


FILES = {
    "evil.csv": DOUYIN_HEADER + douyin_row(0) + douyin_row(1, natural="__import__('os').system('touch PWNED')"),
    "broken.csv": DOUYIN_HEADER + douyin_row(0) + douyin_row(1, natural="{'全部自然流量': 7"),
    "words.csv": DOUYIN_HEADER + "".join(douyin_row(i) for i in range(30)) + douyin_row(31, watch="many"),
    "dead.csv": DOUYIN_HEADER + "".join(douyin_row(i, natural="{'全部自然流量': 0}") for i in range(30)),
    "six_fields.txt": checkin_lines() + "3\t2010-10-01T00:00:00Z\t40.7\t-73.9\t5\textra\n",
    "bad_time.txt": checkin_lines() + "3\tyesterday\t40.7\t-73.9\t5\n",
    "bad_latitude.txt": checkin_lines() + "3\t2010-10-01T00:00:00Z\t97.5\t-73.9\t5\n",
    "short_users.txt": checkin_lines(users=20, per_user=12),
    "no_location.txt": "".join(line.rsplit("\t", 1)[0] + "\n" for line in checkin_lines().splitlines()),
    "all_nan.csv": "timestamp,value\n" + "".join(f"2024-01-01 {h:02d}:{m:02d}:00,\n" for h in range(8) for m in range(60)),
    "nan_extra.csv": "timestamp,value,extra\n" + "".join(f"2024-01-01 {h:02d}:{m:02d}:00,{m % 7},\n"
                                                         for h in range(8) for m in range(60)),
    "huge.csv": "timestamp,value\n" + "".join(f"2024-01-01 {h:02d}:{m:02d}:00,{(-1) ** m * 1e308}\n"
                                             for h in range(8) for m in range(60)),
}

def truncated_gzip() -> bytes:
    import gzip

    whole = gzip.compress(("timestamp,value\n" + "".join(f"2024-01-01 00:{m:02d}:00,{m}\n" for m in range(60))).encode())
    return whole[: len(whole) // 2]


BINARY_FILES = {"truncated.csv.gz": truncated_gzip(), "not_gzip.csv.gz": b"timestamp,value\n2024-01-01,1\n"}

# name -> (overrides with {tmp} for the test's folder, text the single error line must contain)
CASES: dict[str, tuple[list[str], str]] = {
    "missing file": (["data.path={tmp}/nope.csv"], "nope.csv: file not found"),
    "unknown model name": (["model.name=gru"], "model.name"),
    "unknown optimizer": (["trainer.optimizer=adamw"], "trainer.optimizer"),
    "unknown activation": (["model.activation=swish2"], "model.activation"),
    "missing target column": (["data.target=VIEWERS"], "target column 'VIEWERS'"),
    "non-numeric value": (["data.path={tmp}/words.csv"], "column 'WATCH_UCNT', row 31"),
    "malicious dict string": (["data.path={tmp}/evil.csv"], "natural_flow_trend_index"),
    "malformed dict string": (["data.path={tmp}/broken.csv"], "natural_flow_trend_index"),
    "timestep too long": (["data.timestep=5000", "trainer.max_points=2000"], "data.timestep=5000"),
    "layers below one": (["model.layers=0"], "model.layers"),
    "dropout of one": (["model.dropout=1.0"], "model.dropout"),
    "negative dropout": (["model.dropout=-0.2"], "model.dropout"),
    "empty after cleaning": (["data.path={tmp}/dead.csv"], "no rows left after cleaning"),
    "unknown data source": (["data.source=parquet"], "data.source"),
    "bad scaler": (["data.scaler=log"], "data.scaler"),
    "bad split": (["data.split.train=1.5"], "data.split.train"),
    "bad optimized metric": (["optimized_metric=val_accuracy"], "optimized_metric"),
    "heads not dividing d_model": (["model=transformer", "model.heads=3"], "model.heads"),
    "moving average wider than the window": (["model=moving_average", "model.window=100", "data.timestep=20"],
                                             "model.window"),
    "unknown holiday country": (["data.calendar.enabled=true", "data.calendar.country=XX"], "data.calendar.country"),
    "seasonal period beyond the training split": (["model=seasonal_naive", "model.period=1440", "trainer.max_points=2000"],
                                                 "at most the training split's 1400 rows"),
    "unknown feature column": (["data.features=[WATCH_UCNT,VIEWERS]"], "feature column 'VIEWERS'"),
    "horizon below one": (["data.horizon=0"], "data.horizon"),
    "horizon longer than the data": (["data.horizon=400", "data.timestep=20", "trainer.max_points=2000"],
                                     "data.horizon=400 leaves no window in the val split (300 rows); use a horizon of at most 300"),
    "unknown strategy": (["data.strategy=sideways"], "data.strategy"),
    "recursive with extra inputs": (["data.horizon=5", "data.strategy=recursive", "data.calendar.enabled=true"],
                                    "data.strategy"),
    "gbdt horizon beyond max_horizon": (["model=gbdt", "data.horizon=30"], "model.max_horizon=24"),
    "seasonal period shorter than the horizon": (["model=seasonal_naive", "model.period=5", "data.horizon=10"],
                                                 "data.horizon=10"),
    # check-ins (data=checkins): SNAP lines, cleaning, windows, families
    "check-in line with six fields": (["data=checkins", "data.path={tmp}/six_fields.txt"], "line 46"),
    "check-in time unparsable": (["data=checkins", "data.path={tmp}/bad_time.txt"],
                                 "line 46: expected a time like 2010-10-12T00:21:28Z, got 'yesterday'"),
    "check-in latitude beyond 90": (["data=checkins", "data.path={tmp}/bad_latitude.txt"],
                                    "line 46: latitude must be in [-90, 90]"),
    "check-in box that keeps nothing": (["data=checkins", "data.clean.bbox=[0,1,0,1]"], "no check-in inside data.clean.bbox"),
    "check-in users too short for the timestep": (
        ["data=checkins", "data.path={tmp}/short_users.txt", "data.timestep=12", "data.clean.min_checkins=1"],
        "data.timestep=12 leaves no window in the train split"),
    "check-in horizon beyond one": (["data=checkins", "data.horizon=3"], "data.horizon"),
    "check-in unknown split": (["data=checkins", "data.split.by=random"], "data.split.by"),
    "check-in negative speed limit": (["data=checkins", "data.clean.max_speed_kmh=-5"], "data.clean.max_speed_kmh"),
    "check-in missing edges file": (["data=checkins", "data.edges={tmp}/no_edges.txt"], "no_edges.txt: file not found"),
    "series baseline on check-ins": (["data=checkins", "model=persistence"], "model.name"),
    "check-in baseline on a series": (["model=last_checkin"], "a family for series data"),
    "series metric on check-ins": (["data=checkins", "optimized_metric=val_smape"], "optimized_metric"),
    # issue 15: the next-place task
    "regression metric on next places": (["data=checkin_places", "optimized_metric=val_rmse"], "optimized_metric"),
    "next-place vocabulary of one place": (["data=checkin_places", "data.places.max_places=1"],
                                           "data.places.max_places"),
    "unknown next-place key": (["data=checkin_places", "+data.places.size=3"], "data.places.size"),
    "next-place gap flag not a boolean": (["data=checkin_places", "data.predict_gap=maybe"], "data.predict_gap"),
    "series baseline on next places": (["data=checkin_places", "model=persistence"], "model.name"),
    "next-place baseline on check-ins": (["data=checkins", "model=markov_place"], "a family for checkins data"),
    "next-place file without location ids": (["data=checkin_places", "data.path={tmp}/no_location.txt"],
                                             "expected 5 tab-separated fields per line, got 4"),
    "next-place users too short for the timestep": (
        ["data=checkin_places", "data.path={tmp}/short_users.txt", "data.timestep=12", "data.clean.min_checkins=1"],
        "data.timestep=12 leaves no window in the train split"),
    # issue 20.6: found before any run, not as scikit-learn's "Input contains NaN" after it opened
    "all-NaN target column": (["data=csv_series", "data.path={tmp}/all_nan.csv", "model=persistence"],
                              "column 'value' holds no value"),
    "all-NaN extra column": (["data=csv_series", "data.path={tmp}/nan_extra.csv", "data.features=all",
                              "model=persistence"], "column 'extra' holds no value"),
    "values near 1e308": (["data=csv_series", "data.path={tmp}/huge.csv", "model=persistence"],
                          "column 'value' holds values too large to scale"),
    # issue 20.8: one reading layer for every loader
    "truncated gzip series": (["data=csv_series", "data.path={tmp}/truncated.csv.gz"], "truncated or corrupt"),
    "not gzip at all": (["data=csv_series", "data.path={tmp}/not_gzip.csv.gz"], "not_gzip.csv.gz: cannot read"),
    "a folder as the data path": (["data=csv_series", "data.path={tmp}"], "expected a CSV file, got a folder"),
    "a folder as the livestream path": (["data.path={tmp}"], "expected a CSV file, got a folder"),
    "a folder as the check-in path": (["data=checkins", "data.path={tmp}"], "expected a SNAP check-in file, got a folder"),
    "a path too long for the OS": (["data=csv_series", "data.path={tmp}/" + "x" * 300 + ".csv"],
                                   "the path is too long for this system"),
    "unknown plotly.js mode": (["tracking.plotlyjs=foo"], "tracking.plotlyjs"),  # issue 20.9: was taken as cdn
    "diverging training": (["trainer=smoke", "trainer.max_points=600", "data.timestep=20", "model.units=8",
                            "trainer.optimizer=sgd", "model.activation=relu", "trainer.learning_rate=9.9"],
                           "forecasts are not finite"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_one_clear_line(case: str, tmp_path: Path) -> None:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    for name, data in BINARY_FILES.items():
        (tmp_path / name).write_bytes(data)
    overrides, expected = CASES[case]
    done = train(tmp_path, *(o.format(tmp=tmp_path) for o in overrides))
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]
    errors = [line for line in output.splitlines() if "[ERROR]" in line]
    assert len(errors) == 1, output[-3000:]
    assert expected in errors[0], errors[0]
    assert "Traceback" not in output
    assert not (tmp_path / "PWNED").exists()
    assert all(r.info.status != "FINISHED" for r in runs(tmp_path))
    if not runs(tmp_path):  # refused before a run opened: no outputs/<date>/<time>/ left either (16.10)
        assert not (tmp_path / "outputs").exists(), list((tmp_path / "outputs").rglob("*"))


def test_hydra_rejects_unknown_config_option(tmp_path: Path) -> None:
    done = train(tmp_path, "model=gru")
    assert done.returncode != 0
    assert "Could not find 'model/gru'" in done.stderr
    assert runs(tmp_path) == []


# Sweeps (``-m``): found before any study, parent run or trial exists, except the storage one.
SWEEP_CASES: dict[str, tuple[list[str], str]] = {
    "unknown sampler": (["hydra.sweeper.sampler._target_=optuna.samplers.NoSuchSampler"], "hydra.sweeper.sampler"),
    "sampler argument": (["+hydra.sweeper.sampler.bogus=1"], "unexpected keyword argument 'bogus'"),
    "unknown pruner": (["+hydra.sweeper.pruner._target_=optuna.pruners.NoPruner"], "hydra.sweeper.pruner"),
    "n_trials below one": (["hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials"),
    "n_jobs below one": (["hydra.sweeper.n_jobs=0"], "hydra.sweeper.n_jobs"),
    "failure rate above one": (["hydra.sweeper.max_failure_rate=2"], "hydra.sweeper.max_failure_rate"),
    "unknown mode": (["hydra.sweeper.mode=random"], "hydra.sweeper.mode"),
    "grid with an interval": (["hydra.sweeper.mode=grid", "model.dropout=interval(0,0.3)"], "hydra.sweeper.mode"),
    "empty interval": (["model.dropout=interval(0.4,0.1)"], "model.dropout"),
    "log interval from zero": (["trainer.learning_rate=tag(log,interval(0,0.1))"], "trainer.learning_rate"),
    "override of a missing key": (["model.foo=1,2"], "model.foo"),
    "bad value in the grid": (["model.dropout=0.1,1.5"], "model.dropout"),
    "bad search expression in params": (["+hydra.sweeper.params.model.layers='choice(1,2'"], "hydra.sweeper.params.model.layers"),
    "not a storage URL": (["hydra.sweeper.storage=nowhere"], "hydra.sweeper.storage"),
    "unsafe study name": (["hydra.sweeper.study_name=../escape"], "hydra.sweeper.study_name"),
    "unknown custom space": (["hydra.sweeper.custom_search_space=no.such.fn"], "hydra.sweeper.custom_search_space"),
    # issue 20.9: checked as a class before anything is called (os.makedirs made this folder)
    "sampler that is a function": (["hydra.sweeper.sampler._target_=os.makedirs", "~hydra.sweeper.sampler.seed",
                                    "+hydra.sweeper.sampler.name=made_by_sampler"], "hydra.sweeper.sampler._target_"),
    "pruner of the wrong kind": (["+hydra.sweeper.pruner._target_=optuna.samplers.TPESampler"],
                                 "hydra.sweeper.pruner._target_"),
}


@pytest.mark.parametrize("case", sorted(SWEEP_CASES))
def test_bad_sweep_gives_one_line_and_leaves_nothing(case: str, tmp_path: Path) -> None:
    overrides, expected = SWEEP_CASES[case]
    done = train(tmp_path, "-m", "trainer=smoke", *overrides)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]
    errors = [line for line in output.splitlines() if "[ERROR]" in line]
    assert len(errors) == 1 and expected in errors[0], output[-3000:]
    assert "Traceback" not in output
    assert not list(tmp_path.glob("sweeps/*/optuna.db")), "no study for a sweep that cannot start"
    assert runs(tmp_path) == []
    assert not (tmp_path / "made_by_sampler").exists()


def test_unreachable_storage_names_it_without_its_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the password as users give it (a URL holding one is refused: tests/test_secrets.py)
    monkeypatch.setenv("PGPASSWORD", "s3cret")
    done = train(tmp_path, "-m", "trainer=smoke", "hydra.sweeper.storage=postgresql://sweeper@127.0.0.1:9/optuna")
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]
    (error,) = [line for line in output.splitlines() if "[ERROR]" in line]
    assert "hydra.sweeper.storage" in error and "postgresql://sweeper@127.0.0.1:9/optuna" in error
    assert "s3cret" not in output
    assert runs(tmp_path) == [] or all(r.info.status != "FINISHED" for r in runs(tmp_path))


def test_an_empty_or_foreign_study_file_is_refused_not_started_over(tmp_path: Path) -> None:
    """Issue 20.5: a zero-byte optuna.db (or one that is no Optuna study) used to start a new
    study over it; now one line, the file untouched, no sweep files, no MLflow run."""
    import sqlite3

    folder = tmp_path / "sweeps" / "kept"
    folder.mkdir(parents=True)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    for name, content, expected in (("empty", b"", "is empty (0 bytes)"),
                                    ("garbage", b"not a database, just text " * 40, "is not an SQLite database"),
                                    ("foreign", foreign.read_bytes(), "holds no Optuna study tables")):
        (folder / "optuna.db").write_bytes(content)
        done = train(tmp_path, "-m", "trainer=smoke", "model.layers=1,2", "hydra.sweeper.study_name=kept")
        output = done.stdout + done.stderr
        errors = [line for line in output.splitlines() if "[ERROR]" in line]
        assert done.returncode == 2 and len(errors) == 1, (name, output[-3000:])
        assert "hydra.sweeper.storage" in errors[0] and expected in errors[0], (name, errors[0])
        assert "Traceback" not in output
        assert (folder / "optuna.db").read_bytes() == content, name
        assert not (folder / "best.yaml").exists() and not (folder / "trials.csv").exists()
        assert runs(tmp_path) == []


@pytest.mark.slow
def test_a_bad_rerun_leaves_the_study_and_its_runs_as_they_were(tmp_path: Path) -> None:
    """A finished study, then reruns of it that must be refused: nothing in it changes."""
    import optuna

    sweep = ["-m", "trainer=smoke", "trainer.max_points=600", "data.timestep=20", "model.units=8",
             "tracking.log_model=false", "model.layers=1,2", "hydra.sweeper.study_name=kept"]
    first = train(tmp_path, *sweep)
    assert first.returncode == 0, first.stderr[-3000:]
    storage = f"sqlite:///{tmp_path / 'sweeps' / 'kept' / 'optuna.db'}"

    def snapshot() -> list[tuple]:
        study = optuna.load_study(study_name="kept", storage=storage)
        return [(t.number, t.state.name, t.value, t.params) for t in study.get_trials()]

    before, runs_before = snapshot(), {r.info.run_id: r.info.status for r in runs(tmp_path)}
    for bad, expected in ((["optimized_metric=val_r2"], "hydra.sweeper.direction"),
                          (["model.dropout=0.1,1.5"], "model.dropout"),
                          (["hydra.sweeper.sampler._target_=optuna.samplers.NoSuchSampler"], "hydra.sweeper.sampler")):
        done = train(tmp_path, *sweep, *bad)
        output = done.stdout + done.stderr
        errors = [line for line in output.splitlines() if "[ERROR]" in line]
        assert done.returncode == 2 and len(errors) == 1 and expected in errors[0], output[-3000:]
        assert "Traceback" not in output
        assert snapshot() == before
        assert {r.info.run_id: r.info.status for r in runs(tmp_path)} == runs_before


# python -m sweepcast <verb>: arguments and files, before any model is needed
CLI_CASES: dict[str, tuple[list[str], str]] = {
    "report of a missing sweep folder": (["report", "sweeps/missing"], "no such sweep folder"),
    "report of a folder without a study": (["report", "."], "holds no study"),
    "explore of an unknown data config": (["explore", "data=nope"], "Could not find 'data/nope'"),
    "explore of check-ins with an inverted box": (["explore", "data=checkins", "data.clean.bbox=[41,40,-74,-73]"],
                                                  "data.clean.bbox"),
    "ui on a missing store": (["ui", "--tracking-uri", "sqlite:///nowhere/mlflow.db"], "no MLflow store"),
    "ui on a port out of range": (["ui", "--port", "70000"], "--port"),
    "ui on a tracking server": (["ui", "--tracking-uri", "http://127.0.0.1:9"], "already a tracking server"),
    "predict without a model folder": (["predict", "nowhere", "--input", "rows.csv"], "not an exported model folder"),
    "predict --output to a folder": (["predict", "nowhere", "--input", "rows.csv", "--output", "."], "is a folder"),
    # issue 16.10: the input is read before the model (and TensorFlow) loads
    "predict on a missing input file": (["predict", "fake_export", "--input", "rows.csv"], "rows.csv: file not found"),
    "export from a missing store": (["export", "--experiment", "x", "--to", "out", "--tracking-uri",
                                     "sqlite:///nowhere.db"], "no MLflow store"),
    "export with two selectors": (["export", "sweeps/a", "--run", "abc", "--to", "out"], "give exactly one of"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_bad_cli_input_gives_one_error_line(case: str, tmp_path: Path) -> None:
    args, expected = CLI_CASES[case]
    (tmp_path / "fake_export").mkdir()
    (tmp_path / "fake_export" / "MLmodel").write_text("not a model: loading it would fail, and must not be tried\n")
    done = subprocess.run([sys.executable, "-m", "sweepcast", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert [line for line in lines if line.startswith("error:")] == [lines[-1]] and expected in lines[-1], lines[-3:]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "out").exists()


def test_ui_on_a_busy_port_says_so_and_fails(tmp_path: Path) -> None:
    """Issue 20.9: uvicorn's error and exit 0 once the process became mlflow ui; now checked first."""
    import socket

    (tmp_path / "mlruns").mkdir()
    (tmp_path / "mlruns" / "mlflow.db").write_bytes(b"")  # the store must exist; the port check comes before use
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "sweepcast", "ui", "--port", str(port)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and lines[-1].startswith("error:") and f"--port {port}" in lines[-1], done.stderr
    assert "Traceback" not in done.stderr


def test_the_catalog_holds_at_least_25_cases() -> None:
    assert len(CASES) + len(SWEEP_CASES) + len(CLI_CASES) >= 25


def test_unparsable_override_is_one_line_before_hydra(tmp_path: Path) -> None:
    done = train(tmp_path, "-m", "model.dropout=interval(0.5)")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: override 'model.dropout=interval(0.5)': TypeError while evaluating 'interval(0.5)': "
        "missing a required argument: 'end'"]
