"""``python -m sweepcast``: the verbs around training (``train.py`` stays Hydra's entry).

    python -m sweepcast export sweeps/<name> --to exports/best
    python -m sweepcast export --experiment livestream --metric test_rmse --to exports/best
    python -m sweepcast predict exports/best --input day.csv --horizon 10 [--output forecast.csv]
    python -m sweepcast report sweeps/<name> [--pairs model.units:model.dropout]
    python -m sweepcast explore data=livestream [more overrides] [--out page.html] [--mlflow]
    python -m sweepcast ui [--host 127.0.0.1] [--port 5000] [--workers N]
    python -m sweepcast ensemble sweeps/<name> --top 5 [--weights equal|inverse_val]

A user error prints one ``error:`` line and exits with status 2, like ``train.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from sweepcast import tracking
from sweepcast.data.checkins import COLUMNS
from sweepcast.data.reading import read_csv
from sweepcast.errors import SweepcastError
from sweepcast.export.target import check_target
from sweepcast.redaction import redact, refuse_credentials
from sweepcast.tracking.store import (
    DEFAULT_STORE,  # shown in help; tracking.default_store() applies it
    TrackingError,
    default_store,
    existing_store,
    sqlite_path,
)
from sweepcast.tracking.ui_server import serve_ui

if TYPE_CHECKING:
    from sweepcast.tracking.exported_model import LoadedForecaster

log = logging.getLogger("sweepcast")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m sweepcast", description="sweepcast: export and use forecasting models")
    verbs = root.add_subparsers(dest="verb", required=True)

    export = verbs.add_parser("export", help="package the best run as a raw-input MLflow model and register it")
    export.add_argument("sweep", nargs="?", type=Path, help="a sweep folder, sweeps/<study_name>")
    export.add_argument("--experiment", help="instead of a sweep: every run of this MLflow experiment")
    export.add_argument("--run", help="instead of a sweep: this MLflow run id (e.g. one picked in the UI)")
    export.add_argument("--to", type=Path, required=True, help="folder to write the MLflow model to")
    export.add_argument("--metric", help="rank runs by this metric (default: the sweep's, else val_rmse)")
    export.add_argument("--direction", choices=("minimize", "maximize"),
                        help="default: the sweep's; else maximize for *r2 and skill, minimize otherwise")
    export.add_argument("--name", help="registered model name (default <experiment>-<target>-forecaster)")
    export.add_argument("--tracking-uri", help=f"MLflow store (default $MLFLOW_TRACKING_URI, else {DEFAULT_STORE})")
    export.add_argument("--force", action="store_true", help="replace an existing --to folder")
    export.add_argument("--intervals", help="conformal prediction intervals at these levels, e.g. 0.8,0.95 (series "
                                            "models): lo_80/hi_80/... columns, test coverage logged")

    ensemble = verbs.add_parser("ensemble", help="average the forecasts of a sweep's K best trials, scored and "
                                                 "logged as a run")
    ensemble.add_argument("sweep", type=Path, help="a sweep folder, sweeps/<study_name>")
    ensemble.add_argument("--top", type=int, required=True, help="members: the K best finished trials with a model")
    ensemble.add_argument("--weights", default="equal", help="equal (default), inverse_val (1 / val_rmse) or greedy "
                          "(Caruana's selection on validation from the K best and each family's best)")
    ensemble.add_argument("--exportable", action="store_true",
                          help="members only among runs export can package (networks with a model, GBDTs)")
    ensemble.add_argument("--tracking-uri", help=f"MLflow store (default $MLFLOW_TRACKING_URI, else {DEFAULT_STORE})")

    predict = verbs.add_parser("predict", help="forecast the steps after the last row of a raw data file")
    predict.add_argument("model", type=Path, help="an exported model folder")
    predict.add_argument("--input", type=Path, required=True, help="CSV in the training data's layout")
    predict.add_argument("--horizon", type=int, help="steps to forecast (default: the model's horizon)")
    predict.add_argument("--top", type=int, help="a next-place model: places per user (default 5)")
    predict.add_argument("--output", type=Path, help="also write the forecast table to this CSV")

    report = verbs.add_parser("report", help="write sweeps/<name>/report.html and log it to the sweep's MLflow run")
    report.add_argument("sweep", type=Path, help="a sweep folder, sweeps/<study_name>")
    report.add_argument("--pairs", help="parameter pairs to map, e.g. model.units:model.dropout,data.timestep:model.layers "
                                        "(default: the most important swept parameters)")
    report.add_argument("--storage", help="Optuna storage URL when the study is not the folder's optuna.db")
    report.add_argument("--tracking-uri", help="MLflow store (default: the one the sweep recorded)")
    report.add_argument("--no-mlflow", action="store_true", help="do not attach the report to the sweep's MLflow run")

    explore = verbs.add_parser("explore", help="one offline page of the data's own analyses (before any model)")
    explore.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data=csv_series data.path=FILE.csv")
    explore.add_argument("--out", type=Path, help="page to write (default explore/<data name>.html)")
    explore.add_argument("--mlflow", action="store_true", help="also log the page to an MLflow run named explore")
    explore.add_argument("--tracking-uri", help=f"MLflow store for --mlflow (default $MLFLOW_TRACKING_URI, else {DEFAULT_STORE})")
    ui = verbs.add_parser("ui", help="browse the MLflow store in a browser (mlflow ui), on 127.0.0.1 by default")
    ui.add_argument("--tracking-uri", help=f"MLflow store (default $MLFLOW_TRACKING_URI, else {DEFAULT_STORE})")
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only; "
                                                        "the UI has no login, so widen it only on a trusted network)")
    ui.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    ui.add_argument("--workers", type=int, help="server processes (default: half the cores, 1 to 4)")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per file is noise here
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parser().parse_args(argv)
    try:
        for flag in ("storage", "tracking_uri"):  # a URL password: PGPASSWORD / MLFLOW_TRACKING_PASSWORD instead
            refuse_credentials(f"--{flag.replace('_', '-')}", getattr(args, flag, None))
        if args.verb == "export":
            export(args)
        elif args.verb == "report":
            from sweepcast.report.sweep_report import write_report  # here, not at the top: plotly; --help stays light

            write_report(args.sweep, args.pairs, args.storage, args.tracking_uri, not args.no_mlflow)
        elif args.verb == "explore":
            # here, not at the top: Hydra, plotly; --help stays light
            from sweepcast.report.explore import write_explore

            write_explore(args.overrides, args.out, args.mlflow, args.tracking_uri)
        elif args.verb == "ui":
            return ui(args)
        elif args.verb == "ensemble":
            ensemble(args)
        else:
            predict(args)
    except SweepcastError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def ui(args: argparse.Namespace) -> int:
    """``mlflow ui`` on the project's store as a supervised child: a ready line once it answers,
    and Ctrl-C or SIGTERM stops every process it started (:mod:`sweepcast.tracking.ui_server`)."""
    if not 0 < args.port < 65536:
        raise SweepcastError(f"--port: expected a port number in 1..65535, got {args.port}")
    if args.workers is not None and not 1 <= args.workers <= 64:
        raise SweepcastError(f"--workers: expected 1..64 server processes, got {args.workers}")
    given = args.tracking_uri or default_store()
    if given.startswith(("http://", "https://")):
        raise SweepcastError(f"tracking store {given} is already a tracking server: open it in a browser")
    uri = existing_store(given)
    check_port_free(args.host, args.port)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the MLflow UI on %s:%d has no login: anyone who can reach it can read and change runs",
                    args.host, args.port)
    log.info("MLflow UI for %s starting on http://%s:%d", redact(uri), args.host, args.port)
    return serve_ui(uri, args.host, args.port, args.workers)


def check_port_free(host: str, port: int) -> None:
    """The UI's port must be free: once this process becomes ``mlflow ui``, a busy port is only
    uvicorn's error and an exit status of 0."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as err:
        raise SweepcastError(f"--port {port}: cannot listen on {host} ({err.strerror or err}); stop what uses it or "
                             "pick another --port") from None


