"""The architecture as data: the variant table, the input-size rule, variables, layer walk."""

import pytest

from swiftformer_keras.models import architecture
from swiftformer_keras.models import layers as sf_layers
from swiftformer_keras.models.builders import build_swiftformer


@pytest.mark.parametrize("name", ["XS", "xs", "Xs", "l3", "S"])
def test_variant_lookup_in_any_case(name):
    config = architecture.variant_config(name)
    assert config["name"] == name.upper()
    facts = architecture.VARIANTS[name.upper()]
    assert (config["depths"], config["widths"]) == (facts["depths"], facts["widths"])
    assert config["mlp_ratio"] == architecture.DEFAULT_MLP_RATIO


def test_unknown_variants_and_bad_dicts_are_refused_by_name():
    with pytest.raises(ValueError, match=r"Unknown SwiftFormer variant 'M'; use one of \['L1', 'L3', 'S', 'XS'\]"):
        architecture.variant_config("M")
    with pytest.raises(ValueError, match="a variant name or a dict with 'depths' and 'widths', got 3"):
        architecture.variant_config(3)
    with pytest.raises(ValueError, match="four positive entries"):
        architecture.variant_config({"depths": (1, 1), "widths": (8, 8)})
    custom = architecture.variant_config({"depths": [1, 1, 2, 1], "widths": [8, 16, 24, 32], "mlp_ratio": 3})
    assert custom == {"name": "custom", "depths": (1, 1, 2, 1), "widths": (8, 16, 24, 32), "mlp_ratio": 3.0}


def test_variant_names():
    assert architecture.variant_name((3, 3, 9, 6), (48, 64, 168, 224)) == "SwiftFormer-S"
    assert architecture.variant_name([1, 1, 1, 1], [8, 8, 8, 8]) == (
        "a SwiftFormer with depths (1, 1, 1, 1) and widths (8, 8, 8, 8)"
    )


@pytest.mark.parametrize(
    "size, message",
    [
        (
            32,
            r"^Image size 32 is not supported: SwiftFormer downsamples by 32, so use a multiple of 32 that is at least "
            r"64 \(e\.g\. 64\)\.$",
        ),
        (100, r"Image size 100 is not supported.*\(e\.g\. 128\)"),
        (64.5, r"Image size 64\.5 is not supported.*\(e\.g\. 96\)"),
        ((64, 48), r"Image size \(64, 48\) is not supported.*\(e\.g\. 64\)"),
        ("big", r"Image size 'big' is not supported.*\(e\.g\. 224\)"),
    ],
)
def test_check_image_size_says_what_to_use(size, message):
    with pytest.raises(ValueError, match=message):
        architecture.check_image_size(size)


def test_check_image_size_returns_height_and_width():
    assert architecture.check_image_size(96) == (96, 96)
    assert architecture.check_image_size((64, 224.0)) == (64, 224)


def test_check_side_allows_none_only_when_asked():
    architecture.check_side(None, "Input height None", allow_none=True)
    with pytest.raises(ValueError, match="Input width 100 is not supported.*use None or a multiple of 32"):
        architecture.check_side(100, "Input width 100", allow_none=True)
    with pytest.raises(ValueError, match="Image size None is not supported"):
        architecture.check_side(None, "Image size None")


@pytest.mark.parametrize(
    "config, kwargs",
    [
        ("XS", {}),
        ("S", {}),
        ("L1", {}),
        ("L3", {}),
        ({"depths": (1, 2, 1, 1), "widths": (8, 16, 24, 32), "mlp_ratio": 3.0}, {"classes": 7}),
        ("XS", {"include_top": False}),
        ("XS", {"include_top": False, "features": True}),
    ],
)
def test_variable_shapes_are_those_of_the_built_model(config, kwargs):
    model = build_swiftformer(config, input_shape=(64, 64, 3), **kwargs)
    classes = kwargs.get("classes", 1000) if kwargs.get("include_top", True) else None
    shapes = architecture.variable_shapes(config, classes=classes, final_norm=not kwargs.get("features"))
    assert list(shapes.items()) == [(v.path, tuple(v.shape)) for v in model.weights]


def test_all_layers_reaches_nested_layers_once():
    model = build_swiftformer("XS")
    found = architecture.all_layers(model)
    assert len(found) == len({id(layer) for layer in found})
    assert sum(isinstance(layer, sf_layers.EfficientAdditiveAttention) for layer in found) == 4  # one per stage
    assert sum(isinstance(layer, sf_layers.Mlp) for layer in found) == 4
    assert (
        sum(
            isinstance(layer, sf_layers.ConvEncoder) and not isinstance(layer, sf_layers.LocalRepresentation)
            for layer in found
        )
        == 16 - 4
    )  # XS: 3+3+6+4 blocks, the last of each stage is attention


def test_the_variant_table_holds_every_fact_of_every_variant():
    """One place knows a variant: its graph, its size and the paper's numbers (data, which the
    builders' docstrings read); its published weights are the weights stage's table."""
    for name, facts in architecture.VARIANTS.items():
        assert set(facts) == {"depths", "widths", "parameters", "top1", "gmacs"}, name
        assert architecture.variant_config(name) == {
            "name": name,
            "depths": facts["depths"],
            "widths": facts["widths"],
            "mlp_ratio": 4.0,
        }
