"""preprocess_input, decode_predictions and the evaluation transform."""

import csv
import io
import os

import numpy as np
import pytest
from PIL import Image

from conftest import IMAGENET_SAMPLES
from swiftformer_keras.utils import images as imagenet_utils
from swiftformer_keras.utils.images import decode_predictions, load_image, preprocess_input


def test_preprocess_input_normalises_like_the_official_transform():
    pixels = np.array([[[0, 128, 255]]], dtype=np.uint8)
    expected = [(0 / 255 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (255 / 255 - 0.406) / 0.225]
    np.testing.assert_allclose(preprocess_input(pixels)[0, 0], expected, rtol=1e-6)
    np.testing.assert_array_equal(preprocess_input(pixels), preprocess_input(pixels.astype("float64")))
    assert preprocess_input(pixels).dtype == np.float32


def test_preprocess_input_refuses_channels_first():
    with pytest.raises(
        ValueError, match=r"3 channels last \(\(\.\.\., height, width, 3\)\), got float64 of shape \(1, 3, 4, 4\)"
    ):
        preprocess_input(np.zeros((1, 3, 4, 4)))
    with pytest.raises(ValueError, match="channels-last only"):
        preprocess_input(np.zeros((1, 4, 4, 3)), data_format="channels_first")


@pytest.mark.parametrize("bad", ["abc", 3.0, [[1, 2, 3]], np.array([["a", "b", "c"]] * 4).reshape(2, 2, 3)])
def test_preprocess_input_refuses_what_is_not_an_image_batch_in_one_line(bad):
    with pytest.raises(ValueError, match="expects RGB images as numbers with 3 channels last"):
        preprocess_input(bad)


def test_decode_predictions_uses_the_shipped_class_index():
    index = imagenet_utils.imagenet_class_index()
    assert len(index) == 1000 and index[0] == ("n01440764", "tench")
    assert len({wnid for wnid, _ in index.values()}) == 1000
    assert [wnid for wnid, _ in index.values()] == sorted(wnid for wnid, _ in index.values())
    preds = np.zeros((2, 1000), "float32")
    preds[0, [1, 2, 3]] = [0.5, 0.3, 0.2]
    preds[1, 999] = 1.0
    decoded = decode_predictions(preds, top=3)
    assert decoded[0] == [
        ("n01443537", "goldfish", 0.5),
        ("n01484850", "great white shark", pytest.approx(0.3)),
        ("n01491361", "tiger shark", pytest.approx(0.2)),
    ]
    assert decoded[1][0][:2] == ("n15075141", "toilet tissue")
    with pytest.raises(ValueError, match=r"\(samples, 1000\), got \(2, 10\)"):
        decode_predictions(np.zeros((2, 10)))


@pytest.mark.skipif(not os.path.isdir(IMAGENET_SAMPLES), reason="../shared/data is absent")
def test_class_index_agrees_with_the_sample_labels():
    with open(os.path.join(IMAGENET_SAMPLES, "labels.csv")) as file:
        rows = list(csv.DictReader(file))
    index = imagenet_utils.imagenet_class_index()
    assert all(index[int(r["class_index"])][0] == r["wnid"] for r in rows)


def test_load_image_resizes_the_shorter_side_and_center_crops(tmp_path):
    rng = np.random.RandomState(0)
    pixels = rng.randint(0, 256, (300, 400, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    got = load_image(path)
    assert got.shape == (224, 224, 3) and got.dtype == np.uint8
    # Shorter side 300 -> 256 (bicubic), so 400 -> 341; crop 224 from the centre.
    resized = np.asarray(Image.fromarray(pixels).resize((341, 256), Image.BICUBIC))
    np.testing.assert_array_equal(got, resized[16:240, 58:282])
    assert load_image(path, size=(192, 256)).shape == (192, 256, 3)


@pytest.mark.skipif(not os.path.isdir(IMAGENET_SAMPLES), reason="../shared/data is absent")
def test_load_image_on_a_real_photo():
    image = load_image(os.path.join(IMAGENET_SAMPLES, "images", "n01440764_tench.JPEG"))
    assert image.shape == (224, 224, 3) and 20 < image.mean() < 235


def _gradient_16_bit_png(path):
    from PIL import Image

    values = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    Image.fromarray(values).save(path)
    return values


def _truncated_jpeg(path, size=(96, 96)):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.RandomState(0).randint(0, 255, (*size, 3), np.uint8)).save(buffer, "JPEG")
    with open(path, "wb") as file:
        file.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])


