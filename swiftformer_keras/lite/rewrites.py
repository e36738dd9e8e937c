"""The graph rewrites a Keras model goes through before it is converted to TFLite.

    model = with_classifier_activation(model, "softmax")   # probabilities out (None: logits)
    model = with_final_norm_folded(model)                  # the head's BatchNorm folded into its dense layers
    model = with_pixel_input(model, "uint8")               # camera bytes in, normalised inside the file

Each returns a model that computes the same function (up to float rounding),
sharing the weights or copying them, and leaves `model` itself as it was:
`model` itself is returned where there is nothing to rewrite. `output_kind`
says what a model returns, which names the output of the file's signature.
The converter (`converter.convert`) applies the last two; the first is the
caller's choice of output.
"""

import keras
import numpy as np

from swiftformer_keras.lite.metadata import IMAGENET_PIXEL_NORMALIZATION
from swiftformer_keras.lite.recipe import CLASSIFIER_ACTIVATIONS
from swiftformer_keras.models.layers import DistilledClassifier, PixelNormalization, Stem
from swiftformer_keras.models.op_forms import norm_as_affine

# The name of the image input: of the model `with_pixel_input` builds, and of the file's signature.
IMAGE_INPUT = "image"


def output_kind(model):
    """What `model` returns, by its last layers: `"probabilities"` (a softmax), `"logits"`
    (a SwiftFormer head or a Dense layer without activation) or `"features"` (a backbone)."""
    last = model.layers[-1]
    if isinstance(last, keras.Model):  # a model wrapped by `with_pixel_input`
        return output_kind(last)
    activation = getattr(last, "activation", None)
    if isinstance(last, keras.layers.Softmax) or getattr(activation, "__name__", None) == "softmax":
        return "probabilities"
    if isinstance(last, (DistilledClassifier, keras.layers.Dense)) and len(model.outputs[0].shape) == 2:
        return "logits"
    return "features"


def with_classifier_activation(model, activation):
    """`model` with its classifier's output `activation`: `"softmax"` (probabilities, as the
    SwiftFormer builders and keras.applications default to) or None (logits).

    A logits model gets a softmax layer named `probabilities`; a probabilities
    model whose last layer is the softmax loses it; `model` itself when it
    already returns that.

    Raises:
        ValueError: `model` has no classifier head (a backbone), its softmax
            is inside another layer and cannot be removed, or a softmax is
            asked of a one-logit head (it would be 1.0 whatever the input).
    """
    if activation not in CLASSIFIER_ACTIVATIONS:
        raise ValueError(f"Unknown classifier_activation {activation!r}; use 'softmax' or None (logits).")
    kind = output_kind(model)
    if kind == "features":
        raise ValueError(f"Model {model.name!r} has no classifier head; classifier_activation needs one.")
    if activation == "softmax" and model.outputs[0].shape[-1] == 1:
        # Refused rather than swapped for a sigmoid: whether the logit is a probability's is the model's to say.
        raise ValueError(
            f"Model {model.name!r} has a one-logit head, and a softmax over one class is 1.0 for every input; "
            "export its logit (classifier_activation=None, --classifier-activation none) and apply a sigmoid "
            "to it if it is a binary classifier's."
        )
    if (kind == "probabilities") == (activation == "softmax"):
        return model
    if activation == "softmax":
        outputs = keras.layers.Activation("softmax", name="probabilities")(model.outputs[0])
        return keras.Model(model.inputs, outputs, name=model.name)
    last = model.layers[-1]
    if not isinstance(last, (keras.layers.Softmax, keras.layers.Activation)):
        raise ValueError(
            f"Model {model.name!r} computes its softmax inside {last.name!r}; rebuild it with "
            "classifier_activation=None to export logits."
        )
    return keras.Model(model.inputs, last.input, name=model.name)


def with_final_norm_folded(model):
    """A copy of `model`, same function, whose SwiftFormer head has no BatchNorm: the norm
    before the average pooling (`norm`, `avg_pool`, `classifier`) is folded into both heads
    of the classifier, `head(mean(x * a + b)) = mean(x) (a W) + (b W + c)` (exact: an average
    commutes with a per-channel affine map). In an int8 file the norm's ADD is the one whose
    constant input can fall below XNNPACK's ADD scale limit (its shift far finer than the
    activations before it), which splits the graph; folded, it is gone, with its MUL, in
    every mode. `model` itself when it has no such head (a backbone, max pooling)."""
    try:
        norm, pool, head = (model.get_layer(name) for name in ("norm", "avg_pool", "classifier"))
    except ValueError:
        return model
    chained = (
        isinstance(norm, keras.layers.BatchNormalization)
        and norm.center
        and norm.scale
        and isinstance(pool, keras.layers.GlobalAveragePooling2D)
        and isinstance(head, DistilledClassifier)
        and pool.input is norm.output
        and head.input is pool.output
    )
    if not chained:
        return model
    after = model.layers[model.layers.index(head) + 1 :]
    if not (
        model.outputs[0] is head.output
        or (len(after) == 1 and after[0].input is head.output and model.outputs[0] is after[0].output)
    ):
        return model
    scale, shift = (keras.ops.convert_to_numpy(value).astype(np.float64) for value in norm_as_affine(norm, "float32"))
    # The backbone's layers are shared with `model`, as `with_classifier_activation` shares them.
    folded = DistilledClassifier.from_config(head.get_config())
    outputs = folded(pool(norm.input))
    for dense in ("head", "dist_head"):
        kernel, bias = (np.asarray(weight, np.float64) for weight in getattr(head, dense).get_weights())
        getattr(folded, dense).set_weights([kernel * scale[:, None], bias + shift @ kernel])
    for layer in after:
        outputs = layer(outputs)
    return keras.Model(model.input, outputs, name=model.name)


def with_pixel_input(model, dtype="float32", normalization=IMAGENET_PIXEL_NORMALIZATION):
    """`model` taking RGB pixels in [0, 255] as `dtype` (`"float32"` or `"uint8"`, camera
    bytes), normalised with `normalization` (`(mean, std)` in pixel units, ImageNet's by
    default): a copy, same weights, whose `Stem` folds the normalisation into its first
    convolution (`Stem(pixel_normalization=...)`) when the model's input goes straight
    into one (SwiftFormer), else the model behind a `PixelNormalization`."""
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"Pixel input is float32 or uint8, got {dtype!r}.")
    inputs = keras.Input(model.inputs[0].shape[1:], dtype=dtype, name=IMAGE_INPUT)
    stem = _input_stem(model)
    if stem is None:
        x = PixelNormalization(*normalization, name="pixel_normalization")(inputs)
        return keras.Model(inputs, model(x), name=model.name)

    def clone(layer):
        config = layer.get_config()
        if layer is stem:
            config["pixel_normalization"] = normalization
        return layer.__class__.from_config(config)

    # clone_model wants the input in the structure the model was built with (a list when loaded from .keras).
    copy = keras.models.clone_model(
        model, input_tensors=keras.tree.map_structure(lambda _: inputs, model.input), clone_function=clone
    )
    copy.set_weights(model.get_weights())
    return copy


def _input_stem(model):
    """The functional `model`'s `Stem` that reads its input and nothing else does, or None."""
    readers = [
        layer
        for layer in model.layers
        if any(node.input_tensors and node.input_tensors[0] is model.inputs[0] for node in layer._inbound_nodes)
    ]
    if len(readers) == 1 and isinstance(readers[0], Stem) and readers[0].pixel_normalization is None:
        return readers[0]
    return None
