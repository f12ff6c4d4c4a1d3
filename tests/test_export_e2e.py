"""Export end to end: a real smoke sweep, ``python -m sweepcast export``, a fresh interpreter loading
the exported folder with plain MLflow, ``python -m sweepcast predict``, the registry's champion alias,
and ``mlflow models serve`` answering on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.test_train_e2e import assert_ok, train

pytestmark = pytest.mark.slow

SWEEP = ["-m", "trainer=smoke", "trainer.max_points=600", "data.timestep=20", "model.units=8,16",
         "data.features=[WATCH_UCNT,natural_all]", "data.horizon=2"]
REGISTERED = "livestream-WATCH_UCNT-forecaster"


def sweepcast(cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "sweepcast", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def client(cwd: Path):
    import mlflow

    return mlflow.MlflowClient(f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}")


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One two-trial sweep (multivariate inputs, horizon 2), exported once to exports/best."""
    cwd = tmp_path_factory.mktemp("export")
    assert_ok(train(cwd, *SWEEP, timeout=600))
    (folder,) = (cwd / "sweeps").iterdir()
    done = sweepcast(cwd, "export", str(folder.relative_to(cwd)), "--to", "exports/best")
    assert done.returncode == 0, done.stderr[-3000:]
    # a request file in the raw layout, made from the model's own serving example (no shared data needed)
    example = json.loads((cwd / "exports/best/serving_input_example.json").read_text())["dataframe_split"]
    pd.DataFrame(example["data"], columns=example["columns"]).to_csv(cwd / "request.csv", index=False)
    return cwd


def test_export_writes_a_self_contained_model_with_a_card_and_a_champion(swept: Path) -> None:
    model = swept / "exports" / "best"
    assert {"MLmodel", "MODEL_CARD.md", "model_code.py", "code", "artifacts", "requirements.txt"} <= {
        p.name for p in model.iterdir()}
    assert not list(model.rglob("*.pkl")), "the exported folder must hold no pickle"
    assert (model / "code" / "sweepcast" / "export" / "pyfunc.py").is_file()
    best = yaml.safe_load(next((swept / "sweeps").iterdir()).joinpath("best.yaml").read_text())
    champion = client(swept).get_model_version_by_alias(REGISTERED, "champion")
    assert champion.tags["source_run_id"] == best["mlflow_run_id"]
    assert float(champion.tags["metric_value"]) == pytest.approx(best["best_value"])
    card = (model / "MODEL_CARD.md").read_text()
    for text in ("## Data", "`natural_all`", "val_rmse", "baseline_test_rmse", "fit_seconds", "## Reproduce",
                 "python train.py", "data.horizon=2", "model.units=",
                 "trained for only 1 epoch(s) (a smoke budget"):  # trainer=smoke's winner is flagged
        assert text in card, text


