"""Our files in Android's own image clients: the Task Library and MediaPipe Tasks, each in its
own environment made by `make test`, on real photos and on the CIFAR-10 model's test images."""

import glob
import os

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED_DATA
from swiftformer_keras import conversion, export
from swiftformer_keras.android_clients import classify_in_client
from swiftformer_keras.imagenet_utils import open_rgb, preprocess_input, resize_and_center_crop

PHOTOS = sorted(glob.glob(os.path.join(SHARED_DATA, "imagenet-samples", "images", "*")))[:12]
NEAR_TIE = 1e-3  # top-2 probabilities closer than this may swap between runtimes


def _clients(tflite_runtime_python, mediapipe_python):
    return {"task-library": tflite_runtime_python, "mediapipe": mediapipe_python}


def classify(python, client, model, images, size, crop_pct, classes):
    """The client's answer (`android_clients`' JSON) in its own environment."""
    return classify_in_client(client, model, images, size, crop_pct, classes, python=python)


def keras_probabilities(model, images, size, crop_pct):
    crops = []
    for path in images:
        with open_rgb(path) as image:
            crops.append(np.asarray(resize_and_center_crop(image, size, crop_pct)))
    return model.predict(preprocess_input(np.stack(crops)), verbose=0)


def _check_matches_keras(answer, reference, labels):
    """Same top-1 as Keras (but near ties), probabilities in [0, 1] summing to 1, the metadata's names."""
    scores = np.array([result["scores"] for result in answer["results"]])
    assert scores.shape == reference.shape
    assert scores.min() >= 0 and scores.max() <= 1
    np.testing.assert_allclose(scores.sum(1), 1, atol=1e-3)
    ordered = np.sort(reference, 1)
    decided = ordered[:, -1] - ordered[:, -2] > NEAR_TIE
    assert decided.sum() >= len(reference) - 1
    assert (scores.argmax(1) == reference.argmax(1))[decided].all()
    assert [result["top1_name"] for result in answer["results"]] == [labels[result["top1"]] for result in answer["results"]]
    return scores


@pytest.fixture(scope="module")
def imagenet_files(tmp_path_factory):
    """XS (random weights with a trained model's logit spread) at 224: the default fp32 and int8
    files (float pixels in), a uint8-input fp32 file, and a normalised-input fp32 file."""
    folder = tmp_path_factory.mktemp("clients")
    photos = os.path.join(SHARED_DATA, "imagenet-samples", "images")
    files = {}
    for key, options in {
        "fp32": {},
        "int8": {"mode": "int8", "calib_dir": photos, "num_calib": 32},
        "uint8": {"input_type": "uint8"},
        "normalized": {"input_type": "normalized"},
    }.items():
        files[key] = folder / f"xs_{key}.tflite"
        conversion.convert_swiftformer(files[key], variant="XS", weights="random", card=False, **options)
    model, _ = conversion.load_keras_model("XS", weights="random")
    return files, export.with_classifier_activation(model, "softmax")


