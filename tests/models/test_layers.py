"""Each layer: shapes, serialization, registered names, and numbers against NumPy references."""

import keras
import numpy as np
import pytest

from swiftformer_keras.models import layers as sf
from swiftformer_keras.models.architecture import ATTENTION_TYPES

RNG = np.random.RandomState(0)


def _roundtrip(layer, x):
    """Rebuilds `layer` from its config, copies the weights, compares outputs."""
    expected = np.asarray(layer(x))
    clone = type(layer).from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(clone(x)), expected, atol=1e-6)
    # The registered name round-trips through Keras's own serializer too.
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(again) is type(layer)
    return expected


@pytest.mark.parametrize(
    "layer, input_shape, output_shape",
    [
        (sf.Stem(48), (2, 64, 96, 3), (2, 16, 24, 48)),
        (sf.DownsampleEmbedding(64), (2, 16, 24, 48), (2, 8, 12, 64)),
        (sf.ConvEncoder(hidden_dim=96, drop_path_rate=0.1), (2, 8, 8, 24), (2, 8, 8, 24)),
        (sf.LocalRepresentation(), (2, 8, 8, 24), (2, 8, 8, 24)),
        (sf.Mlp(96, dropout_rate=0.1), (2, 8, 8, 24), (2, 8, 8, 24)),
        (sf.EfficientAdditiveAttention("l2"), (2, 8, 6, 24), (2, 8, 6, 24)),
        (sf.SwiftFormerBlock(attention_type="token_softmax", drop_path_rate=0.2), (2, 4, 4, 16), (2, 4, 4, 16)),
        (sf.LayerScale(0.5), (2, 4, 4, 16), (2, 4, 4, 16)),
        (sf.DistilledClassifier(10), (2, 16), (2, 10)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, keras.layers.Layer) else None,
)
def test_shapes_and_serialization(layer, input_shape, output_shape):
    x = RNG.randn(*input_shape).astype("float32")
    y = _roundtrip(layer, x)
    assert y.shape == output_shape
    assert tuple(layer.compute_output_shape(input_shape)) == output_shape
    assert layer.__doc__ and "Input" in layer.__doc__


def _normalize(x, axis):
    return x / np.maximum(np.sqrt((x**2).sum(axis=axis, keepdims=True)), 1e-12)


def _numpy_attention(layer, x, attention_type):
    """SwiftFormer attention on (B, N, D) tokens, written from the paper and
    the official code, independent of the layer's implementation."""
    batch, height, width, channels = x.shape
    tokens = x.reshape(batch, height * width, channels)

    def linear(sublayer, t):
        kernel, bias = (np.asarray(w) for w in sublayer.weights)
        return t @ kernel[0, 0] + bias

    q = _normalize(linear(layer.to_query, tokens), -1)
    k = _normalize(linear(layer.to_key, tokens), -1)
    scores = q @ np.asarray(layer.w_g) * channels**-0.5  # (B, N, 1)
    if attention_type == "l2":
        weights = _normalize(scores, 1)
    elif attention_type == "softmax":
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)  # over a size-1 axis: ones
    else:
        weights = np.exp(scores - scores.max(1, keepdims=True))
        weights /= weights.sum(1, keepdims=True)
    global_query = (weights * q).sum(1, keepdims=True)
    out = linear(layer.final, linear(layer.proj, global_query * k) + q)
    return out.reshape(batch, height, width, channels)


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_attention_matches_numpy_reference(attention_type):
    layer = sf.EfficientAdditiveAttention(attention_type)
    x = RNG.randn(2, 7, 5, 16).astype("float32")
    got = np.asarray(layer(x))
    np.testing.assert_allclose(got, _numpy_attention(layer, x, attention_type), atol=2e-5)


def test_attention_formulations_differ():
    x = RNG.randn(1, 4, 4, 8).astype("float32")
    layer = sf.EfficientAdditiveAttention("l2")
    layer(x)
    outputs = {}
    for kind in ATTENTION_TYPES:
        other = sf.EfficientAdditiveAttention(kind)
        other(x)
        other.set_weights(layer.get_weights())
        outputs[kind] = np.asarray(other(x))
    assert np.abs(outputs["l2"] - outputs["softmax"]).max() > 1e-2
    assert np.abs(outputs["l2"] - outputs["token_softmax"]).max() > 1e-2


def test_unknown_attention_type_names_the_choices():
    with pytest.raises(ValueError, match="'dot'.*'l2', 'softmax', 'token_softmax'"):
        sf.EfficientAdditiveAttention("dot")


def test_drop_path_statistics():
    layer = sf.DropPath(0.25, seed=1)
    x = np.ones((4000, 2, 2, 3), "float32")
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    y = np.asarray(layer(x, training=True))
    per_sample = y.reshape(4000, -1)
    assert np.allclose(np.unique(per_sample), [0.0, 1 / 0.75])
    assert np.all(per_sample.min(1) == per_sample.max(1))  # whole samples dropped
    assert abs((per_sample[:, 0] == 0).mean() - 0.25) < 0.03
    assert abs(y.mean() - 1.0) < 0.05  # expectation preserved
    with pytest.raises(ValueError, match="rate must be in"):
        sf.DropPath(1.0)


