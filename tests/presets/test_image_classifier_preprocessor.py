"""SwiftFormerImageClassifierPreprocessor: images through the converter, labels through untouched, presets."""

import json

import keras_hub
import numpy as np
import tensorflow as tf

from conftest import TINY
from swiftformer_keras.presets.backbone import SwiftFormerBackbone
from swiftformer_keras.presets.image_classifier_preprocessor import SwiftFormerImageClassifierPreprocessor
from swiftformer_keras.presets.image_converter import SwiftFormerImageConverter, imagenet_image_converter

IMAGES = np.random.RandomState(0).randint(0, 256, (3, 90, 70, 3)).astype("uint8")
LABELS = np.array([2, 0, 1])


def test_images_go_through_the_converter_and_labels_through_untouched():
    converter = imagenet_image_converter((64, 64), crop_pct=0.95)
    preprocessor = SwiftFormerImageClassifierPreprocessor(converter)
    images, labels = preprocessor(IMAGES, LABELS)
    np.testing.assert_array_equal(np.asarray(images), np.asarray(converter(IMAGES)))
    np.testing.assert_array_equal(np.asarray(labels), LABELS)
    assert np.asarray(preprocessor(IMAGES)).shape == (3, 64, 64, 3)

    # The way KerasHub's fit() feeds it: mapped over a tf.data pipeline of (image, label) batches.
    dataset = tf.data.Dataset.from_tensor_slices((IMAGES, LABELS)).batch(3)
    mapped_images, mapped_labels = next(iter(dataset.map(preprocessor)))
    np.testing.assert_array_equal(mapped_labels.numpy(), LABELS)
    # In TensorFlow, Keras's resize neither rounds nor clips to uint8 (test_image_converter): compare like with like.
    converted = next(iter(dataset.map(lambda images, labels: converter(images))))
    np.testing.assert_array_equal(mapped_images.numpy(), converted.numpy())
    assert mapped_images.shape == (3, 64, 64, 3)


def test_get_config_round_trips_through_json():
    preprocessor = SwiftFormerImageClassifierPreprocessor(imagenet_image_converter((64, 64), crop_pct=0.9))
    written = json.loads(json.dumps(preprocessor.get_config()))
    again = SwiftFormerImageClassifierPreprocessor.from_config(written)
    assert isinstance(again.image_converter, SwiftFormerImageConverter)
    assert (again.image_converter.crop_pct, again.image_size) == (0.9, (64, 64))
    np.testing.assert_array_equal(np.asarray(again(IMAGES)), np.asarray(preprocessor(IMAGES)))


def test_keras_hubs_generic_loader_builds_it_from_a_preset(tmp_path):
    SwiftFormerBackbone(TINY).save_to_preset(tmp_path)
    SwiftFormerImageClassifierPreprocessor(imagenet_image_converter((64, 64), crop_pct=0.95)).save_to_preset(tmp_path)
    loaded = keras_hub.models.ImageClassifierPreprocessor.from_preset(str(tmp_path))
    assert type(loaded) is SwiftFormerImageClassifierPreprocessor
    assert (loaded.image_converter.crop_pct, loaded.image_size) == (0.95, (64, 64))
