"""Export recipes: how a model is written for the TFLite runtimes it must run on, as values.

    recipe = recipe_for("int8", min_runtime="2.14")
    export_tflite(model, "int8.tflite", mode="int8", calibration=images, recipe=recipe)

A `Recipe` rebuilds the Keras model with other formulations of the same
layers (`prepare_model`: the GELU form, the L2-normalisation form, both
declared by the layers' `recipe_options`) and sets the converter
(`configure`, then for int8 `quantize`). Which recipe a file gets depends on
its mode and on the oldest runtime it must be fast on (`--min-runtime`);
`RECIPES` is that table, and `DEFAULT_MIN_RUNTIME` the default per mode.

Why the table looks as it does (measured; docs/benchmarks.md "Runtimes"):

- The XNNPACK of TF <= 2.16 (tflite-runtime 2.14, TF 2.16's interpreter, the
  last Android AAR) has no GELU, no RSQRT and no SUM over the channel axis:
  each one splits the graph, the exact GELU running on the slow builtin
  kernel. Its recipes write GELU as `"quick_gelu"` (two ops that every XNNPACK
  runs; the tanh form's six take 1.26x its time on tflite-runtime 2.14, README
  "Runtimes") and the attention's sums and norms as `"channel_conv"` (float) or
  `"matmul"` (int8: TF 2.16's drops the whole int8 graph for an int8 SUM over
  tokens, which `"matmul"` writes as TRANSPOSE and FULLY_CONNECTED by ones).
  tflite-runtime 2.14's XNNPACK runs no int8 op at all (built without QS8).
- Per-channel int8 weights of a dynamic-range FULLY_CONNECTED make it version
  12, which needs TF 2.17 (`runtime_versions`); the older dynamic recipe
  quantizes dense layers per tensor (`per_channel_dense=False`). Full-integer
  per-channel FULLY_CONNECTED is version 4 and loads everywhere.
- From TF 2.17 on (LiteRT 1.x, 2.x), XNNPACK runs GELU, RSQRT and SUM in
  float: the float files keep the model's exact GELU. XNNPACK has no int8 GELU
  and no int8 RSQRT in any version: int8 uses `"quick_gelu"` and keeps the
  normalisation tail (`float_ops`) in float, inside the same partition.
- An fp16 file asks XNNPACK for fp16 arithmetic (`fp16_arithmetic`): on the
  ARM cores that have it (Armv8.2+: phones since 2018, Raspberry Pi 5) an XS
  invoke then executes about half of fp32's instructions (docs/arm.md),
  with the error of fp16 activations; elsewhere (Cortex-A53, x86 without
  AVX512-FP16) XNNPACK computes in fp32 as before. LiteRT's fp16 recipe
  writes the L2 norms as `"fp16_sum"`: XNNPACK fuses the `"sum"` form's sum
  of squares into a node it has in fp32 only, which kept every attention
  block in fp32 (0.85x fp32's instructions on the A76 instead of 0.51x).
- XNNPACK has no int8 SOFTMAX either: a probabilities file keeps it in float
  (after the last DEQUANTIZE), which keeps the file one partition and its
  scores finer than int8's 1/256 steps.
- An int8 file runs its first convolution in int8 too. `float_first_conv`
  (the ops from the input through the first convolution in float) was the
  default while x86 timings decided: XNNPACK's int8 convolution over the
  image's 3 channels took 2x the float one's time on an AMX host, where XS
  int8 ran 7% faster with it. On the phones' cores the int8 one executes
  fewer instructions (XS: -2.7% on the A76, -1.8% on Armv9, +0.2% on the
  A53), and on an x86 host without AMX it is 2-3% faster (docs/arm.md);
  pixels in [0, 255] quantize exactly at the input's scale of 1. An AMX
  server can ask for `Recipe(float_first_conv=True)`.

What a file is asked to be (mode, input and output types, oldest runtime)
is one `FileSpec`, checked and resolved to its recipe once: the conversion
request holds one, and the converter takes it as it is.

The recipes are read before Keras or TensorFlow start (the command line
checks its flags with them), so this module imports those two only inside
the methods that use them.
"""

import dataclasses
import numbers

from swiftformer_keras.lite import activation_ranges, runtime_versions
from swiftformer_keras.models.architecture import ACTIVATIONS, REDUCTIONS

MODES = ("fp32", "fp16", "dynamic", "int8")
IO_TYPES = ("float32", "int8", "uint8")
# What the exported file takes: the Keras model's own (normalised) input, or RGB pixels in
# [0, 255] as float32 or uint8 with the normalisation inside the file (`rewrites.with_pixel_input`).
INPUT_TYPES = ("normalized", "float32", "uint8")
# What the classifier returns: probabilities or (None) logits.
CLASSIFIER_ACTIVATIONS = ("softmax", None)

