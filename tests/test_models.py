"""The LSTM family: shapes, per-layer units, and config errors named by key."""

from __future__ import annotations

import numpy as np
import pytest

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
