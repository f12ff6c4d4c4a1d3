"""Any network family as a next-place ranker: place embeddings in front, a score per candidate behind.

Input column 0 of a next-place window is the place's vocabulary index
(:mod:`sweepcast.data.place_windows`); it is embedded in ``task.place_dim`` dimensions and joined
to the other (scaled) columns, and the family's own model reads that sequence into a state of
the same width. Each of the window's candidate places (:mod:`sweepcast.data.place_candidates`)
scores the dot product of that state with the candidate's embedding (the sequence's say) plus a
small MLP of the candidate's features (the user's and the crowd's history); masked padding
scores -1e9. The scores are logits: the loss applies the softmax over the candidates. So LSTM,
Seq2Seq-attention and Transformer rank places without a copy of any of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    import keras

    from sweepcast.data.windows import ForecastTask

FEATURE_UNITS = 32  # hidden width of the candidate-feature MLP


def with_place_embedding(build: Callable[..., "keras.Model"], spec: Mapping[str, Any], input_shape: tuple[int, int],
                         task: "ForecastTask") -> "keras.Model":
    """``build``'s family as a candidate scorer: inputs (window, candidates, mask, features), logits out."""
    import keras  # here, not at the top: a spec is validated before TensorFlow loads

    timestep, features = input_shape
    window = keras.Input(shape=input_shape, name="window")
    candidates = keras.Input(shape=(task.candidates,), dtype="int32", name="candidates")
    mask = keras.Input(shape=(task.candidates,), dtype="bool", name="candidate_mask")
    facts = keras.Input(shape=(task.candidates, task.candidate_features), name="candidate_features")
    embedding = keras.layers.Embedding(task.places, task.place_dim, name="place_embedding")
    x = keras.layers.Concatenate(name="place_and_numbers")([embedding(keras.ops.cast(window[:, :, 0], "int32")),
                                                             window[:, :, 1:]])
    inner = build({**spec, "output_activation": "linear"}, (timestep, task.place_dim + features - 1), task.place_dim)
    state = inner(x)  # [B, place_dim]
    affinity = keras.layers.Dot(axes=(2, 1), name="affinity")([embedding(candidates), state])  # [B, C]
    hidden = keras.layers.Dense(FEATURE_UNITS, activation="relu", name="feature_hidden")(facts)
    from_facts = keras.layers.Reshape((task.candidates,), name="feature_score_flat")(
        keras.layers.Dense(1, name="feature_score")(hidden))
    logits = keras.layers.Add(name="scores")([affinity, from_facts])
    logits = keras.ops.where(mask, logits, -1e9)
    return keras.Model([window, candidates, mask, facts], logits, name=f"{inner.name}_places")
