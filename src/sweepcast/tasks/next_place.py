"""The next-place task: from a user's last ``timestep`` check-ins, rank the places of the next one.

Where the check-in task regresses (gap, lat, lon) and lands between a user's places, this one
names places, as the next-POI literature scores it: Acc@1/5/10 and MRR@10 over a vocabulary of
training places (:mod:`sweepcast.data.places`), the km between the top-1 place and where the
user really went, and the share of targets no ranker can hit (places outside the vocabulary).
Four baselines run on the same windows (last place, the user's most frequent place, a
first-order Markov chain over training transitions, and the same chain over everything before
the forecast); the strongest on test is the reference ``skill`` is measured against.
"""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd

from sweepcast.data.checkins import haversine_km
from sweepcast.data.place_windows import NextPlaceData, NextPlaceSettings, prepare_next_place, split_forecast
from sweepcast.data.places import OTHER
from sweepcast.data.scalers import scaler_state
from sweepcast.data.trajectories import TARGETS
from sweepcast.export.place_preprocessing import PlacePreprocessing
from sweepcast.fitted_state import FittedState
from sweepcast.metrics import acc_skill, ranking_metrics
from sweepcast.models.frequent_place import FrequentPlace
from sweepcast.models.last_checkin import LastCheckin
from sweepcast.models.last_place import LastPlace
from sweepcast.models.markov_place import MarkovPlace
from sweepcast.models.place_point import Places, PointRule, calibrate
from sweepcast.models.recent_markov_place import RecentMarkovPlace
from sweepcast.tasks.base import Artifact, CardText, Evaluation, Predict

if TYPE_CHECKING:
    import plotly.graph_objects as go

TABLE_ROWS = 5_000  # test windows kept in predictions/test_places.csv
MAP_POINTS = 400
PREDICTIONS = "predictions/test_places.csv"
SCORES = ("acc1", "acc5", "acc10", "mrr", "km_median", "km_mean", "other_share", "unseen_share")
POINT_SCORES = ("point_km_median", "point_km_mean")  # the km answer (sweepcast.models.place_point)
BASELINES = {"last_place": LastPlace, "frequent_place": FrequentPlace, "markov_place": MarkovPlace,
             "recent_markov_place": RecentMarkovPlace}


