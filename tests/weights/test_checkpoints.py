"""Parity with the PyTorch reference through the real converter, and the
checkpoint reader's errors."""

import os
import re

import numpy as np
import pytest

from conftest import (
    hf_to_official_key,
    hf_to_timm_key,
    make_reference,
    reference_logits,
    timm_hub_file,
    write_checkpoint,
)
from swiftformer_keras import SwiftFormer
from swiftformer_keras.models.architecture import VARIANTS, variant_name
from swiftformer_keras.weights import checkpoints

TOLERANCE = 1e-4
LAYOUTS = ("official", "hf", "timm")


def _keras_logits(path, variant, images, attention=None):
    model = SwiftFormer(
        variant,
        weights=path,
        input_shape=(None, None, 3),
        classifier_activation=None,
        attention=attention,
    )
    return {name: np.asarray(model(batch, training=False)) for name, batch in images.items()}


@pytest.mark.parametrize("variant", ["XS", "S", "L1", "L3"])
@pytest.mark.parametrize("attention", ["l2", "softmax"])
def test_parity_with_pytorch_in_every_layout(variant, attention, images, tmp_path, record_property):
    reference = make_reference(variant, attention)
    expected = {name: reference_logits(reference, batch) for name, batch in images.items()}
    assert max(np.abs(v).max() for v in expected.values()) > 1.0  # logits carry signal
    for layout in LAYOUTS:
        path = write_checkpoint(reference, layout, str(tmp_path), name=layout)
        got = _keras_logits(path, variant, images, attention=attention)
        for name in images:
            diff = float(np.abs(got[name] - expected[name]).max())
            record_property(f"{variant}-{attention}-{layout}-{name}", diff)
            print(f"parity {variant:>2} {attention:>7} {layout:>8} {name:>10}: max|diff| {diff:.2e}")
            assert diff <= TOLERANCE, (layout, name, diff)


def test_attention_formulation_matters(images, tmp_path):
    """The parity tests could not pass with the wrong formulation."""
    reference = make_reference("XS", "l2")
    path = write_checkpoint(reference, "official", str(tmp_path))
    l2 = _keras_logits(path, "XS", images, attention="l2")["square"]
    softmax = _keras_logits(path, "XS", images, attention="softmax")["square"]
    assert np.abs(l2 - softmax).max() > 100 * TOLERANCE


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_variant_and_attention_are_detected(layout, tmp_path):
    path = write_checkpoint(make_reference("XS", "softmax"), layout, str(tmp_path))
    state, detected, (depths, widths) = checkpoints.load_torch_checkpoint(path)
    assert detected == layout
    assert variant_name(depths, widths) == "SwiftFormer-XS"
    assert "classifier/dist_head/kernel" in state
    model = SwiftFormer("XS", weights=path)
    attention = {layer.attention_type for layer in model.layers if hasattr(layer, "attention_type")}
    assert attention == {checkpoints.LAYOUT_ATTENTION[layout]}


def test_wrong_variant_checkpoint_is_refused(tmp_path):
    path = write_checkpoint(make_reference("XS", "l2"), "official", str(tmp_path))
    with pytest.raises(ValueError, match="holds SwiftFormer-XS, but the model being built is SwiftFormer-S"):
        SwiftFormer("S", weights=path)


