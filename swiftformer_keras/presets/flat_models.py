"""Between KerasHub's SwiftFormer classes and the flat `keras.Model` of `swiftformer_keras.SwiftFormer`.

Both build the same layers under the same names (`models.builders.swiftformer_features`
and the head of `build_swiftformer`), so a conversion builds the other form of the same
architecture and copies the variables layer by layer, by name: `classifier_from_model`
wraps a flat model (trained, or loaded from a checkpoint) as a `SwiftFormerImageClassifier`
with its preprocessor, for KerasHub's presets and `fit`; `model_from_classifier` gives the
TFLite converter (`lite`), which rewrites flat models, the flat model of a KerasHub one.
"""

import os
import re

import keras
import keras_hub
import numpy as np

from swiftformer_keras.models import layers as sf_layers
from swiftformer_keras.models.architecture import all_layers, variable_shapes, variant_config
from swiftformer_keras.models.builders import build_swiftformer
from swiftformer_keras.presets.backbone import SwiftFormerBackbone
from swiftformer_keras.presets.image_classifier import SwiftFormerImageClassifier
from swiftformer_keras.presets.image_classifier_preprocessor import SwiftFormerImageClassifierPreprocessor
from swiftformer_keras.presets.image_converter import imagenet_image_converter
from swiftformer_keras.presets.plan import keras_hub_kind
from swiftformer_keras.utils.cli import one_line
from swiftformer_keras.utils.files import write_atomically
from swiftformer_keras.utils.images import EVAL_CROP, IMAGENET_CROP_PCT, record_model_facts
from swiftformer_keras.weights.keras_files import load_keras_model_file, model_attention

_BLOCK_NAME = re.compile(r"stage(\d)_block(\d+)")


def classifier_from_model(model, crop_pct=IMAGENET_CROP_PCT, image_size=None, **converter_options):
    """A `SwiftFormerImageClassifier` with the architecture and weights of a flat SwiftFormer.

    Args:
        model: a `keras.Model` as `swiftformer_keras.SwiftFormer(include_top=True)` builds
            it: its variant, attention, class count, activation and dropout rates carry over.
            Of a model with `distillation_outputs=True`, the classifier outputs the average of
            the two heads, as SwiftFormer does at inference.
        crop_pct: the evaluation crop of its image converter (`SwiftFormerImageConverter`);
            timm's weights want 0.95, the official code's 224/256 (the default).
        image_size: `(height, width)` the converter resizes images to; None: the model's
            input size, or 224x224 where that is not fixed.
        **converter_options: more arguments of the converter (`interpolation`, ...), over
            those of ImageNet's weights (`presets.image_converter.imagenet_image_converter`).

    Returns:
        The classifier, with its preprocessor: its outputs on preprocessed images are the model's.

    Raises:
        ValueError: `model` is not a flat SwiftFormer with its classifier.
    """
    architecture = flat_architecture(model)
    if architecture["classes"] is None:
        raise ValueError(
            f"Model {model.name!r} has no classifier (include_top=False): "
            "copy its weights into a SwiftFormerBackbone with copy_weights_by_layer_name."
        )
    input_shape = tuple(model.inputs[0].shape[1:])
    if image_size is None:
        image_size = input_shape[:2] if None not in input_shape[:2] else (EVAL_CROP, EVAL_CROP)
    backbone = SwiftFormerBackbone(
        architecture["config"],
        attention=architecture["attention"],
        image_shape=input_shape,
        drop_path_rate=architecture["drop_path_rate"],
        dropout_rate=architecture["dropout_rate"],
    )
    converter = imagenet_image_converter(image_size, crop_pct=crop_pct, **converter_options)
    classifier = SwiftFormerImageClassifier(
        backbone,
        architecture["classes"],
        preprocessor=SwiftFormerImageClassifierPreprocessor(converter),
        activation=architecture["activation"],
        dropout=architecture["head_dropout_rate"],
    )
    copy_weights_by_layer_name(model, classifier)
    return classifier


