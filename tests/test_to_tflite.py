"""The conversion command line: its flags become one checked request; bad input is one line, before any work."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest

from conftest import ROOT, TINY, XS_64, XS_RANDOM
from swiftformer_keras import SwiftFormer, to_tflite
from swiftformer_keras.lite import pipeline
from swiftformer_keras.lite import report as tflite_report  # `report` names conversion reports here
from swiftformer_keras.lite.interpreter import make_interpreter
from swiftformer_keras.lite.metadata import read_metadata
from swiftformer_keras.lite.recipe import recipe_for
from swiftformer_keras.lite.runtime_versions import parse_version
from swiftformer_keras.lite.runtime_worker import RuntimeProcess, Worker
from swiftformer_keras.models.random_init import randomize_weights
from swiftformer_keras.utils import files


def test_cli_fp16_of_a_variant_prints_and_writes_the_report(tmp_path, capsys):
    output, report = tmp_path / "xs_fp16.tflite", tmp_path / "xs_fp16.json"
    code = to_tflite.main(
        [
            *XS_RANDOM,
            "--input-size",
            "64",
            "96",
            "--fp16",
            "--output",
            str(output),
            "--report",
            str(report),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| xnnpack_partitions | 1 |" in printed and f"wrote {output}" in printed
    with open(report) as file:
        saved = json.load(file)
    assert saved["mode"] == "fp16" and saved["input"]["shape"] == [1, 64, 96, 3]
    assert saved["nnapi_refuses"] == {"GELU/float32": "no NNAPI case for this op"}


def test_cli_calib_random_is_explicit_and_recorded(tmp_path, capsys):
    output = tmp_path / "noise.tflite"
    code = to_tflite.main(
        [
            *XS_64,
            "--int8",
            "--calib-random",
            "--num-calib",
            "4",
            "--io",
            "uint8",
            "--output",
            str(output),
            "--report",
            str(tmp_path / "r.json"),
        ]
    )
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
        ([*XS_RANDOM, "--int8"], "int8 needs calibration images: pass --calib-dir"),
        (["--model", "XL", "--weights", "random"], "Unknown model 'XL'"),
        ([*XS_RANDOM, "--input-size", "100", "64"], "multiple of 32"),
        ([*XS_RANDOM, "--output", "{tmp}/missing/x.tflite"], "does not exist; create it"),
        ([*XS_RANDOM, "--output", "{tmp}/x.onnx"], "must end in .tflite"),
        (["--keras-model", "{tmp}/plain.keras"], "not a SwiftFormer"),
        (["--keras-model", "{tmp}/nothing.keras"], "does not exist"),
        ([*XS_RANDOM, "--int8", "--calib-dir", "{tmp}/empty"], "holds no .jpg"),
        (
            [*XS_RANDOM, "--eval-dir", "{tmp}/missing"],
            "does not exist or is not a directory",
        ),
        ([*XS_RANDOM, "--debug"], "--debug applies to --int8 files only"),
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
    assert to_tflite.main(args) == 2
    assert message in capsys.readouterr().err
    assert sorted(os.listdir(work)) == before


def _one_error_line(err, prog="swiftformer-to-tflite"):
    lines = [line for line in err.splitlines() if f"{prog}: error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_output_and_report_naming_the_same_file_are_refused(tmp_path, capsys, no_conversion):
    same = tmp_path / "same.tflite"
    args = [*XS_RANDOM, "--output", str(same), "--report", str(same)]
    assert to_tflite.main(args) == 2
    assert "both name" in _one_error_line(capsys.readouterr().err)
    with pytest.raises(ValueError, match="one would overwrite the other"):
        pipeline.convert_swiftformer(same, report_path=tmp_path / "." / "same.tflite")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("flag", ["--output", "--report"])
def test_an_existing_folder_as_output_or_report_is_refused_up_front(tmp_path, capsys, no_conversion, flag):
    (tmp_path / "taken.tflite").mkdir()
    paths = {"--output": str(tmp_path / "out.tflite"), "--report": None, flag: str(tmp_path / "taken.tflite")}
    args = ["--model", "XS", "--weights", "random"]
    args += [item for key, value in paths.items() if value for item in (key, value)]
    assert to_tflite.main(args) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"{flag} " in line and "is an existing folder" in line
    assert sorted(os.listdir(tmp_path)) == ["taken.tflite"]


def test_a_full_disk_is_one_line_and_leaves_nothing(full_disk, capsys):
    args = [*XS_64, "--output", str(full_disk / "x.tflite")]
    assert to_tflite.main(args) == 2
    assert "no space left on the device" in _one_error_line(capsys.readouterr().err)
    assert os.listdir(full_disk) == [".filler"]


def _capture_requests(monkeypatch):
    """Replaces the conversion by a recorder of the requests the command line makes."""
    seen = []
    monkeypatch.setattr(pipeline, "convert", lambda request: seen.append(request) or {})
    monkeypatch.setattr(tflite_report, "markdown", str)
    return seen


def test_model_names_are_accepted_in_any_case(tmp_path, monkeypatch):
    seen = _capture_requests(monkeypatch)
    assert to_tflite.main(["--model", "xs", "--weights", "random", "--output", str(tmp_path / "x.tflite")]) == 0
    assert seen[-1].variant == "XS"
    model, size = pipeline.load_keras_model("l1", weights="random", input_size=(64, 64))
    assert size == (64, 64) and model.count_params() > 10**7


@pytest.mark.parametrize(
    "args, message",
    [
        (["--num-calib", "0"], "--num-calib: must be a whole number >= 1"),
        (["--num-eval", "-5"], "--num-eval: must be a whole number >= 1"),
        (["--crop-pct", "0"], "--crop-pct: must be a number in (0, 1]"),
        (["--crop-pct", "1.5"], "--crop-pct: must be a number in (0, 1]"),
        (["--input-size", "0", "64"], "--input-size: must be a whole number >= 64"),
    ],
)
def test_numeric_flags_are_checked_by_the_parser(tmp_path, capsys, no_conversion, args, message):
    with pytest.raises(SystemExit) as exit_info:
        to_tflite.main([*XS_RANDOM, *args, "--output", str(tmp_path / "x.tflite")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_float_ops_are_refused_before_the_model_loads(tmp_path, capsys, no_conversion):
    args = [
        *XS_RANDOM,
        "--int8",
        "--calib-random",
        "--float-ops",
        "RSQRT",
        "SQRTT",
        "--output",
        str(tmp_path / "x.tflite"),
    ]
    assert to_tflite.main(args) == 2
    assert "Unknown TFLite op types ['SQRTT']" in _one_error_line(capsys.readouterr().err)
    assert os.listdir(tmp_path) == []


@pytest.fixture(scope="module")
def runtime_files(tmp_path_factory):
    """A small SwiftFormer (64 x 64, random weights, every layer XS has) in every mode for
    --min-runtime 2.14, and the dynamic file of the LiteRT recipe (per-channel FULLY_CONNECTED v12),
    with their reports. Logits out, whose spread makes runtimes' differences comparable; no card."""
    folder = tmp_path_factory.mktemp("runtimes")
    keras_file = folder / "tiny.keras"
    randomize_weights(SwiftFormer(TINY, input_shape=(64, 64, 3), classifier_activation=None)).save(keras_file)
    made = {}
    for mode, version in [(mode, "2.14") for mode in ("fp32", "fp16", "dynamic", "int8")] + [("dynamic", "2.17")]:
        output, report = folder / f"tiny_{mode}_{version}.tflite", folder / f"tiny_{mode}_{version}.json"
        calibration = ["--calib-random", "--num-calib", "8"] if mode == "int8" else []
        assert (
            to_tflite.main(
                [
                    "--keras-model",
                    str(keras_file),
                    f"--{mode}",
                    *calibration,
                    "--min-runtime",
                    version,
                    "--classifier-activation",
                    "none",
                    "--no-card",
                    "--output",
                    str(output),
                    "--report",
                    str(report),
                ]
            )
            == 0
        )
        with open(report) as file:
            made[f"{mode} {version}"] = {"path": str(output), "report": json.load(file)}
    return made