class NextPlaceTask:
    name = "next_place"
    optimizable = tuple(f"{split}_{score}" for split in ("val", "test") for score in (*SCORES[:6], *POINT_SCORES)) + (
        "baseline_test_acc1", "skill")
    default_metric = "val_acc1"
    reference = "best of last / frequent / Markov / recent Markov place"
    prediction_table = PREDICTIONS
    report_bars = tuple((f"test_acc{k}", f"test Acc@{k} per configuration (best first)", False) for k in (1, 5, 10))
    run_baselines = tuple(BASELINES)

    def settings(self, data_cfg: Mapping[str, Any]) -> NextPlaceSettings:
        return NextPlaceSettings.from_config(data_cfg)

    def prepare(self, settings: NextPlaceSettings, max_points: int | None) -> NextPlaceData:
        return prepare_next_place(settings, max_points)

    def evaluate(self, data: NextPlaceData, predict: Predict, fitted: Mapping[str, float], plotlyjs: str) -> Evaluation:
        """Val and test rankings scored; every baseline on the same test windows; the table and map."""
        started = time.perf_counter()
        test_pred, test_chance, test_gap = split_forecast(predict("test"), data.depth)
        val_pred, val_chance, val_gap = split_forecast(predict("val"), data.depth)
        metrics = {**split_scores(data, "val", val_pred, "val"), **split_scores(data, "test", test_pred, "test"),
                   **last_checkin_scores(data), **fitted}
        state, point = {}, None
        if val_chance is not None:  # a network: its probabilities also give the point answer in km
            rule, scores, point = point_scores(data, {"val": (val_pred, val_chance), "test": (test_pred, test_chance)})
            metrics.update(scores)
            state["point"] = rule.to_json()
        else:  # a baseline's point is its top place
            metrics.update({f"{split}_point_{key}": metrics[f"{split}_{key}"] for split in ("val", "test")
                            for key in ("km_median", "km_mean")})
        if test_gap is not None:  # data.predict_gap: the gap's MAE, against the user's median training gap
            metrics.update(gap_scores(data, {"val": val_gap, "test": test_gap}))
        rankings = {}
        for name, baseline in BASELINES.items():
            model = baseline()
            model.fit(data, 0)
            rankings[name] = model.predict(data, "test")
            scores = split_scores(data, "test", rankings[name], f"{name}_test")
            metrics.update({k: v for k, v in scores.items() if not k.endswith("_share")})
        best = max(BASELINES, key=lambda name: metrics[f"{name}_test_acc1"])
        for score in SCORES[:6]:
            metrics[f"baseline_test_{score}"] = metrics[f"{best}_test_{score}"]
        metrics["skill"] = acc_skill(metrics["test_acc1"], metrics["baseline_test_acc1"])
        metrics["evaluate_seconds"] = time.perf_counter() - started
        return Evaluation(metrics, artifacts=artifacts(data, test_pred, rankings[best], best, plotlyjs, test_gap, point),
                          state=state)

    def fitted_state(self, data: NextPlaceData) -> FittedState:
        checkins = data.checkins
        return FittedState(
            task=self.name, data=dict(data.settings.config), features=list(data.features),
            input_scaler=scaler_state(checkins.input_scaler), target_scaler=scaler_state(checkins.target_scaler),
            timestep=data.timestep,
            details={"targets": list(TARGETS), "dt_log": checkins.settings.dt_log,
                     "timezone": checkins.settings.timezone, "places": data.vocabulary.to_json(),
                     "crowd": data.index.crowd.to_json()},
        )

    def summary(self, metrics: Mapping[str, float]) -> str:
        line = ("test Acc@1 %.3f  Acc@5 %.3f  Acc@10 %.3f  MRR %.3f  top-1 miss %.2f km median  "
                "skill %.3f over the best baseline (Acc@1 %.3f, %.2f km median); %.1f%% of targets outside the "
                "vocabulary") % (
            metrics["test_acc1"], metrics["test_acc5"], metrics["test_acc10"], metrics["test_mrr"],
            metrics["test_km_median"], metrics["skill"], metrics["baseline_test_acc1"],
            metrics["baseline_test_km_median"], 100 * metrics["test_other_share"])
        if "point_radius_km" in metrics:  # a network's km answer
            line += "; point answer misses by %.2f km median (last check-in: %.2f)" % (
                metrics["test_point_km_median"], metrics["last_checkin_test_km_median"])
        if "test_dt_minutes_mae" in metrics:  # data.predict_gap
            line += "; gap MAE %.0f min (the user's median gap: %.0f)" % (
                metrics["test_dt_minutes_mae"], metrics["baseline_test_dt_minutes_mae"])
        return line

    def preprocessing(self, state: FittedState) -> PlacePreprocessing:
        return PlacePreprocessing(state)

    def describe(self, params: Mapping[str, str], source: str) -> str:
        return (f"{source}, next place (ranked over training places), timestep {params.get('data.timestep', '?')} "
                f"check-ins, split by {params.get('data.split.by', 'time')}")

    def card(self, serving: PlacePreprocessing) -> CardText:
        return CardText(
            metrics_heading=" (Acc@k and MRR@10 over each window's candidate places; km from the top-1 place)",
            baseline="the strongest of last place, frequent place, Markov and recent-Markov place on the same windows",
            window=(f"- window: a user's last {serving.task.timestep} check-ins; ranks up to 50 candidate places "
                    f"among {serving.vocabulary.size - 1} training places ({serving.data.get('split')})"),
            usage=("The model takes recent check-ins of one or more users (CSV columns `user, time, lat, lon, location`, "
                   "or a SNAP `.txt`/`.txt.gz` file) and returns each user's likeliest next places: `user, time, rank, "
                   "location, lat, lon, score, point_lat, point_lon` (`params={\"top\": K}`, default 5; the point: "
                   "where to look for the user, the run's `test_point_km_*`). Places outside the vocabulary "
                   "are never named."),
        )

    def best_trial_figures(self, table_csv: str, trial: int, params: Mapping[str, str]) -> "list[go.Figure]":
        """The map of true vs top-1 places of the best trial, from :data:`PREDICTIONS`."""
        from sweepcast.report.checkin_figures import locations_figure  # plotly: seconds

        shown = pd.read_csv(io.StringIO(table_csv)).dropna(subset=["pred_lat"]).head(MAP_POINTS)
        return [locations_figure(shown, f"trial {trial}: next place, true vs top-1 ({len(shown)} test windows)")]

    def explore_page(self, data_cfg: Mapping[str, Any]) -> str:
        """The check-in exploration page of the same check-ins, with their place statistics."""
        from sweepcast.report.checkin_explore import build_page  # plotly: seconds

        settings = self.settings(data_cfg)
        return build_page(data_cfg, prepare_next_place(settings).checkins, places=True)


