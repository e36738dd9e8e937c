"""SwiftFormerImageConverter: the project's PIL evaluation transform, batched, unbatched and in tf.data."""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from swiftformer_keras.presets.image_converter import SwiftFormerImageConverter, imagenet_image_converter
from swiftformer_keras.utils.images import IMAGENET_STD, preprocess_input, resize_and_center_crop

# Half a pixel level in normalised units, the least for the channel of the largest std: Keras's
# resize rounds (and clips) uint8 images back to uint8 in eager code, not in a TensorFlow graph
# (tf.data). The smooth test images do not overshoot [0, 255], so rounding is all that differs.
HALF_A_LEVEL = 0.5 / (255 * min(IMAGENET_STD))


def smooth_image(seed, height=150, width=230):
    """A uint8 RGB image with a photograph's mix of gradients, flat regions and fine noise:
    interpolation methods then differ as on photographs, not as on white noise."""
    rng = np.random.RandomState(seed)
    rows, columns = np.mgrid[0:height, 0:width] / 40.0
    waves = np.stack(
        [np.sin(1.3 * columns + 0.7 * rows), np.cos(0.5 * columns - 1.1 * rows), np.sin(0.9 * columns) * np.cos(rows)],
        axis=-1,
    )
    patches = np.kron(rng.rand(height // 10 + 1, width // 10 + 1, 3), np.ones((10, 10, 1)))[:height, :width]
    image = 128 + 80 * waves + 40 * (patches - 0.5) + 4 * rng.randn(height, width, 3)
    return np.clip(image, 0, 255).astype(np.uint8)


def pil_reference(image, size, crop_pct):
    """The project's evaluation transform: PIL's bicubic resize and center crop, ImageNet normalisation."""
    return preprocess_input(resize_and_center_crop(Image.fromarray(image), size, crop_pct).astype("float32"))


@pytest.mark.parametrize("crop_pct, measured", [(0.95, 0.0388), (1.0, 0.0039)])
def test_the_output_is_the_projects_pil_evaluation_transform(crop_pct, measured):
    """Both take the same window of the image, each rounding it to whole pixels in its own way
    (PIL in the resized image, the converter in the source), and both resample it bicubically
    with antialiasing. The difference is then less than what moving the window by one source
    pixel does to the reference: measured 0.037-0.039 against 0.078-0.082 (crop 0.95) and
    0.0038-0.0039 against 0.0074-0.0078 (crop 1.0, where the window is the centred square and
    only PIL's and TensorFlow's bicubic kernels differ) on three seeds; in pixel levels, about
    2 and 0.2 on average."""
    image = smooth_image(seed=0)  # 150x230: not square
    converter = imagenet_image_converter((64, 64), crop_pct=crop_pct)
    ours = np.asarray(converter(image))
    expected = pil_reference(image, (64, 64), crop_pct)
    moved = pil_reference(np.ascontiguousarray(image[:, 2:]), (64, 64), crop_pct)  # the centre one pixel left
    difference, moved_difference = np.abs(ours - expected).mean(), np.abs(moved - expected).mean()
    print(f"crop_pct {crop_pct}: mean |converter - PIL| {difference:.4f}, one-pixel move {moved_difference:.4f}")
    assert ours.shape == (64, 64, 3) and ours.dtype == np.float32
    assert difference < moved_difference
    assert difference == pytest.approx(measured, abs=0.002)


def test_batched_unbatched_and_tf_data_inputs_agree():
    images = np.stack([smooth_image(seed=1), smooth_image(seed=2)])
    converter = imagenet_image_converter((64, 64), crop_pct=0.95)
    batched = np.asarray(converter(images))
    assert batched.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(np.asarray(converter(images[1])), batched[1])
    np.testing.assert_array_equal(np.asarray(converter([images[0], images[1]])), batched)  # a list: one batch
    different_sizes = converter([images[0], images[1][:100]])  # a list of sizes: each alone
    assert [tuple(image.shape) for image in different_sizes] == [(64, 64, 3), (64, 64, 3)]

    # In tf.data, KerasHub runs the converter in TensorFlow, where sides may be unknown until run time.
    unknown = tf.TensorSpec((None, None, 3), tf.uint8)
    dataset = tf.data.Dataset.from_generator(lambda: iter(images), output_signature=unknown)
    from_tf_data = np.stack([image.numpy() for image in dataset.map(converter)])
    np.testing.assert_allclose(from_tf_data, batched, rtol=0, atol=HALF_A_LEVEL)
    from_batches = next(iter(tf.data.Dataset.from_tensor_slices(images).batch(2).map(converter))).numpy()
    np.testing.assert_allclose(from_batches, batched, rtol=0, atol=HALF_A_LEVEL)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_the_crop_is_the_central_fraction_of_each_side(data_format):
    image = np.arange(10 * 20 * 3).reshape(10, 20, 3)
    if data_format == "channels_first":
        image = image.transpose(2, 0, 1)
    converter = SwiftFormerImageConverter(crop_pct=0.5, data_format=data_format)
    cropped = converter.central_crop(np.stack([image, image]))  # 10 -> 5 rows from 2, 20 -> 10 columns from 5
    expected = image[:, 2:7, 5:15] if data_format == "channels_first" else image[2:7, 5:15]
    np.testing.assert_array_equal(cropped[1], expected)
    assert SwiftFormerImageConverter(crop_pct=1.0).central_crop(image) is image


@pytest.mark.parametrize("crop_pct", [0, -0.5, 1.2, "0.9", True, None, float("nan")])
def test_a_bad_crop_pct_is_refused_in_one_line(crop_pct):
    with pytest.raises(ValueError) as error:
        SwiftFormerImageConverter(image_size=(64, 64), crop_pct=crop_pct)
    assert str(error.value) == f"crop_pct must be a number in (0, 1], got {crop_pct!r}."


def test_bounding_boxes_are_not_cropped_silently():
    converter = SwiftFormerImageConverter(image_size=(64, 64), crop_pct=0.9)
    boxes = {"images": np.zeros((1, 80, 80, 3)), "bounding_boxes": {"boxes": np.zeros((1, 1, 4)), "labels": [[0]]}}
    with pytest.raises(ValueError, match="does not crop bounding boxes: pass crop_pct=1.0"):
        converter(boxes)


def test_get_config_round_trips_through_json():
    converter = imagenet_image_converter((96, 64), crop_pct=0.9)
    config = converter.get_config()
    assert (config["crop_pct"], config["interpolation"], config["antialias"]) == (0.9, "bicubic", True)
    np.testing.assert_allclose(config["scale"], 1 / (255 * np.asarray(IMAGENET_STD)))
    written = json.loads(json.dumps(config))  # as a preset's image_converter.json holds it
    again = SwiftFormerImageConverter.from_config(written)
    assert json.loads(json.dumps(again.get_config())) == written
    image = smooth_image(seed=3)
    assert np.asarray(converter(image)).shape == (96, 64, 3)
    np.testing.assert_array_equal(np.asarray(again(image)), np.asarray(converter(image)))