def ensemble(args: argparse.Namespace) -> None:
    from sweepcast.ensembles import WEIGHTS, build  # here, not at the top: MLflow and TensorFlow

    if args.top < 1:
        raise SweepcastError(f"--top: expected an integer >= 1, got {args.top}")
    if args.weights not in WEIGHTS:
        raise SweepcastError(f"--weights: expected one of {WEIGHTS}, got {args.weights!r}")
    uri = tracking.existing_store(args.tracking_uri)
    tracking.use_store({"uri": uri})
    run_id, metrics = build(args.sweep, args.top, args.weights, uri, args.exportable)
    log.info("ensemble run %s: val RMSE %.4g, test RMSE %.4g, skill over persistence %.3f", run_id,
             metrics["val_rmse"], metrics["test_rmse"], metrics["skill"])


def say_coverage(coverage: dict[str, float]) -> None:
    for key, value in coverage.items():
        level = key.removeprefix("test_coverage_")
        log.info("%s %% intervals cover %.1f %% of the test targets", level, 100 * value)


def export_ensemble(args: argparse.Namespace, store: Any, store_folder: Path | None, levels: list[float]) -> None:
    """``export --run <ensemble run>``: every member's network and preprocessing in one pyfunc."""
    from sweepcast.export.ensemble_package import ensemble_card, members, save_ensemble
    from sweepcast.export.package import RunArtifacts, check_intervals, register, registered_name, write_export
    from sweepcast.export.select import Candidate

    view = tracking.find_run(store, args.run)
    found, weights = members(store, args.run)
    if view.tags.get("ensemble_weights") == "greedy":
        log.warning("ensemble %s: its weights were chosen on the validation windows, so its val_rmse (what "
                    "'champion' compares) is optimistic%s; judge it by test_rmse", view.run_id,
                    ", and so are intervals calibrated there (see the test coverage below)" if levels else "")
    first = found[0][1]
    run = RunArtifacts(first.config, first.preprocessing, dict(view.tags), dict(view.metrics))
    check_intervals(run, levels)
    candidate = Candidate(view.run_id, view.name or view.run_id, view.experiment_id, "val_rmse", "minimize",
                          float(view.metrics["val_rmse"]), "", f"ensemble {view.run_id}")
    name = args.name or registered_name(run, tracking.experiment_name(store, view.experiment_id))
    coverage = write_export(candidate, run, args.to, args.force,
                            lambda measured: ensemble_card(name, view.run_id, run.metrics, found, weights, measured),
                            store_folder, save=lambda folder: save_ensemble(found, weights, folder, levels))
    log.info("wrote %s (an MLflow pyfunc of %d members with their preprocessing, MODEL_CARD.md)", args.to, len(found))
    say_coverage(coverage)
    _, outcome = register(store, candidate, run, args.to, name, coverage)
    log.info("registry '%s': %s", name, outcome)
    log.info("forecast with: python -m sweepcast predict %s --input FILE.csv", args.to)


