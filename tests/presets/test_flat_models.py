"""flat_models: flat SwiftFormer <-> KerasHub classes, exactly, and refusals of what is not a SwiftFormer."""

import re

import keras
import numpy as np
import pytest

from conftest import TINY, tiny_model
from swiftformer_keras.lite.rewrites import with_final_norm_folded, with_pixel_input
from swiftformer_keras.models.builders import build_swiftformer
from swiftformer_keras.presets.backbone import SwiftFormerBackbone
from swiftformer_keras.presets.flat_models import (
    classifier_from_model,
    copy_weights_by_layer_name,
    flat_architecture,
    model_from_classifier,
    write_flat_model,
)
from swiftformer_keras.presets.image_classifier import SwiftFormerImageClassifier
from swiftformer_keras.utils.images import recorded_crop_pct

X = np.random.RandomState(0).randn(2, 64, 64, 3).astype("float32")


@pytest.mark.parametrize("attention, activation", [("l2", None), ("softmax", "softmax")])
def test_there_and_back_gives_the_models_outputs_exactly(attention, activation):
    model = tiny_model(attention=attention, classes=7)
    if activation:
        model = keras.Model(model.input, keras.layers.Activation(activation, name="predictions")(model.output))
    expected = np.asarray(model(X))
    assert expected.std() > (0.05 if activation else 1.0)  # realistic weights: every branch counts

    classifier = classifier_from_model(model, crop_pct=0.95)
    assert type(classifier) is SwiftFormerImageClassifier
    assert (classifier.backbone.attention, classifier.num_classes, classifier.activation) == (attention, 7, activation)
    assert (classifier.preprocessor.image_converter.crop_pct, classifier.preprocessor.image_size) == (0.95, (64, 64))
    np.testing.assert_array_equal(np.asarray(classifier(X)), expected)

    flat = model_from_classifier(classifier)
    assert [layer.name for layer in flat.layers] == [layer.name for layer in model.layers]
    assert {v.path: tuple(v.shape) for v in flat.weights} == {v.path: tuple(v.shape) for v in model.weights}
    np.testing.assert_array_equal(np.asarray(flat(X)), expected)


def test_a_backbone_becomes_the_flat_model_without_top():
    backbone = classifier_from_model(tiny_model(seed=3)).backbone
    flat = model_from_classifier(backbone)
    assert flat.output_shape == (None, 2, 2, 48) and flat.layers[-1].name == "norm"
    np.testing.assert_array_equal(np.asarray(flat(X)), np.asarray(backbone(X)))


def test_the_architecture_and_rates_carry_over():
    model = build_swiftformer(
        {**TINY, "mlp_ratio": 3.0},
        input_shape=(None, None, 3),
        classes=4,
        attention="token_softmax",
        drop_path_rate=0.2,
        dropout_rate=0.1,
    )
    architecture = flat_architecture(model)
    assert architecture["config"]["depths"] == (1, 1, 2, 1) and architecture["config"]["widths"] == (16, 24, 32, 48)
    assert (architecture["config"]["mlp_ratio"], architecture["activation"]) == (3.0, "softmax")
    classifier = classifier_from_model(model, image_size=(96, 128))
    config = classifier.backbone.get_config()
    assert (config["attention"], config["image_shape"], config["drop_path_rate"]) == (
        "token_softmax",
        [None, None, 3],
        0.2,
    )
    assert (config["dropout_rate"], classifier.dropout, classifier.preprocessor.image_size) == (0.1, 0.1, (96, 128))
    assert classifier.backbone.get_layer("stage1_block0").get_config()["mlp_ratio"] == 3.0
    assert model_from_classifier(classifier).get_layer("stage3_block0").drop_path_rate == pytest.approx(0.2)


def test_what_is_not_a_flat_swiftformer_is_refused_in_one_line():
    model, no_top = tiny_model(), build_swiftformer(TINY, include_top=False)
    inputs = keras.Input((64, 64, 3))
    not_swiftformer = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(inputs)))
    cases = [
        (not_swiftformer, "is not a flat SwiftFormer (no stem, stages)"),
        (no_top, "has no classifier (include_top=False): copy its weights into a SwiftFormerBackbone"),
        (with_final_norm_folded(model), "is not a flat SwiftFormer: its variables differ"),
        (with_pixel_input(model), "was rewritten for export"),
    ]
    for candidate, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)) as error:
            classifier_from_model(candidate)
        assert "\n" not in str(error.value)
    for candidate in (model, "XS"):
        with pytest.raises(ValueError, match="Expected a SwiftFormerImageClassifier or SwiftFormerBackbone, got"):
            model_from_classifier(candidate)


def test_copying_refuses_missing_or_different_layers():
    model = tiny_model()
    with pytest.raises(ValueError, match="has no layer 'norm' to copy into"):
        copy_weights_by_layer_name(with_final_norm_folded(model), SwiftFormerBackbone(TINY))
    wider = SwiftFormerBackbone({"depths": TINY["depths"], "widths": [16, 24, 32, 64]})
    with pytest.raises(ValueError, match="Layer 'downsample3' of .* hold different variables"):
        copy_weights_by_layer_name(model, wider)


def test_a_saved_keras_hub_model_flattens_to_a_file_and_a_damaged_preset_is_one_line(tmp_path):
    classifier = classifier_from_model(tiny_model(classes=3), crop_pct=0.95)
    classifier.save_to_preset(str(tmp_path / "preset"))
    flat = write_flat_model(str(tmp_path / "preset"), str(tmp_path / "flat.keras"))
    x = np.random.default_rng(0).standard_normal((1, 64, 64, 3)).astype("float32")
    reloaded = keras.saving.load_model(flat)
    np.testing.assert_allclose(np.asarray(reloaded(x)), np.asarray(classifier(x)), atol=1e-6)
    assert recorded_crop_pct(flat) == 0.95
    with open(tmp_path / "preset" / "model.weights.h5", "r+b") as file:
        file.truncate(1000)
    with pytest.raises(ValueError, match="is a SwiftFormer preset that KerasHub cannot load .*write it again") as error:
        write_flat_model(str(tmp_path / "preset"), str(tmp_path / "again.keras"))
    assert "\n" not in str(error.value) and not (tmp_path / "again.keras").exists()
