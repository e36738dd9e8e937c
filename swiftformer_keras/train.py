"""Train or fine-tune SwiftFormer on an image folder, on any Keras backend.

    python -m swiftformer_keras.train --data DIR --variant XS --image-size 64 \\
        --epochs 30 --output run/ [--weights imagenet|PATH] [--teacher T.keras]

    from swiftformer_keras.train import TrainConfig, train
    train(TrainConfig(data="DIR", output="run/", epochs=30))

The recipe, the files of the run folder and its resume are described in
`training`, the loop this module runs. Here every setting is checked (values
in `TrainConfig`, paths in `_check_paths`) before Keras starts, so `--help`
and a bad flag answer at once.
"""

import dataclasses
import os
import sys

from swiftformer_keras.utils import cli
from swiftformer_keras.models.architecture import ATTENTION_TYPES, MIN_INPUT_SIZE, VARIANTS, check_image_size, variant_config
from swiftformer_keras.utils.files import check_not_inputs
from swiftformer_keras.training.image_folder import AUGMENTATIONS, check_data_folder

PROG = "python -m swiftformer_keras.train"
DISTILLATIONS = ("soft", "hard")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")

# field: (flag, type, allowed range). One table for the flags and for
# TrainConfig, so that `--lr 0` and `TrainConfig(learning_rate=0)` say the same.
NUMBERS = {
    "epochs": ("--epochs", int, dict(minimum=1)),
    "batch_size": ("--batch-size", int, dict(minimum=1)),
    "learning_rate": ("--lr", float, dict(above=0)),
    "min_learning_rate": ("--min-lr", float, dict(minimum=0)),  # and <= learning_rate
    "weight_decay": ("--weight-decay", float, dict(minimum=0)),
    "warmup_epochs": ("--warmup-epochs", int, dict(minimum=0)),  # and < epochs
    "label_smoothing": ("--label-smoothing", float, dict(minimum=0, below=1)),
    "drop_path_rate": ("--drop-path", float, dict(minimum=0, below=1)),
    "dropout_rate": ("--dropout", float, dict(minimum=0, below=1)),
    "mixup_alpha": ("--mixup", float, dict(minimum=0)),
    "cutmix_alpha": ("--cutmix", float, dict(minimum=0)),
    "crop_pct": ("--crop-pct", float, dict(above=0, maximum=1)),
    "distillation_alpha": ("--distillation-alpha", float, dict(minimum=0, maximum=1)),
    "distillation_temperature": ("--distillation-temperature", float, dict(above=0)),
    "ema_decay": ("--ema", float, dict(minimum=0, below=1)),
    "seed": ("--seed", int, dict(minimum=0, maximum=2**32 - 1)),  # NumPy's seed range
    "workers": ("--workers", int, dict(minimum=1)),
    "steps_per_epoch": ("--steps-per-epoch", int, dict(minimum=1)),
    "max_train_images": ("--max-train-images", int, dict(minimum=1)),
    "max_eval_images": ("--max-eval-images", int, dict(minimum=1)),
}


