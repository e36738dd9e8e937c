"""The preset folders a run would write, and what it refuses before any model is built."""

import os

import pytest

from swiftformer_keras.presets.plan import MARKER, plan_presets, preset_name


def test_names_follow_the_source_the_weights_stand_for(tmp_path):
    assert preset_name("XS", "imagenet") == preset_name("XS", "imagenet_timm") == "swiftformer_xs_imagenet_timm"
    assert preset_name("L3", "imagenet_mbzuai") == "swiftformer_l3_imagenet_mbzuai"
    assert preset_name("S", str(tmp_path / "cifar.weights.h5")) == "swiftformer_s_cifar"
    planned = plan_presets(tmp_path, ["xs", "S"], ["imagenet", "imagenet_timm", "imagenet_mbzuai"])
    assert [(variant, os.path.basename(folder)) for variant, _, folder in planned] == [
        ("XS", "swiftformer_xs_imagenet_timm"),
        ("XS", "swiftformer_xs_imagenet_mbzuai"),
        ("S", "swiftformer_s_imagenet_timm"),
        ("S", "swiftformer_s_imagenet_mbzuai"),
    ]


def test_bad_requests_are_refused_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match="Unknown variant 'XL'; use one of XS, S, L1, L3"):
        plan_presets(tmp_path, ["XL"], ["imagenet"])
    with pytest.raises(ValueError, match="'imagenet21k' is neither published weights .*imagenet_mbzuai"):
        plan_presets(tmp_path, ["XS"], ["imagenet21k"])
    own = tmp_path / "swiftformer_xs_imagenet_timm"
    own.mkdir()
    (own / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=f"holds other files .* no {MARKER}"):
        plan_presets(tmp_path, ["XS"], ["imagenet"])
    inside = tmp_path / "swiftformer_xs_run"
    inside.mkdir()
    (inside / MARKER).write_text("{}")
    weights = inside / "run.weights.h5"
    weights.write_bytes(b"")
    with pytest.raises(ValueError, match="lies inside the preset folder .* which this run replaces"):
        plan_presets(tmp_path, ["XS"], [str(weights)])
