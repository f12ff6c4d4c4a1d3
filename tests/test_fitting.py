"""Fit on tiny data: seeding makes runs repeatable; optimizers resolve by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sweepcast.data.pipeline import prepare
from sweepcast.errors import ConfigError
from sweepcast.fitting import fit, make_optimizer, predict_split, seed_everything, validate_trainer
from sweepcast.models import build_model

TRAINER = {"epochs": 2, "batch_size": 16, "optimizer": "adam", "learning_rate": 0.01,
           "early_stopping_patience": 1, "seed": 7, "deterministic": True, "max_points": None, "progress": "none"}
MODEL = {"name": "lstm", "layers": 1, "units": 4, "dropout": 0.0, "activation": "tanh",
         "head_units": [], "head_activation": "relu", "output_activation": "linear", "l2": 0.0}


@pytest.fixture
def data(tmp_path):
    t = np.arange(300)
    values = 10 + 5 * np.sin(t / 8) + np.random.default_rng(0).normal(0, 0.3, t.size)
    path = tmp_path / "s.csv"
    pd.DataFrame({"timestamp": pd.date_range("2020", periods=300, freq="1h"), "value": values}).to_csv(path, index=False)
    return prepare({"source": "csv_series", "path": str(path), "target": "value", "timestep": 12,
                    "clean": {"freq": "infer", "fill_value": None, "nan": "interpolate"}})


def train_once(data):
    spec = validate_trainer(TRAINER)
    seed_everything(spec.seed, spec.deterministic)
    model = build_model(MODEL, (data.timestep, 1))
    result = fit(model, data, spec, show_bar=False)
    return result, predict_split(model, data, "test", spec.batch_size)


@pytest.mark.parametrize("loss", ["mae", "huber", "poisson"])
def test_each_loss_trains_and_is_what_keras_minimised(data, loss: str) -> None:
    """Issue 14.4: the first epoch's training loss is the named loss (a softplus output for Poisson)."""
    import keras

    spec = validate_trainer({**TRAINER, "loss": loss, "epochs": 1, "early_stopping_patience": None})
    seed_everything(spec.seed, spec.deterministic)
    model = build_model({**MODEL, "output_activation": "softplus"}, (data.timestep, 1))
    result = fit(model, data, spec, show_bar=False)
    x, y = next(iter(data.dataset("val", 1000)))
    by_hand = {"mae": keras.losses.MeanAbsoluteError(), "huber": keras.losses.Huber(0.1),
               "poisson": keras.losses.Poisson()}[loss](y, model(x, training=False))
    assert np.isclose(result.history["val_loss"][0], float(by_hand), rtol=1e-4)
    assert np.isfinite(predict_split(model, data, "test", 32)).all()


def test_same_seed_same_numbers(data) -> None:
    first, pred_a = train_once(data)
    second, pred_b = train_once(data)
    assert first.history["loss"] == second.history["loss"]
    assert np.array_equal(pred_a, pred_b)
    assert first.epochs_run == 2 and pred_a.shape == (data.bounds.length("test"), 1)


def test_predictions_are_in_original_units(data) -> None:
    _, pred = train_once(data)
    assert 0 < pred.mean() < 30  # the series lives around 10, scaled values would be in [0, 1]


@pytest.mark.parametrize(("name", "cls"), [("adam", "Adam"), ("adagrad", "Adagrad"), ("rmsprop", "RMSprop"), ("sgd", "SGD")])
def test_optimizers_by_name(name: str, cls: str) -> None:
    optimizer = make_optimizer(name, 0.05)
    assert type(optimizer).__name__ == cls
    assert float(optimizer.learning_rate) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("override", "key"),
    [({"epochs": 0}, "trainer.epochs"), ({"batch_size": "big"}, "trainer.batch_size"),
     ({"learning_rate": 0}, "trainer.learning_rate"), ({"progress": "dots"}, "trainer.progress"),
     ({"deterministic": "yes"}, "trainer.deterministic"), ({"max_points": 0}, "trainer.max_points"),
     ({"momentum": 0.9}, "trainer.momentum"), ({"intra_op_threads": 0}, "trainer.intra_op_threads"),
     ({"loss": "hinge"}, "trainer.loss"), ({"huber_delta": 0}, "trainer.huber_delta")],
)
def test_bad_trainer_values_name_their_key(override: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate_trainer({**TRAINER, **override})


@pytest.mark.parametrize("epochs, pruned_at", [(3, 1), (1, None)])
def test_a_trial_is_pruned_only_while_epochs_remain(epochs: int, pruned_at: int | None) -> None:
    """A pruner that always says "prune" stops a 3-epoch trial after epoch 1, but a 1-epoch
    (smoke) trial keeps its only epoch and so its test metrics: pruning it saves nothing."""
    import keras

    from sweepcast.fitting import trial_reporter

    reports: list[int] = []
    reporter = trial_reporter(lambda epoch, value: reports.append(epoch) or True, "loss", last_epoch=epochs)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(np.zeros((8, 2)), np.zeros(8), epochs=epochs, verbose=0, callbacks=[reporter])
    assert reporter.pruned_epoch == pruned_at
    assert reports == [1]  # reported either way: the pruner still sees the value


def test_with_log1p_the_epoch_val_rmse_is_the_final_val_rmse_in_original_units(tmp_path) -> None:
    """A nonlinear transform breaks 'scaled RMSE x unit scale': the epoch metric (what pruners hear)
    is then scored on predictions in original units, and equals the run's final val RMSE."""
    import keras

    from sweepcast.fitting import val_rmse_callback
    from sweepcast.metrics import rmse

    t = np.arange(300)
    path = tmp_path / "c.csv"
    pd.DataFrame({"timestamp": pd.date_range("2020", periods=300, freq="1h"),
                  "value": 20 + 15 * np.sin(t / 8) ** 2}).to_csv(path, index=False)
    data = prepare({"source": "csv_series", "path": str(path), "target": "value", "timestep": 12, "transform": "log1p",
                    "clean": {"freq": "infer", "fill_value": None, "nan": "interpolate"}})
    seen: dict = {}

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.update(logs or {})

    spec = validate_trainer({**TRAINER, "epochs": 1, "early_stopping_patience": None})
    model = build_model(MODEL, (data.timestep, 1))
    fit(model, data, spec, callbacks=[val_rmse_callback(data), Record()], show_bar=False)
    final = rmse(data.target_matrix("val"), predict_split(model, data, "val", spec.batch_size))
    assert seen["epoch_val_rmse"] == pytest.approx(final, rel=1e-5)
