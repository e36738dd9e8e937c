"""conversion/to_tflite.py and convert_swiftformer: a trained model end to end, and bad input."""

import dataclasses
import json
import os
import re

import keras
import numpy as np
import pytest
from conftest import ROOT, TINY

from swiftformer_keras.lite import pipeline as conversion
from conversion import to_tflite


def _cli():
    return to_tflite


def test_int8_of_a_trained_model_keeps_its_predictions(cifar_tflite):
    path, report = cifar_tflite["int8"]  # made once (conftest): the same file the client tests run
    folder = os.path.dirname(path)
    assert report["crop_pct"] == 1.0  # the crop the trained model records
    fid = report["fidelity"]
    print(f"trained TINY 64x64 int8: {fid}")
    assert report["xnnpack_partitions"] == 1 and report["calibration"]["used"] == 64
    assert fid["images"] == 160 and "keras_top1" in fid  # class folders recognised: labels scored
    assert fid["keras_top1"] > 0.4  # a trained model (4 classes: chance is 0.25)
    assert fid["top1_agreement"] >= 0.9
    assert fid["tflite_top1"] >= fid["keras_top1"] - 0.05
    assert fid["sqnr_db"] > 15
    layers = report["debug_layers"]
    assert len(layers) > 50 and all(row["rmse/scale"] >= 0 for row in layers)
    assert layers[0]["rmse/scale"] >= layers[-1]["rmse/scale"]
    with open(os.path.join(folder, "int8.json")) as file:
        assert json.load(file)["fidelity"]["top1_agreement"] == fid["top1_agreement"]
    assert sorted(os.listdir(folder)) == ["int8.json", "int8.md", "int8.tflite"]  # the report, the card


def test_cli_fp16_of_a_variant_prints_and_writes_the_report(tmp_path, capsys):
    output, report = tmp_path / "xs_fp16.tflite", tmp_path / "xs_fp16.json"
    code = _cli().main([
        "--model", "XS", "--weights", "random", "--input-size", "64", "96", "--fp16",
        "--output", str(output), "--report", str(report),
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| xnnpack_partitions | 1 |" in printed and f"wrote {output}" in printed
    with open(report) as file:
        saved = json.load(file)
    assert saved["mode"] == "fp16" and saved["input"]["shape"] == [1, 64, 96, 3]
    assert saved["nnapi_refuses"] == {"GELU/float32": "no NNAPI case for this op"}


def test_cli_calib_random_is_explicit_and_recorded(tmp_path, capsys):
    output = tmp_path / "noise.tflite"
    code = _cli().main([
        "--model", "XS", "--weights", "random", "--input-size", "64", "64", "--int8", "--calib-random",
        "--num-calib", "4", "--io", "uint8", "--output", str(output), "--report", str(tmp_path / "r.json"),
    ])
    assert code == 0
    with open(tmp_path / "r.json") as file:
        saved = json.load(file)
    assert saved["calibration"]["source"].startswith("random") and saved["input"]["dtype"] == "uint8"


def _not_swiftformer(path):
    inputs = keras.Input((64, 64, 3))
    keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(inputs))).save(path)
    return path


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "XS", "--weights", "random", "--int8"], "int8 needs calibration images: pass --calib-dir"),
        (["--model", "XL", "--weights", "random"], "Unknown model 'XL'"),
        (["--model", "XS", "--weights", "random", "--input-size", "100", "64"], "multiple of 32"),
        (["--model", "XS", "--weights", "random", "--output", "{tmp}/missing/x.tflite"], "does not exist; create it"),
        (["--model", "XS", "--weights", "random", "--output", "{tmp}/x.onnx"], "must end in .tflite"),
        (["--keras-model", "{tmp}/plain.keras"], "not a SwiftFormer"),
        (["--keras-model", "{tmp}/nothing.keras"], "does not exist"),
        (["--model", "XS", "--weights", "random", "--int8", "--calib-dir", "{tmp}/empty"], "holds no .jpg"),
        (["--model", "XS", "--weights", "random", "--eval-dir", "{tmp}/missing"], "does not exist or is not a directory"),
        (["--model", "XS", "--weights", "random", "--debug"], "--debug applies to --int8 files only"),
        (["--model", "XS", "--weights", "{tmp}/nothing.weights.h5"], "does not exist"),
    ],
)
def test_bad_input_is_a_clear_error_and_leaves_no_file(tmp_path, capsys, args, message):
    work = tmp_path / "work"
    work.mkdir()
    (work / "empty").mkdir()
    (work / "empty" / "readme.txt").write_text("no images here")
    _not_swiftformer(str(work / "plain.keras"))
    before = sorted(os.listdir(work))
    args = [a.replace("{tmp}", str(work)) for a in args]
    if "--output" not in args:
        args += ["--output", str(work / "out.tflite")]
    assert _cli().main(args) == 2
    assert message in capsys.readouterr().err
    assert sorted(os.listdir(work)) == before


