"""What one conversion is asked to do, checked whole before any work starts.

    request = ConversionRequest("s_int8.tflite", mode="int8", variant="S", calib_dir="photos/")
    report = pipeline.convert(request)

`conversion/to_tflite.py` builds one from its flags and `convert_swiftformer`
from its keywords, so a bad value fails the same way from both, in a second,
before TensorFlow starts: a value out of range, a flag that does not apply to
the mode, an input that is missing, an output that is one of the inputs. The
mode's recipe, the oldest runtime, the crop, the class names and the names of
the card and the report are resolved here, once.

This module needs no Keras (the command line reads it before it loads one).
"""

import dataclasses
import os

from swiftformer_keras.lite import calibration
from swiftformer_keras.lite import metadata as tflite_metadata  # `metadata` is a field of the request
from swiftformer_keras.lite.recipe import CLASSIFIER_ACTIVATIONS, FileSpec, Recipe
from swiftformer_keras.models.architecture import MIN_INPUT_SIZE, VARIANTS, check_image_size
from swiftformer_keras.utils import files
from swiftformer_keras.utils.cli import check_number, number
from swiftformer_keras.weights import published

TFLITE_SUFFIX = ".tflite"
DEFAULT_VARIANT = "S"
DEFAULT_NUM_CALIB = 200
DEFAULT_NUM_EVAL = 200
AUTHOR = "swiftformer-keras (Keras 3 port of SwiftFormer, Shaker et al., ICCV 2023)"
WEIGHT_NAMES = (*published.WEIGHT_NAMES, "random")