def export(args: argparse.Namespace) -> None:
    # here, not at the top: these import MLflow (~1.5 s); --help and bad arguments fail first
    from sweepcast.export.card import model_card, smoke_warning
    from sweepcast.export.ensemble_package import is_ensemble
    from sweepcast.export.intervals import card_lines, parse_levels
    from sweepcast.export.package import check_intervals, read_run, register, registered_name, save_model, write_export
    from sweepcast.export.select import best_candidate, experiment_scope, run_scope, sweep_scope

    if sum(x is not None for x in (args.sweep, args.experiment, args.run)) != 1:
        raise SweepcastError("export: give exactly one of a sweep folder (sweeps/<name>), --experiment NAME or --run ID")
    levels = parse_levels(args.intervals)
    uri = tracking.existing_store(args.tracking_uri)
    database = sqlite_path(uri)
    store_folder = database.parent if database is not None else None  # a server keeps its own files
    check_target(args.to, args.force, store_folder, [args.sweep] if args.sweep is not None else [])
    tracking.use_store({"uri": uri})  # the export run and runs:/ artifact paths go to this store
    store = tracking.reader(uri)
    if args.run is not None and is_ensemble(getattr(tracking.find_run(store, args.run), "tags", {})):
        return export_ensemble(args, store, store_folder, levels)
    if args.sweep is not None:
        scope = sweep_scope(store, args.sweep, args.metric, args.direction)
    elif args.experiment is not None:
        scope = experiment_scope(store, args.experiment, args.metric, args.direction)
    else:
        scope = run_scope(store, args.run, args.metric, args.direction)
    candidate = best_candidate(store, scope)
    log.info("best of %s by %s (%s): run %s (%s) = %.6g", scope.label, candidate.metric, candidate.direction,
             candidate.run_id, candidate.run_name, candidate.value)
    run = read_run(store, candidate)
    check_intervals(run, levels)
    warning = smoke_warning(run)
    if warning:
        log.warning("run %s: %s", candidate.run_id, warning)
    name = args.name or registered_name(run, tracking.experiment_name(store, candidate.experiment_id))
    card = model_card(store, candidate, run, scope, name, args.to)
    coverage = write_export(candidate, run, args.to, args.force, lambda measured: card + "\n" + "\n".join(card_lines(measured)),
                            store_folder, save=lambda folder: save_model(candidate, run, folder, levels))
    log.info("wrote %s (MLflow pyfunc with its preprocessing, MODEL_CARD.md)", args.to)
    say_coverage(coverage)
    _, outcome = register(store, candidate, run, args.to, name, coverage)
    log.info("registry '%s': %s", name, outcome)
    log.info("forecast with: python -m sweepcast predict %s --input FILE.csv", args.to)


