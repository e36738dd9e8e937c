"""The int8 recipe: what full-integer export does to a model, as one value.

    recipe = Int8Recipe(float_ops=("RSQRT", "MAXIMUM", "SUM"))
    export_tflite(model, "int8.tflite", mode="int8", calibration=images, recipe=recipe)

`DEFAULT_INT8_RECIPE` is what makes SwiftFormer one XNNPACK partition in int8:

- `activation="quick_gelu"`: every layer that declares `accepted_activations`
  (the SwiftFormer blocks) is rebuilt with GELU as `x * sigmoid(1.702 x)`.
  XNNPACK has no int8 GELU: each one would split the graph into another
  partition on the slow reference kernel, while LOGISTIC and MUL run in int8.
- `float_ops=("RSQRT", "MAXIMUM")`: op types kept in float (selective
  quantization), the tail of each L2 normalisation
  `x * rsqrt(max(sum(x^2), eps^2))` (`layers._l2_normalize`). XNNPACK has no
  int8 RSQRT but runs it in float inside the same partition as its int8
  neighbours; nothing else in SwiftFormer uses these two ops.
- `per_channel=True`: one weight scale per output channel.

The shipped conversion (`export.convert`) and the quantization debugger
behind `--debug` (`conversion.quantization_debug`) both apply a recipe through
`prepare_model`, `configure` and (shipped) `quantize` / (debug)
`debug_options`, so the debug table measures the file that ships. Recipes for
other runtimes are other values of this type.
"""

import dataclasses

from swiftformer_keras.layers import ACTIVATIONS

_ACTIVATION_TEXT = {
    "quick_gelu": "GELU computed as x * sigmoid(1.702 x) (int8-friendly)",
    "gelu": "exact GELU (erf), as in the Keras model",
    None: "as in the Keras model",
}


@dataclasses.dataclass(frozen=True)
class Int8Recipe:
    """How a model is made full-integer (see the module docstring).

    Attributes:
        float_ops: TFLite op types (schema names, e.g. `"RSQRT"`) kept in float.
        activation: the GELU form (`layers.ACTIVATIONS`) the model is rebuilt
            with before conversion; None keeps the model's own.
        per_channel: per-channel weight scales (False: one per tensor).
    """

    float_ops: tuple[str, ...] = ("RSQRT", "MAXIMUM")
    activation: str | None = "quick_gelu"
    per_channel: bool = True

    def __post_init__(self):
        if isinstance(self.float_ops, str) or not all(isinstance(op, str) for op in self.float_ops):
            raise ValueError(f"float_ops must be a sequence of TFLite op names, got {self.float_ops!r}.")
        object.__setattr__(self, "float_ops", tuple(self.float_ops))  # a list would make it unhashable
        if self.activation is not None and self.activation not in ACTIVATIONS:
            raise ValueError(f"Unknown activation {self.activation!r}; use one of {ACTIVATIONS} or None.")
        if not isinstance(self.per_channel, bool):
            raise ValueError(f"per_channel must be True or False, got {self.per_channel!r}.")

    def as_dict(self):
        """The recipe as JSON-ready values (the conversion report's `int8_recipe`)."""
        return {"float_ops": list(self.float_ops), "activation": self.activation, "per_channel": self.per_channel}

    @classmethod
    def from_dict(cls, values):
        """The recipe `as_dict` wrote."""
        return cls(**values)

    @property
    def activation_text(self):
        """The activation in words, for the report."""
        return _ACTIVATION_TEXT[self.activation]

    def prepare_model(self, model):
        """A copy of `model`, same weights, whose layers that declare `accepted_activations`
        use this recipe's activation; `model` itself when there is nothing to swap."""
        import keras

        def clone(layer):
            config = layer.get_config()
            if self.activation in getattr(layer, "accepted_activations", ()):
                config["activation"] = self.activation
            return layer.__class__.from_config(config)

        if self.activation is None:
            return model
        copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
        copy.set_weights(model.get_weights())
        return copy

    def configure(self, converter, calibration):
        """Sets `converter` to calibrate on `calibration` (float32 NHWC images) and stop there.

        The converter's public options cannot keep chosen ops in float; TFLite's
        quantization debugger does it by calibrating once and then calling the
        MLIR quantizer with a denylist. Both steps are taken here the same way:
        `quantize` (shipped) or the debugger (`debug_options`) does the second.
        """
        import tensorflow as tf

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        converter._experimental_disable_per_channel = not self.per_channel  # the debugger reads it from here
        converter._experimental_calibrate_only = True
        return converter

    def quantize(self, calibrated, io="float32"):
        """The full-integer model from a `configure`d converter's output, with `io`
        (`"float32"`, `"int8"` or `"uint8"`) input and output tensors."""
        import tensorflow as tf
        from tensorflow.lite.python import convert as tf_convert
        from tensorflow.lite.python import util as tf_util

        # The MLIR quantizer speaks int8 only; uint8 I/O is retyped afterwards, as the converter does.
        io_dtypes = {"float32": tf.float32, "int8": tf.int8, "uint8": tf.float32}
        if io not in io_dtypes:
            raise ValueError(f"Unknown io type {io!r}; use one of {tuple(io_dtypes)}.")
        io_dtype = io_dtypes[io]
        quantized = tf_convert.mlir_quantize(
            calibrated,
            disable_per_channel=not self.per_channel,
            input_data_type=io_dtype,
            output_data_type=io_dtype,
            denylisted_ops=list(self.float_ops),
        )
        if io == "uint8":
            quantized = tf_util.modify_model_io_type(quantized, tf.uint8, tf.uint8)
        return quantized

    def debug_options(self):
        """`QuantizationDebugOptions` that quantize as `quantize` does, for a `configure`d converter."""
        import tensorflow as tf

        return tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(self.float_ops))


DEFAULT_INT8_RECIPE = Int8Recipe()
