"""conversion/to_preset.py: bad input is one line and exit 2 before Keras starts; a run writes the folders
and presets.csv; published weights that are not cached and cannot be downloaded are one line too."""

import csv
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from conversion import to_preset

SCRIPT = os.path.join(ROOT, "conversion", "to_preset.py")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--variants", "XL"], "Unknown variant 'XL'"),
        (["--weights", "imagenet21k"], "'imagenet21k' is neither published weights"),
        (["--weights", "missing.weights.h5"], "'missing.weights.h5' is neither published weights"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_is_one_line_before_keras_starts(tmp_path, flags, message):
    done = subprocess.run(
        [sys.executable, SCRIPT, "--output-dir", str(tmp_path / "out"), *flags],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "tensorflow" not in done.stderr.lower() and not os.path.exists(tmp_path / "out")


def test_a_run_writes_the_presets_and_their_table(tmp_path, cached_xs_weights, capsys):
    output = tmp_path / "presets"
    assert to_preset.main(["--variants", "XS", "--weights", "imagenet_mbzuai", "--output-dir", str(output)]) == 0
    assert "| swiftformer_xs_imagenet_mbzuai | XS | imagenet_mbzuai | softmax | 0.875 | 75.7% |" in (
        capsys.readouterr().out
    )
    with open(output / "presets.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(row["preset"], row["attention"], row["crop_pct"]) for row in rows] == [
        ("swiftformer_xs_imagenet_mbzuai", "softmax", "0.875")
    ]


def test_published_weights_offline_are_one_line_naming_the_file_to_fetch(tmp_path, cached_xs_weights, capsys):
    """The cache holds XS only: S would be downloaded, and the hub does not answer."""
    assert to_preset.main(["--variants", "S", "--output-dir", str(tmp_path / "presets")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Could not download the imagenet_timm weights of SwiftFormer-S" in err
    assert "swiftformer_s_imagenet_timm_model.safetensors" in err
    assert os.listdir(tmp_path / "presets") == []
