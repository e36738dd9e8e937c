"""The settings of a run: one table for `TrainConfig` and the flags, and the checks of values and paths
(a run refused before Keras starts: test_train.py)."""

import dataclasses

import pytest

from swiftformer_keras import train as train_lib
from swiftformer_keras.training.config import SETTINGS, TrainConfig, check_paths


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"image_size": 100}, "multiple of 32"),
        ({"variant": "M"}, "Unknown variant 'M'"),
        ({"variant": {"depths": [1, 1, 1, 1]}}, "must be a variant name or a dict with 'depths' and 'widths'"),
        ({"precision": "int8"}, r"precision \(--precision\) must be one of auto, float32"),
        ({"augment": "randaugment"}, r"augment \(--augment\) must be one of auto, pad-crop"),
        ({"attention": "linear"}, r"attention \(--attention\) must be one of l2, softmax, token_softmax"),
        ({"distillation": "warm"}, r"distillation \(--distillation\) must be one of soft, hard"),
        ({"data": "/nonexistent/data"}, "does not exist"),
    ],
)
def test_bad_settings_are_refused(small_cifar, tmp_path, overrides, message):
    settings = {"data": small_cifar[0], "output": str(tmp_path / "run"), **overrides}
    with pytest.raises(ValueError, match=message):
        check_paths(TrainConfig(**settings))
    assert not (tmp_path / "run").exists()


BAD_NUMBERS = [
    # flag, command-line value, TrainConfig field, its value
    ("--lr", "0", "learning_rate", 0.0),
    ("--lr", "nan", "learning_rate", float("nan")),
    ("--min-lr", "-1", "min_learning_rate", -1.0),
    ("--weight-decay", "-0.1", "weight_decay", -0.1),
    ("--warmup-epochs", "-1", "warmup_epochs", -1),
    ("--label-smoothing", "1", "label_smoothing", 1.0),
    ("--drop-path", "1", "drop_path_rate", 1.0),
    ("--dropout", "-0.5", "dropout_rate", -0.5),
    ("--mixup", "-1", "mixup_alpha", -1.0),
    ("--cutmix", "-1", "cutmix_alpha", -1.0),
    ("--crop-pct", "0", "crop_pct", 0.0),
    ("--crop-pct", "1.5", "crop_pct", 1.5),
    ("--distillation-alpha", "2", "distillation_alpha", 2.0),
    ("--distillation-temperature", "0", "distillation_temperature", 0.0),
    ("--ema", "1", "ema_decay", 1.0),
    ("--seed", "-1", "seed", -1),
    ("--workers", "0", "workers", 0),
    ("--steps-per-epoch", "-1", "steps_per_epoch", -1),
    ("--max-train-images", "0", "max_train_images", 0),
    ("--max-eval-images", "0", "max_eval_images", 0),
    ("--epochs", "0", "epochs", 0),
    ("--epochs", "1.5", "epochs", 1.5),
    ("--batch-size", "0", "batch_size", 0),
]


@pytest.mark.parametrize("flag, text, field, value", BAD_NUMBERS)
def test_numeric_flags_and_fields_are_range_checked(tmp_path, capsys, flag, text, field, value):
    with pytest.raises(SystemExit) as exit_info:
        train_lib.main(["--data", str(tmp_path), "--output", str(tmp_path / "run"), flag, text])
    assert exit_info.value.code == 2
    assert f"argument {flag}: must be" in capsys.readouterr().err
    with pytest.raises(ValueError, match=f"^{field} \\({flag}\\) must be"):
        TrainConfig(data="d", output="o", **{field: value})


def test_settings_that_depend_on_each_other_are_checked():
    with pytest.raises(ValueError, match=r"min_learning_rate \(--min-lr\) must be a number in \[0, 0.001\]"):
        TrainConfig(data="d", output="o", learning_rate=1e-3, min_learning_rate=1e-2)
    with pytest.raises(ValueError, match=r"warmup_epochs \(--warmup-epochs\) must be a whole number in \[0, 3\)"):
        TrainConfig(data="d", output="o", epochs=3, warmup_epochs=3)


def test_none_passes_only_where_it_is_the_default():
    config = TrainConfig(data="d", output="o", epochs=10, warmup_epochs=None, steps_per_epoch=None, attention=None)
    assert config.warmup_epochs == 2 and config.steps_per_epoch is None  # min(5, epochs / 5)
    for field in ("epochs", "learning_rate", "augment", "precision"):
        with pytest.raises(ValueError, match=f"^{field} \\({SETTINGS[field].flag}\\) must be"):
            TrainConfig(data="d", output="o", **{field: None})


def test_every_setting_is_a_field_with_its_flag_on_the_command_line(capsys):
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    assert set(SETTINGS) <= fields
    with pytest.raises(SystemExit):
        train_lib.main(["--help"])
    usage = capsys.readouterr().out
    assert all(setting.flag in usage for setting in SETTINGS.values())