def model_from_classifier(classifier_or_backbone, name=None):
    """The flat `keras.Model` of a `SwiftFormerImageClassifier` or `SwiftFormerBackbone`.

    The model `swiftformer_keras.SwiftFormer` builds for the same variant, attention,
    input shape and dropout rates (the backbone's: the flat model has one for its MLPs and
    head alike), with the same weights: of a classifier, `include_top=True`, its class count
    and activation (`classifier_activation`: None gives logits); of a backbone,
    `include_top=False` (the final BatchNorm's feature map).

    Raises:
        ValueError: `classifier_or_backbone` is neither.
    """
    if isinstance(classifier_or_backbone, SwiftFormerImageClassifier):
        backbone, classifier = classifier_or_backbone.backbone, classifier_or_backbone
    elif isinstance(classifier_or_backbone, SwiftFormerBackbone):
        backbone, classifier = classifier_or_backbone, None
    else:
        raise ValueError(
            "Expected a SwiftFormerImageClassifier or SwiftFormerBackbone, "
            f"got {type(classifier_or_backbone).__name__}."
        )
    model = build_swiftformer(
        backbone.variant,
        include_top=classifier is not None,
        input_shape=backbone.image_shape,
        classes=classifier.num_classes if classifier else 1000,
        classifier_activation=classifier.activation if classifier else None,
        name=name,
        attention=backbone.attention,
        drop_path_rate=backbone.drop_path_rate,
        dropout_rate=backbone.dropout_rate,
    )
    copy_weights_by_layer_name(classifier_or_backbone, model)
    return model


def flat_architecture(model):
    """What builds a flat SwiftFormer again, read from its layers.

    Returns:
        `{"config": variant dict, "attention", "classes" (None without the classifier),
        "activation", "drop_path_rate", "dropout_rate", "head_dropout_rate"}`.

    Raises:
        ValueError: `model` is not a flat SwiftFormer in its official form: its variables are
            not those of the architecture its layers describe (`architecture.variable_shapes`),
            or an export recipe rewrote it (pixel input, other GELU or sum forms).
    """
    layers = {layer.name: layer for layer in getattr(model, "layers", [])}
    blocks = [_BLOCK_NAME.fullmatch(name) for name in layers]
    depths = [sum(1 for match in blocks if match and int(match.group(1)) == stage) for stage in range(4)]
    if not all(name in layers for name in ("stem", "downsample1", "downsample2", "downsample3")) or min(depths) < 1:
        raise ValueError(f"Model {getattr(model, 'name', model)!r} is not a flat SwiftFormer (no stem, stages).")
    last_block = layers[f"stage3_block{depths[3] - 1}"]
    widths = [layers["stem"].filters, *(layers[f"downsample{stage}"].filters for stage in (1, 2, 3))]
    config = variant_config({"depths": depths, "widths": widths, "mlp_ratio": getattr(last_block, "mlp_ratio", 0)})
    head = layers.get("classifier")
    classes = head.classes if isinstance(head, sf_layers.DistilledClassifier) else None

    found = {variable.path: tuple(variable.shape) for variable in model.weights}
    if found != variable_shapes(config, classes=classes):
        raise ValueError(
            f"Model {model.name!r} is not a flat SwiftFormer: its variables differ from those of depths "
            f"{config['depths']} and widths {config['widths']}."
        )
    # The official forms, which the KerasHub classes build: other forms compute the same function
    # differently (or approximately), so copying their weights would not give the same outputs.
    official = {"pixel_normalization": None, "activation": "gelu", "reductions": "sum"}
    rewritten = [
        layer.name
        for layer in all_layers(model)
        if type(layer).__module__ == sf_layers.__name__
        and any(layer.get_config().get(key, value) != value for key, value in official.items())
    ]
    if rewritten:
        raise ValueError(f"Model {model.name!r} was rewritten for export (layers {rewritten[:3]}): pass its source.")
    predictions = layers.get("predictions")
    return {
        "config": config,
        "attention": model_attention(model),
        "classes": classes,
        "activation": predictions.get_config()["activation"] if predictions is not None else None,
        "drop_path_rate": last_block.drop_path_rate,
        "dropout_rate": last_block.dropout_rate,
        "head_dropout_rate": head.dropout_rate if classes is not None else 0.0,
    }


