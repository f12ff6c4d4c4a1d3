"""The trial budget on a real SQLite Optuna storage: queueing, claiming, stale workers, settings."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sweepcast.errors import ConfigError, SweepcastError
from sweepcast.redaction import redact
from sweepcast.sweeper import outputs
from sweepcast.sweeper.settings import build, check_settings, direction_for
from sweepcast.sweeper.space import distribution, parse_space, suggest
from sweepcast.sweeper.study import (
    FAIL_REASON,
    StaleTrialHandler,
    claim_next,
    fail_stale,
    holds_slot,
    is_counted,
    load_study,
    open_storage,
    top_up,
)

SPACE = parse_space(["model.layers=1,2,3"], None)
DISTRIBUTIONS = {p.name: distribution(p) for p in SPACE.params}


def storage_at(tmp_path: Path, stale: list | None = None, max_retry: int = 1):
    handler = StaleTrialHandler(max_retry, (stale if stale is not None else []).append)
    return open_storage(f"sqlite:///{tmp_path / 'optuna.db'}", 1, 2, handler)


def study_on(storage):
    return load_study(storage, "s", "minimize", optuna.samplers.RandomSampler(seed=0), None)


def test_grid_top_up_queues_each_missing_point_once(tmp_path: Path) -> None:
    storage = storage_at(tmp_path)
    study = study_on(storage)
    assert top_up(study, 3, SPACE.grid(), DISTRIBUTIONS) == 3
    assert top_up(study, 3, SPACE.grid(), DISTRIBUTIONS) == 0
    first = claim_next(study, storage, 3)
    study.tell(first, 1.0)
    assert top_up(study, 3, SPACE.grid(), DISTRIBUTIONS) == 0
    values = sorted(t.params["model.layers"] for t in study.get_trials())
    assert values == [1, 2, 3]


def test_enqueued_points_run_first_and_once_per_study(tmp_path: Path) -> None:
    """hydra.sweeper.enqueue (issue 14.5): the default baselines first, never queued again on a top-up."""
    from sweepcast.sweeper.study import ENQUEUED

    storage = storage_at(tmp_path)
    study = study_on(storage)
    space = parse_space(["model=choice(persistence,gbdt,lstm)"], None)
    distributions = {p.name: distribution(p) for p in space.params}
    first = [{"model": "persistence"}, {"model": "gbdt"}]
    assert top_up(study, 3, None, distributions, first) == 3
    claimed = [claim_next(study, storage, 3) for _ in range(2)]
    assert [suggest(trial, space)["model"] for trial in claimed] == ["persistence", "gbdt"]
    assert [trial.user_attrs[ENQUEUED] for trial in claimed] == first
    for trial in claimed:
        study.tell(trial, 1.0)
    assert top_up(study, 5, None, distributions, first) == 2  # a rerun with a larger budget: empty trials only
    assert sum(t.user_attrs.get(ENQUEUED) is not None for t in study.get_trials()) == 2


@pytest.mark.parametrize(("enqueue", "key"), [
    ([{"model.units": 8}], r"hydra.sweeper.enqueue\[0\].model.units"),
    ([{"model": "persistence"}, {"model": "arima"}], r"hydra.sweeper.enqueue\[1\].model"),
    ([{"model": "lstm", "trainer.learning_rate": 1.0}], r"hydra.sweeper.enqueue\[0\].trainer.learning_rate"),
    ("persistence", r"hydra.sweeper.enqueue"),
])
def test_bad_enqueued_points_name_their_key(enqueue: object, key: str) -> None:
    from sweepcast.sweeper.plan import first_points

    base = {"n_jobs": 1, "mode": "auto", "heartbeat_interval": 10, "grace_period": 30, "max_retry": 2}
    space = parse_space(["model=choice(persistence,lstm)", "trainer.learning_rate=interval(1e-4,1e-2)"], None)
    with pytest.raises(ConfigError, match=key):
        first_points(check_settings({**base, "enqueue": enqueue}), space, None)
    with pytest.raises(ConfigError, match="a sampled study"):
        first_points(check_settings({**base, "enqueue": [{"model": "lstm"}]}), space, [{"model": "lstm"}])
    assert first_points(check_settings({**base, "enqueue": [{"model": "lstm"}]}), space, None) == [{"model": "lstm"}]


def test_claims_stop_at_the_budget_and_surplus_is_closed_uncounted(tmp_path: Path) -> None:
    storage = storage_at(tmp_path)
    study = study_on(storage)
    top_up(study, 2, None, {})
    top_up(optuna.load_study(study_name="s", storage=storage), 2, None, {})  # a second launch, already full
    study.enqueue_trial({})  # as if two launches had topped up at the same moment
    claimed = [claim_next(study, storage, 2), claim_next(study, storage, 2)]
    assert [t.number for t in claimed] == [0, 1]
    assert claim_next(study, storage, 2) is None
    (extra,) = [t for t in study.get_trials() if t.number == 2]
    assert extra.state == TrialState.FAIL and extra.user_attrs["surplus"] and not holds_slot(extra)


def test_grid_points_queued_twice_by_two_launches_run_once(tmp_path: Path) -> None:
    storage = storage_at(tmp_path)
    study = study_on(storage)
    for point in SPACE.grid():  # two launches interleaving their queues: 1, 1, 2, 2, 3, 3
        for _ in range(2):
            study.add_trial(optuna.create_trial(state=TrialState.WAITING, params=point, distributions=DISTRIBUTIONS))
    ran = []
    while (trial := claim_next(study, storage, 3, unique_params=True)) is not None:
        ran.append(trial.params["model.layers"])
        study.tell(trial, 1.0)
    assert ran == [1, 2, 3]
    closed = [t for t in study.get_trials() if t.state == TrialState.FAIL]
    assert len(closed) == 3 and all(t.user_attrs.get("duplicate") or t.user_attrs.get("surplus") for t in closed)


def test_a_trial_finished_elsewhere_is_skipped_not_crashed_on(tmp_path: Path) -> None:
    storage = storage_at(tmp_path)
    study = study_on(storage)
    top_up(study, 2, None, {})
    first = study.get_trials()[0]
    storage.set_trial_state_values(first._trial_id, TrialState.RUNNING)
    storage.set_trial_state_values(first._trial_id, TrialState.FAIL)  # another worker closed it
    assert claim_next(study, storage, 2).number == 1


def test_counting_rule() -> None:
    reason = optuna.create_trial(state=TrialState.FAIL, user_attrs={FAIL_REASON: "ValueError: x"})
    died = optuna.create_trial(state=TrialState.FAIL)
    pruned = optuna.create_trial(state=TrialState.PRUNED, value=None)
    assert is_counted(reason) and is_counted(pruned) and not is_counted(died)
    assert holds_slot(optuna.create_trial(state=TrialState.WAITING)) and not holds_slot(died)


def test_a_dead_workers_trial_is_retried_then_given_up(tmp_path: Path) -> None:
    stale: list = []
    storage = storage_at(tmp_path, stale, max_retry=1)
    study = study_on(storage)
    top_up(study, 1, SPACE.grid()[:1], DISTRIBUTIONS)
    for attempt in range(2):
        trial = claim_next(study, storage, 1)
        suggest(trial, SPACE)
        trial.set_user_attr("mlflow_run_id", f"run{attempt}")
        storage.record_heartbeat(trial._trial_id)
        time.sleep(3.2)  # past the 2 s grace period (SQLite clocks tick in whole seconds)
        fail_stale(study)
    trials = study.get_trials()
    assert [t.state for t in trials[:2]] == [TrialState.FAIL, TrialState.FAIL]
    assert trials[1].params == trials[0].params == {"model.layers": 1}  # the retry kept its parameters
    assert [t.user_attrs["mlflow_run_id"] for t in stale] == ["run0", "run1"]
    given_up = trials[-1]  # second death: a counted failure, so the point is not queued again
    assert given_up.state == TrialState.FAIL and "died 2 times" in given_up.user_attrs[FAIL_REASON]
    assert top_up(study, 1, SPACE.grid()[:1], DISTRIBUTIONS) == 0 and claim_next(study, storage, 1) is None


def test_storage_errors_are_one_line_and_never_show_the_password(tmp_path: Path) -> None:
    assert redact("postgresql://me:pw@db.example:5432/optuna") == "postgresql://me:***@db.example:5432/optuna"
    with pytest.raises(SweepcastError, match="expected an RDB URL"):
        open_storage("optuna.db", 1, 2, lambda *a: None)
    with pytest.raises(SweepcastError) as err:
        open_storage("postgresql://me:pw@127.0.0.1:9/optuna", 1, 2, lambda *a: None)
    assert "pw" not in str(err.value).replace("127.0.0.1", "") and "\n" not in str(err.value)


def test_direction_cannot_flip_on_resume(tmp_path: Path) -> None:
    storage = storage_at(tmp_path)
    study_on(storage)
    with pytest.raises(SweepcastError, match="direction"):
        load_study(storage, "s", "maximize", None, None)


def test_settings_name_the_key_and_default_sensibly() -> None:
    base = {"n_jobs": 1, "mode": "auto", "heartbeat_interval": 10, "grace_period": 30, "max_retry": 2}
    settings = check_settings({**base, "params": {"model": {"layers": "1,2"}}})
    assert settings.params == {"model.layers": "1,2"} and settings.max_failure_rate == 0.5
    for bad, key in [({"n_jobs": 0}, "n_jobs"), ({"grace_period": 5}, "grace_period"),
                     ({"study_name": "a/b"}, "study_name"), ({"direction": "up"}, "direction"),
                     ({"sampler": {"seed": 1}}, "sampler")]:
        with pytest.raises(ConfigError, match=f"hydra.sweeper.{key}"):
            check_settings({**base, **bad})
    assert direction_for("val_rmse", None) == "minimize" and direction_for("skill", None) == "maximize"
    assert direction_for("skill", "minimize") == "minimize"
    sampler = build({"_target_": "optuna.samplers.TPESampler", "seed": 1}, "sampler", optuna.samplers.BaseSampler)
    assert isinstance(sampler, optuna.samplers.TPESampler)


def test_best_yaml_and_progress_line(tmp_path: Path) -> None:
    study = optuna.create_study()
    for value in (3.0, 2.0, 4.0):
        study.enqueue_trial({"model.layers": int(value)})
        trial = study.ask()
        trial.suggest_int("model.layers", 1, 4)
        study.tell(trial, value)
    summary = outputs.write_best(tmp_path, study, outputs.best_trial(study), SPACE, "val_rmse")
    assert summary["best_trial"] == 1 and summary["override"] == "model.layers=2"
    assert summary["command"] == "python train.py model.layers=2"
    assert (tmp_path / "best.yaml").read_text().startswith("study_name:")
    fixed = [f"{key}=/some/long/folder/name/{'x' * 60}/file.csv" for key in ("data.path", "data.edges", "tracking.uri")]
    long_space = parse_space(["model.layers=1,2,3", *fixed], None)
    summary = outputs.write_best(tmp_path, study, outputs.best_trial(study), long_space, "val_rmse")
    (line,) = [line for line in (tmp_path / "best.yaml").read_text().splitlines() if line.startswith("command:")]
    assert len(summary["command"]) > 200 and line == f"command: {summary['command']}"  # pastes as one line
    outputs.write_trials(tmp_path, study)
    assert len((tmp_path / "trials.csv").read_text().splitlines()) == 4
    line = outputs.progress_line(2, 10, 5, "PRUNED", 3.25, study.best_trial, 75, 3700)
    assert line == "trial 2/10  #5 PRUNED  3.25  best 2 (#1)  elapsed 1m15s  ETA 1h01m40s"


def test_a_real_study_file_passes_the_check_and_others_are_named(tmp_path) -> None:
    import optuna

    from sweepcast.sweeper.study import check_study_file

    good = tmp_path / "optuna.db"
    optuna.create_study(storage=f"sqlite:///{good}", study_name="s")
    check_study_file(good)  # a study Optuna wrote: accepted
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(SweepcastError, match=r"empty\.db is empty \(0 bytes\); move it away"):
        check_study_file(tmp_path / "empty.db")
    (tmp_path / "folder.db").mkdir()
    with pytest.raises(SweepcastError, match="is a folder"):
        check_study_file(tmp_path / "folder.db")


def test_durations_and_the_stop_rules() -> None:
    """hydra.sweeper.timeout / patience / min_delta (issue 18.3, 18.4)."""
    from sweepcast.sweeper.stopping import Stopper, duration

    assert [duration("k", v) for v in (45, "90s", "30m", "2h", "1d", "1.5h", None)] == [45, 90, 1800, 7200, 86400,
                                                                                       5400, None]
    for bad in ("2 hours", 0, -1, True, "0s", "h"):
        with pytest.raises(ConfigError, match="hydra.sweeper.timeout"):
            duration("hydra.sweeper.timeout", bad)
    assert "time budget 0m10s spent" in Stopper(10, None, 0.0, "minimize", time.time() - 11).reason([])
    assert Stopper(60, None, 0.0, "minimize", time.time()).reason([]) is None

    def trials(values: list[float]) -> list:
        made = []
        for value in values:
            made.append(optuna.trial.create_trial(value=value, params={}, distributions={}))
            time.sleep(0.002)  # completion order
        return made

    plateau = Stopper(None, 3, 0.0, "minimize", time.time())
    assert plateau.reason(trials([5, 4, 4.5, 4.2])) is None  # only one trial before the window's 3
    assert "last 3 trials" in plateau.reason(trials([5, 4, 4.5, 4.2, 4.1]))
    assert plateau.reason(trials([5, 4, 4.5, 3.9, 4.1])) is None  # 3.9 improved on 4
    assert Stopper(None, 3, 0.2, "minimize", time.time()).reason(trials([5, 4, 4.5, 3.9, 4.1])) is not None
    assert Stopper(None, 2, 0.0, "maximize", time.time()).reason(trials([0.5, 0.6, 0.7])) is None  # r2 going up