_ACTIVATION_TEXT = {
    "quick_gelu": "GELU computed as x * sigmoid(1.702 x) (int8-friendly)",
    "gelu_tanh": "GELU computed as the tanh approximation, from ops old XNNPACK runs",
    "gelu": "exact GELU (erf), as in the Keras model",
    None: "as in the Keras model",
}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a model is converted (see the module docstring).

    Attributes:
        activation: the GELU form (`architecture.ACTIVATIONS`) the model is rebuilt
            with; None keeps the model's own.
        reductions: how the attention writes its sums and L2 norms
            (`architecture.REDUCTIONS`); None keeps the model's own.
        float_ops: int8 only: TFLite op types (schema names, e.g. `"RSQRT"`)
            kept in float (selective quantization).
        per_channel: int8 only: one weight scale per output channel of the
            convolutions (False: one per tensor).
        per_channel_dense: per-channel scales for the dense (FULLY_CONNECTED)
            layers too; in dynamic mode that makes them version 12 (TF 2.17).
        float_first_conv: int8 only, float32 input only: the ops from the
            input through the first convolution stay in float; the first
            int8 tensor is that convolution's output (`first_conv_path`).
        fp16_arithmetic: fp16 only: the file asks XNNPACK to compute in fp16
            (`metadata.REDUCED_PRECISION_NAME`), which CPUs with fp16 arithmetic
            (Armv8.2 and later: Cortex-A55, A76, Armv9) do; others compute in fp32.
    """

    activation: str | None = None
    reductions: str | None = None
    float_ops: tuple[str, ...] = ()
    per_channel: bool = True
    per_channel_dense: bool = True
    float_first_conv: bool = False
    fp16_arithmetic: bool = False

    def __post_init__(self):
        if isinstance(self.float_ops, str) or not all(isinstance(op, str) for op in self.float_ops):
            raise ValueError(f"float_ops must be a sequence of TFLite op names, got {self.float_ops!r}.")
        object.__setattr__(self, "float_ops", tuple(self.float_ops))  # a list would make it unhashable
        if self.activation is not None and self.activation not in ACTIVATIONS:
            raise ValueError(f"Unknown activation {self.activation!r}; use one of {ACTIVATIONS} or None.")
        if self.reductions is not None and self.reductions not in REDUCTIONS:
            raise ValueError(f"Unknown reductions {self.reductions!r}; use one of {REDUCTIONS} or None.")
        for name in ("per_channel", "per_channel_dense", "float_first_conv", "fp16_arithmetic"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}.")

    def as_dict(self):
        """The recipe as JSON-ready values (the conversion report's `recipe`)."""
        return {**dataclasses.asdict(self), "float_ops": list(self.float_ops)}

    @classmethod
    def from_dict(cls, values):
        """The recipe `as_dict` wrote."""
        return cls(**values)

    @property
    def activation_text(self):
        """The activation in words, for the report."""
        return _ACTIVATION_TEXT[self.activation]

    def _options(self):
        return {
            name: value
            for name, value in (("activation", self.activation), ("reductions", self.reductions))
            if value is not None
        }

    def prepare_model(self, model):
        """A copy of `model`, same weights, whose layers that declare `recipe_options`
        use this recipe's values; `model` itself when there is nothing to change."""
        import keras

        options = self._options()

        def clone(layer):
            config = layer.get_config()
            for name, accepted in getattr(layer, "recipe_options", {}).items():
                if name in options and options[name] in accepted:
                    config[name] = options[name]
            return layer.__class__.from_config(config)

        if not options:
            return model
        copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
        copy.set_weights(model.get_weights())
        return copy

    def configure(self, converter, mode, calibration=None):
        """Sets `converter` for `mode` (`MODES`); int8 calibrates on `calibration`
        (float32 NHWC images) and stops there: `quantize` does the second step.

        The converter's public options cannot keep chosen ops in float; TFLite's
        quantization debugger does it by calibrating once and then calling the
        MLIR quantizer with a denylist. Both steps are taken here the same way:
        `quantize` (shipped) or `debug_model` (for the debugger) does the second.
        """
        import tensorflow as tf

        if mode not in MODES:
            raise ValueError(f"Unknown mode {mode!r}; use one of {MODES}.")
        if mode == "fp32":
            return converter
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter._experimental_disable_per_channel_quantization_for_dense_layers = not self.per_channel_dense
        if mode == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        if mode == "int8":
            converter.representative_dataset = lambda: ([image[None]] for image in calibration)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
            converter._experimental_calibrate_only = True
        return converter

    def quantize(self, calibrated, calibration, io="float32"):
        """The full-integer model from an int8-`configure`d converter's output, with `io`
        (`"float32"`, `"int8"` or `"uint8"`) input and output tensors.

        The calibrator's ranges are measured again on `calibration` (the images
        `configure` was given) first: it records some tensors with their
        reader's range (`activation_ranges`)."""
        import tensorflow as tf
        from tensorflow.lite.python import util as tf_util

        # The MLIR quantizer speaks int8 only; uint8 I/O is retyped afterwards, as the converter does.
        io_dtypes = {"float32": tf.float32, "int8": tf.int8, "uint8": tf.float32}
        if io not in io_dtypes:
            raise ValueError(f"Unknown io type {io!r}; use one of {tuple(io_dtypes)}.")
        quantized = self._mlir_quantize(
            calibrated,
            calibration,
            float_first_conv=self.float_first_conv and io == "float32",
            input_data_type=io_dtypes[io],
            output_data_type=io_dtypes[io],
        )
        if io == "uint8":
            quantized = tf_util.modify_model_io_type(quantized, tf.uint8, tf.uint8)
        return quantized

    def debug_model(self, calibrated, calibration):
        """For TFLite's `QuantizationDebugger`: the model `quantize` makes from an
        int8-`configure`d converter's output (float I/O), with a NumericVerify op
        comparing each quantized op to its float twin."""
        return self._mlir_quantize(
            calibrated, calibration, float_first_conv=self.float_first_conv, enable_numeric_verify=True
        )

    def _mlir_quantize(self, calibrated, calibration, float_first_conv, **options):
        from tensorflow.lite.python import convert as tf_convert

        calibrated = activation_ranges.remeasure(calibrated, calibration, progress="activation ranges")
        return tf_convert.mlir_quantize(
            calibrated,
            disable_per_channel=not self.per_channel,
            disable_per_channel_for_dense_layers=not self.per_channel_dense,
            denylisted_ops=list(self.float_ops),
            # The quantizer names an op by its output tensor, as the converter wrote it.
            denylisted_nodes=first_conv_path(calibrated) if float_first_conv else None,
            **options,
        )


def first_conv_path(content):
    """The names of the output tensors of the ops that lead from the input of a `.tflite`
    model (bytes) to its first CONV_2D, that convolution included, in graph order; empty
    when no convolution reads the input (directly or through such ops)."""
    schema, model = runtime_versions.model_root(content)
    graph = model.Subgraphs(0)
    reached, path = {int(index) for index in graph.InputsAsNumpy()}, []
    for position in range(graph.OperatorsLength()):  # the converter writes operators in graph order
        operator = graph.Operators(position)
        if not reached.intersection(operator.InputsAsNumpy().tolist()):
            continue
        outputs = operator.OutputsAsNumpy().tolist()
        reached.update(outputs)
        path.append(graph.Tensors(outputs[0]).Name().decode())
        if runtime_versions.builtin_code(model.OperatorCodes(operator.OpcodeIndex())) == schema.BuiltinOperator.CONV_2D:
            return path
    return []


# The oldest runtime of each row, newest row first: a file for `--min-runtime V`
# gets the first row whose runtime is <= V. Versions are TFLite's (TF) numbering.
RECIPES = (
    (
        "2.17",
        {
            "fp32": Recipe(),
            "fp16": Recipe(reductions="fp16_sum", fp16_arithmetic=True),
            "dynamic": Recipe(),
            "int8": Recipe(activation="quick_gelu", float_ops=("RSQRT", "MAXIMUM", "SOFTMAX")),
        },
    ),
    (
        "2.12",
        {
            "fp32": Recipe(activation="quick_gelu", reductions="channel_conv"),
            "fp16": Recipe(activation="quick_gelu", reductions="channel_conv", fp16_arithmetic=True),
            # No XNNPACK before 2.17 runs dynamic-range (hybrid) kernels: only the version matters.
            "dynamic": Recipe(per_channel_dense=False),
            "int8": Recipe(
                activation="quick_gelu",
                reductions="matmul",
                float_ops=("SQRT", "MAXIMUM", "DIV", "SOFTMAX"),
            ),
        },
    ),
)
# Float files default to LiteRT's recipe because they keep the Keras model's numbers (the exact GELU,
# within 1e-4); the old float recipe costs ~7% on LiteRT 2.3 and its quick GELU moves the logits (~33 dB
# SQNR on the CIFAR-10 model), which a file must be asked for. Int8 and dynamic default to the old
# recipes: the same accuracy, ~5x faster int8 on TF 2.16 (one XNNPACK graph instead of none) and the
# only dynamic file tflite-runtime 2.14 loads, for ~3% (int8) and nothing (dynamic) on LiteRT 2.3.
DEFAULT_MIN_RUNTIME = {"fp32": "2.17", "fp16": "2.17", "dynamic": "2.14", "int8": "2.14"}


def _version(text):
    return tuple(int(part) for part in text.split("."))


def recipe_for(mode, min_runtime=None):
    """The `Recipe` of `RECIPES` for a `mode` file that must be fast from `min_runtime`
    ("2.14"; None: `DEFAULT_MIN_RUNTIME[mode]`) on."""
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; use one of {MODES}.")
    min_runtime = min_runtime or DEFAULT_MIN_RUNTIME[mode]
    for oldest, recipes in RECIPES:
        if _version(min_runtime) >= _version(oldest):
            return recipes[mode]
    raise ValueError(f"No recipe for runtimes older than {RECIPES[-1][0]}; got --min-runtime {min_runtime}.")


def check_recipe(recipe):
    """`recipe` if it is a `Recipe` whose float ops are all TFLite builtin op names."""
    if not isinstance(recipe, Recipe):
        raise ValueError(f"recipe must be a recipe.Recipe, got {type(recipe).__name__}.")
    unknown = sorted(set(recipe.float_ops) - set(runtime_versions.builtin_op_names().values()))
    if unknown:
        raise ValueError(f"Unknown TFLite op types {unknown} to keep in float; use schema names such as 'RSQRT'.")
    return recipe


@dataclasses.dataclass(frozen=True)
class FileSpec:
    """What a `.tflite` file is asked to be, checked as a whole, with the recipe that makes it.

    Attributes:
        mode: `"fp32"`, `"fp16"`, `"dynamic"` or `"int8"` (`MODES`).
        io: int8 only: the type of the file's input and output tensors (`IO_TYPES`):
            `"float32"` (quantized inside the file), `"int8"` or `"uint8"`.
        input_type: what the file takes (`INPUT_TYPES`): `"normalized"`, the Keras
            model's own input; `"float32"` or `"uint8"`, RGB pixels in [0, 255].
        min_runtime: the oldest TFLite runtime the file must load and be fast on
            (`"2.14"`; a number such as 2.16 reads as that text); None is
            `DEFAULT_MIN_RUNTIME[mode]`. Holds the resolved value.
        recipe: the `Recipe`; None is `recipe_for(mode, min_runtime)`. Holds the
            resolved value.

    Raises:
        ValueError: an unknown value, or values that contradict each other; the
            message names the keyword and the command line's flag.
    """

    mode: str = "fp32"
    io: str = "float32"
    input_type: str = "normalized"
    min_runtime: str | None = None
    recipe: Recipe | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"Unknown mode {self.mode!r}; use one of {MODES}.")
        if self.io not in IO_TYPES:
            raise ValueError(f"Unknown io type {self.io!r}; use one of {IO_TYPES}.")
        if self.io != "float32" and self.mode != "int8":
            raise ValueError(
                f"io={self.io!r} (--io {self.io}) applies to int8 files only; {self.mode} files take and return "
                "float32. Drop it, or convert with mode='int8' (--int8)."
            )
        if self.input_type not in INPUT_TYPES:
            raise ValueError(f"Unknown input type {self.input_type!r}; use one of {INPUT_TYPES}.")
        if self.input_type == "uint8" and self.io != "float32":
            raise ValueError(
                f"input_type='uint8' (--input-type uint8) takes camera pixels as they are, and io={self.io!r} "
                f"(--io {self.io}) quantizes a normalised input; use one of them (input_type='uint8' keeps float32 "
                "scores out)."
            )
        min_runtime = self.min_runtime
        if isinstance(min_runtime, numbers.Real) and not isinstance(min_runtime, bool):
            min_runtime = f"{min_runtime:g}"  # 2.14 as a number means the text "2.14"
        if min_runtime is not None and not isinstance(min_runtime, str):
            raise ValueError(f"min_runtime must be a version such as '2.14', got {self.min_runtime!r}.")
        min_runtime = runtime_versions.check_runtime_choice(min_runtime or DEFAULT_MIN_RUNTIME[self.mode])
        object.__setattr__(self, "min_runtime", min_runtime)
        object.__setattr__(
            self, "recipe", check_recipe(self.recipe if self.recipe is not None else recipe_for(self.mode, min_runtime))
        )
