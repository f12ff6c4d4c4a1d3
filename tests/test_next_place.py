"""The next-place task (issue 15): vocabulary and candidates from the past only, Acc@k and MRR by
hand, the baselines on hand-made sequences, windows inside one user, and train.py end to end."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sweepcast.data.place_candidates import FEATURES, PrefixIndex
from sweepcast.data.place_counts import merge_rankings, rank_by_counts
from sweepcast.data.place_windows import NextPlaceSettings, prepare_next_place
from sweepcast.data.places import OTHER, PlaceSettings, PlaceVocabulary
from sweepcast.errors import ConfigError
from sweepcast.metrics import acc_skill, ranking_metrics
from sweepcast.models.frequent_place import FrequentPlace
from sweepcast.models.last_place import LastPlace
from sweepcast.models.markov_place import MarkovPlace
from sweepcast.models.recent_markov_place import RecentMarkovPlace
from tests.test_export_e2e import post, served
from tests.test_train_e2e import assert_ok, runs, train

# four places far enough apart for the stay filter, inside the New York box
PLACES = {10: (40.70, -73.95), 20: (40.75, -73.98), 30: (40.80, -73.93), 40: (40.65, -73.90)}


def snap_file(path: Path, sequences: dict[int, list[int]]) -> Path:
    """One SNAP line per visit, three hours apart, newest first per user as SNAP writes them."""
    lines = []
    for user, places in sequences.items():
        for i, place in reversed(list(enumerate(places))):
            day, hour = divmod(3 * i, 24)
            lat, lon = PLACES[place]
            lines.append(f"{user}\t2010-{1 + day // 28:02d}-{1 + day % 28:02d}T{hour:02d}:00:00Z\t{lat}\t{lon}\t{place}\n")
    path.write_text("".join(lines))
    return path


def settings(path: Path, **extra) -> NextPlaceSettings:
    cfg = {"name": "t", "source": "checkins", "task": "next_place", "path": str(path), "timestep": 3, "horizon": 1,
           "scaler": "minmax", "dt_log": True, "split": {"by": "time", "train": 0.6, "val": 0.2},
           "clean": {"bbox": None, "max_speed_kmh": None, "stay_meters": None, "stay_minutes": None,
                     "min_checkins": 5}, **extra}
    return NextPlaceSettings.from_config(cfg)


def test_acc_at_k_and_mrr_by_hand() -> None:
    true = np.array([5, 7, 9, OTHER])
    ranked = np.array([[5, 1, 2], [1, 7, 2], [1, 2, 3], [0, -1, -1]])  # hit at 1, hit at 2, miss, other
    scores = ranking_metrics(true, ranked, "test")
    assert scores["test_acc1"] == 0.25 and scores["test_acc5"] == 0.5 and scores["test_acc10"] == 0.5
    assert scores["test_mrr"] == pytest.approx((1 + 0.5) / 4)
    assert acc_skill(0.11, 0.10) == pytest.approx(0.1) and np.isnan(acc_skill(0.1, 0.0))


def test_vocabulary_counts_training_places_and_cuts_rare_ones() -> None:
    locations = np.array([7, 7, 7, 3, 3, 9])
    lat = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 3.0])
    vocabulary = PlaceVocabulary.fit(locations, lat, lat, PlaceSettings(min_count=2, max_places=10))
    assert vocabulary.ids.tolist() == [7, 3] and vocabulary.counts.tolist() == [1, 3, 2]
    assert vocabulary.encode(np.array([3, 7, 9, 12345])).tolist() == [2, 1, OTHER, OTHER]
    assert vocabulary.decode(np.array([1, 2, 0, -1])).tolist() == [7, 3, -1, -1]
    again = PlaceVocabulary.from_json(vocabulary.to_json())
    assert again.ids.tolist() == [7, 3] and np.isnan(again.lat[0]) and again.lat[1] == 1.0
    with pytest.raises(ConfigError, match="data.places.max_places"):
        PlaceSettings.from_config({"max_places": 1})


def test_rankings_from_counts_and_their_merge() -> None:
    ranked = rank_by_counts(np.array([1, 1, 1, 2]), np.array([5, 6, 6, 5]), np.array([1, 2, 3]), 3)
    assert ranked.tolist() == [[6, 5, -1], [5, -1, -1], [-1, -1, -1]]
    merged = merge_rankings([np.array([[4, -1], [2, 2]]), np.array([[4, 9], [3, 2]])], 3)
    assert merged.tolist() == [[4, 9, -1], [2, 3, -1]]


def test_prefix_index_counts_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    keys, order = rng.integers(0, 5, 200), rng.integers(0, 50, 200)
    query_keys, query_order = rng.integers(0, 7, (30, 4)), rng.integers(0, 52, (30, 4))
    counts, latest = PrefixIndex(keys, order, horizon=52).query(query_keys, query_order)
    for i in range(30):
        for j in range(4):
            before = order[(keys == query_keys[i, j]) & (order < query_order[i, j])]
            assert counts[i, j] == len(before)
            assert latest[i, j] == (before.max() if len(before) else -1)


def test_windows_candidates_and_vocabulary_use_only_the_past(tmp_path: Path) -> None:
    # user 1 alternates 10/20 then ends at 30, 40 (places first seen after training)
    path = snap_file(tmp_path / "c.txt", {1: [10, 20] * 12 + [30, 40, 30, 40] * 2, 2: [20, 10, 30] * 10})
    data = prepare_next_place(settings(path))
    frame = data.frame
    train_places = set(frame.loc[frame["split"] == 0, "location"])
    assert set(data.vocabulary.ids) <= train_places  # built from training check-ins only
    users = frame["user"].to_numpy()
    for split in ("train", "val", "test"):
        rows = data.target_rows(split)
        for back in range(1, data.timestep + 1):  # a window never crosses users
            assert (users[rows - back] == users[rows]).all()
        cands, facts = data.index(rows)
        user_visits = facts[:, :, FEATURES.index("user_visits")]
        for i, row in enumerate(rows):  # features count strictly earlier check-ins of the user
            for j, c in enumerate(cands[i]):
                if c > 0:
                    earlier = (data.place_index[:row] == c) & (users[:row] == users[row])
                    assert np.expm1(user_visits[i, j]) == pytest.approx(earlier.sum())


def test_baselines_on_a_hand_made_sequence(tmp_path: Path) -> None:
    # user 1 goes 10 -> 20 -> 10 -> 20 ...; user 2 goes 10 -> 30 -> 10 -> 30 ...: from 10, each goes its own way
    # (cleaning numbers users densely in id order: they are 0, 1, 2 in the frame)
    path = snap_file(tmp_path / "c.txt", {1: [10, 20] * 15, 2: [10, 30] * 15, 3: [40, 20, 40, 20] * 4})
    data = prepare_next_place(settings(path))
    rows = data.target_rows("test")
    users = data.frame["user"].to_numpy()[rows]
    last = data.vocabulary.decode(data.place_index[rows - 1])
    for model in (MarkovPlace(), RecentMarkovPlace()):
        model.fit(data, 0)
        top = data.vocabulary.decode(model.predict(data, "test")[:, 0])
        assert (top[(users == 0) & (last == 10)] == 20).all() and (top[(users == 1) & (last == 10)] == 30).all()
        assert ((users == 0) & (last == 10)).any() and ((users == 1) & (last == 10)).any()
    frequent = FrequentPlace()
    frequent.fit(data, 0)
    ranked = data.vocabulary.decode(frequent.predict(data, "test")[:, :2])
    assert set(ranked[users == 1][0]) == {10, 30}
    last_place = LastPlace()
    assert (data.vocabulary.decode(last_place.predict(data, "test")[:, 0]) == last).all()
    for model in (MarkovPlace(), FrequentPlace(), LastPlace(), RecentMarkovPlace()):
        model.fit(data, 0)
        ranked = model.predict(data, "test")
        assert ranked.shape == (len(rows), data.depth) and (ranked != OTHER).all()


@pytest.mark.slow
def test_train_py_ranks_places_logs_the_field_metrics_and_exports(tmp_path: Path) -> None:
    import pandas as pd

    done = train(tmp_path, "data=checkin_places", "trainer=smoke", "model.units=8")
    assert_ok(done)
    (run,) = runs(tmp_path)
    metrics = run.data.metrics
    for key in ("test_acc1", "test_acc5", "test_acc10", "test_mrr", "test_km_median", "val_acc1", "test_other_share",
                "test_unseen_share", "baseline_test_acc1", "markov_place_test_acc1", "skill", "test_point_km_median",
                "val_point_km_median", "last_checkin_test_km_median", "point_radius_km"):
        assert key in metrics, key
    # the km answer is chosen on validation: never worse there than the top place or the last check-in alone
    assert metrics["val_point_km_median"] <= metrics["val_km_median"] + 1e-9
    assert 0 <= metrics["point_stay_mass"] <= 1 and metrics["point_radius_km"] > 0
    assert 0 <= metrics["test_acc1"] <= metrics["test_acc5"] <= metrics["test_acc10"] <= 1 - metrics["test_other_share"]
    assert metrics["baseline_test_acc1"] == max(metrics[f"{b}_test_acc1"] for b in
                                                ("last_place", "frequent_place", "markov_place", "recent_markov_place"))
    assert "Acc@1" in done.stderr + done.stdout
    # export picks the run by val_acc1 (the task's metric, maximised)
    exported = sweepcast(tmp_path, "export", "--experiment", "checkin_places", "--to", str(tmp_path / "exp"))
    assert exported.returncode == 0 and "by val_acc1 (maximize)" in exported.stderr, exported.stderr[-2000:]
    assert_round_trip(tmp_path, run)
    refused = sweepcast(tmp_path, "predict", str(tmp_path / "exp"), "--input", str(tmp_path / "request_0.txt"),
                        "--top", "0")
    assert refused.returncode == 2 and "top: expected a whole number of places in [1, 50], got 0" in refused.stderr
    request = [line.split("\t")[:4] for line in (tmp_path / "request_0.txt").read_text().splitlines()]
    pd.DataFrame(request, columns=["user", "time", "lat", "lon"]).to_csv(tmp_path / "no_location.csv", index=False)
    refused = sweepcast(tmp_path, "predict", str(tmp_path / "exp"), "--input", str(tmp_path / "no_location.csv"))
    assert refused.returncode == 2 and "error: no_location.csv: Model is missing inputs ['location']" in \
        refused.stderr.replace(str(tmp_path) + "/", ""), refused.stderr[-2000:]
    with served(tmp_path, "exp") as port:  # the scoring server answers the same top places
        lines = [line.split("\t") for line in (tmp_path / "request_0.txt").read_text().splitlines()]
        body = {"dataframe_split": {"columns": ["user", "time", "lat", "lon", "location"], "data": lines},
                "params": {"top": 3}}
        status, answer = post(port, body)
        assert status == 200, answer
        assert [row["location"] for row in answer["predictions"]] == \
            pd.read_csv(tmp_path / "answer_0.csv")["location"].head(3).tolist()
        status, answer = post(port, {**body, "params": {"top": 99}})
        assert status == 400 and "top: expected a whole number of places in [1, 50], got 99" in answer["message"]


def sweepcast(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m sweepcast ...`` in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "sweepcast", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def assert_round_trip(cwd: Path, run) -> None:
    """For test windows of five users, a request of the user's raw check-ins before the window's
    target gets the exported model's top 5 = the run's logged top 5 for that window."""

    import pandas as pd

    from sweepcast.data.checkin_clean import clean_checkins
    from sweepcast.data.checkins import generate_checkins
    from sweepcast.tracking import reading
    from tests.test_config import composed

    data_cfg = composed("data=checkin_places")["data"]
    raw = generate_checkins(300, 0, "2010-01-01", 240)  # conf/data/checkins.yaml's synthetic defaults
    settings = NextPlaceSettings.from_config(data_cfg).checkins
    cleaned, _ = clean_checkins(raw.assign(request_user=raw["user"]), settings.clean, "raw")
    raw_id = dict(zip(cleaned["user"], cleaned["request_user"]))
    logged = pd.read_csv(io.StringIO(reading.artifact_text(run.info.artifact_uri, "predictions/test_places.csv")))
    picked = logged.drop_duplicates("user").head(5)
    for i, window in enumerate(picked.itertuples()):
        user = raw_id[window.user]
        before = raw[(raw["user"] == user) & (raw["time"] < pd.Timestamp(window.time))]
        path = cwd / f"request_{i}.txt"
        path.write_text("".join(f"{r.user}\t{r.time:%Y-%m-%dT%H:%M:%SZ}\t{r.lat!r}\t{r.lon!r}\t{r.location}\n"
                                for r in before.itertuples()))
        answer = sweepcast(cwd, "predict", str(cwd / "exp"), "--input", str(path), "--top", "5",
                           "--output", str(cwd / f"answer_{i}.csv"))
        assert answer.returncode == 0, answer.stderr[-2000:]
        ranked = pd.read_csv(cwd / f"answer_{i}.csv")
        expected = [getattr(window, f"top{k}_location") for k in range(1, 6)]
        assert ranked["location"].tolist() == expected, (user, window.time)
        # the km answer too: the same point as the run's, on every one of the user's rows
        assert ranked["point_lat"].nunique() == 1 and ranked["point_lon"].nunique() == 1
        assert (ranked["point_lat"].iloc[0], ranked["point_lon"].iloc[0]) == \
            pytest.approx((window.point_lat, window.point_lon), abs=1e-6), (user, window.time)


@pytest.mark.slow
def test_a_sweep_maximises_acc1_prunes_on_it_and_can_forecast_the_gap(tmp_path: Path) -> None:
    from tests.test_sweeper_e2e import study_of

    done = train(tmp_path, "-m", "data=checkin_places", "data.predict_gap=true", "trainer=smoke", "trainer.epochs=2",
                 "model.units=8", "tracking.log_model=false", "model.layers=1,2",
                 "+hydra.sweeper.pruner._target_=optuna.pruners.MedianPruner")
    assert_ok(done)
    study = study_of(tmp_path)
    assert study.direction.name == "MAXIMIZE" and len(study.trials) == 2
    assert all(t.intermediate_values for t in study.trials)  # each epoch's val acc1 reached the pruner
    for run in runs(tmp_path):
        if "test_acc1" in run.data.metrics:
            assert run.data.metrics["test_dt_minutes_mae"] > 0 and run.data.metrics["baseline_test_dt_minutes_mae"] > 0
    report = next((tmp_path / "sweeps").glob("*/report.html")).read_text()
    assert "test Acc@1 per configuration" in report and "best markov_place" in report  # bars, baselines as lines
    finished = [r for r in runs(tmp_path) if "test_acc1" in r.data.metrics]
    assert study.best_value == max(r.data.metrics["val_acc1"] for r in finished)  # the task's, not an epoch curve's
    assert all("val_scores_candidate_acc1" in r.data.metrics for r in finished)


def test_the_exploration_page_shows_place_statistics() -> None:
    from sweepcast.tasks import load_task
    from tests.test_config import composed

    page = load_task("next_place").explore_page(composed("data=checkin_places")["data"])
    assert "distinct places per user" in page and "return to a place the same user visited before" in page
