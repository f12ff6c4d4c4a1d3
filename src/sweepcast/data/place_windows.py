"""Check-in windows for the next-place task: the same users, cleaning, splits and windows as the
check-in regression, with each check-in's place as an input and the next check-in's place as the target.

Built on :func:`~sweepcast.data.trajectories.prepare_checkins`, so every SNAP-layout file and
every cleaning and split option works unchanged. The place vocabulary is fitted on training
check-ins only (:mod:`.places`). A window's inputs are ``[timestep, 1 + F]``: column 0 the place's
vocabulary index (a network embeds it), then the check-in task's scaled numbers (gap, lat, lon,
optionally hour of week and friends). Its target is the next check-in's place index.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from sweepcast import checks
from sweepcast.data.place_candidates import CHUNK, FEATURES, CandidateIndex, Crowd, History
from sweepcast.data.places import OTHER, PlaceSettings, PlaceVocabulary
from sweepcast.data.splits import SPLITS
from sweepcast.data.trajectories import CheckinData, CheckinSettings, prepare_checkins, unscale_gap
from sweepcast.data.windows import ForecastTask, Ranking, batched, input_rows
from sweepcast.errors import DataError
from sweepcast.metrics import RANK_DEPTH
from sweepcast.models.place_point import ranked_candidates

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

PLACE_FEATURE = "place"
OWN_KEYS = ("places", "predict_gap")
RECALL_SAMPLE = 20_000  # windows per split the set-up log's candidate recall is measured on  # data.* keys of this task on top of the check-in task's


@dataclass(frozen=True)
class NextPlaceSettings:
    """``data.*`` of a next-place config: the check-in settings plus ``data.places``."""

    checkins: CheckinSettings
    places: PlaceSettings
    task: ForecastTask
    predict_gap: bool = False  # also forecast the gap to the next check-in (a second output)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "NextPlaceSettings":
        checkins = CheckinSettings.from_config({k: v for k, v in cfg.items() if k not in OWN_KEYS})
        task = ForecastTask(checkins.task.timestep, 1, "direct", kind="next_place", targets=1)
        gap = checks.boolean("data.predict_gap", cfg.get("predict_gap", False))
        return cls(checkins, PlaceSettings.from_config(cfg.get("places")), task, bool(gap))

    @property
    def config(self) -> Mapping[str, Any]:
        return self.checkins.config


@dataclass
class NextPlaceData:
    """What a next-place run trains and is scored on; the trainer's surface (``dataset``,
    ``window_count``, ``target_rows``) like every task's data."""

    checkins: CheckinData
    settings: NextPlaceSettings
    vocabulary: PlaceVocabulary
    place_index: np.ndarray  # [n] vocabulary index of every modelled check-in
    seen_in_train: np.ndarray  # [n] whether the check-in's location id occurs in training at all
    inputs: np.ndarray  # [n, 1 + F] float32: place index, then the scaled numbers
    task: ForecastTask
    index: CandidateIndex  # any windows' candidates and their features
    positions: dict[str, np.ndarray] = field(default_factory=dict)  # per split, computed when first asked for

    target = "next place"

    @property
    def epoch_metric(self) -> tuple[str, str]:
        """What a sweep's pruner hears each epoch: Acc@1 among the validation windows whose place
        is a candidate (Keras prefixes a metric with its output's name when the model has two)."""
        return ("val_scores_candidate_acc1" if self.settings.predict_gap else "val_candidate_acc1"), "maximize"

    @property
    def frame(self) -> Any:
        return self.checkins.frame

    @property
    def source(self) -> str:
        return self.checkins.source

    @property
    def fingerprint(self) -> str:
        return self.checkins.fingerprint

    @property
    def report(self) -> Any:
        return self.checkins.report

    @property
    def features(self) -> list[str]:
        return [PLACE_FEATURE, *self.checkins.features]

    @property
    def timestep(self) -> int:
        return self.task.timestep

    @property
    def horizon(self) -> int:
        return 1

    @property
    def depth(self) -> int:
        """How many places a ranker returns per window (fewer when the vocabulary is tiny)."""
        return min(RANK_DEPTH, self.vocabulary.size - 1)

    def window_count(self, split: str) -> int:
        return self.checkins.window_count(split)

    def target_rows(self, split: str, steps: int | None = None) -> np.ndarray:
        return self.checkins.target_rows(split)

    def true_places(self, split: str) -> np.ndarray:
        """``[windows]`` vocabulary index of each window's next check-in."""
        return self.place_index[self.target_rows(split)]

    def dataset(self, split: str, batch_size: int, shuffle: bool = False, seed: int | None = None) -> Any:
        """What networks fit and validate on: every window, weighted 1 when its next place is among
        its candidates and 0 otherwise (a model can only learn from those; scores still count the
        rest, as misses). ``x`` is (window ``[B, timestep, 1 + F]``, candidates ``[B, C]``, their
        mask, their features ``[B, C, G]``), computed batch by batch; ``y`` the true place's
        position in the candidates (and the scaled gap, with ``data.predict_gap``)."""
        return self.candidate_dataset(split, np.arange(self.window_count(split)), batch_size, shuffle, seed)

    def target_positions(self, split: str) -> np.ndarray:
        """``[windows]`` where the true next place is in each window's candidates (-1: absent);
        computed on first use (the candidate lists of a whole split take a while at full size)."""
        if split not in self.positions:
            rows = self.target_rows(split)
            self.positions[split] = np.concatenate(
                [positions_in(cands, self.place_index[rows[part]]) for part, cands in self.list_chunks(rows)]
                or [np.zeros(0, dtype=np.int16)])
        return self.positions[split]

    def list_chunks(self, rows: np.ndarray) -> Any:
        for start in range(0, len(rows), CHUNK):
            part = slice(start, start + CHUNK)
            yield part, self.index.lists(rows[part])

    def batch(self, split: str, windows: np.ndarray) -> tuple[np.ndarray, ...]:
        """Model inputs, target positions (0 where absent), their weights (1 present, 0 absent) and
        scaled target gaps of some windows of ``split``."""
        rows = self.target_rows(split)[windows]
        cands, facts = self.index(rows)
        position = positions_in(cands, self.place_index[rows])
        window = self.inputs[input_rows(rows, self.timestep)]
        return (window.astype(np.float32), np.maximum(cands, 0).astype(np.int32), cands >= 0, facts,
                np.maximum(position, 0).astype(np.int64), (position >= 0).astype(np.float32),
                self.checkins.targets[rows, :1].astype(np.float32))

    def candidate_dataset(self, split: str, windows: np.ndarray, batch_size: int, shuffle: bool = False,
                          seed: int | None = None) -> Any:
        import tensorflow as tf  # here, not at the top: data is prepared before TensorFlow loads

        if len(windows) < 1:
            raise DataError(f"{self.source}: no {split} window to fit on")
        ranking = self.ranking
        shapes = ([None, self.timestep, len(self.features)], [None, ranking.candidates], [None, ranking.candidates],
                  [None, ranking.candidates, ranking.features], [None], [None], [None, 1])

        def gather(batch: Any) -> Any:
            parts = tf.numpy_function(lambda w: self.batch(split, w), [batch],
                                      [tf.float32, tf.int32, tf.bool, tf.float32, tf.int64, tf.float32, tf.float32],
                                      stateful=False)
            for part, shape in zip(parts, shapes):
                part.set_shape(shape)
            if not ranking.gap:
                return tuple(parts[:4]), parts[4], parts[5]
            # the gap is known whatever the place: every window teaches it
            return tuple(parts[:4]), {"scores": parts[4], "gap": parts[6]}, {"scores": parts[5],
                                                                             "gap": tf.ones_like(parts[5])}

        starts = tf.data.Dataset.from_tensor_slices(np.asarray(windows, dtype=np.int64))
        return batched(starts, len(windows), gather, batch_size, shuffle, seed)

    def example_input(self) -> dict[str, np.ndarray]:
        """The first test window as a model takes it (the logged model's input example)."""
        window, cands, mask, facts, *_ = self.batch("test", np.arange(1))
        return {"window": window, "candidates": cands, "candidate_mask": mask, "candidate_features": facts}

    def windows(self, split: str, steps: int | None = None) -> np.ndarray:
        return self.inputs[input_rows(self.target_rows(split), self.timestep)]

    def target_unit_scale(self) -> float:
        return 1.0

    def training_objective(self) -> dict[str, Any]:
        """What ``fit`` compiles with: cross-entropy over each window's candidates, top-1 accuracy per epoch."""
        import keras  # here, not at the top: data is prepared before TensorFlow loads

        ranking = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        # top-1 among the windows whose place is a candidate: not the task's val_acc1 (every window),
        # so its own name, or the epoch curves would overwrite the final metric in MLflow
        accuracy = [keras.metrics.SparseTopKCategoricalAccuracy(k=1, name="candidate_acc1")]
        # weighted: a window whose place is not among its candidates (weight 0) is no hit and no miss
        if not self.ranking.gap:
            return {"loss": ranking, "weighted_metrics": accuracy}
        return {"loss": {"scores": ranking, "gap": "mse"},  # the gap: scaled, as the check-in task's
                "weighted_metrics": {"scores": accuracy}}

    @property
    def ranking(self) -> Ranking:
        assert self.task.ranking is not None  # prepare_next_place sets it
        return self.task.ranking

    def predict(self, model: "keras.Model", split: str, batch_size: int) -> np.ndarray:
        """``[windows, 2 * depth]``: place indices, best first (each window's candidates by score,
        :data:`~sweepcast.data.place_candidates.CHUNK` windows at a time), then the model's
        probability of each; with ``data.predict_gap`` one more column, the forecast gap in hours
        (:func:`split_forecast` parts them)."""
        count = self.window_count(split)
        ranked, gaps = np.full((count, self.depth), -1, dtype=np.int32), np.zeros(count)
        chances = np.zeros((count, self.depth))
        for start in range(0, count, CHUNK):
            window, cands, mask, facts, *_ = self.batch(split, np.arange(start, min(start + CHUNK, count)))
            out = model.predict({"window": window, "candidates": cands, "candidate_mask": mask,
                                 "candidate_features": facts}, batch_size=batch_size, verbose=0)
            best, chance = ranked_candidates(cands, mask, np.asarray(out["scores"] if self.ranking.gap else out),
                                             self.depth)
            ranked[start:start + len(best)] = best
            chances[start:start + len(best)] = chance
            if self.ranking.gap:
                gaps[start:start + len(best)] = unscale_gap(self.checkins.target_scaler, out["gap"],
                                                            self.checkins.settings.dt_log)
        return np.column_stack([ranked, chances, gaps]) if self.ranking.gap else np.column_stack([ranked, chances])

    def last_checkins(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(lat, lon) of each window's last check-in: the row before its target, the same user's."""
        rows = self.target_rows(split) - 1
        return self.frame["lat"].to_numpy()[rows], self.frame["lon"].to_numpy()[rows]



def split_forecast(forecast: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """A next-place forecast as (ranking ``[windows, depth]``, the model's probability of each
    ranked place or None, gap hours or None): baselines give the ranking alone, networks its
    probabilities too, and the gap when trained with ``data.predict_gap``."""
    forecast = np.asarray(forecast)
    ranking = forecast[:, :depth].astype(np.int32)
    if forecast.shape[1] == depth:
        return ranking, None, None
    gap = forecast[:, 2 * depth].astype(np.float64) if forecast.shape[1] > 2 * depth else None
    return ranking, forecast[:, depth:2 * depth].astype(np.float64), gap


def prepare_next_place(settings: NextPlaceSettings, max_points: int | None = None) -> NextPlaceData:
    """The check-in pipeline, then the training places' vocabulary and the place inputs."""
    checkins = prepare_checkins(settings.checkins, max_points)
    frame = checkins.frame
    train = frame["split"].to_numpy() == 0
    locations = frame["location"].to_numpy(dtype=np.int64)
    vocabulary = PlaceVocabulary.fit(locations[train], frame["lat"].to_numpy()[train], frame["lon"].to_numpy()[train],
                                     settings.places)
    if vocabulary.size < 3:
        raise DataError(f"{checkins.source}: only {vocabulary.size - 1} place(s) visited at least "
                        f"data.places.min_count={settings.places.min_count} times in training; a ranking needs two "
                        "or more: lower data.places.min_count or use more data")
    place_index = vocabulary.encode(locations)
    seen = np.isin(locations, np.unique(locations[train]))
    inputs = np.hstack([place_index.astype(np.float32)[:, None], checkins.inputs])
    history = place_history(frame, place_index)
    index = CandidateIndex(history, vocabulary, settings.task.timestep, Crowd.from_history(history, vocabulary.size))
    task = replace(settings.task, targets=vocabulary.size, ranking=Ranking(
        places=vocabulary.size, place_dim=settings.places.embedding_dim, candidates=index.depth,
        features=len(FEATURES), gap=settings.predict_gap))
    data = NextPlaceData(checkins, settings, vocabulary, place_index, seen, inputs, task, index)
    test = data.true_places("test")
    log.info("places: %d in the vocabulary (seen >= %d times in training, at most %d) + other; test targets: "
             "%.1f%% other, %.1f%% never seen in training; true place among the %d candidates: %s",
             vocabulary.size - 1, settings.places.min_count, settings.places.max_places, 100 * np.mean(test == OTHER),
             100 * np.mean(~seen[data.target_rows("test")]), index.depth,
             ", ".join(f"{split} {100 * recall:.1f}%" for split, recall in sampled_recall(data).items()))
    return data


def positions_in(cands: np.ndarray, true: np.ndarray) -> np.ndarray:
    """``[windows]`` position of each window's true place in its candidates (-1: absent)."""
    hits = (cands == true[:, None]) & (true > OTHER)[:, None]
    return np.where(hits.any(axis=1), hits.argmax(axis=1), -1).astype(np.int16)


def sampled_recall(data: NextPlaceData, size: int = RECALL_SAMPLE) -> dict[str, float]:
    """Per split, the share of windows whose true place is among their candidates, on up to
    ``size`` windows drawn at random (seed 0): the whole split can take minutes at full size."""
    recall = {}
    for split in SPLITS:
        count = data.window_count(split)
        pick = np.sort(np.random.default_rng(0).choice(count, size=min(size, count), replace=False))
        rows = data.target_rows(split)[pick]
        recall[split] = float(np.mean(positions_in(data.index.lists(rows), data.place_index[rows]) >= 0))
    return recall


def place_history(frame: Any, place_index: np.ndarray, train: np.ndarray | None = None) -> History:
    """The check-ins as candidate lists and features read them (``train``: those in the crowd's totals)."""
    return History(user=np.unique(frame["user"].to_numpy(), return_inverse=True)[1].astype(np.int64),
                   place=place_index.astype(np.int64),
                   seconds=frame["time"].to_numpy().astype("datetime64[s]").astype(np.int64).astype(np.float64),
                   lat=frame["lat"].to_numpy(dtype=np.float64), lon=frame["lon"].to_numpy(dtype=np.float64),
                   train=frame["split"].to_numpy() == 0 if train is None else train)
