"""SwiftFormer model builders with the `keras.applications` API.

Reference:
- [SwiftFormer: Efficient Additive Attention for Transformer-based Real-time
  Mobile Vision Applications](https://arxiv.org/abs/2303.15446) (ICCV 2023)
- Official code: https://github.com/Amshaker/SwiftFormer
"""

import numbers

import keras
import numpy as np
from keras import layers

from swiftformer_keras.models import layers as sf_layers
from swiftformer_keras.weights import sources as weights_lib
from swiftformer_keras.models.architecture import (  # noqa: F401  (the architecture names are re-exported here)
    DEFAULT_MLP_RATIO,
    INPUT_STRIDE,
    MIN_INPUT_SIZE,
    VARIANTS,
    all_layers,
    check_side,
    variant_config,
)
from swiftformer_keras.utils.cli import check_number


def _check_classes(classes):
    """Returns `classes` as an int, or raises `ValueError` unless it is a whole number >= 1."""
    if isinstance(classes, numbers.Integral) and not isinstance(classes, bool):
        classes = int(classes)  # NumPy integers, e.g. a count computed from labels
    check_number("classes", classes, minimum=1, integer=True)
    return int(classes)


def _validate_input_shape(input_shape, channels_required):
    if len(input_shape) != 3:
        raise ValueError(
            f"input_shape must be (height, width, channels), got {tuple(input_shape)}."
        )
    height, width, channels = input_shape
    for label, size in (("height", height), ("width", width)):
        check_side(size, f"Input {label} {size}", allow_none=True)
    if channels_required and channels != 3:
        raise ValueError(
            f"Pretrained weights need 3 input channels (RGB), got input_shape {tuple(input_shape)}."
        )
    if channels is None:
        raise ValueError(f"The channel count of input_shape must be known, got {tuple(input_shape)}.")


def build_swiftformer(
    config,
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    features=False,
    attention="l2",
    drop_path_rate=0.0,
    dropout_rate=0.0,
    distillation_outputs=False,
    channels_required=False,
):
    """Builds the functional model with fresh weights; see `SwiftFormer`."""
    config = variant_config(config)
    classes = _check_classes(classes)
    if features and include_top:
        raise ValueError("features=True returns the four stage outputs: pass include_top=False.")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}.")
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate!r}.")

    if input_tensor is not None:
        tensor_shape = tuple(input_tensor.shape[1:])
        if input_shape is not None and tuple(input_shape) != tensor_shape:
            raise ValueError(
                f"input_shape {tuple(input_shape)} disagrees with input_tensor's shape {tensor_shape}."
            )
        input_shape = tensor_shape
    elif input_shape is None:
        input_shape = (224, 224, 3) if include_top else (None, None, 3)
    input_shape = tuple(input_shape)
    _validate_input_shape(input_shape, channels_required)

    if input_tensor is None:
        inputs = layers.Input(shape=input_shape, name="pixels")
    elif keras.backend.is_keras_tensor(input_tensor):
        inputs = input_tensor
    else:
        inputs = layers.Input(tensor=input_tensor, shape=input_shape, name="pixels")

    depths, widths = config["depths"], config["widths"]
    total_blocks = sum(depths)
    x = sf_layers.Stem(widths[0], name="stem")(inputs)
    stage_outputs = []
    block_index = 0
    for stage, (depth, width) in enumerate(zip(depths, widths)):
        if stage > 0:
            x = sf_layers.DownsampleEmbedding(width, name=f"downsample{stage}")(x)
        for block in range(depth):
            # Linear stochastic-depth schedule over all blocks, as in timm.
            rate = drop_path_rate * block_index / max(total_blocks - 1, 1)
            block_name = f"stage{stage}_block{block}"
            if block == depth - 1:
                x = sf_layers.SwiftFormerBlock(
                    mlp_ratio=config["mlp_ratio"],
                    attention_type=attention,
                    drop_path_rate=rate,
                    dropout_rate=dropout_rate,
                    name=block_name,
                )(x)
            else:
                x = sf_layers.ConvEncoder(
                    hidden_dim=int(config["mlp_ratio"] * width),
                    drop_path_rate=rate,
                    name=block_name,
                )(x)
            block_index += 1
        stage_outputs.append(x)

    if features:
        outputs = stage_outputs
    else:
        x = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name="norm")(x)
        if include_top:
            # Under mixed precision the classifier computes in float32, as Keras
            # recommends for outputs (losses, top-k metrics need float32 logits).
            policy = keras.config.dtype_policy()
            head_dtype = "float32" if policy.compute_dtype != policy.variable_dtype else None
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
            x = sf_layers.DistilledClassifier(
                classes,
                output_mode="both" if distillation_outputs else "average",
                dropout_rate=dropout_rate,
                name="classifier",
                dtype=head_dtype,
            )(x)
            if classifier_activation is not None:
                activation = layers.Activation(classifier_activation, name="predictions", dtype=head_dtype)
                x = [activation(t) for t in x] if distillation_outputs else activation(x)
        elif pooling == "avg":
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        elif pooling == "max":
            x = layers.GlobalMaxPooling2D(name="max_pool")(x)
        outputs = x

    if input_tensor is not None:
        inputs = keras.utils.get_source_inputs(input_tensor)
    return keras.Model(inputs, outputs, name=name or f"swiftformer_{config['name'].lower()}")


