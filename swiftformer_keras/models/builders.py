"""The SwiftFormer graph: a functional Keras model of any config, with fresh weights.

`build_swiftformer` puts the layers of `models.layers` together as the official
code does (stem, four stages whose last block has the attention, downsamplings
between them, final norm, distilled classifier), with the arguments the
`keras.applications` builders take; its body up to the final norm,
`swiftformer_features`, is public for the graphs built around it (the KerasHub
backbone of `presets`); `count_macs` measures a built model. No
weights are read here: `swiftformer_keras.applications` builds a graph, then
fills it through `weights.sources.load_weights`.
"""

import numbers

import keras
import numpy as np
from keras import layers

from swiftformer_keras.models import layers as sf_layers
from swiftformer_keras.models.architecture import all_layers, check_side, variant_config
from swiftformer_keras.utils.cli import check_number


def check_classes(classes):
    """Returns `classes` as an int, or raises `ValueError` unless it is a whole number >= 1."""
    if isinstance(classes, numbers.Integral) and not isinstance(classes, bool):
        classes = int(classes)  # NumPy integers, e.g. a count computed from labels
    check_number("classes", classes, minimum=1, integer=True)
    return int(classes)


def check_input_shape(input_shape, channels_required):
    """Raises `ValueError` unless `input_shape` is `(height, width, channels)` that the model
    takes: sides `None` or multiples of 32 from 64 up, a known channel count, and 3 channels
    (RGB) where `channels_required` (pretrained weights)."""
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {tuple(input_shape)}.")
    height, width, channels = input_shape
    for label, size in (("height", height), ("width", width)):
        check_side(size, f"Input {label} {size}", allow_none=True)
    if channels_required and channels != 3:
        raise ValueError(f"Pretrained weights need 3 input channels (RGB), got input_shape {tuple(input_shape)}.")
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
    """Builds the functional model with fresh weights.

    The arguments are those of `swiftformer_keras.SwiftFormer`, which documents
    them, less `weights`, plus `channels_required`: refuse an input of other than
    3 channels (pretrained weights will be loaded into the model).
    """
    config = variant_config(config)
    classes = check_classes(classes)
    if features and include_top:
        raise ValueError("features=True returns the four stage outputs: pass include_top=False.")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}.")
    check_drop_path_rate(drop_path_rate)

    inputs = _input_layer(input_tensor, input_shape, include_top, channels_required)
    stage_outputs, x = swiftformer_features(inputs, config, attention, drop_path_rate, dropout_rate)
    if features:
        outputs = stage_outputs
    else:
        if include_top:
            outputs = _classifier(x, classes, classifier_activation, dropout_rate, distillation_outputs)
        elif pooling == "avg":
            outputs = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        elif pooling == "max":
            outputs = layers.GlobalMaxPooling2D(name="max_pool")(x)
        else:
            outputs = x

    if input_tensor is not None:
        inputs = keras.utils.get_source_inputs(input_tensor)
    return keras.Model(inputs, outputs, name=name or f"swiftformer_{config['name'].lower()}")


def _input_layer(input_tensor, input_shape, include_top, channels_required):
    """The model's input: `input_tensor` (its shape checked against `input_shape`) or a new
    `Input` of `input_shape`, by default 224x224 with the top and any size without."""
    if input_tensor is not None:
        tensor_shape = tuple(input_tensor.shape[1:])
        if input_shape is not None and tuple(input_shape) != tensor_shape:
            raise ValueError(f"input_shape {tuple(input_shape)} disagrees with input_tensor's shape {tensor_shape}.")
        input_shape = tensor_shape
    elif input_shape is None:
        input_shape = (224, 224, 3) if include_top else (None, None, 3)
    input_shape = tuple(input_shape)
    check_input_shape(input_shape, channels_required)

    if input_tensor is None:
        return layers.Input(shape=input_shape, name="pixels")
    if keras.backend.is_keras_tensor(input_tensor):
        return input_tensor
    return layers.Input(tensor=input_tensor, shape=input_shape, name="pixels")


def swiftformer_features(inputs, config, attention="l2", drop_path_rate=0.0, dropout_rate=0.0, dtype=None):
    """The body of every SwiftFormer graph on the Keras tensor `inputs`: the stem, the four
    stages and the final BatchNorm, the layers named as `build_swiftformer` names them.

    `config` is a variant name or dict (`architecture.variant_config`); `dtype`, the layers'
    dtype policy (None: the global one). `build_swiftformer` and the KerasHub backbone
    (`presets.backbone`) both build on it, so that their layers and weights are the same.

    Returns:
        `(stage_outputs, normalised)`: the four stages' outputs (strides 4, 8, 16, 32), and
        the last of them through the final BatchNorm, `norm`.
    """
    config = variant_config(config)
    check_drop_path_rate(drop_path_rate)
    stage_outputs = _stages(inputs, config, attention, drop_path_rate, dropout_rate, dtype)
    norm = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name="norm", dtype=dtype)
    return stage_outputs, norm(stage_outputs[-1])


def check_drop_path_rate(drop_path_rate):
    """Raises `ValueError` unless `drop_path_rate` is in [0, 1)."""
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate!r}.")


def _stages(inputs, config, attention, drop_path_rate, dropout_rate, dtype):
    """The stem and the four stages on `inputs`; returns each stage's output."""
    depths, widths = config["depths"], config["widths"]
    total_blocks = sum(depths)
    x = sf_layers.Stem(widths[0], name="stem", dtype=dtype)(inputs)
    stage_outputs = []
    block_index = 0
    for stage, (depth, width) in enumerate(zip(depths, widths, strict=True)):
        if stage > 0:
            x = sf_layers.DownsampleEmbedding(width, name=f"downsample{stage}", dtype=dtype)(x)
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
                    dtype=dtype,
                )(x)
            else:
                x = sf_layers.ConvEncoder(
                    hidden_dim=int(config["mlp_ratio"] * width),
                    drop_path_rate=rate,
                    name=block_name,
                    dtype=dtype,
                )(x)
            block_index += 1
        stage_outputs.append(x)
    return stage_outputs


def _classifier(x, classes, classifier_activation, dropout_rate, distillation_outputs):
    """Average pooling and the distilled classifier on the normalised features `x`."""
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
    if classifier_activation is None:
        return x
    activation = layers.Activation(classifier_activation, name="predictions", dtype=head_dtype)
    return [activation(t) for t in x] if distillation_outputs else activation(x)


def count_macs(model):
    """Multiply-accumulates of one image through the model's convolutions and dense layers.

    One forward pass records the output size of every layer. A pointwise convolution that a
    block applies through its kernel rather than by calling it (the GELU forms, the Mlp's
    folded BatchNorm: `op_forms.pointwise_mlp`) takes the size of the nearest enclosing layer's
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
