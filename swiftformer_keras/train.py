"""Train or fine-tune SwiftFormer on an image folder, on any Keras backend.

    python -m swiftformer_keras.train --data DIR --variant XS --image-size 64 \\
        --epochs 30 --output run/ [--weights imagenet|PATH] [--teacher T.keras]

    from swiftformer_keras.train import TrainConfig, train
    train(TrainConfig(data="DIR", output="run/", epochs=30))

The settings and their checks are `training.config`; the recipe, the files of the run
folder and its resume are described in `training.loop`, which this module runs. Every
setting is checked before Keras starts, so `--help` and a bad flag answer at once.
"""

import sys

from swiftformer_keras.models.architecture import MIN_INPUT_SIZE, VARIANTS
from swiftformer_keras.training.config import SETTINGS, TrainConfig, check_paths, declared_defaults
from swiftformer_keras.utils import cli

PROG = "python -m swiftformer_keras.train"


def train(config, callbacks=()):
    """Runs (or resumes) a training run; returns a dict of final metrics (`training.loop.run`).

    `config` is a `TrainConfig` (or its fields as a dict); `callbacks` are
    extra Keras callbacks, run after the checkpointing one.
    """
    if isinstance(config, dict):
        config = TrainConfig(**config)
    check_paths(config)
    with cli.quiet_startup():
        # Keras and its backend load only now, once every setting is checked: --help and bad input answer at once.
        from swiftformer_keras.training import loop
    return loop.run(config, callbacks)


def main(argv=None):
    """The command line; an expected failure ends in one line and exit code 2."""
    return cli.run(_main, argv, PROG)


def _main(argv):
    defaults = declared_defaults()
    parser = cli.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder with train/<class>/* and val/ or test/")
    parser.add_argument("--output", required=True, help="run folder (created; resumed if it holds a run)")
    parser.add_argument("--variant", default=defaults["variant"], type=str.upper, choices=sorted(VARIANTS))
    parser.add_argument("--image-size", type=cli.number(int, minimum=MIN_INPUT_SIZE), default=defaults["image_size"])
    parser.add_argument("--weights", default=None, help="imagenet or a checkpoint path (new head)")
    parser.add_argument("--teacher", default=None, help=".keras teacher for the distillation head")
    parser.add_argument("--data-parallel", action="store_true", help="all local devices (JAX or TF)")
    for field, setting in SETTINGS.items():  # each refuses what TrainConfig refuses
        checked = (
            dict(choices=setting.choices)
            if setting.choices is not None
            else dict(type=cli.number(setting.kind, **setting.bounds))
        )
        parser.add_argument(setting.flag, dest=field, default=defaults[field], help=setting.help, **checked)
    train(TrainConfig(**vars(parser.parse_args(argv))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
