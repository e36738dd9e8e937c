"""The SwiftFormer architecture as data: the variants and what follows from them.

Everything here is derived from the variant table and needs no model to be
built, and no Keras (the command lines read it before they start a backend):
config lookup, variant names, the input-size rule, the names of the op forms,
the variables a model of a config has (path and shape), and the walk over a
built model's nested layers. The other stages read the architecture from here:
weights (PyTorch checkpoints, Keras files, strict loading),
the builders and `applications` (docstrings), training and lite (image sizes).
"""

import math
import numbers

import numpy as np

# Every fact about a variant, in one place. `depths` and `widths` exactly as the official code
# (SwiftFormer_width/_depth); `parameters` counted with the distillation head (a test checks them
# against built models and the PyTorch reference); `top1` (ImageNet-1k, %, 224x224) and `gmacs` as
# the paper reports them (the builders' docstrings print them). The published weights of each
# variant, two generations of them, are a table of the weights stage (`weights.published`).
VARIANTS = {
    "XS": {
        "depths": (3, 3, 6, 4),
        "widths": (48, 56, 112, 220),
        "parameters": 3_475_360,
        "top1": 75.7,
        "gmacs": 0.6,
    },
    "S": {
        "depths": (3, 3, 9, 6),
        "widths": (48, 64, 168, 224),
        "parameters": 6_092_128,
        "top1": 78.5,
        "gmacs": 1.0,
    },
    "L1": {
        "depths": (4, 3, 10, 5),
        "widths": (48, 96, 192, 384),
        "parameters": 12_057_920,
        "top1": 80.9,
        "gmacs": 1.6,
    },
    "L3": {
        "depths": (4, 4, 12, 6),
        "widths": (64, 128, 320, 512),
        "parameters": 28_494_736,
        "top1": 83.0,
        "gmacs": 4.0,
    },
}
DEFAULT_MLP_RATIO = 4.0
# The attention of each weight generation (see `layers.EfficientAdditiveAttention`), and the
# forms in which the layers can write the GELU and the attention's sums over tokens: the same
# functions, as different TFLite ops (`lite.recipe`).
ATTENTION_TYPES = ("l2", "softmax", "token_softmax")
ACTIVATIONS = ("gelu", "quick_gelu", "gelu_tanh")
REDUCTIONS = ("sum", "channel_conv", "matmul", "fp16_sum")
# The stem and three downsamplings halve the image five times.
INPUT_STRIDE = 32
MIN_INPUT_SIZE = 64


def variant_config(variant):
    """Returns the architecture dict of a variant name (`"XS"`, `"s"`, ...) or
    validates a dict `{"depths": (4 ints), "widths": (4 ints), "mlp_ratio": x}`."""
    if isinstance(variant, str):
        key = variant.upper()
        if key not in VARIANTS:
            raise ValueError(
                f"Unknown SwiftFormer variant {variant!r}; use one of {sorted(VARIANTS)} "
                "or a dict with 'depths' and 'widths'."
            )
        spec = VARIANTS[key]
        return {"name": key, "depths": spec["depths"], "widths": spec["widths"], "mlp_ratio": DEFAULT_MLP_RATIO}
    if not isinstance(variant, dict) or not {"depths", "widths"} <= set(variant):
        raise ValueError(
            f"A SwiftFormer config must be a variant name or a dict with 'depths' and 'widths', got {variant!r}."
        )
    depths, widths = tuple(variant["depths"]), tuple(variant["widths"])
    if len(depths) != 4 or len(widths) != 4 or min(depths) < 1 or min(widths) < 2:
        raise ValueError(f"'depths' and 'widths' need four positive entries each, got {depths} and {widths}.")
    return {
        "name": variant.get("name", "custom"),
        "depths": tuple(int(d) for d in depths),
        "widths": tuple(int(w) for w in widths),
        "mlp_ratio": float(variant.get("mlp_ratio", DEFAULT_MLP_RATIO)),
    }


def variant_name(depths, widths):
    """The variant name of an architecture, or a description of it."""
    for name, spec in VARIANTS.items():
        if tuple(spec["depths"]) == tuple(depths) and tuple(spec["widths"]) == tuple(widths):
            return f"SwiftFormer-{name}"
    return f"a SwiftFormer with depths {tuple(depths)} and widths {tuple(widths)}"