def test_min_runtime_2_14_files_load_and_run_on_tflite_runtime_2_14(runtime_files, tflite_runtime_python):
    paths = {key: made["path"] for key, made in runtime_files.items()}
    with RuntimeProcess(tflite_runtime_python, "tflite-runtime", threads=1, cwd=ROOT) as old:
        loaded = old.ask({"load": paths})
        assert (loaded["runtime"], loaded["version"]) == ("tflite-runtime", "2.14.0")
        old_outputs = {
            key: old.ask({"predict": key})["output"] for key, found in loaded["files"].items() if found["loaded"]
        }
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


@pytest.mark.parametrize(
    "args, message",
    [
        (["--min-runtime", "2.11"], "argument --min-runtime: Unsupported --min-runtime '2.11'"),
        (["--min-runtime", "latest"], "argument --min-runtime: Unsupported --min-runtime 'latest'"),
    ],
)
def test_an_unknown_min_runtime_is_refused_by_the_parser(tmp_path, capsys, no_conversion, args, message):
    with pytest.raises(SystemExit) as exit_info:
        to_tflite.main([*XS_RANDOM, *args, "--output", str(tmp_path / "x.tflite")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_float_ops_need_int8(tmp_path, capsys, no_conversion):
    args = [
        *XS_RANDOM,
        "--fp32",
        "--float-ops",
        "RSQRT",
        "--output",
        str(tmp_path / "x.tflite"),
    ]
    assert to_tflite.main(args) == 2
    assert "--float-ops applies to --int8 files only" in _one_error_line(capsys.readouterr().err)


def test_activation_replaces_the_recipes_gelu_form_and_float_ops_add_to_its_list(tmp_path, monkeypatch, capsys):
    seen = _capture_requests(monkeypatch)
    cli = to_tflite
    base = [*XS_RANDOM, "--output", str(tmp_path / "x.tflite")]
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


def test_the_default_file_is_described_and_gets_a_card_and_a_report(tmp_path, capsys):
    output = tmp_path / "xs.tflite"
    argv = [
        *XS_64,
        "--output",
        str(output),
        "--latency-runs",
        "5",
    ]
    assert to_tflite.main(argv) == 0
    assert sorted(os.listdir(tmp_path)) == ["xs.json", "xs.md", "xs.tflite"]
    assert f"wrote {output}, {tmp_path / 'xs.json'}, {tmp_path / 'xs.md'}" in capsys.readouterr().out
    report = json.loads((tmp_path / "xs.json").read_text())
    assert report["input"]["type"] == "float32" and report["classifier_activation"] == "softmax"
    assert report["signatures"] == {"serving_default": {"inputs": ["image"], "outputs": ["probabilities"]}}
    assert report["labels"]["count"] == 1000 and report["labels"]["last"] == "toilet tissue"
    assert report["latency"]["runs"] == 5 and report["latency"]["median_ms"] > 0
    assert report["command"] == "swiftformer-to-tflite " + " ".join(argv)
    described = read_metadata(output)
    assert described["name"] == "SwiftFormer-XS"
    assert described["description"].startswith(
        "SwiftFormer-XS image classifier (random weights), fp32 TFLite with "
        "builtin ops only. Takes RGB pixels in [0, 255] as float32, 64x64, "
        "center-cropped at 0.875."
    )
    assert described["input"]["normalization"] == {"mean": [0.0], "std": [1.0]}
    assert "Weights: seeded random draws, not trained ones." in described["license"]
    card = (tmp_path / "xs.md").read_text()
    assert card.startswith("---\nlibrary_name: litert\npipeline_tag: image-classification\n")
    for line in (
        f"| Size | {report['size_bytes'] / 1e6:.2f} MB |",
        "| XNNPACK partitions | 1 |",
        "| Labels | 1000 (tench … toilet tissue), in the metadata; ImageNet-1k class names (a 1000-class head) |",
        f"median **{report['latency']['median_ms']:.2f} ms** over 5 runs",
        report["command"],
        'setModelAssetPath("xs.tflite")',
    ):
        assert line in card, line


def test_logits_without_metadata_or_card_are_still_one_flag_away(tmp_path):
    output = tmp_path / "logits.tflite"
    assert (
        to_tflite.main(
            [
                *XS_64,
                "--output",
                str(output),
                "--classifier-activation",
                "none",
                "--input-type",
                "normalized",
                "--no-metadata",
                "--no-card",
            ]
        )
        == 0
    )
    assert os.listdir(tmp_path) == ["logits.tflite"] and read_metadata(output) is None
    interpreter = make_interpreter(model_path=str(output))
    assert interpreter.get_signature_list() == {"serving_default": {"inputs": ["image"], "outputs": ["logits"]}}
    model, _ = pipeline.load_keras_model("XS", weights="random", input_size=(64, 64))
    image = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype(np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    logits = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(logits, model.predict(image, verbose=0), atol=1e-4)
    assert logits.sum() != pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--int8", "--calib-random", "--input-type", "uint8", "--io", "int8"],
            "input_type='uint8' (--input-type uint8) takes camera pixels as they are, and io='int8' (--io int8) "
            "quantizes a normalised input",
        ),
        (["--labels", "{tmp}/latin1.txt"], "latin1.txt' is not UTF-8 text (byte 15, line 2); save it as UTF-8"),
        (["--labels", "{tmp}/absent.txt"], "absent.txt' does not exist or cannot be read"),
    ],
)
def test_bad_metadata_choices_are_one_line_before_any_work(tmp_path, capsys, no_conversion, args, message):
    (tmp_path / "latin1.txt").write_bytes("airplane\nvoitur\u00e9\n".encode("latin-1"))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert to_tflite.main([*XS_RANDOM, "--output", str(tmp_path / "x.tflite"), *args]) == 2
    assert message in _one_error_line(capsys.readouterr().err)
    assert not os.path.exists(tmp_path / "x.tflite")


