"""Build the exported model directory, its model card, and its registry entry.

The directory is written beside ``--to`` under a temporary name and renamed into place only
when complete, so an interrupted export never leaves half a model where a user expects one.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import yaml
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sweepcast.data.sources import load_source, source
from sweepcast.errors import DataError, SweepcastError
from sweepcast.export.preprocessing import Preprocessing
from sweepcast.export.pyfunc import NETWORK, PREPROCESSING
from sweepcast.export.select import Candidate

log = logging.getLogger(__name__)

ALIAS = "champion"
REQUIREMENTS = ("mlflow", "keras", "numpy", "pandas", "scikit-learn", "holidays", "pyyaml")
EXAMPLE_EXTRA_ROWS = 10  # a few rows more than the window, so cleaning's reindex has room


@dataclass(frozen=True)
class RunArtifacts:
    config: dict[str, Any]
    preprocessing: Preprocessing
    tags: dict[str, str]
    metrics: dict[str, float]


def read_run(client: MlflowClient, candidate: Candidate) -> RunArtifacts:
    """The run's resolved config and fitted preprocessing, as it logged them."""
    run = client.get_run(candidate.run_id)
    try:
        config = yaml.safe_load(mlflow.artifacts.load_text(f"runs:/{candidate.run_id}/config.yaml"))
        scalers = mlflow.artifacts.load_dict(f"runs:/{candidate.run_id}/preprocessing/scalers.json")
    except (MlflowException, OSError) as err:
        raise SweepcastError(f"run {candidate.run_id}: cannot read its config.yaml or preprocessing/scalers.json "
                             f"({str(err).splitlines()[0]})") from None
    return RunArtifacts(config, Preprocessing.from_run(config["data"], scalers), dict(run.data.tags),
                        dict(run.data.metrics))


def input_example(preprocessing: Preprocessing) -> pd.DataFrame:
    """The last rows of the training data in its raw text layout (what the model accepts)."""
    data = preprocessing.data
    try:
        raw, name = load_source(data)
    except DataError as err:
        raise SweepcastError(f"{err} (export reads the training data for the model's input example)") from None
    timestep = preprocessing.task.timestep
    example = source(data).render_rows(data, raw.iloc[-(timestep + EXAMPLE_EXTRA_ROWS):])
    preprocessing.frame(example, name)  # the example must itself be a valid request
    return example


def requirements() -> list[str]:
    from sweepcast.tracking import tensorflow_requirement

    return [f"{dist}=={metadata.version(dist)}" for dist in REQUIREMENTS] + [tensorflow_requirement()]


def save_model(client: MlflowClient, candidate: Candidate, run: RunArtifacts, folder: Path) -> pd.DataFrame:
    """Write the pyfunc into ``folder`` (must not exist); return the example's forecast."""
    import mlflow.keras
    from mlflow.models import infer_signature

    import sweepcast

    with tempfile.TemporaryDirectory(prefix="sweepcast-export-") as scratch:
        network = mlflow.artifacts.download_artifacts(candidate.model_uri, dst_path=str(Path(scratch) / "network"))
        preprocessing_file = Path(scratch) / "preprocessing.json"
        preprocessing_file.write_text(json.dumps(run.preprocessing.as_json(), indent=1), encoding="utf-8")
        example = input_example(run.preprocessing)
        keras_model = mlflow.keras.load_model(network)
        horizon = run.preprocessing.task.horizon
        output = run.preprocessing.forecast(lambda w: keras_model.predict(w, verbose=0), example, horizon, "example")
        with warnings.catch_warnings():  # MLflow's hint about the integer `step` column of the output
            warnings.simplefilter("ignore", UserWarning)
            signature = infer_signature(example, output, params={"horizon": horizon})
        mlflow.pyfunc.save_model(
            path=str(folder),
            python_model=str(Path(__file__).with_name("model_code.py")),  # code, not a pickled object
            artifacts={NETWORK: network, PREPROCESSING: str(preprocessing_file)},
            code_paths=[str(Path(sweepcast.__file__).parent)],
            signature=signature,
            input_example=(example, {"horizon": horizon}),
            pip_requirements=requirements(),
        )
    return output


def write_export(client: MlflowClient, candidate: Candidate, run: RunArtifacts, to: Path, force: bool,
                 card: str) -> None:
    """Build the model and its card under a temporary name beside ``to``, then move it into place."""
    occupied = (to.is_dir() and any(to.iterdir())) or (to.exists() and not to.is_dir())
    if occupied and not force:
        raise SweepcastError(f"--to {to}: already exists; pass --force to replace it")
    to.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{to.name}.", dir=to.parent))
    try:
        save_model(client, candidate, run, staging / "model")
        (staging / "model" / "MODEL_CARD.md").write_text(card, encoding="utf-8")
        replace_dir(staging / "model", to)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_dir(new: Path, to: Path) -> None:
    """Move ``new`` to ``to``; an existing ``to`` is set aside first and removed only afterwards."""
    old = None
    if to.exists():
        old = to.with_name(f".{to.name}.replaced")
        shutil.rmtree(old, ignore_errors=True)
        to.rename(old)
    new.rename(to)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def registered_name(run: RunArtifacts, experiment: str) -> str:
    """A readable registry name: ``<experiment>-<target>-forecaster``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{experiment}-{run.preprocessing.target}-forecaster")


def is_better(value: float, than: float, direction: str) -> bool:
    return value < than if direction == "minimize" else value > than


def register(client: MlflowClient, candidate: Candidate, to: Path, name: str) -> tuple[str, str, str]:
    """Log the exported directory as an ``export`` run, register it, and move the ``champion`` alias
    to it when it beats the current champion on the same metric. Returns (version, champion
    version, what happened)."""
    champion = current_champion(client, name)
    if champion is not None and champion.tags.get("source_run_id") == candidate.run_id:
        return champion.version, champion.version, f"run {candidate.run_id} is already '{ALIAS}' (version {champion.version})"
    with mlflow.start_run(experiment_id=candidate.experiment_id, run_name=f"export {candidate.run_name}",
                          tags={"sweepcast_export_of": candidate.run_id}) as export_run:
        mlflow.log_artifacts(str(to), "forecaster")
        mlflow.log_metric(candidate.metric, candidate.value)
    tags = {"source_run_id": candidate.run_id, "metric": candidate.metric, "metric_value": repr(candidate.value),
            "direction": candidate.direction, "scope": candidate.scope}
    version = mlflow.register_model(f"runs:/{export_run.info.run_id}/forecaster", name, tags=tags).version
    if champion is None or champion.tags.get("metric") != candidate.metric or is_better(
            candidate.value, float(champion.tags.get("metric_value", "nan")), candidate.direction):
        client.set_registered_model_alias(name, ALIAS, version)
        was = "" if champion is None else f" (was version {champion.version})"
        return str(version), str(version), f"'{ALIAS}' -> version {version}{was}"
    return (str(version), champion.version,
            f"'{ALIAS}' stays version {champion.version}: its {candidate.metric} {champion.tags['metric_value']} "
            f"is not beaten by {candidate.value:.6g}")


def current_champion(client: MlflowClient, name: str) -> Any:
    try:
        return client.get_model_version_by_alias(name, ALIAS)
    except MlflowException:
        return None
