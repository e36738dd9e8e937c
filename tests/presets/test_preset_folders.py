"""Preset folders of the published weights, written, loaded back by KerasHub's own loaders, and replaced
only whole: the weights come from a cache of both generations (`conftest.cached_xs_weights`)."""

import os

import keras_hub
import numpy as np
import pytest

from conftest import reference_logits
from swiftformer_keras.presets import preset_folders
from swiftformer_keras.presets.image_classifier import SwiftFormerImageClassifier


def test_both_generations_become_presets_that_keras_hub_loads_with_their_crop(tmp_path, cached_xs_weights, images):
    output = tmp_path / "presets"
    rows = preset_folders.write_presets(output, ["xs"], ["imagenet", "imagenet_timm", "imagenet_mbzuai"])
    assert [row["preset"] for row in rows] == ["swiftformer_xs_imagenet_timm", "swiftformer_xs_imagenet_mbzuai"]
    assert sorted(os.listdir(output)) == ["swiftformer_xs_imagenet_mbzuai", "swiftformer_xs_imagenet_timm"]
    for row, name, attention, crop in (
        (rows[0], "imagenet_timm", "l2", 0.95),
        (rows[1], "imagenet_mbzuai", "softmax", 0.875),
    ):
        folder = output / row["preset"]
        assert {"config.json", "model.weights.h5", "task.json", "preprocessor.json", "metadata.json"} <= set(
            os.listdir(folder)
        )
        assert (row["attention"], row["crop_pct"], row["parameters"]) == (attention, crop, 3_475_360)
        assert row["max_abs_diff"] <= preset_folders.TOLERANCE
        classifier = keras_hub.models.ImageClassifier.from_preset(str(folder))
        assert isinstance(classifier, SwiftFormerImageClassifier)
        assert classifier.preprocessor.image_converter.crop_pct == crop
        logits = np.asarray(classifier(images["square"], training=False))
        expected = reference_logits(cached_xs_weights[name], images["square"])
        assert np.abs(logits - expected).max() <= 1e-4, name  # the PyTorch reference's logits
        card = (folder / "README.md").read_text()
        assert card.startswith("---\nlibrary_name: keras-hub\n")
        assert f'keras_hub.models.ImageClassifier.from_preset("{row["preset"]}")' in card
    assert "top-1: **75.586%**" in (output / rows[0]["preset"] / "README.md").read_text()
    assert "license: apache-2.0" in (output / rows[0]["preset"] / "README.md").read_text()
    assert "| swiftformer_xs_imagenet_timm | XS | imagenet_timm | l2 | 0.95 | 75.586% | 3,475,360 |" in (
        preset_folders.markdown(rows)
    )


def test_a_failed_run_leaves_the_earlier_presets_whole(tmp_path, cached_xs_weights, monkeypatch):
    output = tmp_path / "presets"
    preset_folders.write_presets(output, ["XS"], ["imagenet"], index="presets.csv")
    folder = output / "swiftformer_xs_imagenet_timm"
    before = {name: os.path.getmtime(folder / name) for name in os.listdir(folder)}
    index = (output / "presets.csv").read_text()
    monkeypatch.setattr(preset_folders, "TOLERANCE", -1.0)  # every check fails
    with pytest.raises(ValueError, match="differs from the Keras model by .*nothing was written"):
        preset_folders.write_presets(output, ["XS"], ["imagenet", "imagenet_mbzuai"], index="presets.csv")
    # No partial folder or index is left, and the earlier folder and its index are untouched.
    assert sorted(os.listdir(output)) == ["presets.csv", "swiftformer_xs_imagenet_timm"]
    assert {name: os.path.getmtime(folder / name) for name in os.listdir(folder)} == before
    assert (output / "presets.csv").read_text() == index and "imagenet_mbzuai" not in index


def test_the_index_moves_into_place_after_the_folders_and_not_before(tmp_path, cached_xs_weights, monkeypatch):
    """A rename that fails (a folder in the way, say) leaves no new index beside old folders."""
    output = tmp_path / "presets"

    def refuse(*args, **kwargs):
        raise OSError("the rename failed")

    monkeypatch.setattr(preset_folders.files, "replace_folder", refuse)
    with pytest.raises(OSError, match="the rename failed"):
        preset_folders.write_presets(output, ["XS"], ["imagenet"], index="presets.csv")
    assert os.listdir(output) == []  # neither the index nor a partial one
