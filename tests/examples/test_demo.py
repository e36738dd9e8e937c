"""examples/demo.py on a fresh machine: without ../shared it runs on the photos that
scikit-image and matplotlib ship, says so, and makes the int8 file; bad input is one line."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from examples import demo


def test_without_shared_photos_the_demo_uses_the_photos_its_dependencies_ship(tmp_path):
    photos = demo.load_photos(str(tmp_path), 128)  # a folder without labels.csv, as on a fresh machine

    assert len(photos.paths) == len(demo.BUNDLED_PHOTOS) == 14
    assert all(os.path.isfile(path) for path in photos.paths)
    assert photos.images.shape == (14, 224, 224, 3) and photos.images.dtype == np.uint8
    assert min(image.std() for image in photos.images) > 10  # photographs, not flat fills
    assert list(photos.classes[:6]) == [281, 967, 657, 665, 872, 652] and all(photos.classes[6:] == -1)
    assert photos.source.startswith("the 14 photos that scikit-image ") and " and matplotlib " in photos.source
    assert f"({tmp_path} has no labels.csv)" in photos.source
    assert len(demo.load_photos(str(tmp_path), 2).paths) == 2


def test_a_folder_with_labels_csv_is_used_first(tmp_path):
    (tmp_path / "images").mkdir()
    rows = ["class_index,wnid,name,file"]
    for index in range(3):
        pixels = np.random.default_rng(index).integers(0, 256, (40, 50, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "images" / f"{index}.png")
        rows.append(f"{index},n0000000{index},class {index},images/{index}.png")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")

    photos = demo.load_photos(str(tmp_path), 2)

    assert photos.images.shape == (2, 224, 224, 3)
    assert list(photos.classes) == [0, 1] and photos.captions == ["class 0", "class 1"]
    assert photos.source == f"2 of the 3 photos listed in {tmp_path / 'labels.csv'}"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--count", "0"], "argument --count: must be a whole number >= 2, got '0'; see --help"),
        (["--output", "x.h5"], "argument --output: must end in .tflite, got 'x.h5'; see --help"),
        (["--output", "/no/such/folder/x.tflite"], "the folder '/no/such/folder' does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message):
    result = subprocess.run(
        [sys.executable, "examples/demo.py", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("examples/demo.py: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr and result.stdout == ""


def test_the_int8_file_is_made_from_the_bundled_photos(tmp_path, capsys):
    from swiftformer_keras.lite import pipeline as conversion

    photos = demo.load_photos(str(tmp_path / "no-shared"), 128)
    output = str(tmp_path / "xs_int8.tflite")

    demo.int8_tflite(conversion, "XS", "random", photos, output)

    assert os.path.getsize(output) > 1e6
    assert os.path.isfile(tmp_path / "xs_int8.json") and os.path.isfile(tmp_path / "xs_int8.md")
    out = capsys.readouterr().out
    assert "SwiftFormer-XS int8 TFLite (random weights), calibrated on 7 photos: " in out
    assert "against Keras on 7 held-out photos: top-1 agreement " in out and f"wrote {output}" in out


def test_the_imagenet_step_prints_the_top_5_and_scores_the_photos_with_a_class(tmp_path, capsys):
    photos = demo.load_photos(str(tmp_path), 128)
    probabilities = np.full((14, 1000), 1e-4, np.float32)
    for row, label in enumerate(photos.classes[:6]):
        probabilities[row, label] = 0.5 if row < 3 else 0.2  # top-1 for three photos, second for three
        probabilities[row, 999] = 0.3

    class Model:
        def predict(self, pixels, **options):
            assert pixels.shape == (14, 224, 224, 3)
            return probabilities

    assert demo.imagenet_predictions(lambda variant, weights: Model(), "XS", photos) == "imagenet"
    out = capsys.readouterr().out
    assert "  a tabby cat [tabby]: tabby 0.50, toilet tissue 0.30, " in out
    assert "\n  astronaut Eileen Collins: " in out  # no ImageNet class of its own: none in brackets
    assert "top-1 50%, top-5 100% on the 6 of 14 photos with an ImageNet class" in out


def test_without_imagenet_weights_the_int8_file_gets_random_ones(tmp_path, capsys):
    def unreachable(variant, weights):
        raise OSError("Could not download the ImageNet weights")

    assert demo.imagenet_predictions(unreachable, "XS", demo.load_photos(str(tmp_path), 2)) == "random"
    assert "ImageNet weights not available here; the int8 file gets random weights" in capsys.readouterr().out