def check_side(side, described_as, allow_none=False):
    """Raises `ValueError` unless `side` (an input height or width) is one the
    model takes: a whole multiple of `INPUT_STRIDE` from `MIN_INPUT_SIZE` up,
    or None (any size) with `allow_none`.

    `described_as` starts the message, e.g. `"Input height 100"`.
    """
    if side is None and allow_none:
        return
    number = isinstance(side, numbers.Real) and not isinstance(side, bool) and math.isfinite(side)
    if number and side >= MIN_INPUT_SIZE and side % INPUT_STRIDE == 0:
        return
    nearest = max(MIN_INPUT_SIZE, math.ceil(side / INPUT_STRIDE) * INPUT_STRIDE) if number else 224
    alternative = "None or " if allow_none else ""
    raise ValueError(
        f"{described_as} is not supported: SwiftFormer downsamples by {INPUT_STRIDE}, so use "
        f"{alternative}a multiple of {INPUT_STRIDE} that is at least {MIN_INPUT_SIZE} (e.g. {nearest})."
    )


def check_image_size(image_size):
    """Returns `(height, width)` for an int or pair, refusing sizes the model cannot take."""
    size = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
    for side in size:
        check_side(side, f"Image size {image_size!r}")
    return int(size[0]), int(size[1])


def variable_shapes(config, classes=None, final_norm=True):
    """The variables of a SwiftFormer of `config` as `{path: shape}`, in the
    order of `model.weights`.

    `classes` None means no classifier (`include_top=False`); `final_norm`
    False, no final BatchNorm either (`features=True`). This mirrors the
    layers of `swiftformer_keras.models.layers` (a test compares it with built
    models), so that weight files can be checked and written without
    building a model.
    """
    config = variant_config(config)
    depths, widths, ratio = config["depths"], config["widths"], config["mlp_ratio"]
    shapes = {}

    def conv(path, size, channels_in, channels_out, depthwise=False):
        shapes[f"{path}/kernel"] = (size, size, channels_in, 1 if depthwise else channels_out)
        shapes[f"{path}/bias"] = (channels_out,)

    def batch_norm(path, channels):
        for name in ("gamma", "beta", "moving_mean", "moving_variance"):
            shapes[f"{path}/{name}"] = (channels,)

    def conv_encoder(path, channels, hidden):  # ConvEncoder and LocalRepresentation
        conv(f"{path}/dwconv", 3, channels, channels, depthwise=True)
        batch_norm(f"{path}/norm", channels)
        shapes[f"{path}/layer_scale/gamma"] = (channels,)
        conv(f"{path}/pwconv1", 1, channels, hidden)
        conv(f"{path}/pwconv2", 1, hidden, channels)

    conv("stem/conv1", 3, 3, widths[0] // 2)
    batch_norm("stem/bn1", widths[0] // 2)
    conv("stem/conv2", 3, widths[0] // 2, widths[0])
    batch_norm("stem/bn2", widths[0])
    for stage, (depth, width) in enumerate(zip(depths, widths, strict=True)):
        if stage > 0:
            conv(f"downsample{stage}/proj", 3, widths[stage - 1], width)
            batch_norm(f"downsample{stage}/norm", width)
        hidden = int(ratio * width)
        for block in range(depth - 1):
            conv_encoder(f"stage{stage}_block{block}", width, hidden)
        block = f"stage{stage}_block{depth - 1}"  # the last block of a stage is a SwiftFormerBlock
        conv_encoder(f"{block}/local_representation", width, width)
        shapes[f"{block}/attn/w_g"] = (width, 1)
        for name in ("to_query", "to_key", "proj", "final"):
            conv(f"{block}/attn/{name}", 1, width, width)
        shapes[f"{block}/layer_scale_1/gamma"] = (width,)
        shapes[f"{block}/layer_scale_2/gamma"] = (width,)
        batch_norm(f"{block}/linear/norm1", width)
        conv(f"{block}/linear/fc1", 1, width, hidden)
        conv(f"{block}/linear/fc2", 1, hidden, width)
    if final_norm:
        batch_norm("norm", widths[-1])
    if classes is not None:
        for head in ("head", "dist_head"):
            shapes[f"classifier/{head}/kernel"] = (widths[-1], classes)
            shapes[f"classifier/{head}/bias"] = (classes,)
    return shapes


def all_layers(model):
    """Every layer of `model`, nested ones included (each once), e.g. to find or patch them."""
    found, seen, stack = [], set(), list(model.layers)
    while stack:
        layer = stack.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        found.append(layer)
        stack.extend(getattr(layer, "_layers", []))  # Keras tracks sub-layers of layers and models here
    return found