def test_a_labels_file_with_the_wrong_count_is_refused_and_leaves_nothing(tmp_path, capsys):
    (tmp_path / "four.txt").write_text("airplane\nautomobile\nfrog\nship\n")
    output = tmp_path / "x.tflite"
    assert (
        to_tflite.main(
            [
                *XS_64,
                "--output",
                str(output),
                "--labels",
                str(tmp_path / "four.txt"),
            ]
        )
        == 2
    )
    assert "four.txt' has 4 names; the model has 1000 classes" in _one_error_line(capsys.readouterr().err)
    assert sorted(os.listdir(tmp_path)) == ["four.txt"]


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
    assert to_tflite.main(args) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert (
        ("is the input" in line or "lies inside the input folder" in line)
        and "Choose another name" in line
        or "Write it outside that folder" in line
    ), line
    assert {path: path.read_bytes() for path in before} == before
    assert sorted(os.listdir(tmp_path)) == ["labels.txt", "m.keras", "photos"]
    assert os.listdir(photos) == ["a.png"]


def test_a_second_conversion_to_the_same_file_is_refused_while_the_first_runs(tmp_path, capsys, no_conversion):
    output = tmp_path / "pair.tflite"
    with files.output_lock(tmp_path / "pair.json"):  # a first run holds its files
        assert to_tflite.main([*XS_RANDOM, "--output", str(output)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"--report '{tmp_path / 'pair.json'}' is being written by another run now (pid {os.getpid()})" in line
    assert os.listdir(tmp_path) == []


def test_fp16_files_compute_in_fp16_unless_told_and_only_fp16_files_take_the_flag(tmp_path, monkeypatch, capsys):
    seen = _capture_requests(monkeypatch)
    base = [*XS_RANDOM, "--output", str(tmp_path / "x.tflite")]
    assert to_tflite.main([*base, "--fp16"]) == 0 and seen[-1].recipe.fp16_arithmetic
    assert to_tflite.main([*base, "--fp16", "--fp32-arithmetic"]) == 0
    assert seen[-1].recipe == dataclasses.replace(recipe_for("fp16"), fp16_arithmetic=False, reductions=None)
    assert to_tflite.main([*base, "--fp16", "--fp32-arithmetic", "--min-runtime", "2.14"]) == 0
    assert seen[-1].recipe == recipe_for("fp32", "2.14")
    assert to_tflite.main([*base, "--int8", "--calib-random", "--fp32-arithmetic"]) == 2
    assert "--fp32-arithmetic applies to --fp16 files only; drop it for --int8." in _one_error_line(
        capsys.readouterr().err
    )


def test_published_weights_give_the_file_their_crop_source_and_license(tmp_path, cached_xs_weights):
    """`--weights imagenet` converts timm's generation (from the cache: the hub does not answer), and
    the file says so: its crop is timm's 0.95, its description and license name timm's repository.
    The first generation keeps its own 0.875."""
    described = {}
    for weights in ("imagenet", "imagenet_mbzuai"):
        output = tmp_path / f"{weights}.tflite"
        argv = ["--model", "XS", "--weights", weights, "--input-size", "64", "64", "--output", str(output)]
        assert to_tflite.main([*argv, "--no-card"]) == 0
        described[weights] = read_metadata(output)
    assert "center-cropped at 0.95" in described["imagenet"]["description"]
    assert "timm dist_in1k: the current official generation" in described["imagenet"]["description"]
    assert described["imagenet"]["license"].endswith("Weights: apache-2.0 (timm/swiftformer_xs.dist_in1k).")
    assert "center-cropped at 0.875" in described["imagenet_mbzuai"]["description"]
    assert "(MBZUAI/swiftformer-xs)" in described["imagenet_mbzuai"]["license"]


def test_a_fine_tuned_keras_hub_classifier_converts_from_its_keras_file_or_preset(tmp_path, capsys):
    """A SwiftFormerImageClassifier trained with fit(), saved as KerasHub saves it (a `.keras` file, a
    preset folder), converts as it is: flattened first, its crop kept, the file's outputs its own."""
    import keras_hub

    from conftest import tiny_model
    from swiftformer_keras.lite.predictor import tflite_runner
    from swiftformer_keras.presets.flat_models import classifier_from_model

    classifier = classifier_from_model(tiny_model(classes=3), crop_pct=0.95)
    classifier.compile(optimizer=keras.optimizers.SGD(0.01), run_eagerly=True)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (6, 80, 96, 3)).astype("uint8")
    classifier.fit(pixels, np.arange(6) % 3, batch_size=3, epochs=1, verbose=0)
    classifier.save(tmp_path / "tuned.keras")
    classifier.save_to_preset(str(tmp_path / "tuned_preset"))

    images = rng.standard_normal((4, 64, 64, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(classifier(images, training=False)))
    for source in (tmp_path / "tuned.keras", tmp_path / "tuned_preset"):
        output = tmp_path / f"{source.name}.tflite"
        assert to_tflite.main(["--keras-model", str(source), "--output", str(output)]) == 0
        found = tflite_runner(str(output))(images)
        np.testing.assert_allclose(found, expected, atol=1e-5)
        report = json.loads(output.with_suffix(".json").read_text())
        assert report["crop_pct"] == 0.95 and report["model"] == f"{source.name.removesuffix('.keras')}.keras"
    assert isinstance(keras_hub.models.ImageClassifier.from_preset(str(tmp_path / "tuned_preset")), type(classifier))
    inside = tmp_path / "tuned_preset" / "x.tflite"
    assert to_tflite.main(["--keras-model", str(tmp_path / "tuned_preset"), "--output", str(inside)]) == 2
    assert "lies inside the input folder --keras-model" in capsys.readouterr().err
