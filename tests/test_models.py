"""Network families: shapes for every horizon and input width, per-layer units, config errors named by key."""

from __future__ import annotations

import numpy as np
import pytest

from sweepcast.data.windows import ForecastTask
from sweepcast.errors import ConfigError
from sweepcast.models import build_model, validate_model

BASE = {
    "name": "lstm", "layers": 2, "units": [64, 64, 32], "dropout": 0.1, "activation": "tanh",
    "head_units": [], "head_activation": "relu", "output_activation": "linear", "l2": 0.0,
}


def test_builds_and_predicts_one_value_per_window() -> None:
    model = build_model(BASE, (12, 3))
    assert model.predict(np.zeros((5, 12, 3), dtype=np.float32), verbose=0).shape == (5, 1)
    assert [layer.units for layer in model.layers if layer.name.startswith("lstm")] == [64, 64]


def test_units_list_cut_to_layers_and_head_layers() -> None:
    model = build_model({**BASE, "layers": 3, "head_units": [16], "l2": 0.01}, (4, 1))
    names = [layer.name for layer in model.layers]
    assert [model.get_layer(n).units for n in ("lstm_1", "lstm_2", "lstm_3")] == [64, 64, 32]
    assert "head_1" in names and model.get_layer("head_1").units == 16


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"layers": 0}, "model.layers"),
        ({"layers": 4}, "model.units"),
        ({"dropout": 1.0}, "model.dropout"),
        ({"dropout": -0.1}, "model.dropout"),
        ({"activation": "swishy"}, "model.activation"),
        ({"output_activation": "nope"}, "model.output_activation"),
        ({"l2": -1}, "model.l2"),
        ({"units": 0}, "model.units"),
        ({"name": "gru"}, "model.name"),
        ({"hidden": 3}, "model.hidden"),
    ],
)
def test_bad_specs_name_their_key(override: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate_model({**BASE, **override})


SEQ2SEQ = {"name": "seq2seq", "layers": 2, "units": [16, 8], "dropout": 0.1, "activation": "sigmoid",
           "attention_heads": 2, "head_units": [8], "head_activation": "relu", "output_activation": "linear", "l2": 0.0}
TRANSFORMER = {"name": "transformer", "layers": 2, "d_model": 16, "heads": 4, "ff_units": 32, "dropout": 0.1,
               "readout": "average", "head_units": [], "head_activation": "relu", "output_activation": "linear",
               "l2": 0.0}


def test_seq2seq_mirrors_the_encoder_and_hands_over_its_state() -> None:
    model = build_model(SEQ2SEQ, (10, 2))
    assert model.predict(np.zeros((3, 10, 2), dtype=np.float32), verbose=0).shape == (3, 1)
    widths = {layer.name: layer.units for layer in model.layers if hasattr(layer, "units") and "coder" in layer.name}
    assert widths == {"encoder_1": 16, "encoder_2": 8, "decoder_1": 8, "decoder_2": 16}
    assert model.get_layer("self_attention").num_heads == 2 and "pool" in [layer.name for layer in model.layers]


@pytest.mark.parametrize("readout", ["average", "last"])
def test_transformer_builds_with_either_readout(readout: str) -> None:
    model = build_model({**TRANSFORMER, "readout": readout}, (12, 3))
    assert model.predict(np.zeros((2, 12, 3), dtype=np.float32), verbose=0).shape == (2, 1)
    assert [layer.name for layer in model.layers].count("attention_1") == 1


def test_transformer_sees_order_through_its_positional_encoding() -> None:
    """Without positions, self-attention + average pooling is blind to order: a reversed window
    would give the same forecast (the check-in study's failure)."""
    model = build_model({**TRANSFORMER, "dropout": 0.0}, (8, 1))
    window = np.linspace(0, 1, 8, dtype=np.float32).reshape(1, 8, 1)
    forward, backward = (model.predict(w, verbose=0)[0, 0] for w in (window, window[:, ::-1]))
    assert abs(forward - backward) > 1e-5


def test_positional_table_matches_the_formula() -> None:
    from sweepcast.models.transformer import positional_encoding

    table = positional_encoding(50, 8)
    assert table.shape == (50, 8) and table.dtype == np.float32
    assert table[0, 0] == 0.0 and table[0, 1] == 1.0
    assert np.isclose(table[3, 2], np.sin(3 / 10_000 ** (2 / 8))) and np.isclose(table[3, 3], np.cos(3 / 10_000 ** (2 / 8)))


DLINEAR = {"name": "dlinear", "kernel_size": 5, "l2": 0.0}
NHITS = {"name": "nhits", "stacks": 3, "blocks": 1, "layers": 2, "units": 32, "pool_sizes": [4, 2, 1],
         "downsample": [4, 2, 1], "dropout": 0.1, "activation": "relu", "l2": 0.0}


@pytest.mark.parametrize("spec", [SEQ2SEQ, TRANSFORMER, DLINEAR, NHITS], ids=["seq2seq", "transformer", "dlinear",
                                                                            "nhits"])
def test_saved_family_loads_back_and_predicts_the_same(spec: dict, tmp_path) -> None:
    import keras

    model = build_model(spec, (6, 1))
    window = np.random.default_rng(1).random((4, 6, 1), dtype=np.float32)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert np.allclose(again.predict(window, verbose=0), model.predict(window, verbose=0), atol=1e-6)


@pytest.mark.parametrize(
    ("spec", "override", "key"),
    [
        (TRANSFORMER, {"heads": 3}, "model.heads"),
        (TRANSFORMER, {"d_model": 0}, "model.d_model"),
        (TRANSFORMER, {"readout": "first"}, "model.readout"),
        (TRANSFORMER, {"units": 8}, "model.units"),
        (SEQ2SEQ, {"attention_heads": 0}, "model.attention_heads"),
        (SEQ2SEQ, {"layers": 3}, "model.units"),
        (SEQ2SEQ, {"activation": "swish2"}, "model.activation"),
        (SEQ2SEQ, {"head_units": "wide"}, "model.head_units"),
        (SEQ2SEQ, {"name": ["seq2seq"]}, "model.name"),
        (DLINEAR, {"kernel_size": 0}, "model.kernel_size"),
        (DLINEAR, {"units": 8}, "model.units"),
        (NHITS, {"pool_sizes": [4, 2]}, "model.pool_sizes"),
        (NHITS, {"downsample": 0}, "model.downsample"),
        (NHITS, {"stacks": 0}, "model.stacks"),
        (NHITS, {"activation": "swish2"}, "model.activation"),
    ],
)
def test_family_specs_name_their_key(spec: dict, override: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate_model({**spec, **override})


def test_one_integer_head_is_one_hidden_layer() -> None:
    model = build_model({**BASE, "head_units": 16}, (4, 1))
    assert model.get_layer("head_1").units == 16


def test_moving_average_window_is_checked_against_the_timestep_before_any_data() -> None:
    with pytest.raises(ConfigError, match=r"model\.window.*data\.timestep=5"):
        validate_model({"name": "moving_average", "window": 6}, ForecastTask(5))
    validate_model({"name": "moving_average", "window": 5}, ForecastTask(5))


@pytest.mark.parametrize("horizon", [1, 10])
@pytest.mark.parametrize("features", [1, 4], ids=["univariate", "multivariate"])
@pytest.mark.parametrize("spec", [BASE, SEQ2SEQ, TRANSFORMER, DLINEAR, NHITS],
                         ids=["lstm", "seq2seq", "transformer", "dlinear", "nhits"])
def test_every_network_emits_one_value_per_horizon_step(spec: dict, features: int, horizon: int) -> None:
    model = build_model(spec, (12, features), horizon)
    assert model.predict(np.zeros((3, 12, features), dtype=np.float32), verbose=0).shape == (3, horizon)


@pytest.mark.parametrize("spec", [BASE, TRANSFORMER, DLINEAR, NHITS], ids=["lstm", "transformer", "dlinear", "nhits"])
def test_recursive_and_direct_forecasts_agree_in_shape(spec: dict, tmp_path) -> None:
    """A recursive model emits one step and is fed back; a direct one emits all ten; both give
    [windows, horizon] in original units, and the recursive first step is the model's own forecast."""
    from sweepcast.data.pipeline import prepare
    from sweepcast.fitting import predict_split
    from tests.test_windows import series_cfg, write_series

    path = write_series(tmp_path / "s.csv", np.sin(np.arange(200) / 5) * 10 + 20)
    shapes = {}
    for strategy in ("direct", "recursive"):
        data = prepare({**series_cfg(path, timestep=8, horizon=10), "strategy": strategy})
        model = build_model(spec, (8, 1), data.task.outputs)
        forecast = predict_split(model, data, "test", batch_size=16)
        shapes[strategy] = forecast.shape
        if strategy == "recursive":
            one_step = data.inverse_target(model.predict(data.windows("test"), verbose=0))
            assert np.allclose(forecast[:, 0], one_step[:, 0], atol=1e-4)
            assert not np.allclose(forecast[:, 1], forecast[:, 0])  # later steps read fed-back values
    assert shapes["direct"] == shapes["recursive"] == (data.bounds.length("test") - 10 + 1, 10)


def test_recursive_feed_back_reproduces_a_linear_series_exactly(tmp_path) -> None:
    """A one-step rule that extrapolates the last two scaled inputs linearly is exact on a straight
    line, so fed back in the right scale and position it must reproduce every step's truth; feeding
    back unscaled values or at the wrong end of the window would not."""
    from sweepcast.data.pipeline import prepare
    from sweepcast.models.recursive import recursive_forecast
    from tests.test_windows import series_cfg, write_series

    path = write_series(tmp_path / "line.csv", 3.0 * np.arange(200) + 7.0)
    data = prepare({**series_cfg(path, timestep=6, horizon=5, scaler="standard"), "strategy": "recursive"})

    def extrapolate(windows: np.ndarray) -> np.ndarray:  # scaled input units == scaled target units here
        return 2 * windows[:, -1, 0] - windows[:, -2, 0]

    assert np.allclose(recursive_forecast(extrapolate, data, "test"), data.target_matrix("test"), atol=1e-3)


def test_dlinear_trend_is_the_edge_padded_moving_average() -> None:
    import keras

    model = build_model(DLINEAR, (12, 2), 3)
    window = np.random.default_rng(2).random((4, 12, 2), dtype=np.float32)
    trend = keras.Model(model.input, model.get_layer("trend").output).predict(window, verbose=0)
    padded = np.concatenate([np.repeat(window[:, :1], 2, axis=1), window, np.repeat(window[:, -1:], 2, axis=1)], axis=1)
    assert np.allclose(trend, np.stack([padded[:, i:i + 5].mean(axis=1) for i in range(12)], axis=1), atol=1e-6)


def test_nhits_knots_interpolate_to_every_step_and_coarse_stacks_see_pooled_windows() -> None:
    from sweepcast.models.nhits import interpolation

    weights = interpolation(3, 5)
    assert np.allclose(weights.sum(axis=0), 1) and np.allclose(np.array([1.0, 3.0, 5.0]) @ weights, [1, 2, 3, 4, 5])
    model = build_model(NHITS, (12, 1), 10)
    assert model.get_layer("pool_s1b1").output.shape[1] == 3 and model.get_layer("knots_s1b1").units == 3
    assert model.get_layer("knots_s3b1").units == 10


def test_nhits_is_refused_for_checkins_with_the_families_that_fit() -> None:
    with pytest.raises(ConfigError, match="model.name.*dlinear"):
        validate_model(NHITS, ForecastTask(10, kind="checkins", targets=3))
