"""SwiftFormerBackbone: the flat builder's layers and outputs, the pyramid, config round trip, refusals."""

import json

import keras
import numpy as np
import pytest

from conftest import TINY
from swiftformer_keras.models.architecture import variable_shapes
from swiftformer_keras.models.builders import build_swiftformer
from swiftformer_keras.models.random_init import randomize_weights
from swiftformer_keras.presets.backbone import SwiftFormerBackbone

X = np.random.RandomState(0).randn(2, 64, 64, 3).astype("float32")


@pytest.fixture(scope="module")
def flat_features():
    """`build_swiftformer(TINY, include_top=False)` with realistic random weights."""
    return randomize_weights(build_swiftformer(TINY, include_top=False, input_shape=(64, 64, 3)), seed=1)


@pytest.fixture(scope="module")
def backbone(flat_features):
    backbone = SwiftFormerBackbone(TINY, image_shape=(64, 64, 3))
    backbone.set_weights(flat_features.get_weights())
    return backbone


def test_the_layers_and_variables_are_the_flat_builders(flat_features, backbone):
    assert [(layer.name, type(layer)) for layer in backbone.layers] == [
        (layer.name, type(layer)) for layer in flat_features.layers
    ]
    assert [layer.name for layer in backbone.layers][:3] == ["pixels", "stem", "stage0_block0"]
    assert backbone.layers[-1].name == "norm"
    shapes = {variable.path: tuple(variable.shape) for variable in backbone.weights}
    assert shapes == {variable.path: tuple(variable.shape) for variable in flat_features.weights}
    assert shapes == variable_shapes(TINY, classes=None)
    assert len(backbone.weights) == len(flat_features.weights) == 165


def test_the_output_is_the_flat_models_normalised_feature_map(flat_features, backbone):
    expected = np.asarray(flat_features(X))
    assert expected.shape == (2, 2, 2, 48) and expected.std() > 0.5  # realistic weights: every branch counts
    np.testing.assert_array_equal(np.asarray(backbone(X)), expected)


def test_the_pyramid_is_the_four_stage_outputs(backbone):
    features = build_swiftformer(TINY, include_top=False, features=True, input_shape=(64, 64, 3))
    for layer in features.layers:
        layer.set_weights(backbone.get_layer(layer.name).get_weights())
    pyramid = keras.Model(backbone.input, backbone.pyramid_outputs)(X)
    assert sorted(pyramid) == ["P2", "P3", "P4", "P5"]
    for level, expected in zip(("P2", "P3", "P4", "P5"), features(X), strict=True):
        stride = 2 ** int(level[1])
        assert pyramid[level].shape == (2, 64 // stride, 64 // stride, expected.shape[-1])
        np.testing.assert_array_equal(np.asarray(pyramid[level]), np.asarray(expected))


def test_get_config_round_trips_through_json(backbone):
    config = backbone.get_config()
    assert config["variant"] == {"name": "custom", "depths": [1, 1, 2, 1], "widths": [16, 24, 32, 48], "mlp_ratio": 4.0}
    assert (config["attention"], config["image_shape"]) == ("l2", [64, 64, 3])
    again = SwiftFormerBackbone.from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config
    again.set_weights(backbone.get_weights())
    np.testing.assert_array_equal(np.asarray(again(X)), np.asarray(backbone(X)))


def test_a_published_variant_is_written_by_name():
    backbone = SwiftFormerBackbone("xs", attention="softmax", drop_path_rate=0.1, dropout_rate=0.2)
    config = backbone.get_config()
    assert (config["variant"], config["attention"], config["image_shape"]) == ("XS", "softmax", [None, None, 3])
    assert (config["drop_path_rate"], config["dropout_rate"]) == (0.1, 0.2)
    trainable = sum(int(np.prod(variable.shape)) for variable in backbone.trainable_weights)
    assert trainable == 3_475_360 - 2 * (220 * 1000 + 1000)  # the variant table's count less both heads
    assert backbone.get_layer("stage3_block3").drop_path_rate == pytest.approx(0.1)  # the last block's rate


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"variant": "XXL"}, "Unknown SwiftFormer variant 'XXL'"),
        ({"attention": "cosine"}, "Unknown attention 'cosine'"),
        ({"image_shape": (100, 100, 3)}, "Input height 100 is not supported"),
        ({"drop_path_rate": 1.0}, r"drop_path_rate must be in \[0, 1\), got 1.0"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(arguments, message):
    with pytest.raises(ValueError, match=message) as error:
        SwiftFormerBackbone(**{"variant": TINY, **arguments})
    assert "\n" not in str(error.value)
