"""Evaluation on a real (tiny, synthetic) image folder: Keras, .keras, .weights.h5 and .tflite agree."""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import swiftformer_keras as sfk
from conftest import ROOT, TINY
from swiftformer_keras import evaluate as ev
from swiftformer_keras.lite.converter import export_tflite
from swiftformer_keras.models.random_init import randomize_weights
from swiftformer_keras.utils.images import IMAGENET_CROP_PCT, record_crop_pct

SIZE = 64
COLORS = {"blue": (40, 60, 210), "green": (40, 190, 60), "red": (210, 50, 40)}
CLASSES = sorted(COLORS)
TRAIN_PER_CLASS = 4
TRUE_PER_CLASS = 3  # val images of the folder's own colour; one more of the next class's colour
# Written by hand, not taken from the package: the reference preprocessing.
MEAN = np.array([0.485, 0.456, 0.406], "float32")
STD = np.array([0.229, 0.224, 0.225], "float32")


def _write_image(path, color, rng):
    noise = rng.normal(0.0, 25.0, (SIZE, SIZE, 3))
    Image.fromarray(np.clip(np.asarray(color) + noise, 0, 255).astype(np.uint8)).save(path)


def _make_data(root, seed=0):
    """`train/` and `val/` with three colour classes.

    In val, each class folder holds TRUE_PER_CLASS images of its colour and one
    of the next class's colour (a labelling mistake a colour classifier must
    get "wrong"), so the expected confusion matrix is known by construction.
    Plus one corrupt file, to be skipped.
    """
    rng = np.random.default_rng(seed)
    for index, name in enumerate(CLASSES):
        os.makedirs(root / "train" / name)
        os.makedirs(root / "val" / name)
        for i in range(TRAIN_PER_CLASS):
            _write_image(root / "train" / name / f"{i}.png", COLORS[name], rng)
        for i in range(TRUE_PER_CLASS):
            _write_image(root / "val" / name / f"{i}.png", COLORS[name], rng)
        other = CLASSES[(index + 1) % len(CLASSES)]
        _write_image(root / "val" / name / f"mislabelled_{other}.png", COLORS[other], rng)
    (root / "val" / "red" / "broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg" * 10)
    return root


def _expected_confusion():
    n = len(CLASSES)
    confusion = np.eye(n, dtype=np.int64) * TRUE_PER_CLASS
    for row in range(n):
        confusion[row, (row + 1) % n] += 1
    return confusion


def _reference_batch(folder):
    """Images and labels of `folder`, decoded and normalised with NumPy only."""
    images, labels = [], []
    for label, name in enumerate(CLASSES):
        for file in sorted(os.listdir(folder / name)):
            if file.endswith(".png"):
                array = np.asarray(Image.open(folder / name / file).convert("RGB"), "float32")
                images.append((array / 255.0 - MEAN) / STD)
                labels.append(label)
    return np.stack(images), np.asarray(labels)