@pytest.mark.parametrize("client", ["task-library", "mediapipe"])
def test_the_default_files_classify_real_photos_in_the_client_as_keras_does(
        client, imagenet_files, tflite_runtime_python, mediapipe_python):
    files, model = imagenet_files
    python = _clients(tflite_runtime_python, mediapipe_python)[client]
    reference = keras_probabilities(model, PHOTOS, (224, 224), 0.875)
    labels = export.imagenet_labels()

    fp32 = _check_matches_keras(classify(python, client, files["fp32"], PHOTOS, (224, 224), 0.875, 1000), reference, labels)
    assert np.abs(fp32 - reference).max() < 1e-4

    # uint8 camera pixels in: the same classes and (as the pixels are the same) the same scores.
    uint8 = _check_matches_keras(classify(python, client, files["uint8"], PHOTOS, (224, 224), 0.875, 1000), reference, labels)
    assert (uint8.argmax(1) == fp32.argmax(1)).all()
    assert np.abs(uint8 - fp32).max() < 1e-4

    answer = classify(python, client, files["int8"], PHOTOS, (224, 224), 0.875, 1000)
    int8 = np.array([result["scores"] for result in answer["results"]])
    np.testing.assert_allclose(int8.sum(1), 1, atol=1e-3)
    agreement = float(np.mean(int8.argmax(1) == reference.argmax(1)))
    print(f"{answer['client']} {answer['version']}: int8 top-1 agreement with Keras {agreement:.0%} "
          f"on {len(PHOTOS)} photos; fp32 max diff {np.abs(fp32 - reference).max():.2e}")
    assert agreement >= 0.5  # random weights: the trained model's figure is in the CIFAR-10 test
    # The same file in our own runner (LiteRT) names the same classes: the client preprocesses as we do.
    ours = export.tflite_runner(files["int8"])(preprocess_input(np.stack([
        np.asarray(resize_and_center_crop(Image.open(p).convert("RGB"), (224, 224), 0.875)) for p in PHOTOS])))
    ordered = np.sort(ours, 1)
    decided = ordered[:, -1] - ordered[:, -2] > 2 / 256
    assert (int8.argmax(1) == ours.argmax(1))[decided].all()


def test_a_normalized_input_file_runs_in_the_task_library_and_mediapipe_refuses_it(
        imagenet_files, tflite_runtime_python, mediapipe_python):
    """Why the default file takes pixels: MediaPipe reads one mean and std, not ImageNet's three."""
    files, model = imagenet_files
    reference = keras_probabilities(model, PHOTOS[:4], (224, 224), 0.875)
    answer = classify(tflite_runtime_python, "task-library", files["normalized"], PHOTOS[:4], (224, 224), 0.875, 1000)
    scores = _check_matches_keras(answer, reference, export.imagenet_labels())
    assert np.abs(scores - reference).max() < 1e-4
    refused = classify(mediapipe_python, "mediapipe", files["normalized"], PHOTOS[:4], (224, 224), 0.875, 1000)
    assert "Per-channel image normalization is not available" in refused["error"]


@pytest.fixture(scope="module")
def cifar_files(cifar_tflite):
    """The CIFAR-10 reference model (conftest's 4-class XS at 64) as fp32 and int8 files, labelled
    with the class names its training recorded, and the Keras model with their softmax."""
    model, _ = conversion.load_keras_model(keras_model=cifar_tflite["keras"])
    files = {mode: cifar_tflite[mode][0] for mode in ("fp32", "int8")}
    return files, export.with_classifier_activation(model, "softmax")


@pytest.mark.parametrize("client", ["task-library", "mediapipe"])
def test_the_cifar_model_classifies_its_test_images_in_the_client_with_its_class_names(
        client, cifar_files, small_cifar, tflite_runtime_python, mediapipe_python):
    files, model = cifar_files
    python = _clients(tflite_runtime_python, mediapipe_python)[client]
    test_dir = os.path.join(small_cifar[0], "test")
    classes = sorted(os.listdir(test_dir))
    images = sorted(glob.glob(os.path.join(test_dir, "*", "*")))[::4]  # 40 of the 160
    truth = np.array([classes.index(os.path.basename(os.path.dirname(p))) for p in images])
    reference = keras_probabilities(model, images, (64, 64), 1.0)  # the crop the model records

    fp32 = _check_matches_keras(classify(python, client, files["fp32"], images, (64, 64), 1.0, 4), reference, classes)
    answer = classify(python, client, files["int8"], images, (64, 64), 1.0, 4)
    int8 = np.array([result["scores"] for result in answer["results"]])
    agreement = float(np.mean(int8.argmax(1) == reference.argmax(1)))
    print(f"{answer['client']}: CIFAR-10 model, {len(images)} test images: Keras top-1 "
          f"{np.mean(reference.argmax(1) == truth):.1%}, fp32 file {np.mean(fp32.argmax(1) == truth):.1%}, "
          f"int8 file {np.mean(int8.argmax(1) == truth):.1%}, int8 agreement with Keras {agreement:.1%}")
    assert set(result["top1_name"] for result in answer["results"]) <= set(classes)
    assert agreement >= 0.85
