"""TFLite metadata: written by us, read back by us and by tflite-support's own reader; the model
unchanged (numbers, signature, aligned weights); bad labels refused."""

import json
import os
import subprocess

import keras
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

import swiftformer_keras
from conftest import ROOT
from swiftformer_keras.applications import SwiftFormer
from swiftformer_keras.lite import converter, metadata
from swiftformer_keras.lite.interpreter import make_interpreter

NAMES = ("airplane", "automobile", "frog", "ship")
PIXELS = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))


def _info(**changes):
    fields = dict(
        name="tiny",
        description="A tiny classifier.",
        version="0.1.0",
        author="us",
        license="Apache-2.0",
        input_mean=PIXELS[0],
        input_std=PIXELS[1],
        labels=NAMES,
    )
    return metadata.ModelInfo(**{**fields, **changes})


@pytest.fixture(scope="module")
def plain():
    """The tiny conftest model (32x32x3 -> 4) converted again without metadata."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x)))
    return converter.convert(model)


def _outputs(content, image):
    interpreter = make_interpreter(model_content=content, num_threads=1)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_metadata_reads_back_and_leaves_the_model_as_it_was(plain):
    described = metadata.with_metadata(plain, _info())
    read = metadata.read_metadata(described)
    assert (read["name"], read["version"], read["author"], read["license"]) == ("tiny", "0.1.0", "us", "Apache-2.0")
    assert read["min_parser_version"] == "1.0.0" and read["associated_files"] == ["labels.txt"]
    assert read["input"]["content"] == "image" and read["input"]["name"] == "image"
    np.testing.assert_allclose(read["input"]["normalization"]["mean"], PIXELS[0], rtol=1e-6)
    np.testing.assert_allclose(read["input"]["normalization"]["std"], PIXELS[1], rtol=1e-6)
    np.testing.assert_allclose(read["input"]["stats"]["min"], [-m / s for m, s in zip(*PIXELS, strict=True)], rtol=1e-5)
    assert read["output"]["name"] == "probabilities" and read["output"]["labels"] == list(NAMES)
    assert metadata.read_metadata(plain) is None

    # Same numbers, same signature, other metadata entries kept, weights 16-byte aligned.
    image = np.random.default_rng(0).normal(size=(1, 32, 32, 3)).astype(np.float32)
    assert np.array_equal(_outputs(plain, image), _outputs(described, image))
    before = make_interpreter(model_content=plain, allocate=False).get_signature_list()
    assert make_interpreter(model_content=described, allocate=False).get_signature_list() == before
    assert before == {"serving_default": {"inputs": ["image"], "outputs": ["logits"]}}
    model = schema.Model.GetRootAs(described, 0)
    names = [model.Metadata(i).Name().decode() for i in range(model.MetadataLength())]
    assert "min_runtime_version" in names and names[-1] == "TFLITE_METADATA"
    offsets = []
    for i in range(model.BuffersLength()):
        buffer = model.Buffers(i)
        if buffer.DataLength() > 64:
            offsets.append(buffer._tab.Vector(buffer._tab.Offset(4)) % 16)
    assert offsets and set(offsets) == {0}

    # Writing again replaces the metadata rather than adding a second one.
    again = metadata.with_metadata(described[: len(described)], _info(name="renamed", labels=None))
    assert metadata.read_metadata(again)["name"] == "renamed"


def test_tflite_supports_own_reader_sees_the_same_metadata(plain, tmp_path, tflite_runtime_python):
    """The independent reader: tflite-support's MetadataDisplayer, in .venv-tflite-runtime."""
    path = tmp_path / "tiny.tflite"
    path.write_bytes(metadata.with_metadata(plain, _info()))
    program = (
        "import json, sys\n"
        "from tflite_support import metadata\n"
        "d = metadata.MetadataDisplayer.with_model_file(sys.argv[1])\n"
        "print(json.dumps({'json': json.loads(d.get_metadata_json()), 'files': d.get_packed_associated_file_list(),"
        " 'labels': d.get_associated_file_buffer('labels.txt').decode()}))\n"
    )
    done = subprocess.run([tflite_runtime_python, "-c", program, str(path)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    model = seen["json"]
    assert model["name"] == "tiny" and model["license"] == "Apache-2.0" and model["min_parser_version"] == "1.0.0"
    tensor = model["subgraph_metadata"][0]["input_tensor_metadata"][0]
    assert tensor["content"]["content_properties_type"] == "ImageProperties"
    assert tensor["content"]["content_properties"]["color_space"] == "RGB"
    options = tensor["process_units"][0]["options"]
    assert tensor["process_units"][0]["options_type"] == "NormalizationOptions"
    np.testing.assert_allclose(options["mean"], PIXELS[0], rtol=1e-6)
    output = model["subgraph_metadata"][0]["output_tensor_metadata"][0]
    assert output["associated_files"] == [
        {"name": "labels.txt", "description": "Class names, one per line.", "type": "TENSOR_AXIS_LABELS"}
    ]
    assert seen["files"] == ["labels.txt"]
    assert seen["labels"].splitlines() == list(NAMES)


def test_labels_that_do_not_fit_are_refused(plain, tmp_path):
    with pytest.raises(ValueError, match="3 labels for a model with 4 outputs"):
        metadata.with_metadata(plain, _info(labels=NAMES[:3]))
    with pytest.raises(ValueError, match=r"name 2 'b\\nc' holds the control character"):
        _info(labels=("a", "b\nc", "d", "e"))
    with pytest.raises(ValueError, match="no classes to label"):
        _info(output_kind="features")
    with pytest.raises(ValueError, match="Not a .tflite model"):
        metadata.with_metadata(b"not a model at all", _info())

    short = tmp_path / "short.txt"
    short.write_text("airplane\nautomobile\nfrog\n")
    with pytest.raises(ValueError, match=r"has 3 names; the model has 4 classes"):
        metadata.read_labels_file(str(short), 4)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("avion\nvoiture\ngrenouille\nnavire\u00e9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"is not UTF-8 text \(byte \d+, line 4\); save it as UTF-8"):
        metadata.read_labels_file(str(latin), 4)
    gap = tmp_path / "gap.txt"
    gap.write_text("airplane\n\nfrog\nship\n")
    with pytest.raises(ValueError, match="empty line 2"):
        metadata.read_labels_file(str(gap), 4)
    with pytest.raises(ValueError, match="cannot be read"):
        metadata.read_labels_file(str(tmp_path / "absent.txt"))
    good = tmp_path / "good.txt"
    good.write_text("\ufeffairplane\nautomobile\nfrog\nship\n\n", encoding="utf-8")  # BOM and a blank tail
    assert metadata.read_labels_file(str(good), 4) == list(NAMES)


def test_a_backbone_gets_metadata_without_labels(tmp_path):
    backbone = SwiftFormer("XS", include_top=False, pooling="avg", input_shape=(64, 64, 3))
    path = converter.export_tflite(backbone, tmp_path / "backbone.tflite")
    read = metadata.read_metadata(path)
    assert read["output"]["name"] == "features" and read["output"]["labels"] is None
    assert read["associated_files"] == [] and read["output"]["content"] == "features"
    assert make_interpreter(model_path=str(path), allocate=False).get_signature_list() == {
        "serving_default": {"inputs": ["image"], "outputs": ["features"]}
    }
    assert "image feature extractor (no classifier head), fp32 TFLite" in read["description"]
    with pytest.raises(ValueError, match="no classifier head"):
        converter.export_tflite(backbone, tmp_path / "labelled.tflite", labels=NAMES)
    assert not os.path.exists(tmp_path / "labelled.tflite")


def test_model_info_states_what_each_input_type_takes_and_fills_the_labels():
    normalized = metadata.model_info("tiny", "logits", 1000, "int8", "normalized", (64, 96))
    assert (normalized.input_mean, normalized.input_std) == metadata.IMAGENET_PIXEL_NORMALIZATION
    assert normalized.labels == metadata.imagenet_labels() and len(normalized.labels) == 1000  # "auto", 1000 classes
    assert normalized.description.startswith(
        "tiny image classifier, int8 TFLite with builtin ops only. Takes RGB images normalised per channel"
    )
    assert "64x96" in normalized.description and normalized.version == swiftformer_keras.__version__
    pixels = metadata.model_info(
        "tiny",
        "probabilities",
        4,
        "fp32",
        "float32",
        (64, 64),
        labels=NAMES,
        source="random weights",
        crop_pct=0.875,
        license="MIT",
    )
    assert (pixels.input_mean, pixels.input_std) == metadata.PIXELS_AS_THEY_ARE and pixels.labels == NAMES
    assert "tiny image classifier (random weights), fp32" in pixels.description
    assert "64x64, center-cropped at 0.875." in pixels.description and pixels.license == "MIT"
    camera = metadata.model_info("tiny", "logits", 4, "fp32", "uint8", (64, 64))
    assert camera.input_mean is None and camera.labels is None  # "auto": 4 classes have no default names
    # What is written is what `input_type_of` reads back.
    for info, input_type in ((normalized, "normalized"), (pixels, "float32")):
        described = {"input": {"normalization": {"mean": list(info.input_mean), "std": list(info.input_std)}}}
        assert metadata.input_type_of({"dtype": np.float32, "quantization": (0.0, 0)}, described) == input_type


def test_model_info_refuses_labels_that_do_not_fit():
    with pytest.raises(ValueError, match="3 labels for model 'tiny' with 4 classes"):
        metadata.model_info("tiny", "logits", 4, "fp32", "float32", (64, 64), labels=NAMES[:3])
    with pytest.raises(ValueError, match="returns features .* no classes to label"):
        metadata.model_info("tiny", "features", 48, "fp32", "float32", (64, 64), labels=NAMES)
    with pytest.raises(ValueError, match="takes 1-channel images, and its metadata would state a 3-channel"):
        metadata.model_info("tiny", "logits", 4, "fp32", "normalized", (64, 64), channels=1)
    with pytest.raises(ValueError, match="Unknown input type 'rgb'"):
        metadata.model_info("tiny", "logits", 4, "fp32", "rgb", (64, 64))


def test_a_model_entry_is_set_once_and_survives_the_metadata(plain):
    entries = metadata.model_entries(plain)
    assert "reduced_precision_support" not in entries and entries["min_runtime_version"].startswith(b"1.")
    fp16 = metadata.with_entry(plain, metadata.REDUCED_PRECISION_NAME, metadata.FP16_ARITHMETIC)
    again = metadata.with_entry(fp16, metadata.REDUCED_PRECISION_NAME, b"fp16accfp32")  # replaced, not added
    described = metadata.with_metadata(again, _info())
    found = metadata.model_entries(described)
    assert found["reduced_precision_support"] == b"fp16accfp32" and list(found).count("reduced_precision_support") == 1
    assert found["min_runtime_version"] == entries["min_runtime_version"] and "TFLITE_METADATA" in found
    image = np.random.default_rng(1).normal(size=(1, 32, 32, 3)).astype(np.float32)
    assert np.array_equal(_outputs(plain, image), _outputs(fp16, image))  # x86 without AVX512-FP16: fp32 arithmetic


def test_an_integer_input_whose_metadata_says_pixels_takes_quantized_pixels():
    pixels = {"input": {"normalization": {"mean": [0.0], "std": [1.0]}}}
    imagenet = {"input": {"normalization": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}}
    uint8 = {"dtype": np.uint8, "quantization": (1.0, 0)}  # --io uint8 with the first convolution in int8
    int8 = {"dtype": np.int8, "quantization": (1.0, -128)}
    assert metadata.input_type_of(uint8, pixels) == "quantized_pixels"
    assert metadata.input_type_of(int8, pixels) == "quantized_pixels"
    assert metadata.input_type_of(int8, imagenet) == "quantized"
    assert metadata.input_type_of(uint8, None) == "quantized"  # no metadata: nothing says pixels
    assert metadata.input_type_of({"dtype": np.uint8, "quantization": (0.0, 0)}, None) == "uint8"
    assert metadata.input_type_of({"dtype": np.float32, "quantization": (0.0, 0)}, pixels) == "float32"