def add_model_arguments(parser):
    """The flags of the tools that convert several variants, or your own model, to compare files:
    `--variants` or `--keras-model`, and `--input-size`."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--variants",
        nargs="+",
        default=["XS", "S"],
        type=str.upper,
        choices=tuple(VARIANTS),
        metavar="VARIANT",
        help=f"{', '.join(VARIANTS)} (any case; default: XS S)",
    )
    source.add_argument(
        "--keras-model",
        metavar="FILE",
        help="a SwiftFormer .keras file (yours, fine-tuned), with its weights, instead of --variants",
    )
    parser.add_argument(
        "--input-size",
        type=number(int, minimum=MIN_INPUT_SIZE),
        nargs=2,
        metavar=("H", "W"),
        help="multiples of 32 (default: 224 224, or the --keras-model's own size)",
    )


def _path(value, what):
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise ValueError(f"{what} must be a file or folder path, got {value!r}.")
    return os.fspath(value)


def _flag(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}.")
    return value


def _text(name, value):
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {value!r}.")
    return value


@dataclasses.dataclass(frozen=True)
class ConversionRequest:
    """One conversion of a SwiftFormer to a `.tflite` file, with its card and report.

    Attributes:
        output: the `.tflite` file to write.
        mode: `"fp32"`, `"fp16"`, `"dynamic"` or `"int8"` (`recipe.MODES`).
        variant: `"XS"`, `"S"`, `"L1"` or `"L3"`, any case (with `weights`).
        keras_model: a `.keras` file holding a SwiftFormer, instead of a variant.
        weights: a variant's weights: a published name (`"imagenet"`, `"imagenet_timm"`,
            `"imagenet_mbzuai"`: `weights.published`), `"random"` (seeded, for latency
            and fidelity checks) or a `.weights.h5` path; None is `"imagenet"`.
            A `keras_model` carries its own, so none may be given with it.
        input_size: `(height, width)`, multiples of 32 (default: the model's own, else 224x224).
        io: int8 only: the file's input and output type (`recipe.IO_TYPES`).
        calib_dir, num_calib, calib_random: int8 only: the calibration photos
            (up to `num_calib` drawn from the folder), or noise for latency tests.
        eval_dir, num_eval: held-out photos to measure the file against the Keras model on.
        crop_pct: the evaluation crop (default: the one `keras_model` records, or the
            weights' own: a published source's, a `.weights.h5` file's record; else 0.875).
        debug: int8 only: TFLite's per-layer quantization error in the report.
        report_path: the JSON report (default `<output stem>.json` with `card`).
        seed: for the calibration and evaluation draws.
        recipe: the whole `Recipe` (default: `recipe.recipe_for(mode, min_runtime)`).
        min_runtime: the oldest TFLite runtime the file must load on, `"2.14"`
            (a number such as 2.16 is read as that text); default per mode.
        classifier_activation: `"softmax"` (probabilities) or None (logits).
        input_type: what the file takes (`recipe.INPUT_TYPES`).
        labels: the class names of the metadata: a labels file (one UTF-8 name
            per line) or a sequence of names; default: those the model records,
            else ImageNet's for 1000 classes.
        metadata: write TFLite metadata (Task Library and MediaPipe need it).
        card: write the model card `<output stem>.md` and the report beside the file.
        latency_runs: measure host latency over this many runs into the report.
        license, author: the metadata's fields (default license: that of the weights).
        command: the command line the card quotes.

    Set from the above: `spec`, the file's `recipe.FileSpec` (mode, io,
    input_type, min_runtime and recipe, checked together and resolved once;
    the converter takes it as it is), `card_path`, `label_names` (a tuple, or
    None) and `labels_source` (where they came from, for the report); `recipe`,
    `min_runtime`, `crop_pct` and `report_path` hold their resolved values.
    """

    output: str
    mode: str = "fp32"
    variant: str = DEFAULT_VARIANT
    keras_model: str | None = None
    weights: str | None = None
    input_size: tuple[int, int] | None = None
    io: str = "float32"
    calib_dir: str | None = None
    num_calib: int = DEFAULT_NUM_CALIB
    calib_random: bool = False
    eval_dir: str | None = None
    num_eval: int = DEFAULT_NUM_EVAL
    crop_pct: float | None = None
    debug: bool = False
    report_path: str | None = None
    seed: int = 0
    recipe: Recipe | None = None
    min_runtime: str | None = None
    classifier_activation: str | None = "softmax"
    input_type: str = "float32"
    labels: object = None
    metadata: bool = True
    card: bool = True
    latency_runs: int = 0
    license: str | None = None
    author: str = AUTHOR
    command: str | None = None
    spec: FileSpec | None = dataclasses.field(init=False, default=None)
    card_path: str | None = dataclasses.field(init=False, default=None)
    label_names: tuple[str, ...] | None = dataclasses.field(init=False, default=None)
    labels_source: str | None = dataclasses.field(init=False, default=None)

    def __post_init__(self):
        self._set("output", _path(self.output, "output"))
        if not self.output.endswith(TFLITE_SUFFIX):
            raise ValueError(f"--output must end in {TFLITE_SUFFIX}, got {self.output!r}.")
        self._check_choices()
        self._check_numbers()
        self._check_sources()
        self._check_mode_options()
        self._resolve_labels()
        self._check_outputs()

    def _set(self, name, value):
        object.__setattr__(self, name, value)

    def _check_choices(self):
        spec = FileSpec(self.mode, self.io, self.input_type, self.min_runtime, self.recipe)
        self._set("spec", spec)
        self._set("min_runtime", spec.min_runtime)
        self._set("recipe", spec.recipe)
        if self.classifier_activation not in CLASSIFIER_ACTIVATIONS:
            raise ValueError(
                f"Unknown classifier activation {self.classifier_activation!r}; use 'softmax' or None (logits)."
            )
        for name in ("calib_random", "debug", "metadata", "card"):
            _flag(name, getattr(self, name))
        for name in ("license", "author", "command"):
            _text(name, getattr(self, name))

    def _check_numbers(self):
        check_number("num_calib", self.num_calib, minimum=1, integer=True)
        check_number("num_eval", self.num_eval, minimum=1, integer=True)
        check_number("latency_runs", self.latency_runs, minimum=0, integer=True)
        check_number("seed", self.seed, minimum=0, integer=True)
        if self.crop_pct is not None:
            check_number("crop_pct", self.crop_pct, above=0, maximum=1)
        if self.input_size is not None:
            if isinstance(self.input_size, (str, bytes)) or not hasattr(self.input_size, "__len__"):
                raise ValueError(f"input_size must be (height, width), got {self.input_size!r}.")
            self._set("input_size", check_image_size(tuple(self.input_size)))

    def _check_sources(self):
        self._set("keras_model", _path(self.keras_model, "--keras-model"))
        if self.keras_model is not None:
            if self.weights is not None:
                raise ValueError(
                    f"--weights {self.weights!r} is for a --model variant; the --keras-model file "
                    f"{self.keras_model!r} carries its own weights. Drop one of them."
                )
            if not os.path.isfile(self.keras_model):
                raise ValueError(f"Keras model file {self.keras_model!r} does not exist.")
            return
        variant = self.variant.upper() if isinstance(self.variant, str) else self.variant
        if variant not in VARIANTS:
            raise ValueError(f"Unknown model {self.variant!r}; use one of {tuple(VARIANTS)} or --keras-model FILE.")
        self._set("variant", variant)
        weights = "imagenet" if self.weights is None else self.weights
        if not (isinstance(weights, str) and weights in WEIGHT_NAMES):
            weights = _path(weights, "--weights")
            if not os.path.isfile(weights):
                raise ValueError(
                    f"Weights file {weights!r} does not exist; give {', '.join(WEIGHT_NAMES)} or a .weights.h5 file."
                )
        self._set("weights", weights)

    def _check_mode_options(self):
        int8 = self.mode == "int8"
        if not int8:
            for given, flag in (
                (self.calib_dir is not None, "--calib-dir"),
                (self.calib_random, "--calib-random"),
                (self.num_calib != DEFAULT_NUM_CALIB, "--num-calib"),
                (self.debug, "--debug"),
            ):
                if given:
                    raise ValueError(f"{flag} applies to --int8 files only; drop it for --{self.mode}.")
        self._set("calib_dir", _path(self.calib_dir, "--calib-dir"))
        self._set("eval_dir", _path(self.eval_dir, "--eval-dir"))
        if int8 and self.calib_dir is None and not self.calib_random:
            raise ValueError(
                "int8 needs calibration images: pass --calib-dir DIR (real photos like those the model will "
                "see; a few hundred is enough). Calibrating on random data silently ruins int8 accuracy; "
                "--calib-random does it anyway, for latency measurements only."
            )
        if self.calib_dir is not None and self.calib_random:
            raise ValueError("--calib-dir and --calib-random both choose the calibration; give one of them.")
        for folder in (self.calib_dir, self.eval_dir):
            if folder is not None:
                calibration.find_images(folder)  # a missing or empty folder fails now, not after the conversion
        self._set("crop_pct", published.crop_pct_for(self.crop_pct, self.keras_model, self.weights))

    def _resolve_labels(self):
        if self.labels is None:
            return
        if not self.metadata:
            raise ValueError(
                "--labels are written into the file's metadata, and --no-metadata writes none; drop one of them."
            )
        if isinstance(self.labels, (str, os.PathLike)):
            path = os.fspath(self.labels)
            if not os.path.isfile(path):
                raise ValueError(
                    f"Labels file {path!r} does not exist or cannot be read; give the path of a labels file "
                    "(one class name per line) or, from Python, a list of names."
                )
            self._set("label_names", tuple(tflite_metadata.read_labels_file(path)))
            self._set("labels_source", path)
        else:
            self._set("label_names", tflite_metadata.check_label_names(self.labels, "labels"))
            self._set("labels_source", "the names given")

    def _check_outputs(self):
        stem = os.path.splitext(self.output)[0]
        report = _path(self.report_path, "--report")
        if self.card and report is None:
            report = stem + ".json"
        self._set("report_path", report)
        self._set("card_path", stem + ".md" if self.card else None)
        files.check_output_paths(*self.outputs().items(), inputs=self.inputs().items())

    def outputs(self):
        """`{what: path}` of the files this conversion writes: the model first."""
        named = {"--output": self.output, "--report": self.report_path, "the model card": self.card_path}
        return {what: path for what, path in named.items() if path is not None}

    def inputs(self):
        """`{what: path}` of the files and folders this conversion reads."""
        named = {
            "--keras-model": self.keras_model,
            "--labels": self.labels_source if self.label_names and self.labels_source != "the names given" else None,
            "--calib-dir": self.calib_dir,
            "--eval-dir": self.eval_dir,
            "--weights": self.weights if self.weights not in (None, *WEIGHT_NAMES) else None,
        }
        return {what: path for what, path in named.items() if path is not None}
