"""The table of published weights: both generations by name, their facts, and the crop every tool takes."""

import pytest

from swiftformer_keras import SwiftFormer
from swiftformer_keras.utils.images import record_crop_pct
from swiftformer_keras.weights import published
from swiftformer_keras.weights.keras_files import save_weights_atomically

TIMM = published.WEIGHT_SOURCES["imagenet_timm"]
MBZUAI = published.WEIGHT_SOURCES["imagenet_mbzuai"]


def test_both_generations_by_name_with_their_attention_and_crop():
    assert published.weight_source("imagenet") is TIMM
    assert (TIMM.attention, TIMM.crop_pct, TIMM.interpolation) == ("l2", 0.95, "bicubic")
    assert (MBZUAI.attention, MBZUAI.crop_pct) == ("softmax", 0.875)
    assert set(TIMM.files) == set(MBZUAI.files) == {"XS", "S", "L1", "L3"}
    assert dict(TIMM.top1) == {"XS": 75.586, "S": 78.466, "L1": 80.902, "L3": 83.000}
    assert TIMM.files["XS"].sha256 == "c0dfb2e99069ece07b691ff470f5dafed98716d90be738369828693c3bf2071c"
    assert [published.weights_crop_pct(name) for name in ("imagenet", "imagenet_timm", "imagenet_mbzuai")] == [
        0.95,
        0.95,
        0.875,
    ]
    assert (
        published.weight_source("imagenet_v3") is None and published.weights_crop_pct("no/such/file.weights.h5") is None
    )


def test_the_crop_is_the_one_given_else_the_keras_models_else_the_weights_else_imagenets(tmp_path):
    model = SwiftFormer({"depths": (1, 1, 1, 1), "widths": (8, 8, 8, 8)})
    recorded = str(tmp_path / "recorded.weights.h5")
    save_weights_atomically(model, recorded, crop_pct=0.9)
    keras_file = tmp_path / "trained.keras"
    model.save(keras_file)
    record_crop_pct(keras_file, 1.0)
    crop = published.crop_pct_for
    assert crop(0.8, keras_file, "imagenet") == 0.8  # given
    assert crop(None, keras_file, "imagenet") == 1.0  # the model file's record
    assert crop(None, None, "imagenet") == 0.95 and crop(None, None, "imagenet_mbzuai") == 0.875
    assert crop(None, None, recorded) == pytest.approx(0.9)  # a weights file's record
    assert crop(None, None, "random") == crop() == 0.875  # nothing says: ImageNet's