def SwiftFormer(
    config="XS",
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    features=False,
    attention=None,
    drop_path_rate=0.0,
    dropout_rate=0.0,
    distillation_outputs=False,
):
    """Instantiates a SwiftFormer model of any configuration.

    Args:
        config: a variant name (`"XS"`, `"S"`, `"L1"`, `"L3"`) or a dict with
            `depths` and `widths` (four entries each) and optional `mlp_ratio`.
        include_top: whether to include the classifier (BatchNorm, average
            pooling, `head` and `dist_head` averaged).
        weights: `None` (random initialisation), `"imagenet"` (the published
            ImageNet-1k checkpoint of the variant, downloaded, converted and
            cached once), or the path to a weights file: `.weights.h5`,
            `.keras`, or a PyTorch checkpoint (`.pth`, `.bin`, `.safetensors`)
            in the official, Hugging Face or timm layout.
        input_tensor: optional Keras tensor to use as the model's input.
        input_shape: `(height, width, 3)`; height and width must be `None` or
            multiples of 32 from 64 up. Defaults to `(224, 224, 3)` with the
            top, `(None, None, 3)` without.
        pooling: with `include_top=False`: `None` (4D feature map after the
            final BatchNorm), `"avg"` or `"max"` (2D output).
        classes: number of classes (a whole number >= 1), with
            `include_top=True` and no pretrained weights (ImageNet weights
            need 1000).
        classifier_activation: activation of the top layer (`None` returns
            logits). Ignored unless `include_top=True`.
        name: the model's name.
        features: with `include_top=False`, return the four stage outputs
            (strides 4, 8, 16, 32) for detection or segmentation heads.
        attention: `"l2"`, `"softmax"` or `"token_softmax"` (see
            `EfficientAdditiveAttention`); `None` picks what the weights were
            trained with (`"softmax"` for the Hugging Face hub files,
            `"l2"` for official and timm checkpoints and random weights).
        drop_path_rate: stochastic depth rate of the last block (linear from 0).
        dropout_rate: dropout in the MLPs and before the classifier.
        distillation_outputs: return `[head, dist_head]` instead of their
            average, for training with a distillation teacher.

    Returns:
        A `keras.Model`.
    """
    config = variant_config(config)
    classes = _check_classes(classes)  # before weights="imagenet" compares it with 1000
    if weights is not None and input_shape is not None:
        _validate_input_shape(tuple(input_shape), channels_required=True)  # before any download
    source = weights_lib.resolve_weights(weights, config, include_top, classes, attention)
    model = build_swiftformer(
        config,
        include_top=include_top,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
        features=features,
        attention=source.attention if source else (attention or "l2"),
        drop_path_rate=drop_path_rate,
        dropout_rate=dropout_rate,
        distillation_outputs=distillation_outputs,
        channels_required=source is not None,
    )
    if source is not None:
        weights_lib.assign_state(model, source.state, source.description)
    return model


_DOCSTRING = """Instantiates SwiftFormer-{variant} ({params} parameters with the distillation head).

    ImageNet-1k top-1 {top1}% at 224x224, {gmacs} GMACs (paper). Inputs are RGB
    images normalised by `swiftformer_keras.preprocess_input`.

    Args: as `swiftformer_keras.SwiftFormer`, without `config`.

    Returns:
        A `keras.Model`.
    """


def _variant_builder(variant, params, top1, gmacs):
    def builder(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        return SwiftFormer(
            variant,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            name=name,
            **kwargs,
        )

    builder.__name__ = builder.__qualname__ = f"SwiftFormer{variant}"
    builder.__doc__ = _DOCSTRING.format(variant=variant, params=params, top1=top1, gmacs=gmacs)
    return builder


SwiftFormerXS = _variant_builder("XS", "3,475,360", 75.7, 0.6)
SwiftFormerS = _variant_builder("S", "6,092,128", 78.5, 1.0)
SwiftFormerL1 = _variant_builder("L1", "12,057,920", 80.9, 1.6)
SwiftFormerL3 = _variant_builder("L3", "28,494,736", 83.0, 4.0)


def count_macs(model):
    """Multiply-accumulates of one image through the model's convolutions and dense layers.

    One forward pass records the output size of every layer. A pointwise convolution that a
    block applies through its kernel rather than by calling it (the GELU forms, the Mlp's
    folded BatchNorm: `layers._pointwise_mlp`) takes the size of the nearest enclosing layer's
    output: those convolutions are 1x1 with stride 1, inside blocks that keep the size.
    """
    layers_found = all_layers(model)
    parents = {id(child): layer for layer in layers_found for child in getattr(layer, "_layers", [])}
    positions = {}  # id(layer) -> output height x width, recorded by one forward pass

    def recorder(layer, call):
        def record(*args, **kwargs):
            y = call(*args, **kwargs)
            if len(getattr(y, "shape", ())) == 4:
                positions[id(layer)] = int(y.shape[1]) * int(y.shape[2])
            return y

        return record

    for layer in layers_found:
        layer.call = recorder(layer, layer.call)
    try:
        model(np.zeros((1, *model.inputs[0].shape[1:]), np.float32))
    finally:
        for layer in layers_found:
            del layer.call  # back to the class's method

    def output_positions(layer):
        while id(layer) not in positions:
            layer = parents[id(layer)]
        return positions[id(layer)]

    total = 0
    for layer in layers_found:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            total += output_positions(layer) * int(np.prod(layer.kernel.shape[:3]))
        elif isinstance(layer, keras.layers.Conv2D):
            total += output_positions(layer) * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return total