def copy_weights_by_layer_name(source, target):
    """Assigns every variable of `target`'s SwiftFormer layers the value of the variable at the
    same place in the layer of the same name in `source` (backbones and heads searched alike).

    Raises:
        ValueError: a layer of `target` with variables is missing from `source`, or holds
            variables of other names or shapes there.
    """
    source_layers = _layers_with_weights(source)
    for name, layer in _layers_with_weights(target).items():
        if name not in source_layers:
            raise ValueError(f"{source.name!r} has no layer {name!r} to copy into {target.name!r}.")
        pairs = list(zip(source_layers[name].weights, layer.weights, strict=False))
        # Layers of one class and config create their variables in one order: names and shapes
        # agree pair by pair. (Paths too, today, but they depend on the name scope a layer was built in.)
        mismatched = len(source_layers[name].weights) != len(layer.weights) or any(
            (a.name, tuple(a.shape)) != (b.name, tuple(b.shape)) for a, b in pairs
        )
        if mismatched:
            raise ValueError(f"Layer {name!r} of {source.name!r} and of {target.name!r} hold different variables.")
        for source_variable, target_variable in pairs:
            target_variable.assign(np.asarray(keras.ops.convert_to_numpy(source_variable.value)))


def _layers_with_weights(model):
    """`{name: layer}` of the layers of `model` that hold variables, through a nested backbone
    (only the top level of each: the SwiftFormer layers own their sub-layers' variables)."""
    found = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.update(_layers_with_weights(layer))
        elif layer.weights:
            found[layer.name] = layer
    return found


def load_keras_hub_model(path):
    """The SwiftFormer KerasHub model a preset folder or a `.keras` file holds (`plan.keras_hub_kind`):
    the classifier where there is one, else the backbone."""
    kind = keras_hub_kind(path)
    if kind == "keras":
        return load_keras_model_file(path)
    if kind == "preset":
        has_task = os.path.isfile(os.path.join(path, "task.json"))
        loader = keras_hub.models.ImageClassifier if has_task else keras_hub.models.Backbone
        try:
            return loader.from_preset(os.fspath(path))
        except (OSError, ValueError, KeyError) as error:  # a damaged file: h5py, JSON and Keras errors
            raise ValueError(
                f"{os.fspath(path)!r} is a SwiftFormer preset that KerasHub cannot load ({one_line(error)}); "
                "write it again (save_to_preset, or conversion/to_preset.py)."
            ) from error
    raise ValueError(
        f"{os.fspath(path)!r} is neither a preset folder nor a .keras file of a SwiftFormer KerasHub model."
    )


def write_flat_model(source, destination):
    """Writes the flat model (`model_from_classifier`) of the KerasHub model at `source` (a preset folder
    or a `.keras` file) to the `.keras` file `destination`, atomically, with the evaluation crop of its
    image converter recorded (`utils.images.record_model_facts`), for the tools that read it back."""
    hub_model = load_keras_hub_model(source)
    preprocessor = getattr(hub_model, "preprocessor", None)
    converter = getattr(preprocessor, "image_converter", None)
    crop_pct = getattr(converter, "crop_pct", None)
    model = model_from_classifier(hub_model)

    def write(temp):
        model.save(temp)
        if crop_pct is not None:
            record_model_facts(temp, crop_pct=crop_pct)

    return write_atomically(destination, write, keep_name=True)