def gap_scores(data: NextPlaceData, gaps: Mapping[str, np.ndarray]) -> dict[str, float]:
    """``val/test_dt_minutes_mae`` of the forecast gaps, and the last-check-in baseline's (the
    user's median training gap) as ``baseline_test_dt_minutes_mae``."""
    true = {split: data.checkins.target_matrix(split)[:, 0] for split in gaps}
    scores = {f"{split}_dt_minutes_mae": float(60 * np.mean(np.abs(gaps[split] - true[split]))) for split in gaps}
    baseline = LastCheckin()
    baseline.fit(data.checkins, 0)
    guess = baseline.predict(data.checkins, "test")[:, 0]
    scores["baseline_test_dt_minutes_mae"] = float(60 * np.mean(np.abs(guess - true["test"])))
    return scores


def last_checkin_scores(data: NextPlaceData) -> dict[str, float]:
    """km from the user's last check-in to the next: "stay where you were", the km reference."""
    rows = data.target_rows("test")
    lat, lon = data.last_checkins("test")
    km = haversine_km(data.frame["lat"].to_numpy()[rows], data.frame["lon"].to_numpy()[rows], lat, lon)
    return {"last_checkin_test_km_median": float(np.median(km)) if len(km) else float("nan"),
            "last_checkin_test_km_mean": float(np.mean(km)) if len(km) else float("nan")}


def point_places(data: NextPlaceData, split: str, ranked: np.ndarray, chance: np.ndarray) -> Places:
    lat, lon = data.vocabulary.coordinates(ranked)
    return Places(np.where(ranked >= 0, chance, 0.0), lat, lon, *data.last_checkins(split))


def point_scores(data: NextPlaceData, forecasts: Mapping[str, tuple[np.ndarray, np.ndarray]]
                 ) -> tuple[PointRule, dict[str, float], tuple[np.ndarray, np.ndarray]]:
    """The km answer (:mod:`sweepcast.models.place_point`): its rule calibrated on validation,
    its misses on both splits, and the test points."""
    frame = data.frame
    truth = {split: (frame["lat"].to_numpy()[data.target_rows(split)], frame["lon"].to_numpy()[data.target_rows(split)])
             for split in forecasts}
    places = {split: point_places(data, split, *forecasts[split]) for split in forecasts}
    rule = calibrate(places["val"], *truth["val"], data.target_positions("val") < 0)
    scores: dict[str, float] = {"point_radius_km": rule.radius_km, "point_stay_mass": rule.stay_mass}
    test_point = (np.zeros(0), np.zeros(0))
    for split in forecasts:
        lat, lon, stays = rule.choose(places[split])
        km = haversine_km(*truth[split], lat, lon)
        scores[f"{split}_point_km_median"] = float(np.nanmedian(km)) if np.isfinite(km).any() else float("nan")
        scores[f"{split}_point_km_mean"] = float(np.nanmean(km)) if np.isfinite(km).any() else float("nan")
        scores[f"{split}_point_stay_share"] = float(np.mean(stays)) if len(stays) else float("nan")
        if split == "test":
            test_point = (lat, lon)
    return rule, scores, test_point


