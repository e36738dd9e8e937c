"""The settings of a training run: `TrainConfig`, and the one table that its checks and the flags of
`python -m swiftformer_keras.train` share, so that `--lr 0` and `TrainConfig(learning_rate=0)` fail
with the same words.

Everything here is checked before Keras starts (values in `TrainConfig`, paths in `check_paths`),
so a bad setting answers at once, from Python and from the command line.
"""

import collections
import dataclasses
import os

from swiftformer_keras.models.architecture import ATTENTION_TYPES, VARIANTS, check_image_size, variant_config
from swiftformer_keras.training.image_folder import AUGMENTATIONS, check_data_folder
from swiftformer_keras.utils import cli
from swiftformer_keras.utils.files import check_not_inputs
from swiftformer_keras.weights.published import weight_source

DISTILLATIONS = ("soft", "hard")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")

# A setting of the recipe: its flag, and either the kind (int, float) and range of a number or the
# choices of a name; `help` adds to what argparse says of it.
Setting = collections.namedtuple("Setting", "flag kind bounds choices help", defaults=(None, None, None, None))

# field: Setting, in the order `--help` lists them. A None value passes only where it is the
# field's default (the default warm-up, no limit, the weights' attention).
SETTINGS = {
    "epochs": Setting("--epochs", int, dict(minimum=1)),
    "batch_size": Setting("--batch-size", int, dict(minimum=1), help="global batch size"),
    "learning_rate": Setting("--lr", float, dict(above=0)),
    "min_learning_rate": Setting("--min-lr", float, dict(minimum=0)),  # and <= learning_rate
    "weight_decay": Setting("--weight-decay", float, dict(minimum=0)),
    "warmup_epochs": Setting("--warmup-epochs", int, dict(minimum=0), help="default min(5, epochs/5)"),  # < epochs
    "label_smoothing": Setting("--label-smoothing", float, dict(minimum=0, below=1)),
    "drop_path_rate": Setting("--drop-path", float, dict(minimum=0, below=1)),
    "dropout_rate": Setting("--dropout", float, dict(minimum=0, below=1)),
    "augment": Setting("--augment", choices=AUGMENTATIONS),
    "mixup_alpha": Setting("--mixup", float, dict(minimum=0), help="Beta alpha, 0 = off"),
    "cutmix_alpha": Setting("--cutmix", float, dict(minimum=0), help="Beta alpha, 0 = off"),
    "crop_pct": Setting("--crop-pct", float, dict(above=0, maximum=1)),
    "attention": Setting("--attention", choices=ATTENTION_TYPES),
    "distillation": Setting("--distillation", choices=DISTILLATIONS),
    "distillation_alpha": Setting("--distillation-alpha", float, dict(minimum=0, maximum=1)),
    "distillation_temperature": Setting("--distillation-temperature", float, dict(above=0)),
    "ema_decay": Setting("--ema", float, dict(minimum=0, below=1), help="e.g. 0.999; 0 = off"),
    "precision": Setting("--precision", choices=PRECISIONS),
    "seed": Setting("--seed", int, dict(minimum=0, maximum=2**32 - 1)),  # NumPy's seed range
    "workers": Setting("--workers", int, dict(minimum=1), help="data loading threads"),
    "steps_per_epoch": Setting("--steps-per-epoch", int, dict(minimum=1)),
    "max_train_images": Setting("--max-train-images", int, dict(minimum=1), help="random subset, for quick runs"),
    "max_eval_images": Setting("--max-eval-images", int, dict(minimum=1)),
}


def check_setting(field, value, **extra_bounds):
    """Raises a `ValueError` naming `field` and its flag if `value` is not one `SETTINGS` allows."""
    setting = SETTINGS[field]
    name = f"{field} ({setting.flag})"
    if setting.choices is not None:
        if value not in setting.choices:
            raise ValueError(f"{name} must be one of {', '.join(map(str, setting.choices))}; got {value!r}.")
    else:
        cli.check_number(name, value, integer=setting.kind is int, **setting.bounds, **extra_bounds)


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
        defaults = declared_defaults()
        for field in SETTINGS:
            value = getattr(self, field)
            if not (value is None and defaults[field] is None):
                check_setting(field, value)
        check_setting("min_learning_rate", self.min_learning_rate, maximum=self.learning_rate)
        if self.warmup_epochs is None:
            self.warmup_epochs = min(5, self.epochs // 5)
        check_setting("warmup_epochs", self.warmup_epochs, below=self.epochs)


def declared_defaults():
    """`{field: default}` as `TrainConfig` declares them (an instance has its warm-up resolved)."""
    return {field.name: field.default for field in dataclasses.fields(TrainConfig)}


def check_paths(config):
    """Refuses, before anything is loaded, a missing input and an output folder
    that is a file or lies inside an input (the data folder, say)."""
    check_data_folder(config.data)
    weights = None if config.weights is None or weight_source(config.weights) else config.weights
    for flag, path in (("--weights", weights), ("--teacher", config.teacher)):
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"{flag} {path!r} is not a file.")
    if os.path.exists(config.output) and not os.path.isdir(config.output):
        raise ValueError(f"--output {config.output!r} is a file, not a folder; choose a folder name.")
    check_not_inputs(
        [("--output", config.output)], [("--data", config.data), ("--weights", weights), ("--teacher", config.teacher)]
    )