def _check_field(config, field, **extra_bounds):
    """Raises a `ValueError` naming `field` and its flag if its value is out of range."""
    flag, kind, bounds = NUMBERS[field]
    cli.check_number(f"{field} ({flag})", getattr(config, field), integer=kind is int, **bounds, **extra_bounds)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}.")


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run (saved as `config.json`)."""

    data: str
    output: str
    variant: str = "XS"  # or an architecture, {"depths": [...], "widths": [...]} (from Python)
    image_size: int = 64
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5
    weight_decay: float = 0.05
    warmup_epochs: int = None
    label_smoothing: float = 0.1
    drop_path_rate: float = 0.1
    dropout_rate: float = 0.0
    augment: str = "auto"
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    crop_pct: float = 1.0
    weights: str = None
    attention: str = None
    teacher: str = None
    distillation: str = "soft"
    distillation_alpha: float = 0.5
    distillation_temperature: float = 1.0
    ema_decay: float = 0.0
    precision: str = "auto"
    data_parallel: bool = False
    seed: int = 0
    workers: int = 2
    steps_per_epoch: int = None
    max_train_images: int = None
    max_eval_images: int = None

    def __post_init__(self):
        if isinstance(self.variant, str):
            self.variant = self.variant.upper()
            if self.variant not in VARIANTS:
                raise ValueError(f"Unknown variant {self.variant!r}; use one of {sorted(VARIANTS)}.")
        else:  # an architecture: checked, and in lists, as config.json gives it back on a resume
            architecture = variant_config(self.variant)
            self.variant = {"depths": list(architecture["depths"]), "widths": list(architecture["widths"])}
        check_image_size(self.image_size)
        for field in NUMBERS:
            if getattr(self, field) is not None:  # None: the default (warm-up) or no limit
                _check_field(self, field)
        _check_field(self, "min_learning_rate", maximum=self.learning_rate)
        if self.warmup_epochs is None:
            self.warmup_epochs = min(5, self.epochs // 5)
        _check_field(self, "warmup_epochs", below=self.epochs)
        _check_choice("augment (--augment)", self.augment, AUGMENTATIONS)
        if self.attention is not None:
            _check_choice("attention (--attention)", self.attention, ATTENTION_TYPES)
        _check_choice("distillation (--distillation)", self.distillation, DISTILLATIONS)
        _check_choice("precision (--precision)", self.precision, PRECISIONS)


def _check_paths(config):
    """Refuses, before anything is loaded, a missing input and an output folder
    that is a file or lies inside an input (the data folder, say)."""
    check_data_folder(config.data)
    weights = None if config.weights in (None, "imagenet") else config.weights
    for flag, path in (("--weights", weights), ("--teacher", config.teacher)):
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"{flag} {path!r} is not a file.")
    if os.path.exists(config.output) and not os.path.isdir(config.output):
        raise ValueError(f"--output {config.output!r} is a file, not a folder; choose a folder name.")
    check_not_inputs([("--output", config.output)], [("--data", config.data), ("--weights", weights),
                                                     ("--teacher", config.teacher)])


def train(config, callbacks=()):
    """Runs (or resumes) a training run; returns a dict of final metrics
    (`training.run`).

    `config` is a `TrainConfig` (or its fields as a dict); `callbacks` are
    extra Keras callbacks, run after the checkpointing one.
    """
    if isinstance(config, dict):
        config = TrainConfig(**config)
    _check_paths(config)
    with cli.quiet_startup():
        # Keras and its backend load only now, once every setting is checked: --help and bad input answer at once.
        from swiftformer_keras.training import loop as training
    return training.run(config, callbacks)


def main(argv=None):
    """The command line; an expected failure ends in one line and exit code 2."""
    return cli.run(_main, argv, PROG)


def _main(argv):
    # The declared defaults: an instance's warmup_epochs would already be resolved.
    defaults = {field.name: field.default for field in dataclasses.fields(TrainConfig)}
    parser = cli.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])

    def number(field, help=None):
        """Adds `field`'s flag, refusing values outside the range TrainConfig checks."""
        flag, kind, bounds = NUMBERS[field]
        parser.add_argument(flag, dest=field, type=cli.number(kind, **bounds), default=defaults[field], help=help)

    parser.add_argument("--data", required=True, help="folder with train/<class>/* and val/ or test/")
    parser.add_argument("--output", required=True, help="run folder (created; resumed if it holds a run)")
    parser.add_argument("--variant", default="XS", type=str.upper, choices=sorted(VARIANTS))
    parser.add_argument("--image-size", type=cli.number(int, minimum=MIN_INPUT_SIZE), default=defaults["image_size"])
    number("epochs")
    number("batch_size", help="global batch size")
    number("learning_rate")
    number("min_learning_rate")
    number("weight_decay")
    number("warmup_epochs", help="default min(5, epochs/5)")
    number("label_smoothing")
    number("drop_path_rate")
    number("dropout_rate")
    parser.add_argument("--augment", default="auto", choices=AUGMENTATIONS)
    number("mixup_alpha", help="Beta alpha, 0 = off")
    number("cutmix_alpha", help="Beta alpha, 0 = off")
    number("crop_pct")
    parser.add_argument("--weights", default=None, help="imagenet or a checkpoint path (new head)")
    parser.add_argument("--attention", default=None, choices=ATTENTION_TYPES)
    parser.add_argument("--teacher", default=None, help=".keras teacher for the distillation head")
    parser.add_argument("--distillation", default="soft", choices=DISTILLATIONS)
    number("distillation_alpha")
    number("distillation_temperature")
    number("ema_decay", help="e.g. 0.999; 0 = off")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS)
    parser.add_argument("--data-parallel", action="store_true", help="all local devices (JAX or TF)")
    number("seed")
    number("workers", help="data loading threads")
    number("steps_per_epoch")
    number("max_train_images", help="random subset, for quick runs")
    number("max_eval_images")
    args = parser.parse_args(argv)
    train(TrainConfig(**vars(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