def split_scores(data: NextPlaceData, split: str, ranked: np.ndarray, prefix: str) -> dict[str, float]:
    """Acc@k, MRR, km of the top-1 place, and the shares of targets no ranker can hit."""
    true = data.true_places(split)
    rows = data.target_rows(split)
    scores = ranking_metrics(true, ranked, prefix)
    km = top1_km(data, rows, ranked[:, 0])
    scores[f"{prefix}_km_median"] = float(np.nanmedian(km)) if np.isfinite(km).any() else float("nan")
    scores[f"{prefix}_km_mean"] = float(np.nanmean(km)) if np.isfinite(km).any() else float("nan")
    scores[f"{prefix}_other_share"] = float(np.mean(true == OTHER))
    scores[f"{prefix}_unseen_share"] = float(np.mean(~data.seen_in_train[rows]))
    return scores


def top1_km(data: NextPlaceData, rows: np.ndarray, top1: np.ndarray) -> np.ndarray:
    """km between each window's top-1 place (its mean training coordinates) and the true check-in."""
    lat, lon = data.vocabulary.coordinates(top1)
    frame = data.frame
    return haversine_km(frame["lat"].to_numpy()[rows], frame["lon"].to_numpy()[rows], lat, lon)


def artifacts(data: NextPlaceData, test_pred: np.ndarray, base_pred: np.ndarray, baseline: str,
              plotlyjs: str, test_gap: np.ndarray | None = None,
              point: tuple[np.ndarray, np.ndarray] | None = None) -> list[Artifact]:
    from sweepcast.report.checkin_figures import locations_figure  # plotly: seconds
    from sweepcast.report.forecast import figure_html

    table = prediction_table(data, test_pred, base_pred, test_gap, point)
    shown = table.dropna(subset=["pred_lat"]).head(MAP_POINTS)
    page = locations_figure(shown, f"next place: true vs top-1, baseline {baseline} ({len(shown)} test windows)")
    return [Artifact(PREDICTIONS, table, digits=9), Artifact("plots/places_test.html", figure_html(page, plotlyjs))]


def prediction_table(data: NextPlaceData, test_pred: np.ndarray, base_pred: np.ndarray,
                     test_gap: np.ndarray | None = None,
                     point: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """Up to :data:`TABLE_ROWS` test windows (seed 0): who, when, the true place, the model's
    top 5 and the baseline's top 1, and where they are; a network's km point too."""
    rows = data.target_rows("test")
    pick = np.sort(np.random.default_rng(0).choice(len(rows), size=min(TABLE_ROWS, len(rows)), replace=False))
    frame = data.frame.iloc[rows[pick]]
    vocabulary = data.vocabulary
    ranked, base = test_pred[pick], base_pred[pick]
    table = pd.DataFrame({"user": frame["user"].to_numpy(), "time": frame["time"].to_numpy(),
                          "true_location": frame["location"].to_numpy(), "true_lat": frame["lat"].to_numpy(),
                          "true_lon": frame["lon"].to_numpy()})
    for k in range(min(5, ranked.shape[1])):
        table[f"top{k + 1}_location"] = vocabulary.decode(ranked[:, k])
    table["pred_lat"], table["pred_lon"] = vocabulary.coordinates(ranked[:, 0])
    table["baseline_location"] = vocabulary.decode(base[:, 0])
    table["baseline_lat"], table["baseline_lon"] = vocabulary.coordinates(base[:, 0])
    true = data.true_places("test")[pick]
    hits = (ranked == true[:, None]) & (true[:, None] > 0)
    table["hit_rank"] = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)
    table["km_error"] = top1_km(data, rows[pick], ranked[:, 0])
    if point is not None:
        table["point_lat"], table["point_lon"] = point[0][pick], point[1][pick]
        table["point_km_error"] = haversine_km(table["true_lat"].to_numpy(), table["true_lon"].to_numpy(),
                                               table["point_lat"].to_numpy(), table["point_lon"].to_numpy())
    if test_gap is not None:
        table["true_gap_hours"] = data.checkins.target_matrix("test")[pick, 0]
        table["pred_gap_hours"] = test_gap[pick]
    return table


TASK = NextPlaceTask()