def _colour_classifier(data):
    """A tiny SwiftFormer whose head is fitted (least squares) to the training colours."""
    model = randomize_weights(
        sfk.SwiftFormer(TINY, classes=len(CLASSES), classifier_activation=None, input_shape=(SIZE, SIZE, 3))
    )
    images, labels = _reference_batch(data / "train")
    pooled = keras.Model(model.input, model.get_layer("avg_pool").output)
    features = keras.ops.convert_to_numpy(pooled(images, training=False))
    design = np.concatenate([features, np.ones((len(features), 1), "float32")], axis=1)
    targets = 5.0 * (2.0 * np.eye(len(CLASSES))[labels] - 1.0)
    solution = np.linalg.lstsq(design, targets, rcond=None)[0].astype("float32")
    values = {"kernel": solution[:-1], "bias": solution[-1]}
    for variable in model.weights:  # head and dist_head alike: the model averages the two
        if variable.path.startswith("classifier/"):
            variable.assign(values[variable.path.rsplit("/", 1)[-1]])
    return model


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The data folder, the fitted model and the same model as .keras, .weights.h5 and .tflite."""
    root = tmp_path_factory.mktemp("eval")
    data = _make_data(root / "data")
    model = _colour_classifier(data)
    files = root / "models"
    files.mkdir()
    model.save(files / "colours.keras")
    model.save_weights(files / "colours.weights.h5")
    export_tflite(model, files / "colours.tflite")
    return data, model, files


def test_in_memory_model_matches_a_numpy_reference(setup):
    data, model, _ = setup
    result = ev.evaluate(data, model, batch_size=5)
    images, labels = _reference_batch(data / "val")
    logits = keras.ops.convert_to_numpy(model(images, training=False))
    predicted = logits.argmax(-1)

    assert result["classes"] == CLASSES and result["split"] == "val"
    assert result["count"] == len(labels) == 12 and result["skipped"] == 1
    assert result["image_size"] == (SIZE, SIZE)
    assert result["top1"] == pytest.approx(np.mean(predicted == labels), abs=1e-12)
    reference = np.zeros((3, 3), np.int64)
    np.add.at(reference, (labels, predicted), 1)
    np.testing.assert_array_equal(result["confusion"], reference)
    # The model tells the colours apart, so the planted mislabels are its only errors.
    np.testing.assert_array_equal(result["confusion"], _expected_confusion())
    assert result["top1"] == 0.75
    assert result["top_k"] == 3 and result["top5"] == 1.0  # top-3 of 3 classes


def test_keras_weights_and_fp32_tflite_evaluations_agree(setup):
    data, model, files = setup
    images, _ = _reference_batch(data / "val")
    logits = np.sort(keras.ops.convert_to_numpy(model(images, training=False)), axis=-1)
    # Decisions far from ties: agreement below is not luck of float rounding.
    assert (logits[:, -1] - logits[:, -2]).min() > 0.1

    results = {
        "in-memory": ev.evaluate(data, model),
        ".keras": ev.evaluate(data, files / "colours.keras"),
        ".weights.h5": ev.evaluate(data, files / "colours.weights.h5", variant=TINY, image_size=SIZE),
        ".tflite": ev.evaluate(data, files / "colours.tflite", batch_size=4),
    }
    for kind, result in results.items():
        print(f"{kind:>12}: top-1 {result['top1']:.4f}, top-3 {result['top5']:.4f}")
        assert result["top1"] == results["in-memory"]["top1"], kind
        assert result["top5"] == results["in-memory"]["top5"], kind
        np.testing.assert_array_equal(result["confusion"], _expected_confusion(), err_msg=kind)
        assert (result["count"], result["skipped"], result["classes"]) == (12, 1, CLASSES)
    assert results[".tflite"]["source"] == str(files / "colours.tflite")


def test_command_line_writes_png_and_json(setup, tmp_path, monkeypatch, capsys):
    data, _, files = setup
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    weights = shelf / "colours.tflite"
    shutil.copy(files / "colours.tflite", weights)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # the default confusion matrix goes here, not beside the weights
    report = tmp_path / "result.json"
    assert ev.main(["--data", str(data), "--weights", str(weights), "--json", str(report)]) == 0

    printed = capsys.readouterr().out
    assert "| top-1 | top-3 | images | skipped |" in printed
    assert "| colours.tflite | val | 75.00% | 100.00% | 12 | 1 |" in printed
    assert os.listdir(shelf) == ["colours.tflite"]
    png = work / "colours_confusion.png"
    with Image.open(png) as image:
        assert image.format == "PNG" and min(image.size) >= 300
        pixels = np.asarray(image.convert("RGB"), "int32")
    assert (pixels[..., 2] - pixels[..., 0] > 60).any()  # the Blues colour map was drawn
    saved = json.loads(report.read_text())
    assert saved["top1"] == 0.75 and saved["count"] == 12 and saved["skipped"] == 1
    assert saved["classes"] == CLASSES and saved["confusion"] == _expected_confusion().tolist()
    assert sorted(os.listdir(tmp_path)) == ["result.json", "shelf", "work"]

    custom = tmp_path / "custom.png"
    argv = ["--data", str(data), "--weights", str(files / "colours.keras"), "--confusion", str(custom)]
    assert ev.main(argv) == 0
    assert custom.stat().st_size > 0


def test_command_line_errors_exit_with_2(setup, tmp_path, capsys):
    data, _, files = setup
    assert ev.main(["--data", str(tmp_path / "nope"), "--weights", str(files / "colours.keras")]) == 2
    assert "does not exist" in capsys.readouterr().err
    missing_folder = str(tmp_path / "x" / "r.json")
    assert ev.main(["--data", str(data), "--weights", str(files / "colours.keras"), "--json", missing_folder]) == 2
    assert "does not exist" in capsys.readouterr().err
    argv = ["--data", str(data), "--weights", str(files / "colours.weights.h5"), "--image-size", "64"]
    assert ev.main(argv) == 2
    assert "--variant" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_a_tflite_file_gives_the_same_numbers_under_the_runtime_asked_for(setup, tmp_path, capsys):
    data, _, files = setup
    litert = ev.evaluate(data, files / "colours.tflite", runtime="litert")
    tensorflow = ev.evaluate(data, files / "colours.tflite", runtime="tensorflow")
    np.testing.assert_array_equal(litert["confusion"], _expected_confusion())
    np.testing.assert_array_equal(tensorflow["confusion"], litert["confusion"])
    assert (tensorflow["top1"], tensorflow["top5"]) == (litert["top1"], litert["top5"]) == (0.75, 1.0)
    report = tmp_path / "r.json"
    argv = [
        "--data",
        str(data),
        "--weights",
        str(files / "colours.tflite"),
        "--confusion",
        str(tmp_path / "c.png"),
        "--json",
        str(report),
        "--runtime",
        "tensorflow",
    ]
    assert ev.main(argv) == 0
    assert json.loads(report.read_text())["top1"] == 0.75
    with pytest.raises(ValueError, match="Unknown TFLite runtime 'nosuch'"):
        ev.evaluate(data, files / "colours.tflite", runtime="nosuch")


def test_a_bad_or_missing_runtime_is_exit_2_and_one_line(setup, tmp_path, capsys):
    data, _, files = setup
    base = ["--data", str(data), "--weights", str(files / "colours.tflite"), "--confusion", str(tmp_path / "c.png")]
    with pytest.raises(SystemExit) as exit_info:
        ev.main([*base, "--runtime", "nosuch"])
    assert exit_info.value.code == 2
    assert "argument --runtime: invalid choice: 'nosuch'" in capsys.readouterr().err
    assert ev.main([*base, "--runtime", "tflite-runtime"]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(f"{ev.PROG}: error: tflite-runtime is not installed in this Python")
    assert "make .venv-tflite-runtime/.installed" in line and "top-1" not in captured.out
    assert not (tmp_path / "c.png").exists()


def test_an_unwritable_destination_is_refused_before_evaluating(setup, read_only_dir, monkeypatch, capsys):
    data, _, files = setup
    argv = ["--data", str(data), "--weights", str(files / "colours.keras"), "--confusion", str(read_only_dir / "c.png")]
    assert ev.main(argv) == 2
    captured = capsys.readouterr()
    assert "--confusion" in captured.err and "not writable" in captured.err and "top-1" not in captured.out
    # The default confusion matrix goes to the current folder: here, a read-only one.
    monkeypatch.chdir(read_only_dir)
    assert ev.main(["--data", str(data), "--weights", str(files / "colours.tflite")]) == 2
    captured = capsys.readouterr()
    assert "the confusion matrix (default of --confusion) 'colours_confusion.png'" in captured.err
    assert "not writable" in captured.err and "top-1" not in captured.out


def test_no_output_may_be_written_inside_the_data_folder(setup, monkeypatch, capsys):
    data, _, files = setup
    before = sorted(os.walk(data))
    base = ["--data", str(data), "--weights", str(files / "colours.tflite")]
    for flag, path in (("--json", data / "scores.json"), ("--confusion", data / "val" / "red" / "c.png")):
        assert ev.main([*base, flag, str(path)]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"{ev.PROG}: error: {flag} ") and "lies inside the input folder --data" in line
    monkeypatch.chdir(data / "val")  # where the default confusion matrix would go
    assert ev.main(base) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "the confusion matrix (default of --confusion)" in line and "inside the input folder --data" in line
    assert sorted(os.walk(data)) == before


# Runs the command line in a fresh Python and tells whether Keras was imported.
_KERAS_PROBE = (
    "import sys; from swiftformer_keras import evaluate; code = evaluate.main(sys.argv[1:]); "
    "print('EXIT', code, 'KERAS', 'keras' in sys.modules)"
)


def test_bad_arguments_are_refused_before_keras_starts(setup, tmp_path):
    data, _, files = setup
    base = ["--data", str(data), "--confusion", str(tmp_path / "c.png")]
    cases = [
        (["--weights", str(files / "colours.weights.h5"), "--image-size", "64"], "pass the variant"),
        (["--weights", str(files / "colours.weights.h5"), "--variant", "XS"], "pass image_size"),
        (["--weights", str(tmp_path / "absent.keras")], "does not exist"),
        (["--weights", str(files / "colours.keras"), "--json", str(data / "r.json")], "inside the input folder"),
    ]
    for argv, message in cases:
        done = subprocess.run(
            [sys.executable, "-c", _KERAS_PROBE, *base, *argv],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        assert done.stdout.split() == ["EXIT", "2", "KERAS", "False"], (argv, done.stdout, done.stderr[-2000:])
        assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("weights, flags", [("colours.keras", []), ("colours.weights.h5", ["--variant", "XS"])])
def test_a_keras_model_where_keras_has_no_backend_is_one_line_naming_the_fix(
    setup, tflite_runtime_python, tmp_path, weights, flags
):
    data, _, files = setup
    done = subprocess.run(
        [
            tflite_runtime_python,
            "-m",
            "swiftformer_keras.evaluate",
            "--data",
            str(data),
            "--weights",
            str(files / weights),
            "--image-size",
            "64",
            *flags,
            "--confusion",
            str(tmp_path / "c.png"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = done.stderr.splitlines()
    assert line.startswith(
        f"{ev.PROG}: error: '{files / weights}' is a Keras model: evaluating it needs Keras with "
        "a backend, and `import keras` fails in this Python"
    )
    assert "run it with .venv/bin/python" in line and os.listdir(tmp_path) == []


def test_a_tflite_file_is_evaluated_where_keras_has_no_backend(setup, tflite_runtime_python, tmp_path):
    data, model, _ = setup
    # tflite-runtime 2.14 loads the files made for it (the default recipe needs a newer runtime).
    weights = export_tflite(model, tmp_path / "colours.tflite", min_runtime="2.14")
    scores = tmp_path / "scores.json"
    done = subprocess.run(
        [
            tflite_runtime_python,
            "-m",
            "swiftformer_keras.evaluate",
            "--data",
            str(data),
            "--weights",
            str(weights),
            "--runtime",
            "tflite-runtime",
            "--json",
            str(scores),
            "--confusion",
            str(tmp_path / "c.png"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| colours.tflite | val | 75.00% | 100.00% | 12 | 1 |" in done.stdout
    assert json.loads(scores.read_text())["confusion"] == _expected_confusion().tolist()


def test_results_are_printed_even_when_writing_them_fails(setup, tmp_path, full_disk, capsys):
    data, _, files = setup
    argv = [
        "--data",
        str(data),
        "--weights",
        str(files / "colours.keras"),
        "--confusion",
        str(tmp_path / "c.png"),
        "--json",
        str(full_disk / "r.json"),
    ]
    assert ev.main(argv) == 2
    captured = capsys.readouterr()
    assert "| colours.keras | val | 75.00% | 100.00% | 12 | 1 |" in captured.out
    errors = [line for line in captured.err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("python -m swiftformer_keras.evaluate: error: no space left")
    assert [name for name in os.listdir(full_disk) if not name.startswith(".filler")] == []


@pytest.mark.parametrize(
    "flag, text, keyword, value",
    [
        ("--crop-pct", "0", "crop_pct", 0.0),
        ("--crop-pct", "-1", "crop_pct", -1.0),
        ("--crop-pct", "1.5", "crop_pct", 1.5),
        ("--num-threads", "0", "num_threads", 0),
        ("--batch-size", "0", "batch_size", 0),
        ("--batch-size", "2.5", "batch_size", 2.5),
        ("--image-size", "30", "image_size", 30),
    ],
)
def test_numeric_flags_and_arguments_are_range_checked(setup, capsys, flag, text, keyword, value):
    data, _, files = setup
    with pytest.raises(SystemExit) as exit_info:
        ev.main(["--data", str(data), "--weights", str(files / "colours.tflite"), flag, text])
    assert exit_info.value.code == 2
    assert f"argument {flag}: must be" in capsys.readouterr().err
    expected = "Image size 30 is not supported" if keyword == "image_size" else f"^{keyword} \\({flag}\\) must be"
    with pytest.raises(ValueError, match=expected):
        ev.evaluate(data, files / "colours.tflite", **{keyword: value})


def _plain_cnn(classes):
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    return keras.Model(inputs, keras.layers.Dense(classes)(x))


def test_clear_errors(setup, tmp_path):
    data, model, files = setup
    with pytest.raises(ValueError, match="does not exist"):
        ev.evaluate(tmp_path / "missing", model)
    four_classes = export_tflite(_plain_cnn(4), tmp_path / "four.tflite")
    with pytest.raises(ValueError, match="predicts 4 classes but .* has 3"):
        ev.evaluate(data, four_classes)
    unknown = tmp_path / "model.onnx"
    unknown.write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"unknown weights format.*\.keras, \.weights\.h5 or \.tflite"):
        ev.evaluate(data, unknown)
    with pytest.raises(ValueError, match="does not exist"):
        ev.evaluate(data, tmp_path / "absent.keras")
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"broken.keras' exists but is not a Keras .keras model \(it is not a zip"):
        ev.evaluate(data, broken)
    h5 = files / "colours.weights.h5"
    with pytest.raises(ValueError, match="variant"):
        ev.evaluate(data, h5, image_size=SIZE)
    with pytest.raises(ValueError, match="image_size"):
        ev.evaluate(data, h5, variant=TINY)
    with pytest.raises(ValueError, match="disagrees with the input"):
        ev.evaluate(data, model, image_size=96)
    dynamic = sfk.SwiftFormer(TINY, classes=3, classifier_activation=None, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="--image-size"):
        ev.evaluate(data, dynamic)
    with pytest.raises(ValueError, match="no val/ or test/"):
        ev.evaluate(data / "train", model)


def test_class_names_come_from_train_and_test_split_is_found(setup, tmp_path):
    data, model, _ = setup
    # No train/ and a test/ split: names from the split itself, split found automatically.
    shutil.copytree(data / "val", tmp_path / "only_test" / "test")
    result = ev.evaluate(tmp_path / "only_test", model)
    assert result["split"] == "test" and result["classes"] == CLASSES
    np.testing.assert_array_equal(result["confusion"], _expected_confusion())
    # A train split with other classes: refused rather than silently misaligned.
    shutil.copytree(data / "val", tmp_path / "mismatch" / "val")
    for name in CLASSES[:2] + ["yellow"]:
        os.makedirs(tmp_path / "mismatch" / "train" / name)
        shutil.copy(data / "train" / "red" / "0.png", tmp_path / "mismatch" / "train" / name)
    expected = r"differ from the training split's: missing \['yellow'\], unexpected \['red'\]"
    with pytest.raises(ValueError, match=expected):
        ev.evaluate(tmp_path / "mismatch", model)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_evaluation_gives_the_same_numbers_on_the_other_backends(setup, tmp_path, backend):
    pytest.importorskip(backend)
    data, _, files = setup
    expected = ev.evaluate(str(data), str(files / "colours.keras"))
    out = tmp_path / "scores.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "swiftformer_keras.evaluate",
            "--data",
            str(data),
            "--weights",
            str(files / "colours.keras"),
            "--json",
            str(out),
            "--confusion",
            str(tmp_path / "c.png"),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT),
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    scores = json.loads(out.read_text())
    assert scores["top1"] == expected["top1"] and scores["count"] == expected["count"]
    assert np.array_equal(np.asarray(scores["confusion"]), expected["confusion"])


def test_an_image_that_fails_to_decode_is_skipped_and_counted_not_fatal(setup, tmp_path, capsys):
    data, model, _ = setup
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    # A truncated JPEG passes the listing's header check and fails only when decoded.
    victim = copy / "val" / "blue" / "truncated.jpg"
    noise = np.random.default_rng(1).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    Image.fromarray(noise).save(victim)
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    result = ev.evaluate(copy, model, batch_size=2)
    np.testing.assert_array_equal(result["confusion"], _expected_confusion())
    assert result["skipped"] == 2  # broken.jpg (listing) and truncated.jpg (decoding)
    assert "truncated.jpg" in capsys.readouterr().err


def test_the_default_crop_is_the_one_the_model_records_else_imagenets(setup, tmp_path):
    data, _, files = setup
    recorded = tmp_path / "recorded.keras"
    shutil.copy(files / "colours.keras", recorded)
    record_crop_pct(recorded, 0.95)
    assert ev.evaluate(data, files / "colours.keras")["crop_pct"] == IMAGENET_CROP_PCT
    assert ev.evaluate(data, recorded)["crop_pct"] == 0.95
    assert ev.evaluate(data, recorded, crop_pct=1.0)["crop_pct"] == 1.0


def test_published_weights_are_named_with_their_variant_and_checked_before_any_download(setup, capsys):
    """`--weights imagenet` reaches the published weights (here refused for 3 classes, before any
    download: a download would end in an OSError, the hub being unreachable from tests)."""
    data, _, _ = setup
    with pytest.raises(ValueError, match="names published weights: pass the variant"):
        ev.evaluate(data, "imagenet")
    with pytest.raises(
        ValueError, match="weights='imagenet_mbzuai' with include_top=True needs classes=1000, got classes=3"
    ):
        ev.evaluate(data, "imagenet_mbzuai", variant="XS")
    assert ev.main(["--data", str(data), "--weights", "imagenet_timm"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pass the variant (--variant XS, say)" in err
