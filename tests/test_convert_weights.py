"""The command-line converter, run as users run it."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, make_reference, reference_logits, write_checkpoint
from swiftformer_keras import SwiftFormerXS
from swiftformer_keras.convert_weights import PROG, main


def test_cli_converts_an_official_checkpoint(tmp_path, images):
    reference = make_reference("XS", "l2", seed=5)
    source = write_checkpoint(reference, "official", str(tmp_path))
    destination = tmp_path / "xs.weights.h5"
    result = subprocess.run(
        [sys.executable, "-m", "swiftformer_keras.convert_weights", source, str(destination)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )
    assert result.returncode == 0, result.stderr
    assert "SwiftFormer-XS (official layout, attention='l2'" in result.stdout
    model = SwiftFormerXS(weights=str(destination), classifier_activation=None)
    expected = reference_logits(reference, images["square"])
    assert np.abs(np.asarray(model(images["square"])) - expected).max() <= 1e-4


@pytest.mark.parametrize(
    "destination, extra, message",
    [
        ("out.weights.h5", ["--variant", "S"], "holds SwiftFormer-XS, but the model being built is SwiftFormer-S"),
        ("out.h5", [], "must end in .weights.h5"),
        ("missing/out.weights.h5", [], "does not exist"),
    ],
)
def test_cli_errors_leave_no_file(tmp_path, capsys, destination, extra, message):
    source = write_checkpoint(make_reference("XS", "softmax"), "hf", str(tmp_path))
    before = set(os.listdir(tmp_path))
    assert main([source, str(tmp_path / destination), *extra]) == 2
    assert message in capsys.readouterr().err
    assert set(os.listdir(tmp_path)) == before


def test_cli_refuses_a_missing_source(tmp_path, capsys):
    assert main([str(tmp_path / "nope.pth"), str(tmp_path / "x.weights.h5")]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_says_a_keras_weights_file_needs_no_conversion(tmp_path, capsys):
    keras_file = tmp_path / "x.weights.h5"
    keras_file.write_bytes(b"\x89HDF\r\n\x1a\n")
    assert main([str(keras_file), str(tmp_path / "out.weights.h5")]) == 2
    err = capsys.readouterr().err
    assert "already a Keras weights file; it needs no conversion" in err
    assert "Unrecognised" not in err and err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == ["x.weights.h5"]


def test_cli_errors_are_one_line_with_the_program_name(tmp_path, capsys):
    assert main([str(tmp_path), str(tmp_path / "out.weights.h5")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m swiftformer_keras.convert_weights: error: ") and err.count("\n") == 1
    assert "is a folder, not a checkpoint file" in err


def test_cli_on_a_full_disk_ends_in_one_line_and_leaves_nothing(tmp_path, full_disk):
    source = write_checkpoint(make_reference("XS", "l2"), "official", str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "swiftformer_keras.convert_weights", source, str(full_disk / "xs.weights.h5")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "no space left on the device" in errors[0], result.stderr[-3000:]
    assert os.listdir(full_disk) == [".filler"]


def test_a_destination_that_cannot_be_written_is_refused_before_keras_starts(tmp_path, read_only_dir):
    source = tmp_path / "ckpt.pth"  # never read: the destination is refused first
    source.write_bytes(b"not read")
    probe = (
        "import sys; from swiftformer_keras import convert_weights; code = convert_weights.main(sys.argv[1:]); "
        "print('EXIT', code, 'KERAS', 'keras' in sys.modules)"
    )
    for destination, message in (
        (read_only_dir / "xs.weights.h5", "is not writable"),
        (tmp_path / "missing" / "xs.weights.h5", "does not exist"),
    ):
        done = subprocess.run(
            [sys.executable, "-c", probe, str(source), str(destination)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        assert done.stdout.split() == ["EXIT", "2", "KERAS", "False"], (done.stdout, done.stderr[-2000:])
        assert done.stderr.startswith(f"{PROG}: error: the destination ") and message in done.stderr
        assert done.stderr.count("\n") == 1
