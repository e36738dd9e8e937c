"""android_bench/clients.py: the client agreement table for a trained model, and bad input."""

import csv
import os
import types
import zipfile

import numpy as np
import pytest
from PIL import Image

from android_bench import clients as clients_cli
from swiftformer_keras.utils.images import record_model_facts


def test_the_table_scores_a_trained_models_file_in_both_clients(
    cifar_tflite, small_cifar, tmp_path, capsys, tflite_runtime_python, mediapipe_python
):
    keras_file, tflite = cifar_tflite["keras"], cifar_tflite["fp32"][0]
    test_dir = os.path.join(small_cifar[0], "test")
    code = clients_cli.main(
        [
            "--keras-model",
            keras_file,
            "--files",
            str(tflite),
            "--images",
            test_dir,
            "--num",
            "24",
            "--csv",
            str(tmp_path / "clients.csv"),
        ]
    )
    assert code == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| cifar_fp32.tflite")]
    assert len(table) == 2 and "task-library 0.4.4" in table[0] and "mediapipe 1.2.2" in table[1]
    with open(tmp_path / "clients.csv") as file:
        rows = list(csv.DictReader(file))
    assert [row["client"] for row in rows] == ["task-library", "mediapipe"]
    for row in rows:
        assert row["images"] == "24" and float(row["top1_agreement"]) == 1.0  # fp32: the same classes
        assert float(row["max_prob_diff"]) < 1e-4 and row["keras_top1"] == row["file_top1"]


def test_a_missing_file_is_one_line_before_the_model_loads(clients, tmp_path, capsys):
    code = clients.main(
        [
            "--model",
            "XS",
            "--weights",
            "random",
            "--files",
            str(tmp_path / "absent.tflite"),
            "--images",
            str(tmp_path),
        ]
    )
    assert code == 2
    absent = str(tmp_path / "absent.tflite")
    assert _one_error_line(capsys).endswith(f"error: --files: {absent!r} does not exist.")


# --- issue 25: checked before the model loads, class folders matched by name --------------------


def _trained_model_file(path, class_names):
    """A .keras file holding only the record of a trained model's class names (all that is read
    before the model loads)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("placeholder", "")
    record_model_facts(path, class_names=class_names)
    return str(path)


def _photos(root, *folders):
    for folder in folders:
        (root / folder).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(root / folder / "0.png")
    return str(root)


@pytest.fixture
def clients(monkeypatch):
    """android_bench/clients.py whose model loading fails the test if reached (the refusals must
    come first), with the client environments taken as there."""
    module = clients_cli
    monkeypatch.setattr(module, "_softmax_model", lambda args: pytest.fail("the model loaded before the checks"))
    monkeypatch.setattr(module, "client_python", lambda client: "python")
    return module


def _one_error_line(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("android_bench/clients.py: error: "), err
    return err.strip()


def test_some_class_folders_are_scored_by_their_class_names(clients, tmp_path, monkeypatch):
    """Only "airplane" and "cat" of the model's classes: "cat" is class 3, not the second folder's 1."""
    model = _trained_model_file(tmp_path / "m.keras", ["airplane", "automobile", "bird", "cat"])
    tflite = tmp_path / "m.tflite"
    tflite.write_bytes(b"TFL3")
    asked = {}

    model_of_4_classes = types.SimpleNamespace(outputs=(np.zeros((1, 4)),))
    monkeypatch.setattr(clients, "_softmax_model", lambda args: (model_of_4_classes, (32, 32)))
    monkeypatch.setattr(clients, "compare_clients", lambda *args: asked.update(paths=args[2], labels=args[5]) or [])
    images = _photos(tmp_path / "images", "airplane", "cat")
    assert clients.main(["--keras-model", model, "--files", str(tflite), "--images", images]) == 0
    assert [os.path.relpath(path, images) for path in asked["paths"]] == ["airplane/0.png", "cat/0.png"]
    assert list(asked["labels"]) == [0, 3]


def test_folders_only_some_of_which_are_class_names_are_refused(clients, tmp_path, capsys):
    model = _trained_model_file(tmp_path / "m.keras", ["airplane", "automobile", "bird", "cat"])
    tflite = tmp_path / "m.tflite"
    tflite.write_bytes(b"TFL3")
    images = _photos(tmp_path / "images", "airplane", "kitten")
    assert clients.main(["--keras-model", model, "--files", str(tflite), "--images", images]) == 2
    line = _one_error_line(capsys)
    assert "The class folders ['kitten']" in line and "not class names of the model" in line


@pytest.mark.parametrize(
    "case",
    [
        "csv in a missing folder",
        "csv is a file",
        "csv is the image folder's photo",
        "missing images",
        "missing weights",
        "unknown variant",
        "no model",
        "mistyped flag",
    ],
)
def test_bad_flags_and_paths_are_one_line_before_the_model_loads(case, clients, tmp_path, capsys):
    tflite = tmp_path / "m.tflite"
    tflite.write_bytes(b"TFL3")
    images = _photos(tmp_path / "images", "cat")
    args = {"--model": "XS", "--weights": "random", "--files": str(tflite), "--images": images}
    expected = {
        # It named the hidden temporary file once the table was done.
        "csv in a missing folder": (
            {"--csv": str(tmp_path / "none" / "rows.csv")},
            f"--csv '{tmp_path / 'none' / 'rows.csv'}': the folder",
        ),
        "csv is a file": ({"--csv": str(tflite)}, f"--csv '{tflite}' is the input --files"),
        "csv is the image folder's photo": (
            {"--csv": os.path.join(images, "cat", "0.png")},
            "lies inside the input folder --images",
        ),
        "missing images": ({"--images": str(tmp_path / "none")}, "does not exist or is not a directory"),
        "missing weights": ({"--weights": str(tmp_path / "w.weights.h5")}, "--weights"),
        "unknown variant": ({"--model": "xl"}, "unknown --model 'XL'; use one of XS, S, L1, L3; see --help"),
        "no model": (
            {"--model": None, "--weights": None},
            "one of the arguments --keras-model --model is required; see --help",
        ),
        "mistyped flag": ({"--imagez": "x"}, "unrecognized arguments: --imagez x; see --help"),
    }
    changes, message = expected[case]
    args.update(changes)
    argv = [item for flag, value in args.items() if value is not None for item in (flag, value)]
    try:
        code = clients.main(argv)
    except SystemExit as exit_info:  # the parser's own refusals
        code = exit_info.code
    assert code == 2 and message in _one_error_line(capsys)
    assert tflite.read_bytes() == b"TFL3" and os.listdir(os.path.join(images, "cat")) == ["0.png"]
