"""ConversionRequest: every value checked, and resolved once, before TensorFlow starts."""

import re

import pytest

from swiftformer_keras.lite.request import ConversionRequest, add_model_arguments
from swiftformer_keras.utils import cli


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"labels": "airplane"},
            "Labels file 'airplane' does not exist or cannot be read; give the path of a labels file",
        ),
        ({"labels": ["airplane", "auto\u2028mobile"]}, "name 2 'auto\\u2028mobile' holds the control character"),
        ({"labels": ["cat", ""]}, "name 2 is empty"),
        ({"min_runtime": 2.11}, "Unsupported --min-runtime '2.11'"),
        ({"input_type": "rgb"}, "Unknown input type 'rgb'"),
        ({"calib_dir": "photos"}, "--calib-dir applies to --int8 files only; drop it for --fp32"),
        ({"keras_model": "m.keras", "weights": "random"}, "--weights 'random' is for a --model variant"),
        ({"labels": ["a", "b"], "metadata": False}, "--labels are written into the file's metadata, and --no-metadata"),
        ({"mode": "int8", "calib_dir": "photos", "calib_random": True}, "give one of them"),
        ({"latency_runs": float("inf")}, "latency_runs must be a whole number >= 0, got inf"),
    ],
)
def test_python_arguments_are_checked_before_the_model_loads(tmp_path, monkeypatch, options, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.keras").write_bytes(b"x")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.png").write_bytes(b"x")
    options = {"variant": "XS", **options}
    with pytest.raises(ValueError, match=re.escape(message)):
        ConversionRequest("x.tflite", **options)


def test_python_arguments_take_the_forms_a_python_user_writes(tmp_path):
    request = ConversionRequest(
        str(tmp_path / "x.tflite"),
        labels=("cat", "dog"),
        min_runtime=2.16,
        mode="int8",
        calib_random=True,
        input_size=[64, 96],
    )
    assert request.label_names == ("cat", "dog") and request.min_runtime == "2.16"
    assert request.input_size == (64, 96) and request.report_path == str(tmp_path / "x.json")


def test_a_labels_file_is_read_by_lines_as_androids_clients_read_it(tmp_path, capsys):
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(b"cat\r\ndog\r\nbird\r\n")
    assert ConversionRequest(str(tmp_path / "x.tflite"), labels=str(crlf)).label_names == ("cat", "dog", "bird")
    separator = tmp_path / "separator.txt"
    separator.write_text("airplane\nauto\u2028mobile\nbird\n", encoding="utf-8")  # splitlines() would see 4
    with pytest.raises(ValueError, match=r"line 2 holds the control character '\\u2028'"):
        ConversionRequest(str(tmp_path / "x.tflite"), labels=str(separator))
    twice = tmp_path / "twice.txt"
    twice.write_text("cat\ndog\ncat\n")
    assert ConversionRequest(str(tmp_path / "x.tflite"), labels=str(twice)).label_names == ("cat", "dog", "cat")
    assert "name 3 'cat' repeats name 1" in capsys.readouterr().err


def test_the_comparison_tools_take_variants_or_one_keras_model(capsys):
    parser = cli.ArgumentParser(prog="bench")
    add_model_arguments(parser)
    assert vars(parser.parse_args([])) == {"variants": ["XS", "S"], "keras_model": None, "input_size": None}
    assert parser.parse_args(["--variants", "l1", "xs", "--input-size", "96", "128"]).variants == ["L1", "XS"]
    assert parser.parse_args(["--keras-model", "m.keras"]).keras_model == "m.keras"
    for argv, message in [
        (["--variants", "XL"], "argument --variants: invalid choice: 'XL'"),
        (["--variants", "S", "--keras-model", "m.keras"], "--keras-model: not allowed with argument --variants"),
        (["--input-size", "32", "64"], "argument --input-size: must be a whole number >= 64"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_the_crop_follows_the_weights_unless_given(tmp_path):
    """Published weights are converted and measured at the crop their top-1 was measured with, a
    weights file at the one it records; a --crop-pct given wins, and nothing known means ImageNet's."""
    from swiftformer_keras import SwiftFormer
    from swiftformer_keras.weights.keras_files import save_weights_atomically

    weights_file = str(tmp_path / "own.weights.h5")
    save_weights_atomically(SwiftFormer({"depths": (1, 1, 1, 1), "widths": (8, 8, 8, 8)}), weights_file, crop_pct=0.9)
    output = str(tmp_path / "x.tflite")
    crops = {
        weights: ConversionRequest(output, variant="XS", weights=weights).crop_pct
        for weights in (None, "imagenet", "imagenet_timm", "imagenet_mbzuai", "random", weights_file)
    }
    assert crops == {
        None: 0.95,
        "imagenet": 0.95,
        "imagenet_timm": 0.95,
        "imagenet_mbzuai": 0.875,
        "random": 0.875,
        weights_file: 0.9,
    }
    assert ConversionRequest(output, variant="XS", weights="imagenet_mbzuai", crop_pct=1.0).crop_pct == 1.0
    with pytest.raises(ValueError, match="'imagenet_v2' does not exist; give imagenet, imagenet_timm, imagenet_mbzuai"):
        ConversionRequest(output, variant="XS", weights="imagenet_v2")
