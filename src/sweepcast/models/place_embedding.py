"""Any network family as a next-place ranker: place embeddings in front, a score per candidate behind.

Input column 0 of a next-place window is the place's vocabulary index
(:mod:`sweepcast.data.place_windows`); it is embedded in ``ranking.place_dim`` dimensions and joined
to the other (scaled) columns, and the family's own model reads that sequence into a context of
:data:`CONTEXT_UNITS` numbers (when, how far, after which places). Each of the window's
candidate places (:mod:`sweepcast.data.place_candidates`) is scored by a small MLP of its
features (the user's and the crowd's history) joined with that context, so the sequence decides
how much each kind of history counts now; masked padding scores -1e9. The scores are logits:
the loss applies the softmax over the candidates. So LSTM, Seq2Seq-attention and Transformer
rank places without a copy of any of them.

Measured on the New York slice (``bench/README.md``, 2 seeds each): scoring by the dot product of
the sequence state with each candidate's own embedding, as a softmax recommender would, scored
Acc@1 0.072-0.074 (per-place embeddings overfit 11,000 training windows); the context MLP 0.089-0.090;
the strongest baseline 0.076.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    import keras

    from sweepcast.data.windows import Ranking

FEATURE_UNITS = 32  # hidden width of the candidate scorer
CONTEXT_UNITS = 16  # what the family's network tells the scorer about the window


def with_place_embedding(build: Callable[..., "keras.Model"], spec: Mapping[str, Any], input_shape: tuple[int, int],
                         ranking: "Ranking") -> "keras.Model":
    """``build``'s family as a candidate scorer: inputs (window, candidates, mask, features), logits
    out (and, with ``ranking.gap``, the scaled gap to the next check-in from the same context)."""
    import keras  # here, not at the top: a spec is validated before TensorFlow loads

    timestep, features = input_shape
    window = keras.Input(shape=input_shape, name="window")
    candidates = keras.Input(shape=(ranking.candidates,), dtype="int32", name="candidates")
    mask = keras.Input(shape=(ranking.candidates,), dtype="bool", name="candidate_mask")
    facts = keras.Input(shape=(ranking.candidates, ranking.features), name="candidate_features")
    embedding = keras.layers.Embedding(ranking.places, ranking.place_dim, name="place_embedding")
    x = keras.layers.Concatenate(name="place_and_numbers")([embedding(keras.ops.cast(window[:, :, 0], "int32")),
                                                             window[:, :, 1:]])
    linear = {**spec, "output_activation": "linear"} if "output_activation" in spec else dict(spec)  # dlinear: always
    inner = build(linear, (timestep, ranking.place_dim + features - 1), CONTEXT_UNITS)
    state = inner(x)
    context = keras.layers.RepeatVector(ranking.candidates, name="context_per_candidate")(state)
    joined = keras.layers.Concatenate(name="features_and_context")([facts, context])
    hidden = keras.layers.Dense(FEATURE_UNITS, activation="relu", name="scorer_hidden")(joined)
    scores = keras.layers.Reshape((ranking.candidates,), name="scores")(keras.layers.Dense(1, name="scorer")(hidden))
    logits = keras.ops.where(mask, scores, -1e9)
    outputs: Any = logits
    if ranking.gap:
        outputs = {"scores": logits, "gap": keras.layers.Dense(1, name="gap")(state)}
    return keras.Model([window, candidates, mask, facts], outputs, name=f"{inner.name}_places")
