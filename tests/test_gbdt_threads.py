"""GBDT fits and predicts inside the trial's OpenMP thread budget (issue 16.9), and the budget's rule."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.conf import HydraConf
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf
from sklearn.ensemble._hist_gradient_boosting import gradient_boosting
from threadpoolctl import threadpool_info

from sweepcast import fitting
from sweepcast.fitting import configure_threads, openmp_threads, sweep_workers, trial_openmp_threads
from sweepcast.models import build_model
from tests.test_baselines import GBDT, prepare_tiny

ROOT = Path(__file__).resolve().parents[1]


def openmp_limits() -> set[int]:
    """``num_threads`` of every OpenMP runtime loaded (scikit-learn's libgomp here)."""
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "openmp"}


@pytest.fixture(autouse=True)
def fresh_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fitting, "_openmp_budget", None)  # restored after each test
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


@pytest.mark.parametrize("horizon", [1, 2])  # one model, and MultiOutputRegressor's one per step
def test_a_real_gbdt_fit_and_predict_run_at_the_configured_openmp_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, horizon: int) -> None:
    unlimited = openmp_limits()
    assert unlimited, "scikit-learn's OpenMP runtime is loaded"
    budget = 1 if max(unlimited) > 1 else 2  # differs from the unlimited value, so removing the limit fails
    seen: list[set[int]] = []
    original = gradient_boosting._openmp_effective_n_threads

    def recording(*args, **kwargs):  # what the trees' OpenMP loops are sized by, at the moment they ask
        seen.append(openmp_limits())
        return original(*args, **kwargs)

    monkeypatch.setattr(gradient_boosting, "_openmp_effective_n_threads", recording)
    configure_threads(budget, None, tensorflow=False)  # a baseline trial's trainer.intra_op_threads
    data = prepare_tiny(tmp_path, horizon=horizon)
    model = build_model(GBDT, (data.timestep, 1), data.task.outputs)
    with caplog.at_level(logging.DEBUG, logger="sweepcast.models.gbdt"):
        model.fit(data, seed=0)
    fit_calls = len(seen)
    assert fit_calls >= 1 and all(limits == {budget} for limits in seen), seen
    assert openmp_limits() == unlimited  # restored after the fit
    model.predict(data, "val")
    assert len(seen) > fit_calls and all(limits == {budget} for limits in seen), seen
    assert openmp_limits() == unlimited
    assert [r.getMessage() for r in caplog.records if "OpenMP" in r.getMessage()] == \
        [f"gbdt: {budget} OpenMP thread{'' if budget == 1 else 's'} per fit and predict"]  # once per fit


def test_the_budget_rule() -> None:
    assert openmp_threads(3, workers=4, cores=2) == 3  # trainer.intra_op_threads wins when set
    assert openmp_threads(None, workers=1, cores=16) == 16  # alone: every core, as TensorFlow's default
    assert openmp_threads(None, workers=4, cores=16) == 4  # n_jobs workers share the cores
    assert openmp_threads(None, workers=2, cores=2) == 1
    assert openmp_threads(None, workers=3, cores=2) == 1  # never 0
    assert openmp_threads(None, workers=3, cores=16) == 5


def test_omp_num_threads_caps_the_default_but_not_an_explicit_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert openmp_threads(None, workers=1, cores=16) == 2
    assert openmp_threads(None, workers=16, cores=16) == 1
    assert openmp_threads(6, workers=1, cores=16) == 6


def test_the_worker_count_is_the_sweeps_n_jobs_in_a_multirun() -> None:
    assert sweep_workers() == 1  # outside Hydra
    hydra = OmegaConf.structured(HydraConf)
    hydra.mode = RunMode.MULTIRUN
    hydra.sweeper = {"n_jobs": 3}
    HydraConfig.instance().set_config(OmegaConf.create({"hydra": hydra}))
    try:
        assert sweep_workers() == 3
        assert openmp_threads(None, cores=8) == 2
    finally:
        HydraConfig.instance().cfg = None  # type: ignore[assignment]
    assert sweep_workers() == 1


def test_configure_threads_sets_the_process_budget_until_set_again() -> None:
    assert trial_openmp_threads() == openmp_threads()  # never configured: the default rule
    configure_threads(1, 2, tensorflow=False)
    assert trial_openmp_threads() == 1
    configure_threads(None, None, tensorflow=False)
    assert trial_openmp_threads() == openmp_threads()


def test_a_baselines_budget_does_not_import_tensorflow() -> None:
    code = ("import sys; from sweepcast.fitting import configure_threads; configure_threads(1, 2, tensorflow=False); "
            "import sweepcast.models.gbdt; assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