def read_rows(path: Path) -> pd.DataFrame:
    """A CSV's cells as text, the way the sources read their files (a SNAP check-in file by its name)."""
    if path.name.endswith((".txt", ".txt.gz")):  # SNAP check-ins: tab-separated, no header
        return read_csv(path, "a readable SNAP check-in file", sep="\t", header=None, names=list(COLUMNS), dtype=str,
                        keep_default_na=False, compression="infer")
    rows = read_csv(path, "a readable CSV file", dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
    if len(rows.columns) and str(rows.columns[0]) in ("", "Unnamed: 0"):  # a written-out RangeIndex
        rows = rows.iloc[:, 1:]
    return rows


def check_output(path: Path) -> None:
    """``--output`` must be writable before any forecast is computed (a model load takes seconds)."""
    if path.is_dir():
        raise SweepcastError(f"--output {path}: is a folder; give a file name such as forecast.csv")
    folder = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("."))
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise SweepcastError(f"--output {path}: cannot write there (permission denied or not a folder)")


def check_exported(folder: Path) -> None:
    if not (folder / "MLmodel").is_file():
        raise SweepcastError(f"{folder}: not an exported model folder (no MLmodel file); make one with "
                             "python -m sweepcast export")


def load_exported(folder: Path) -> "LoadedForecaster":
    from sweepcast.tracking.exported_model import LoadedForecaster  # here, not at the top: MLflow (~1 s)

    check_exported(folder)
    return LoadedForecaster(folder)


def predict(args: argparse.Namespace) -> None:
    if args.output is not None:
        check_output(args.output)
    check_exported(args.model)
    rows = read_rows(args.input)  # before the model loads TensorFlow (seconds): a bad input fails at once
    model = load_exported(args.model)
    params = {key: value for key, value in (("horizon", args.horizon), ("top", args.top)) if value is not None}
    try:
        forecast = model.predict(rows, params=params)
    except TrackingError as err:
        raise SweepcastError(f"{args.input}: {one_line(str(err))}") from None
    print(forecast.to_string(index=False))
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        forecast.to_csv(args.output, index=False)
        log.info("wrote %s", args.output)


def one_line(message: str) -> str:
    """MLflow's schema errors span lines and quote the whole request; keep the part that names the problem."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error:" in line:
            return line.rsplit("Error:", 1)[1].strip()
    return lines[-1] if lines else message


if __name__ == "__main__":
    sys.exit(main())