def test_a_fresh_interpreter_forecasts_what_this_one_computes(swept: Path) -> None:
    """Plain MLflow in a new process (no sweepcast import: the folder's code is used) against the
    logged Keras network plus the same preprocessing here, and the predict CLI."""
    import mlflow

    from sweepcast.tasks import preprocessing_from_json

    script = ("import sys, pandas as pd, mlflow.pyfunc; m = mlflow.pyfunc.load_model(sys.argv[1]); "
              "rows = pd.read_csv(sys.argv[2], dtype=str, keep_default_na=False, na_values=['']); "
              "print(m.predict(rows, params={'horizon': 2}).to_json(orient='records'))")
    fresh = subprocess.run([sys.executable, "-c", script, "exports/best", "request.csv"], cwd=swept,
                           capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": ""})
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    there = pd.DataFrame(json.loads(fresh.stdout.strip().splitlines()[-1]))

    champion = client(swept).get_model_version_by_alias(REGISTERED, "champion")
    run = client(swept).get_run(champion.tags["source_run_id"])
    mlflow.set_tracking_uri(f"sqlite:///{swept / 'mlruns' / 'mlflow.db'}")
    network = mlflow.keras.load_model(run.data.tags["model_uri"])
    prep = preprocessing_from_json(json.loads((swept / "exports/best/artifacts/preprocessing.json").read_text()))
    rows = pd.read_csv(swept / "request.csv", dtype=str, keep_default_na=False, na_values=[""])
    here = prep.forecast(lambda w: network.predict(w, verbose=0), rows, 2)
    assert there["timestamp"].tolist() == here["timestamp"].tolist() and there["step"].tolist() == [1, 2]
    assert np.allclose(there["WATCH_UCNT"], here["WATCH_UCNT"], atol=1e-5)

    done = sweepcast(swept, "predict", "exports/best", "--input", "request.csv", "--horizon", "2",
                     "--output", "out/forecast.csv")
    assert done.returncode == 0, done.stderr[-3000:]
    written = pd.read_csv(swept / "out" / "forecast.csv")
    assert np.allclose(written["WATCH_UCNT"], here["WATCH_UCNT"], atol=1e-5)
    assert here["timestamp"].iloc[0] in done.stdout


def test_predict_on_the_real_livestream_day(swept: Path, douyin_csv: Path) -> None:
    done = sweepcast(swept, "predict", "exports/best", "--input", str(douyin_csv))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2019-12-02 23:49:00" in done.stdout  # the minute after the file's last row


def test_the_champion_alias_moves_only_to_a_better_run(swept: Path) -> None:
    trials = [r for r in client(swept).search_runs([e.experiment_id for e in client(swept).search_experiments()])
              if "trial_number" in r.data.tags]
    worse, better = sorted(trials, key=lambda r: r.data.metrics["val_rmse"], reverse=True)
    name = "alias-test"
    steps = [(worse, "1"), (better, "2"), (worse, "2")]  # (exported run, champion version afterwards)
    for i, (run, champion) in enumerate(steps):
        done = sweepcast(swept, "export", "--run", run.info.run_id, "--to", f"exports/alias{i}", "--name", name)
        assert done.returncode == 0, done.stderr[-3000:]
        assert str(client(swept).get_model_version_by_alias(name, "champion").version) == champion
    assert "'champion' stays version 2" in done.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(port: int, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@contextmanager
def served(cwd: Path, folder: str) -> Iterator[int]:
    """``mlflow models serve`` of an exported folder on a free loopback port, answering /ping; its port."""
    port = free_port()
    bin_dir = Path(sys.executable).parent  # mlflow execs uvicorn from PATH: the environment's own
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    server = subprocess.Popen([str(bin_dir / "mlflow"), "models", "serve", "-m", folder, "--port", str(port),
                               "--host", "127.0.0.1", "--env-manager", "local"], cwd=cwd, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read()[-3000:]
                assert time.monotonic() < deadline, "mlflow models serve did not answer /ping in 120 s"
                time.sleep(1)
        yield port
        assert server.poll() is None, "the server must survive bad requests"
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)  # the server and its workers
        except ProcessLookupError:
            pass
        server.wait(timeout=30)


def test_mlflow_serves_the_same_numbers_and_answers_bad_requests_with_400(swept: Path) -> None:
    with served(swept, "exports/best") as port:
        rows = pd.read_csv(swept / "request.csv", dtype=str, keep_default_na=False, na_values=[""])
        split = json.loads(rows.to_json(orient="split", index=False))
        status, answer = post(port, {"dataframe_split": split, "params": {"horizon": 2}})
        assert status == 200, answer
        done = sweepcast(swept, "predict", "exports/best", "--input", "request.csv", "--output", "cli.csv")
        assert done.returncode == 0, done.stderr[-3000:]
        served_rows = pd.DataFrame(answer["predictions"])
        assert np.allclose(served_rows["WATCH_UCNT"], pd.read_csv(swept / "cli.csv")["WATCH_UCNT"], atol=1e-6)

        short = {"dataframe_split": {**split, "data": split["data"][:5]}}
        status, answer = post(port, short)
        assert status == 400 and "send at least 20 consecutive rows" in answer["message"]
        status, answer = post(port, {"dataframe_split": split, "params": {"horizon": 3}})
        assert status == 400 and "forecasts at most 2 step(s)" in answer["message"]


def request_variant(cwd: Path, name: str, change) -> str:
    rows = pd.read_csv(cwd / "request.csv", dtype=str, keep_default_na=False, na_values=[""])
    change(rows).to_csv(cwd / name, index=False)
    return name


def set_cell(rows: pd.DataFrame) -> pd.DataFrame:
    rows.loc[3, "WATCH_UCNT"] = "many"
    return rows


BAD = {
    "missing column": (lambda r: r.drop(columns="WATCH_UCNT"), [], "missing inputs ['WATCH_UCNT']"),
    "too few rows": (lambda r: r.head(5), [], "send at least 20 consecutive rows"),
    "non-numeric value": (set_cell, [], "column 'WATCH_UCNT', row 4: expected a number, got 'many'"),
    "horizon the model cannot give": (lambda r: r, ["--horizon", "3"], "forecasts at most 2 step(s)"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_predict_input_gives_one_line(swept: Path, case: str) -> None:
    change, extra, expected = BAD[case]
    name = request_variant(swept, f"bad-{case.replace(' ', '_')}.csv", change)
    done = sweepcast(swept, "predict", "exports/best", "--input", name, *extra)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (["export", "sweeps/empty", "--to", "exports/x"], "no finished run with a logged model"),
    (["export", "sweeps/missing", "--to", "exports/x"], "no such sweep folder"),
    (["export", "--experiment", "nope", "--to", "exports/x"], "no such MLflow experiment"),
    (["export", "--to", "exports/x"], "give exactly one of"),
    (["export", "--run", "0" * 32, "--to", "exports/x"], "no such MLflow run"),
    (["export", "--experiment", "livestream", "--to", "exports/best"], "already exists; pass --force"),
    (["predict", "sweeps", "--input", "request.csv"], "not an exported model folder"),
    (["predict", "exports/best", "--input", "nope.csv"], "nope.csv: file not found"),
    (["predict", "exports/best", "--input", "sweeps"], "expected a CSV file, got a folder"),
    (["predict", "exports/best", "--input", "request.csv", "--output", "request.csv/forecast.csv"], "cannot write there"),
])
def test_bad_export_and_predict_arguments(swept: Path, args: list[str], expected: str) -> None:
    (swept / "sweeps" / "empty").mkdir(exist_ok=True)
    versions = len(client(swept).search_model_versions(f"name = '{REGISTERED}'"))
    done = sweepcast(swept, *args)
    assert done.returncode == 2 and expected in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert len(client(swept).search_model_versions(f"name = '{REGISTERED}'")) == versions  # nothing registered


def test_force_replaces_an_export_and_nothing_else(swept: Path) -> None:
    """Issue 20.1: --to the working folder, the store, a sweep or a user's folder is refused with
    one line, --force or not, and everything stays; an earlier export is still replaced."""
    (swept / "notes.txt").write_text("the user's own file")
    (swept / "mine").mkdir(exist_ok=True)
    (swept / "mine" / "data.csv").write_text("a,b\n1,2\n")
    runs = len(client(swept).search_runs([e.experiment_id for e in client(swept).search_experiments()]))
    (sweep,) = (swept / "sweeps").glob("*/optuna.db")
    for to in (str(swept), ".", "..", "mlruns", "mlruns/artifacts", "sweeps", str(sweep.parent / "x"), "mine"):
        done = sweepcast(swept, "export", "--experiment", "livestream", "--to", to, "--force")
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert done.returncode == 2 and len(errors) == 1 and "--to" in errors[0], (to, done.stderr[-2000:])
        assert "Traceback" not in done.stderr
    assert (swept / "notes.txt").read_text() == "the user's own file" and (swept / "mine" / "data.csv").is_file()
    assert sweep.is_file() and (swept / "exports" / "best" / "MLmodel").is_file()
    assert len(client(swept).search_runs([e.experiment_id for e in client(swept).search_experiments()])) == runs
    done = sweepcast(swept, "export", "--experiment", "livestream", "--to", "exports/best", "--force")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (swept / "exports" / "best" / ".sweepcast-export").is_file()


def test_a_winning_baseline_is_reported_not_hidden(swept: Path) -> None:
    """Baselines log no model; when one wins, export says so and takes the best run with a model."""
    assert_ok(train(swept, "trainer=smoke", "trainer.max_points=600", "data.timestep=20", "model=persistence",
                    "data.horizon=2", "data.features=[WATCH_UCNT,natural_all]"))
    done = sweepcast(swept, "export", "--experiment", "livestream", "--to", "exports/experiment", "--name", "exp-test")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "which logged no model" in done.stderr and "persistence" in done.stderr
    assert "| persistence |" in (swept / "exports/experiment/MODEL_CARD.md").read_text()


def test_a_gbdt_exports_refit_without_pickle_alone_and_in_an_ensemble(tmp_path: Path) -> None:
    """A GBDT logs no model: export refits it from its config (the run's own trees: its test RMSE is
    the run's) and ships it as a skops file; a fresh interpreter forecasts what the refit does
    here, and an ensemble of a GBDT and a network exports and answers their weighted mean."""
    import mlflow

    from sweepcast.models import fitted_baseline
    from sweepcast.tasks import prepare, preprocessing_from_json

    assert_ok(train(tmp_path, "-m", "model=gbdt,lstm", "trainer=smoke", "trainer.max_points=600",
                    "data.timestep=20", "data.features=[WATCH_UCNT,natural_all]", "data.horizon=2", timeout=600))
    store = client(tmp_path)
    (experiment,) = [e for e in store.search_experiments() if e.name == "livestream"]
    trials = {r.data.tags["model_family"]: r for r in store.search_runs([experiment.experiment_id])
              if "trial_number" in r.data.tags}
    gbdt = trials["gbdt"]
    done = sweepcast(tmp_path, "export", "--run", gbdt.info.run_id, "--to", "exports/gbdt", "--intervals", "0.9,0.5")
    assert done.returncode == 0, done.stderr[-3000:]
    folder = tmp_path / "exports" / "gbdt"
    assert (folder / "artifacts" / "trees.skops").is_file() and not list(folder.rglob("*.pkl"))
    assert "skops==" in (folder / "requirements.txt").read_text()

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    config = yaml.safe_load(mlflow.artifacts.load_text(f"runs:/{gbdt.info.run_id}/config.yaml"))
    data = prepare(config["data"], config["trainer"]["max_points"])
    refit = fitted_baseline(config["model"], data, config["trainer"]["seed"])
    truth = data.target_matrix("test")
    assert np.sqrt(np.mean((refit.predict(data, "test") - truth) ** 2)) == pytest.approx(
        gbdt.data.metrics["test_rmse"], rel=1e-9)  # the run's own trees

    example = json.loads((folder / "serving_input_example.json").read_text())["dataframe_split"]
    pd.DataFrame(example["data"], columns=example["columns"]).to_csv(tmp_path / "request.csv", index=False)
    script = ("import sys, pandas as pd, mlflow.pyfunc\n"
              "rows = pd.read_csv(sys.argv[2], dtype=str, keep_default_na=False, na_values=[''])\n"
              "print(mlflow.pyfunc.load_model(sys.argv[1]).predict(rows, params={'horizon': 2}).to_json(orient='records'))\n"
              "print('tensorflow' in sys.modules)")

    def fresh(model: str) -> pd.DataFrame:
        done = subprocess.run([sys.executable, "-c", script, model, "request.csv"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, env={**os.environ, "PYTHONPATH": ""})
        assert done.returncode == 0, done.stderr[-3000:]
        *_, answer, imported_tf = done.stdout.strip().splitlines()
        return pd.DataFrame(json.loads(answer)).assign(tensorflow=imported_tf == "True")

    there = fresh("exports/gbdt")
    assert not there["tensorflow"].any()  # a GBDT alone answers without loading TensorFlow
    prep = preprocessing_from_json(json.loads((folder / "artifacts" / "preprocessing.json").read_text()))
    rows = pd.read_csv(tmp_path / "request.csv", dtype=str, keep_default_na=False, na_values=[""])
    here = prep.forecast(lambda w: refit.model.predict(w.reshape(len(w), -1)).reshape(len(w), -1), rows, 2)
    assert np.allclose(there["WATCH_UCNT"], here["WATCH_UCNT"], rtol=1e-9)
    # split-conformal intervals (issue 18.5): per step, the ceil((n + 1) a)-th smallest validation error
    errors = np.abs(data.target_matrix("val") - refit.predict(data, "val"))
    test_error = np.abs(truth - refit.predict(data, "test"))
    (export_run,) = [r for r in store.search_runs([experiment.experiment_id])
                     if r.data.tags.get("sweepcast_export_of") == gbdt.info.run_id]
    for level, name in ((0.5, "50"), (0.9, "90")):
        radius = np.sort(errors, axis=0)[int(np.ceil((len(errors) + 1) * level)) - 1]
        assert np.allclose((there[f"hi_{name}"] - there["WATCH_UCNT"]).to_numpy(), radius, rtol=1e-9)
        assert np.allclose((there["WATCH_UCNT"] - there[f"lo_{name}"]).to_numpy(), radius, rtol=1e-9)
        assert export_run.data.metrics[f"test_coverage_{name}"] == pytest.approx(np.mean(test_error <= radius))
        assert f"| {name} % |" in (folder / "MODEL_CARD.md").read_text()
    refused = sweepcast(tmp_path, "export", "--run", gbdt.info.run_id, "--to", "exports/bad", "--intervals", "0.8,1")
    assert refused.returncode == 2 and "--intervals: expected levels strictly between 0 and 1" in refused.stderr
    assert not (tmp_path / "exports" / "bad").exists()

    (sweep,) = (tmp_path / "sweeps").iterdir()
    made = subprocess.run([sys.executable, "-m", "sweepcast", "ensemble", str(sweep), "--top", "2", "--weights",
                           "inverse_val"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-3000:]
    (pair,) = [r for r in store.search_runs([experiment.experiment_id]) if "ensemble_members" in r.data.tags]
    done = sweepcast(tmp_path, "export", "--run", pair.info.run_id, "--to", "exports/pair", "--intervals", "0.8")
    assert done.returncode == 0 and "80 % intervals cover" in done.stderr, done.stderr[-3000:]
    assert sweepcast(tmp_path, "export", "--run", trials["lstm"].info.run_id, "--to", "exports/lstm").returncode == 0
    both, alone = fresh("exports/pair"), {name: fresh(f"exports/{name}")["WATCH_UCNT"] for name in ("gbdt", "lstm")}
    weights = {name: 1 / trials[name].data.metrics["val_rmse"] for name in alone}
    expected = sum(weights[n] * alone[n] for n in alone) / sum(weights.values())
    assert np.allclose(both["WATCH_UCNT"], expected, rtol=1e-6)
    assert (both["hi_80"] > both["WATCH_UCNT"]).all() and np.allclose(both["hi_80"] - both["WATCH_UCNT"],
                                                                         both["WATCH_UCNT"] - both["lo_80"])