def test_16_bit_png_is_scaled_to_8_bits_not_read_as_white(tmp_path):
    path = tmp_path / "gray16.png"
    values = _gradient_16_bit_png(path)
    rgb = np.asarray(imagenet_utils.open_rgb(path))
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[..., 0], np.round(values / 257.0).astype(np.uint8))
    # Pillow's own conversion clips 16-bit values: the image would be almost all white.
    assert rgb.mean() < 140


def test_truncated_jpeg_fails_when_opened_naming_the_file(tmp_path):
    from PIL import Image

    path = tmp_path / "half.jpg"
    _truncated_jpeg(path)
    with Image.open(path) as image:
        image.verify()  # the header check passes: only a full decode finds it
    with pytest.raises(imagenet_utils.UnreadableImageError, match="half.jpg"):
        imagenet_utils.load_image(path, 64)


def test_decompression_bomb_and_non_images_are_unreadable_errors(tmp_path, monkeypatch):
    from PIL import Image

    path = tmp_path / "big.png"
    Image.new("RGB", (300, 300)).save(path)
    monkeypatch.setattr(imagenet_utils, "MAX_IMAGE_PIXELS", 200 * 200)
    with pytest.raises(imagenet_utils.UnreadableImageError, match=r"big.png: 300x300 pixels"):
        imagenet_utils.open_rgb(path)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(imagenet_utils.UnreadableImageError, match="notes.png"):
        imagenet_utils.open_rgb(text)
    assert issubclass(imagenet_utils.UnreadableImageError, ValueError)


def test_one_transform_for_load_image_calibration_and_the_data_pipeline(tmp_path):
    from swiftformer_keras.lite import calibration
    from swiftformer_keras.training import dataset as data
    from swiftformer_keras.training.image_folder import load_image_folder

    for split in ("train", "test"):
        os.makedirs(tmp_path / split / "a")
        array = np.random.default_rng(0).integers(0, 255, (90, 130, 3), dtype=np.uint8)
        Image.fromarray(array).save(tmp_path / split / "a" / "x.png")
    path = str(tmp_path / "test" / "a" / "x.png")
    for crop_pct in (0.875, 0.95, 1.0):
        reference = preprocess_input(load_image(path, 64, crop_pct=crop_pct))
        calibrated, _, _ = calibration.load_images([path], (64, 64), crop_pct=crop_pct)
        folder = load_image_folder(tmp_path, "test")
        batch, _ = data.ImageFolderDataset(folder, 64, 1, crop_pct=crop_pct)[0]
        np.testing.assert_array_equal(calibrated[0], reference)
        np.testing.assert_array_equal(batch[0], reference)
    # The default is the ImageNet crop for every reader: 256 for 224.
    assert imagenet_utils.IMAGENET_CROP_PCT == 224 / 256
    np.testing.assert_array_equal(load_image(path, 64), load_image(path, 64, resize=round(64 / 0.875)))
    assert calibration.IMAGE_SUFFIXES is imagenet_utils.IMAGE_SUFFIXES


def test_the_crop_a_model_was_trained_for_is_recorded_and_read_back(tmp_path):
    import h5py
    import keras

    keras_file = tmp_path / "m.keras"
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(keras_file)
    weights_file = tmp_path / "m.weights.h5"
    with h5py.File(weights_file, "w"):
        pass
    for path in (keras_file, weights_file):
        assert imagenet_utils.recorded_crop_pct(path) is None
        assert imagenet_utils.resolve_crop_pct(None, path) == imagenet_utils.IMAGENET_CROP_PCT
        imagenet_utils.record_crop_pct(path, 1.0)
        assert imagenet_utils.recorded_crop_pct(path) == 1.0
        assert imagenet_utils.resolve_crop_pct(None, path) == 1.0
        assert imagenet_utils.resolve_crop_pct(0.9, path) == 0.9  # the user's value wins
    assert keras.saving.load_model(keras_file).count_params() == 3  # Keras still reads the file
    assert imagenet_utils.recorded_crop_pct(tmp_path / "absent.keras") is None
    with pytest.raises(ValueError, match="crop_pct must be a number in"):
        imagenet_utils.resize_and_center_crop(Image.new("RGB", (8, 8)), 4, 0)
