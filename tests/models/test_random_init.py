"""randomize_weights: every variable redrawn, logits at the asked spread."""

import numpy as np
import pytest

import swiftformer_keras as sfk
from swiftformer_keras.models.random_init import randomize_weights


def test_weights_are_redrawn_and_logits_have_the_asked_spread():
    model = sfk.SwiftFormer(
        {"depths": (1, 1, 1, 1), "widths": (16, 24, 32, 48)},
        classes=10,
        classifier_activation=None,
        input_shape=(64, 64, 3),
    )
    before = [np.array(v) for v in model.weights]
    randomize_weights(model, seed=1, logit_std=3.0)
    assert all(not np.array_equal(a, np.array(v)) for a, v in zip(before, model.weights, strict=True))
    probe = np.random.default_rng(1).normal(size=(2, 64, 64, 3)).astype("float32")
    assert 1.5 < np.std(np.asarray(model(probe))) < 6.0  # scaled on another probe: near 3, not 0.03
    scales = [np.array(v) for v in model.weights if v.path.endswith("layer_scale/gamma")]
    assert scales and min(s.min() for s in scales) >= 0.5  # far from the 1e-5 default


def test_unknown_variables_are_refused():
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Embedding(4, 2)(inputs))
    with pytest.raises(ValueError, match="does not know variable"):
        randomize_weights(model)