def test_truncated_checkpoint_is_refused(tmp_path):
    for layout in ("official", "hf"):
        path = write_checkpoint(make_reference("XS", "l2"), layout, str(tmp_path), name=layout)
        data = open(path, "rb").read()
        with open(path, "wb") as file:
            file.write(data[: len(data) // 2])
        with pytest.raises(ValueError, match="truncated|not a readable safetensors"):
            SwiftFormer("XS", weights=path)


def test_non_swiftformer_checkpoint_is_refused(tmp_path):
    from safetensors.numpy import save_file

    path = str(tmp_path / "resnet.safetensors")
    save_file({"conv1.weight": np.zeros((8, 3, 7, 7), "float32")}, path)
    with pytest.raises(ValueError, match="Not a SwiftFormer checkpoint.*conv1.weight"):
        SwiftFormer("XS", weights=path)


def test_extra_or_missing_tensors_are_refused(tmp_path):
    from safetensors.torch import save_file

    reference = make_reference("XS", "softmax")
    state = {k: v.contiguous() for k, v in reference.state_dict().items()}
    extra = dict(state, **{"swiftformer.encoder.network.0.blocks.0.extra.weight": state["norm.weight"].clone()})
    save_file(extra, str(tmp_path / "extra.safetensors"))
    with pytest.raises(ValueError, match="extra.weight"):
        SwiftFormer("XS", weights=str(tmp_path / "extra.safetensors"))
    missing = {k: v for k, v in state.items() if not k.endswith("attn.w_g")}
    save_file(missing, str(tmp_path / "missing.safetensors"))
    with pytest.raises(ValueError, match="does not fill the model variable .*attn/w_g"):
        SwiftFormer("XS", weights=str(tmp_path / "missing.safetensors"))


def test_backbone_loads_a_classifier_checkpoint(tmp_path, images):
    reference = make_reference("XS", "l2")
    path = write_checkpoint(reference, "official", str(tmp_path))
    backbone = SwiftFormer("XS", weights=path, include_top=False, pooling="avg")
    full = SwiftFormer("XS", weights=path, classifier_activation=None)
    pooled = np.asarray(backbone(images["square"]))
    head = full.get_layer("classifier")
    np.testing.assert_allclose(np.asarray(head(pooled)), np.asarray(full(images["square"])), atol=1e-5)
    features = SwiftFormer("XS", weights=path, include_top=False, features=True)
    assert [tuple(o.shape[1:]) for o in features(images["square"])] == [
        (56, 56, 48),
        (28, 28, 56),
        (14, 14, 112),
        (7, 7, 220),
    ]


def test_unknown_file_type_is_refused(tmp_path):
    path = tmp_path / "weights.npz"
    path.write_bytes(b"junk")
    with pytest.raises(ValueError, match="Unrecognised checkpoint type"):
        SwiftFormer("XS", weights=str(path))
    assert not os.path.exists(tmp_path / "weights.weights.h5")


def test_legacy_pickle_checkpoints_are_read_through_torch(tmp_path, images):
    import torch

    reference = make_reference("XS", "softmax")
    path = str(tmp_path / "legacy.pth")
    torch.save(reference.state_dict(), path, _use_new_zipfile_serialization=False)
    assert open(path, "rb").read(2) != b"PK"
    got = _keras_logits(path, "XS", {"square": images["square"]})["square"]
    assert np.abs(got - reference_logits(reference, images["square"])).max() <= TOLERANCE


@pytest.mark.parametrize("layout", LAYOUTS)
def test_keras_to_checkpoint_inverts_the_conversion_exactly(layout):
    to_layout = {"hf": lambda k: k, "official": hf_to_official_key, "timm": hf_to_timm_key}[layout]
    original = {to_layout(k): v.numpy() for k, v in make_reference("XS", "l2").state_dict().items()}
    keras_state = checkpoints.canonical_to_keras(checkpoints.to_canonical(original, layout))
    template = {k: np.zeros_like(v) for k, v in original.items()}
    back = checkpoints.keras_to_checkpoint(keras_state, template)
    assert back.keys() == original.keys()
    for key, value in original.items():
        if not key.endswith("num_batches_tracked"):
            np.testing.assert_array_equal(back[key], value, err_msg=key)


def test_a_keras_model_exported_to_pytorch_gives_the_same_logits(images):
    """A Keras-made (e.g. trained) model runs in the PyTorch reference with the same numbers."""
    import torch

    from android_bench import torch_reference
    from swiftformer_keras.models.random_init import randomize_weights

    model = SwiftFormer("XS", weights=None, classes=10, classifier_activation=None, input_shape=(None, None, 3))
    randomize_weights(model, seed=7)
    reference = torch_reference.swiftformer([3, 3, 6, 4], [48, 56, 112, 220], classes=10, attention="l2")
    keras_state = {v.path: np.asarray(v) for v in model.weights}
    state = checkpoints.keras_to_checkpoint(keras_state, reference.state_dict())
    reference.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=True)
    for batch in images.values():
        expected = np.asarray(model(batch, training=False))
        assert np.abs(expected).max() > 1.0
        assert np.abs(reference_logits(reference, batch) - expected).max() <= TOLERANCE


def test_keras_to_checkpoint_refuses_another_model():
    keras_model = SwiftFormer("XS", weights=None, classes=10)
    keras_state = {v.path: np.asarray(v) for v in keras_model.weights}
    template = make_reference("XS", "l2").state_dict()  # 1000 classes
    with pytest.raises(ValueError, match="classifier/head/kernel.*the two models differ"):
        checkpoints.keras_to_checkpoint(keras_state, template)
    template_10 = make_reference("XS", "l2", classes=10).state_dict()
    missing = {k: v for k, v in keras_state.items() if not k.endswith("attn/w_g")}
    with pytest.raises(ValueError, match="no variable .*attn/w_g"):
        checkpoints.keras_to_checkpoint(missing, template_10)
    extra = dict(keras_state, **{"stage9_block0/extra/kernel": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="1 Keras variables have no place.*stage9_block0/extra/kernel"):
        checkpoints.keras_to_checkpoint(extra, template_10)


@pytest.mark.parametrize("variant", ["XS", "S", "L1", "L3"])
def test_keras_architecture_reads_depths_and_widths_off_the_variables(variant):
    model = SwiftFormer(variant, weights=None, input_shape=(64, 64, 3), classes=10)
    state = {v.path: np.asarray(v) for v in model.weights}
    assert checkpoints.keras_architecture(state) == (VARIANTS[variant]["depths"], VARIANTS[variant]["widths"])
    with pytest.raises(ValueError, match="no blocks for stage 2"):
        checkpoints.keras_architecture({k: v for k, v in state.items() if not k.startswith("stage2_")})


def test_a_file_of_random_bytes_is_not_a_pytorch_checkpoint(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(np.random.RandomState(0).bytes(1000))
    with pytest.raises(ValueError, match=r"garbage.pth' is not a PyTorch checkpoint") as error:
        checkpoints.read_state_dict(path)
    assert "weights_only" not in str(error.value)


def test_a_legacy_pickle_with_foreign_objects_is_refused_without_torchs_advice(tmp_path):
    import torch

    path = str(tmp_path / "legacy.pth")
    torch.save(
        {"model": {"norm.weight": torch.zeros(2)}, "loss": np.float64(1)}, path, _use_new_zipfile_serialization=False
    )
    with pytest.raises(ValueError, match=r"legacy.pth.*numpy") as error:
        checkpoints.read_state_dict(path)
    assert "weights_only" not in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "keys, bad",
    [
        (["network.N.0.foo.weight"], "network.N.0.foo.weight"),
        (["network.0.0.norm.weight", "network.0.x.weight"], "network.0.x.weight"),
        (["network.0.0.norm.weight", "network.1"], "network.1"),
        (["norm", "network.0.0.norm.weight"], "norm"),
        (["network.0.0.norm.weight", "conv1.weight"], "conv1.weight"),
        (["stages.x.blocks.0.norm.weight"], "stages.x.blocks.0.norm.weight"),
        (["swiftformer.encoder.network.a.blocks.0.norm.weight"], "swiftformer.encoder.network.a.blocks.0.norm.weight"),
        ([f"network.{2 * s}.0.dwconv.weight" for s in range(4)], "network.0.0.norm.weight"),
        ([f"network.{2 * s}.{b}.norm.weight" for s in range(4) for b in (0, 2)], "network.0.1"),
    ],
)
def test_malformed_keys_are_refused_by_name(tmp_path, keys, bad):
    from safetensors.numpy import save_file

    path = str(tmp_path / "bad.safetensors")
    save_file({key: np.ones(4, np.float32) for key in keys}, path)
    with pytest.raises(ValueError, match=re.escape(repr(bad)[:-1])):
        checkpoints.load_torch_checkpoint(path)


def test_a_width_tensor_of_the_wrong_rank_is_refused_by_name(tmp_path):
    from safetensors.numpy import save_file

    path = str(tmp_path / "scalar.safetensors")
    save_file({f"network.{2 * s}.0.norm.weight": np.ones((), np.float32) for s in range(4)}, path)
    with pytest.raises(ValueError, match="'network.0.0.norm.weight' has shape ()"):
        checkpoints.load_torch_checkpoint(path)


def test_non_string_keys_are_refused(tmp_path):
    import torch

    path = str(tmp_path / "ints.pth")
    torch.save({0: torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="key 0 is not a string"):
        checkpoints.read_state_dict(path)


def test_a_folder_or_a_keras_file_is_named_for_what_it_is(tmp_path):
    with pytest.raises(ValueError, match="is a folder, not a checkpoint file"):
        checkpoints.read_state_dict(tmp_path)
    keras_file = tmp_path / "x.weights.h5"
    keras_file.write_bytes(b"")
    with pytest.raises(ValueError, match="already a Keras weights file; it needs no conversion") as error:
        checkpoints.read_state_dict(keras_file)
    other = tmp_path / "x.npz"
    other.write_bytes(b"")
    with pytest.raises(ValueError, match=r"\.pth, \.pt, \.bin or \.safetensors") as error:
        checkpoints.read_state_dict(other)
    assert ".weights.h5" not in str(error.value) and ".keras" not in str(error.value)


@pytest.mark.parametrize("variant", ["XS", "S", "L1", "L3"])
def test_timms_own_files_give_timms_logits(variant, tmp_path):
    """timm's own `swiftformer_<variant>`, its weights mapped by timm's own `checkpoint_filter_fn` and saved
    as timm's hub holds them (`conftest.timm_hub_file`), against the Keras model that reads the file: an
    implementation and a key map independent of ours, at a non-square size."""
    x = np.random.RandomState(0).randn(2, 160, 256, 3).astype("float32")
    path, expected = timm_hub_file(variant, tmp_path, x, seed=1)
    assert checkpoints.detect_layout(checkpoints.read_state_dict(path)) == "timm"
    model = SwiftFormer(variant, weights=path, classifier_activation=None, input_shape=(160, 256, 3))
    diff = np.abs(np.asarray(model(x)) - expected).max()
    print(f"{variant}: max |Keras - timm| {diff:.1e} (logit std {expected.std():.1f})")
    assert diff <= 1e-4