# --- issue 10: every expected failure is one line and exit 2, found before the conversion ----------


@pytest.fixture
def no_conversion(monkeypatch):
    """Fails the test if the (slow) model loading starts: the refusal must come first."""

    def started(*args, **kwargs):
        raise AssertionError("the conversion started before the arguments were checked")

    monkeypatch.setattr(conversion, "load_keras_model", started)


def _closed_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _one_error_line(err, prog="to_tflite.py"):
    lines = [line for line in err.splitlines() if f"{prog}: error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_output_and_report_naming_the_same_file_are_refused(tmp_path, capsys, no_conversion):
    same = tmp_path / "same.tflite"
    args = ["--model", "XS", "--weights", "random", "--output", str(same), "--report", str(same)]
    assert _cli().main(args) == 2
    assert "both name" in _one_error_line(capsys.readouterr().err)
    with pytest.raises(ValueError, match="one would overwrite the other"):
        conversion.convert_swiftformer(same, report_path=tmp_path / "." / "same.tflite")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("flag", ["--output", "--report"])
def test_an_existing_folder_as_output_or_report_is_refused_up_front(tmp_path, capsys, no_conversion, flag):
    (tmp_path / "taken.tflite").mkdir()
    paths = {"--output": str(tmp_path / "out.tflite"), "--report": None, flag: str(tmp_path / "taken.tflite")}
    args = ["--model", "XS", "--weights", "random"]
    args += [item for key, value in paths.items() if value for item in (key, value)]
    assert _cli().main(args) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"{flag} " in line and "is an existing folder" in line
    assert sorted(os.listdir(tmp_path)) == ["taken.tflite"]


def test_the_default_run_offline_is_one_line(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    env = {**os.environ, "SWIFTFORMER_WEIGHTS_URL": f"http://127.0.0.1:{_closed_port()}",
           "KERAS_HOME": str(tmp_path / "keras"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, os.path.join(ROOT, "conversion", "to_tflite.py")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr
    assert "Could not download the ImageNet weights" in _one_error_line(done.stderr)
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tflite")]


def test_a_full_disk_is_one_line_and_leaves_nothing(full_disk, capsys):
    args = ["--model", "XS", "--weights", "random", "--input-size", "64", "64",
            "--output", str(full_disk / "x.tflite")]
    assert _cli().main(args) == 2
    assert "no space left on the device" in _one_error_line(capsys.readouterr().err)
    assert os.listdir(full_disk) == [".filler"]


def _capture_requests(monkeypatch):
    """Replaces the conversion by a recorder of the requests the command line makes."""
    from swiftformer_keras.lite import report as tflite_report

    seen = []
    monkeypatch.setattr(conversion, "convert", lambda request: seen.append(request) or {})
    monkeypatch.setattr(tflite_report, "markdown", str)
    return seen


def test_model_names_are_accepted_in_any_case(tmp_path, monkeypatch):
    seen = _capture_requests(monkeypatch)
    assert _cli().main(["--model", "xs", "--weights", "random", "--output", str(tmp_path / "x.tflite")]) == 0
    assert seen[-1].variant == "XS"
    model, size = conversion.load_keras_model("l1", weights="random", input_size=(64, 64))
    assert size == (64, 64) and model.count_params() > 10**7


@pytest.mark.parametrize("args, message", [
    (["--num-calib", "0"], "--num-calib: must be a whole number >= 1"),
    (["--num-eval", "-5"], "--num-eval: must be a whole number >= 1"),
    (["--crop-pct", "0"], "--crop-pct: must be a number in (0, 1]"),
    (["--crop-pct", "1.5"], "--crop-pct: must be a number in (0, 1]"),
    (["--input-size", "0", "64"], "--input-size: must be a whole number >= 64"),
])
def test_numeric_flags_are_checked_by_the_parser(tmp_path, capsys, no_conversion, args, message):
    with pytest.raises(SystemExit) as exit_info:
        _cli().main(["--model", "XS", "--weights", "random", *args, "--output", str(tmp_path / "x.tflite")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("keyword, value, message", [
    ("num_calib", 0, "num_calib must be a whole number >= 1"),
    ("num_eval", 2.5, "num_eval must be a whole number >= 1"),
    ("crop_pct", 0.0, "crop_pct must be a number in (0, 1]"),
    ("crop_pct", 1.01, "crop_pct must be a number in (0, 1]"),
    ("input_size", (16, 64), "multiple of 32"),
])
def test_numeric_arguments_are_checked_before_any_work(tmp_path, no_conversion, keyword, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        conversion.convert_swiftformer(tmp_path / "x.tflite", variant="XS", weights="random", **{keyword: value})
    assert os.listdir(tmp_path) == []


def test_unknown_float_ops_are_refused_before_the_model_loads(tmp_path, capsys, no_conversion):
    args = ["--model", "XS", "--weights", "random", "--int8", "--calib-random", "--float-ops", "RSQRT", "SQRTT",
            "--output", str(tmp_path / "x.tflite")]
    assert _cli().main(args) == 2
    assert "Unknown TFLite op types ['SQRTT']" in _one_error_line(capsys.readouterr().err)
    assert os.listdir(tmp_path) == []


# --- issue 12: --min-runtime; files that load and run on tflite-runtime 2.14 ----------------------


@pytest.fixture(scope="module")
def runtime_files(tmp_path_factory):
    """A small SwiftFormer (64 x 64, random weights, every layer XS has) in every mode for
    --min-runtime 2.14, and the dynamic file of the LiteRT recipe (per-channel FULLY_CONNECTED v12),
    with their reports. Logits out, whose spread makes runtimes' differences comparable; no card."""
    from swiftformer_keras import SwiftFormer
    from swiftformer_keras.models.random_init import randomize_weights

    folder = tmp_path_factory.mktemp("runtimes")
    keras_file = folder / "tiny.keras"
    randomize_weights(SwiftFormer(TINY, input_shape=(64, 64, 3), classifier_activation=None)).save(keras_file)
    made = {}
    for mode, version in [(mode, "2.14") for mode in ("fp32", "fp16", "dynamic", "int8")] + [("dynamic", "2.17")]:
        output, report = folder / f"tiny_{mode}_{version}.tflite", folder / f"tiny_{mode}_{version}.json"
        calibration = ["--calib-random", "--num-calib", "8"] if mode == "int8" else []
        assert _cli().main(["--keras-model", str(keras_file), f"--{mode}", *calibration, "--min-runtime", version,
                            "--classifier-activation", "none", "--no-card",
                            "--output", str(output), "--report", str(report)]) == 0
        with open(report) as file:
            made[f"{mode} {version}"] = {"path": str(output), "report": json.load(file)}
    return made


def test_min_runtime_2_14_files_load_and_run_on_tflite_runtime_2_14(runtime_files, tflite_runtime_python):
    import numpy as np

    from swiftformer_keras.lite.runtime_versions import parse_version
    from swiftformer_keras.lite.runtime_worker import RuntimeProcess, Worker

    paths = {key: made["path"] for key, made in runtime_files.items()}
    with RuntimeProcess(tflite_runtime_python, "tflite-runtime", threads=1, cwd=ROOT) as old:
        loaded = old.ask({"load": paths})
        assert (loaded["runtime"], loaded["version"]) == ("tflite-runtime", "2.14.0")
        old_outputs = {key: old.ask({"predict": key})["output"] for key, found in loaded["files"].items()
                       if found["loaded"]}
    newest = Worker("litert", threads=1, warmup=1)
    newest.load(paths)
    for key, made in runtime_files.items():
        report, found = made["report"], loaded["files"][key]
        needs = parse_version(report["min_runtime_needed"])
        # The report's minimum runtime says what actually loads.
        assert found["loaded"] == (needs <= (2, 14, 0)), (key, report["min_runtime_needed"], found)
        if not found["loaded"]:
            assert key == "dynamic 2.17" and report["min_runtime_needed"] == "2.17.0"
            assert "FULLY_CONNECTED" in found["error"] and "'12'" in found["error"]
            assert report["min_runtime_set_by"] == ["FULLY_CONNECTED v12"]
            continue
        assert report["min_runtime_asked"] == "2.14"
        expected = np.asarray(newest.predict(key)["output"])
        got = np.asarray(old_outputs[key])
        spread = float(expected.std())
        if key.split()[0] in ("fp32", "fp16"):
            # The old XNNPACK takes the whole float graph: the recipe's point.
            assert found["partitions"] == 1, (key, found)
            np.testing.assert_allclose(got, expected, atol=1e-4 * spread)
        else:  # other int8 kernels, other rounding: a few quantization steps, the same top-1
            assert np.abs(got - expected).max() < 0.25 * spread and got.argmax() == expected.argmax()


@pytest.mark.parametrize("args, message", [
    (["--min-runtime", "2.11"], "argument --min-runtime: Unsupported --min-runtime '2.11'"),
    (["--min-runtime", "latest"], "argument --min-runtime: Unsupported --min-runtime 'latest'"),
])
def test_an_unknown_min_runtime_is_refused_by_the_parser(tmp_path, capsys, no_conversion, args, message):
    with pytest.raises(SystemExit) as exit_info:
        _cli().main(["--model", "XS", "--weights", "random", *args, "--output", str(tmp_path / "x.tflite")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_file_needing_a_newer_runtime_is_refused_naming_the_op(tmp_path):
    from swiftformer_keras import SwiftFormer
    from swiftformer_keras.lite.recipe import Recipe

    keras_file = tmp_path / "model" / "tiny.keras"
    keras_file.parent.mkdir()
    SwiftFormer(TINY, input_shape=(64, 64, 3), classifier_activation=None).save(keras_file)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError, match=r"FULLY_CONNECTED v12 needs 2\.17\.0.*--min-runtime 2\.17"):
        conversion.convert_swiftformer(out / "x.tflite", mode="dynamic", keras_model=keras_file,
                                       min_runtime="2.14", recipe=Recipe())
    assert os.listdir(out) == []


def test_float_ops_need_int8(tmp_path, capsys, no_conversion):
    args = ["--model", "XS", "--weights", "random", "--fp32", "--float-ops", "RSQRT", "--output", str(tmp_path / "x.tflite")]
    assert _cli().main(args) == 2
    assert "--float-ops applies to --int8 files only" in _one_error_line(capsys.readouterr().err)


def test_activation_replaces_the_recipes_gelu_form_and_float_ops_add_to_its_list(tmp_path, monkeypatch, capsys):
    from swiftformer_keras.lite.recipe import recipe_for

    seen = _capture_requests(monkeypatch)
    cli = _cli()
    base = ["--model", "XS", "--weights", "random", "--output", str(tmp_path / "x.tflite")]
    assert cli.main([*base, "--fp32", "--min-runtime", "2.14", "--activation", "gelu_tanh"]) == 0
    assert seen[-1].recipe == dataclasses.replace(recipe_for("fp32", "2.14"), activation="gelu_tanh")
    assert seen[-1].recipe.reductions == "channel_conv"
    assert cli.main([*base, "--int8", "--calib-random", "--activation", "gelu", "--float-ops", "RSQRT", "SQRT"]) == 0
    kept = recipe_for("int8").float_ops
    assert "SQRT" in kept and "RSQRT" not in kept  # the recipe's list gains RSQRT and keeps its own SQRT
    assert seen[-1].recipe == dataclasses.replace(recipe_for("int8"), activation="gelu", float_ops=(*kept, "RSQRT"))
    assert cli.main([*base, "--fp16"]) == 0 and seen[-1].recipe == recipe_for("fp16")  # resolved once, here
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*base, "--activation", "relu"])
    assert exit_info.value.code == 2 and "argument --activation: invalid choice: 'relu'" in capsys.readouterr().err


# --- issue 13: drop-in files for Android's clients: metadata, card, input and output forms --------


def test_the_default_file_is_described_and_gets_a_card_and_a_report(tmp_path, capsys):
    from swiftformer_keras.lite.metadata import read_metadata

    output = tmp_path / "xs.tflite"
    argv = ["--model", "XS", "--weights", "random", "--input-size", "64", "64", "--output", str(output),
            "--latency-runs", "5"]
    assert _cli().main(argv) == 0
    assert sorted(os.listdir(tmp_path)) == ["xs.json", "xs.md", "xs.tflite"]
    assert f"wrote {output}, {tmp_path / 'xs.json'}, {tmp_path / 'xs.md'}" in capsys.readouterr().out
    report = json.loads((tmp_path / "xs.json").read_text())
    assert report["input"]["type"] == "float32" and report["classifier_activation"] == "softmax"
    assert report["signatures"] == {"serving_default": {"inputs": ["image"], "outputs": ["probabilities"]}}
    assert report["labels"]["count"] == 1000 and report["labels"]["last"] == "toilet tissue"
    assert report["latency"]["runs"] == 5 and report["latency"]["median_ms"] > 0
    assert report["command"] == "python conversion/to_tflite.py " + " ".join(argv)
    described = read_metadata(output)
    assert described["name"] == "SwiftFormer-XS" and described["input"]["normalization"] == {"mean": [0.0], "std": [1.0]}
    assert "Weights: the license of their source" in described["license"]
    card = (tmp_path / "xs.md").read_text()
    assert card.startswith("---\nlibrary_name: litert\npipeline_tag: image-classification\n")
    for line in (f"| Size | {report['size_bytes'] / 1e6:.2f} MB |", "| XNNPACK partitions | 1 |",
                 "| Labels | 1000 (tench … toilet tissue), in the metadata; ImageNet-1k class names (a 1000-class head) |",
                 f"median **{report['latency']['median_ms']:.2f} ms** over 5 runs", report["command"],
                 'setModelAssetPath("xs.tflite")'):
        assert line in card, line


def test_logits_without_metadata_or_card_are_still_one_flag_away(tmp_path):
    from swiftformer_keras.lite.interpreter import make_interpreter
    from swiftformer_keras.lite.metadata import read_metadata

    output = tmp_path / "logits.tflite"
    assert _cli().main(["--model", "XS", "--weights", "random", "--input-size", "64", "64", "--output", str(output),
                        "--classifier-activation", "none", "--input-type", "normalized", "--no-metadata",
                        "--no-card"]) == 0
    assert os.listdir(tmp_path) == ["logits.tflite"] and read_metadata(output) is None
    interpreter = make_interpreter(model_path=str(output))
    assert interpreter.get_signature_list() == {"serving_default": {"inputs": ["image"], "outputs": ["logits"]}}
    model, _ = conversion.load_keras_model("XS", weights="random", input_size=(64, 64))
    image = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype(np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    logits = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(logits, model.predict(image, verbose=0), atol=1e-4)
    assert logits.sum() != pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--int8", "--calib-random", "--input-type", "uint8", "--io", "int8"],
         "--input-type uint8 takes camera pixels as they are and --io int8 quantizes a normalised input"),
        (["--labels", "{tmp}/latin1.txt"], "latin1.txt' is not UTF-8 text (byte 15, line 2); save it as UTF-8"),
        (["--labels", "{tmp}/absent.txt"], "absent.txt' does not exist or cannot be read"),
    ],
)
def test_bad_metadata_choices_are_one_line_before_any_work(tmp_path, capsys, no_conversion, args, message):
    (tmp_path / "latin1.txt").write_bytes("airplane\nvoitur\u00e9\n".encode("latin-1"))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert _cli().main(["--model", "XS", "--weights", "random", "--output", str(tmp_path / "x.tflite"), *args]) == 2
    assert message in _one_error_line(capsys.readouterr().err)
    assert not os.path.exists(tmp_path / "x.tflite")


def test_a_labels_file_with_the_wrong_count_is_refused_and_leaves_nothing(tmp_path, capsys):
    (tmp_path / "four.txt").write_text("airplane\nautomobile\nfrog\nship\n")
    output = tmp_path / "x.tflite"
    assert _cli().main(["--model", "XS", "--weights", "random", "--input-size", "64", "64", "--output", str(output),
                        "--labels", str(tmp_path / "four.txt")]) == 2
    assert "four.txt' has 4 names; the model has 1000 classes" in _one_error_line(capsys.readouterr().err)
    assert sorted(os.listdir(tmp_path)) == ["four.txt"]


def test_a_trained_model_is_labelled_with_its_class_folders(cifar_tflite, small_cifar):
    from swiftformer_keras.lite.metadata import read_metadata

    path, report = cifar_tflite["fp32"]
    classes = sorted(os.listdir(os.path.join(small_cifar[0], "train")))
    assert read_metadata(path)["output"]["labels"] == classes
    assert report["labels"] == {"source": "class names recorded in model.keras", "count": len(classes),
                                "first": classes[0], "last": classes[-1]}


# --- issue 25: a file, its card and its report always agree; inputs are never overwritten ---------


def _tiny_keras(folder, classes=10, activation=None, channels=3):
    from swiftformer_keras import SwiftFormer

    path = os.path.join(folder, f"tiny_{classes}_{activation}_{channels}.keras")
    SwiftFormer(TINY, input_shape=(64, 64, channels), classes=classes, classifier_activation=activation).save(path)
    return path


@pytest.mark.parametrize("flag", ["--report", "--output", "--labels-as-report", "--inside-calib-dir"])
def test_no_output_may_be_or_lie_inside_an_input(tmp_path, capsys, no_conversion, flag):
    keras_file = tmp_path / "m.keras"
    keras_file.write_bytes(b"the user's model")
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"c{i}" for i in range(10)) + "\n")
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(b"not read")
    args = ["--keras-model", str(keras_file), "--labels", str(labels), "--int8", "--calib-dir", str(photos)]
    args += {
        "--report": ["--output", str(tmp_path / "o.tflite"), "--report", str(keras_file)],
        "--output": ["--output", str(photos / "o.tflite")],
        "--labels-as-report": ["--output", str(tmp_path / "o.tflite"), "--report", str(labels)],
        "--inside-calib-dir": ["--output", str(tmp_path / "o.tflite"), "--report", str(photos / "r.json")],
    }[flag]
    before = {path: path.read_bytes() for path in (keras_file, labels)}
    assert _cli().main(args) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert ("is the input" in line or "lies inside the input folder" in line) and "Choose another name" in line \
        or "Write it outside that folder" in line, line
    assert {path: path.read_bytes() for path in before} == before
    assert sorted(os.listdir(tmp_path)) == ["labels.txt", "m.keras", "photos"]
    assert os.listdir(photos) == ["a.png"]


@pytest.fixture
def older_result(cifar_tflite, tmp_path):
    """A complete result `pair.tflite`, `pair.json`, `pair.md` (the trained model's int8 trio), and a
    conversion of the same model to fp32 aimed at it that reuses the fp32 file's bytes instead of
    converting again (the subject is what lands, not the converter)."""
    source = os.path.splitext(cifar_tflite["int8"][0])[0]
    for suffix in (".tflite", ".md"):
        with open(source + suffix, "rb") as file:
            (tmp_path / f"pair{suffix}").write_bytes(file.read())
    with open(source + ".json") as file:
        report = json.load(file)
    report.update(file=str(tmp_path / "pair.tflite"), report_file=str(tmp_path / "pair.json"),
                  card_file=str(tmp_path / "pair.md"))
    (tmp_path / "pair.json").write_text(json.dumps(report))
    with open(cifar_tflite["fp32"][0], "rb") as file:
        fp32_bytes = file.read()
    return tmp_path, fp32_bytes, {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}


def _replay(monkeypatch, content):
    from swiftformer_keras.lite import converter as export

    monkeypatch.setattr(export, "tflite_content", lambda *args, **kwargs: content)


@pytest.mark.parametrize("failure", ["unreadable eval images", "Ctrl-C in the latency runs", "full disk at the card",
                                     "full disk at the report"])
def test_a_failed_run_leaves_the_older_result_intact(older_result, cifar_tflite, monkeypatch, capsys, failure):
    import errno

    from swiftformer_keras.utils import files

    folder, fp32_bytes, before = older_result
    _replay(monkeypatch, fp32_bytes)
    options = {"keras_model": cifar_tflite["keras"]}
    if failure == "unreadable eval images":
        (folder.parent / "broken").mkdir()
        for name in ("a.jpg", "b.png"):
            (folder.parent / "broken" / name).write_bytes(b"not an image")
        options["eval_dir"] = str(folder.parent / "broken")
        expected = ValueError
    elif failure == "Ctrl-C in the latency runs":
        monkeypatch.setattr(conversion, "measure_latency", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt))
        options["latency_runs"] = 100
        expected = KeyboardInterrupt
    else:
        suffix = ".md" if failure.endswith("card") else ".json"
        write = files.ResultFiles.write

        def full_disk_at(result, destination, writer):
            def no_room(temp):
                raise OSError(errno.ENOSPC, "No space left on device", temp)

            return write(result, destination, no_room if destination.endswith(suffix) else writer)

        monkeypatch.setattr(files.ResultFiles, "write", full_disk_at)
        expected = files.DiskFullError
    with pytest.raises(expected) as raised:
        conversion.convert_swiftformer(folder / "pair.tflite", **options)
    if expected is files.DiskFullError:  # about the destination, and true: nothing was written
        assert f"while writing pair{suffix}" in str(raised.value) and "Nothing was written" in str(raised.value)
    if failure == "unreadable eval images":
        assert "None of the 2 images tried" in str(raised.value)
        assert "skipped an unreadable image: " in capsys.readouterr().err  # named, not only counted
    after = {name: (folder / name).read_bytes() for name in os.listdir(folder)}
    assert after == before  # the same three files, byte for byte: no temporary, no lock left


def test_a_run_lands_the_file_its_report_and_its_card_together(older_result, cifar_tflite, monkeypatch):
    folder, fp32_bytes, before = older_result
    _replay(monkeypatch, fp32_bytes)
    report = conversion.convert_swiftformer(folder / "pair.tflite", keras_model=cifar_tflite["keras"])
    assert sorted(os.listdir(folder)) == ["pair.json", "pair.md", "pair.tflite"]
    assert (folder / "pair.tflite").read_bytes() == fp32_bytes
    saved = json.loads((folder / "pair.json").read_text())
    assert saved["mode"] == report["mode"] == "fp32" and saved["file"] == str(folder / "pair.tflite")
    assert saved["input"]["dtype"] == "float32" and "| Mode | fp32 |" in (folder / "pair.md").read_text()


def test_a_run_without_card_removes_the_older_card_of_the_file_it_replaces(older_result, cifar_tflite, monkeypatch,
                                                                          capsys):
    folder, fp32_bytes, _ = older_result
    (folder / "other.json").write_text('{"file": "other.tflite"}')
    _replay(monkeypatch, fp32_bytes)
    conversion.convert_swiftformer(folder / "pair.tflite", keras_model=cifar_tflite["keras"], card=False)
    assert sorted(os.listdir(folder)) == ["other.json", "pair.tflite"]
    assert "removed " in capsys.readouterr().err


def test_a_second_conversion_to_the_same_file_is_refused_while_the_first_runs(tmp_path, capsys, no_conversion):
    from swiftformer_keras.utils import files

    output = tmp_path / "pair.tflite"
    with files.output_lock(tmp_path / "pair.json"):  # a first run holds its files
        assert _cli().main(["--model", "XS", "--weights", "random", "--output", str(output)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"--report '{tmp_path / 'pair.json'}' is being written by another run now (pid {os.getpid()})" in line
    assert os.listdir(tmp_path) == []


def test_load_keras_model_gives_logits_for_a_softmax_headed_model(tmp_path):
    probabilities = _tiny_keras(str(tmp_path), activation="softmax")
    model, size = conversion.load_keras_model(keras_model=probabilities)
    import keras

    reference = keras.models.load_model(probabilities)
    image = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype(np.float32)
    logits = model.predict(image, verbose=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(logits)),
                               reference.predict(image, verbose=0), atol=1e-6)
    assert size == (64, 64) and not np.allclose(logits.sum(1), 1.0, atol=1e-3)


def test_a_softmax_over_one_logit_is_refused(tmp_path):
    one = _tiny_keras(str(tmp_path), classes=1)
    with pytest.raises(ValueError, match="one-logit head, and a softmax over one class is 1.0 for every input"):
        conversion.convert_swiftformer(tmp_path / "one.tflite", keras_model=one)
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(one)]


def test_a_grayscale_model_is_told_which_input_type_it_needs(tmp_path):
    gray = _tiny_keras(str(tmp_path), channels=1)
    with pytest.raises(ValueError, match="takes 1-channel images; input_type='float32' normalises 3-channel RGB"):
        conversion.convert_swiftformer(tmp_path / "g.tflite", keras_model=gray, metadata=False)
    with pytest.raises(ValueError, match="takes 1-channel images, and its metadata would state a 3-channel"):
        conversion.convert_swiftformer(tmp_path / "g.tflite", keras_model=gray, input_type="normalized")


@pytest.mark.parametrize("options, message", [
    ({"labels": "airplane"}, "Labels file 'airplane' does not exist or cannot be read; give the path of a labels file"),
    ({"labels": ["airplane", "auto\u2028mobile"]}, "name 2 'auto\\u2028mobile' holds the control character"),
    ({"labels": ["cat", ""]}, "name 2 is empty"),
    ({"min_runtime": 2.11}, "Unsupported --min-runtime '2.11'"),
    ({"input_type": "rgb"}, "Unknown input type 'rgb'"),
    ({"calib_dir": "photos"}, "--calib-dir applies to --int8 files only; drop it for --fp32"),
    ({"keras_model": "m.keras", "weights": "random"}, "--weights 'random' is for a --model variant"),
    ({"labels": ["a", "b"], "metadata": False}, "--labels are written into the file's metadata, and --no-metadata"),
    ({"mode": "int8", "calib_dir": "photos", "calib_random": True}, "give one of them"),
    ({"latency_runs": float("inf")}, "latency_runs must be a whole number >= 0, got inf"),
])
def test_python_arguments_are_checked_before_the_model_loads(tmp_path, monkeypatch, no_conversion, options, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.keras").write_bytes(b"x")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.png").write_bytes(b"x")
    options = {"variant": "XS", **options}
    with pytest.raises(ValueError, match=re.escape(message)):
        conversion.convert_swiftformer("x.tflite", **options)


def test_python_arguments_take_the_forms_a_python_user_writes(tmp_path, no_conversion):
    from swiftformer_keras.lite.request import ConversionRequest

    request = ConversionRequest(str(tmp_path / "x.tflite"), labels=("cat", "dog"), min_runtime=2.16, mode="int8",
                                calib_random=True, input_size=[64, 96])
    assert request.label_names == ("cat", "dog") and request.min_runtime == "2.16"
    assert request.input_size == (64, 96) and request.report_path == str(tmp_path / "x.json")


def test_a_labels_file_is_read_by_lines_as_androids_clients_read_it(tmp_path, capsys, no_conversion):
    from swiftformer_keras.lite.request import ConversionRequest

    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes("cat\r\ndog\r\nbird\r\n".encode())
    assert ConversionRequest(str(tmp_path / "x.tflite"), labels=str(crlf)).label_names == ("cat", "dog", "bird")
    separator = tmp_path / "separator.txt"
    separator.write_text("airplane\nauto\u2028mobile\nbird\n", encoding="utf-8")  # splitlines() would see 4
    with pytest.raises(ValueError, match=r"line 2 holds the control character '\\u2028'"):
        ConversionRequest(str(tmp_path / "x.tflite"), labels=str(separator))
    twice = tmp_path / "twice.txt"
    twice.write_text("cat\ndog\ncat\n")
    assert ConversionRequest(str(tmp_path / "x.tflite"), labels=str(twice)).label_names == ("cat", "dog", "cat")
    assert "name 3 'cat' repeats name 1" in capsys.readouterr().err


def test_a_backbone_converts_to_a_features_file_with_metadata_and_no_labels(tmp_path):
    from swiftformer_keras import SwiftFormer
    from swiftformer_keras.lite.metadata import read_metadata

    backbone = tmp_path / "backbone.keras"
    SwiftFormer(TINY, include_top=False, pooling="avg", input_shape=(64, 64, 3)).save(backbone)
    out = tmp_path / "out"
    out.mkdir()
    report = conversion.convert_swiftformer(out / "b.tflite", keras_model=backbone)
    described = read_metadata(out / "b.tflite")
    assert described["output"]["content"] == "features" and described["output"]["labels"] is None
    assert report["signatures"]["serving_default"]["outputs"] == ["features"]
    assert report["output"]["shape"] == [1, 48] and "| Labels | none in the file |" in (out / "b.md").read_text()


def test_the_card_describes_the_file_not_the_flags(cifar_tflite, tmp_path, monkeypatch):
    """A uint8-io int8 file (its output stays float32) without metadata: the card reads the file."""
    with open(cifar_tflite["int8"][0], "rb") as file:
        int8_bytes = file.read()
    _replay(monkeypatch, int8_bytes)  # the trained model's int8 file: float32 in and out, with metadata
    report = conversion.convert_swiftformer(tmp_path / "q.tflite", keras_model=cifar_tflite["keras"],
                                            mode="int8", calib_random=True, io="uint8")
    card = (tmp_path / "q.md").read_text()
    assert report["io"] == "uint8" and report["input"]["dtype"] == "float32"  # asked uint8; the file says float32
    assert "| Input | `float32` (1, 64, 64, 3): RGB pixels in [0, 255] as float32" in card
    assert "| Output | `float32` (1, 4): probabilities" in card
    assert "\n# run: int8 TFLite\n" in card  # the metadata's name (the training run), not a local path
    assert str(tmp_path) not in card and "/" not in card.split("\n# ")[1].split("\n")[0]


def test_latency_runs_show_a_progress_bar(cifar_tflite, capsys):
    latency = conversion.measure_latency(str(cifar_tflite["fp32"][0]), runs=3)
    assert latency["runs"] == 3 and latency["median_ms"] > 0
    assert "latency runs: 100%" in capsys.readouterr().err