def test_layer_scale_initial_value_and_stem_padding():
    assert np.allclose(np.asarray(sf.LayerScale(1e-5)(np.ones((1, 3), "float32"))), 1e-5)
    # PyTorch pads stride-2 convolutions on every side: a one-hot input at the
    # top-left corner reaches the first output through the kernel's centre.
    stem = sf.Stem(4)
    x = np.zeros((1, 8, 8, 3), "float32")
    stem(x)
    padded = np.asarray(stem.pad1(x))
    assert padded.shape == (1, 10, 10, 3)


PIXEL_NORMALIZATION = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))


@pytest.mark.parametrize("size", [(16, 16), (15, 18)])  # odd sizes use the bottom and right padding too
def test_stem_folds_a_pixel_normalization_into_its_first_convolution(size):
    """Stem(pixel_normalization=...) on pixels computes the plain stem on PixelNormalization's output,
    with the same weights: the normalisation folded into conv1, the padding by the mean pixel."""
    plain = sf.Stem(8)
    pixels = RNG.uniform(0, 255, (2, *size, 3)).astype("float32")
    normalised = sf.PixelNormalization(*PIXEL_NORMALIZATION)(pixels)
    plain(normalised)
    for weight in plain.weights:  # biases and norms away from their zero/one initial values
        weight.assign(RNG.normal(0.5, 0.5, weight.shape).astype("float32") + (weight.path.endswith("variance")))
    folded = sf.Stem(8, pixel_normalization=PIXEL_NORMALIZATION)
    folded(pixels)
    folded.set_weights(plain.get_weights())
    expected = np.asarray(plain(normalised))
    np.testing.assert_allclose(np.asarray(folded(pixels)), expected, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_allclose(_roundtrip(folded, pixels), expected, atol=1e-4 * np.abs(expected).max())
    assert folded.get_config()["pixel_normalization"] == [list(v) for v in PIXEL_NORMALIZATION]
    # Camera bytes: cast inside, same numbers.
    np.testing.assert_allclose(
        np.asarray(folded(pixels.round().astype("uint8"))),
        np.asarray(plain(sf.PixelNormalization(*PIXEL_NORMALIZATION)(pixels.round()))),
        atol=1e-4 * np.abs(expected).max(),
    )
    for bad in (((1.0, 2.0), (1.0,)), ((0.0,) * 3, (1.0, 0.0, 1.0))):
        with pytest.raises(ValueError, match="pixel_normalization"):
            sf.Stem(8, pixel_normalization=bad)


def test_classifier_average_and_both():
    both = sf.DistilledClassifier(5, output_mode="both")
    x = RNG.randn(3, 8).astype("float32")
    head, dist = (np.asarray(t) for t in both(x))
    average = sf.DistilledClassifier(5)
    average(x)
    average.set_weights(both.get_weights())
    np.testing.assert_allclose(np.asarray(average(x)), (head + dist) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="output_mode"):
        sf.DistilledClassifier(5, output_mode="sum")


def test_local_representation_keeps_width_and_has_no_drop_path():
    layer = sf.LocalRepresentation(name="local")
    layer(np.zeros((1, 4, 4, 12), "float32"))
    assert layer.pwconv1.filters == 12 and layer.drop_path.rate == 0.0
    assert "hidden_dim" not in layer.get_config()


def test_blocks_take_their_op_forms_from_the_config_and_refuse_unknown_ones():
    block = sf.SwiftFormerBlock(activation="quick_gelu", reductions="matmul")
    block(RNG.randn(1, 4, 4, 8).astype("float32"))
    assert block.local_representation.activation == block.linear.activation == "quick_gelu"
    assert block.attn.reductions == "matmul"
    config = type(block).from_config(block.get_config()).get_config()
    assert (config["activation"], config["reductions"]) == ("quick_gelu", "matmul")
    with pytest.raises(ValueError, match="'relu'.*gelu"):
        sf.Mlp(16, activation="relu")
    with pytest.raises(ValueError, match="'max'.*sum"):
        sf.EfficientAdditiveAttention(reductions="max")


@pytest.mark.parametrize(
    "name",
    [
        "LayerScale",
        "PixelNormalization",
        "DropPath",
        "Stem",
        "DownsampleEmbedding",
        "ConvEncoder",
        "LocalRepresentation",
        "Mlp",
        "EfficientAdditiveAttention",
        "SwiftFormerBlock",
        "DistilledClassifier",
    ],
)
def test_registered_names_are_those_saved_files_refer_to(name):
    """Every `.keras` file names its layers so (tests/fixtures holds files an older release wrote)."""
    assert keras.saving.get_registered_object(f"swiftformer_keras>{name}") is getattr(sf, name)
    assert keras.saving.get_registered_name(getattr(sf, name)) == f"swiftformer_keras>{name}"
