"""Our files in Android's own image clients: the Task Library and MediaPipe Tasks, each in its
own environment made by `make test`, on real photos and on the CIFAR-10 model's test images."""

import glob
import os

import numpy as np
import pytest

from conftest import SHARED_DATA
from swiftformer_keras.lite import pipeline
from swiftformer_keras.lite.android_clients import center_crops, classify_in_client
from swiftformer_keras.lite.metadata import imagenet_labels
from swiftformer_keras.lite.predictor import tflite_runner
from swiftformer_keras.lite.report import inspect_tflite
from swiftformer_keras.lite.rewrites import with_classifier_activation
from swiftformer_keras.utils.images import preprocess_input

PHOTOS = sorted(glob.glob(os.path.join(SHARED_DATA, "imagenet-samples", "images", "*")))[:12]
NEAR_TIE = 1e-3  # top-2 probabilities closer than this may swap between runtimes


def _clients(tflite_runtime_python, mediapipe_python):
    return {"task-library": tflite_runtime_python, "mediapipe": mediapipe_python}


def classify(python, client, model, images, size, crop_pct, classes):
    """The client's answer (`android_clients`' JSON) in its own environment, after checking that
    the report (and so the model card) says rightly whether the client takes the file."""
    answer = classify_in_client(client, model, images, size, crop_pct, classes, python=python)
    claim = inspect_tflite(model)["clients_refuse"][client]
    assert (claim is None) == ("error" not in answer), (model, client, claim, answer.get("error"))
    return answer


def keras_probabilities(model, images, size, crop_pct):
    return model.predict(preprocess_input(np.stack(center_crops(images, size, crop_pct))), verbose=0)


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
    results = answer["results"]
    assert [result["top1_name"] for result in results] == [labels[result["top1"]] for result in results]
    return scores


@pytest.fixture(scope="module")
def imagenet_files(tmp_path_factory):
    """XS (random weights with a trained model's logit spread): the default fp32 file (float
    pixels in) at 224, and a uint8-input and a normalised-input file at 64 (MediaPipe's refusal
    does not depend on the size). int8 in the clients: the CIFAR-10 model's file below."""
    folder = tmp_path_factory.mktemp("clients")
    files = {}
    for key, options in {
        "fp32": {},
        "uint8": {"input_type": "uint8", "input_size": (64, 64)},
        "normalized": {"input_type": "normalized", "input_size": (64, 64)},
        "no_metadata": {"metadata": False, "input_size": (64, 64)},
    }.items():
        files[key] = folder / f"xs_{key}.tflite"
        pipeline.convert_swiftformer(files[key], variant="XS", weights="random", card=False, **options)
    model, _ = pipeline.load_keras_model("XS", weights="random")
    small, _ = pipeline.load_keras_model("XS", weights="random", input_size=(64, 64))
    return files, with_classifier_activation(model, "softmax"), with_classifier_activation(small, "softmax")


@pytest.mark.parametrize("client", ["task-library", "mediapipe"])
@pytest.mark.parametrize("key, size", [("fp32", (224, 224)), ("uint8", (64, 64))])
def test_the_pixel_input_files_classify_real_photos_in_the_client_as_keras_does(
    client, key, size, imagenet_files, tflite_runtime_python, mediapipe_python
):
    """The default file (float32 pixels) and camera bytes in (uint8): the same classes as Keras and,
    the pixels being the same, the same scores."""
    files, model, small = imagenet_files
    python = _clients(tflite_runtime_python, mediapipe_python)[client]
    reference = keras_probabilities(model if key == "fp32" else small, PHOTOS, size, 0.875)
    answer = classify(python, client, files[key], PHOTOS, size, 0.875, 1000)
    scores = _check_matches_keras(answer, reference, imagenet_labels())
    print(
        f"{answer['client']} {answer['version']}: {key} file on {len(PHOTOS)} photos, max probability diff "
        f"{np.abs(scores - reference).max():.2e} from Keras"
    )
    assert np.abs(scores - reference).max() < 1e-4


def test_a_normalized_input_file_runs_in_the_task_library_and_mediapipe_refuses_it(
    imagenet_files, tflite_runtime_python, mediapipe_python
):
    """Why the default file takes pixels: MediaPipe reads one mean and std, not ImageNet's three."""
    files, _, small = imagenet_files
    reference = keras_probabilities(small, PHOTOS[:4], (64, 64), 0.875)
    answer = classify(tflite_runtime_python, "task-library", files["normalized"], PHOTOS[:4], (64, 64), 0.875, 1000)
    scores = _check_matches_keras(answer, reference, imagenet_labels())
    assert np.abs(scores - reference).max() < 1e-4
    refused = classify(mediapipe_python, "mediapipe", files["normalized"], PHOTOS[:4], (64, 64), 0.875, 1000)
    assert "Per-channel image normalization is not available" in refused["error"]


@pytest.mark.parametrize("client", ["task-library", "mediapipe"])
def test_a_float_file_without_metadata_is_refused_as_its_card_says(
    client, imagenet_files, tflite_runtime_python, mediapipe_python
):
    files, _, _ = imagenet_files
    python = _clients(tflite_runtime_python, mediapipe_python)[client]
    refused = classify(python, client, files["no_metadata"], PHOTOS[:1], (64, 64), 0.875, 1000)
    assert "requires specifying NormalizationOptions metadata" in refused["error"]


@pytest.fixture(scope="module")
def cifar_files(cifar_tflite):
    """The CIFAR-10 reference model (conftest's 4-class TINY at 64) as fp32 and int8 files, labelled
    with the class names its training recorded, and the Keras model with their softmax."""
    model, _ = pipeline.load_keras_model(keras_model=cifar_tflite["keras"])
    files = {mode: cifar_tflite[mode][0] for mode in ("fp32", "int8")}
    return files, with_classifier_activation(model, "softmax")


@pytest.mark.parametrize("client", ["task-library", "mediapipe"])
def test_the_cifar_model_classifies_its_test_images_in_the_client_with_its_class_names(
    client, cifar_files, small_cifar, tflite_runtime_python, mediapipe_python
):
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
    np.testing.assert_allclose(int8.sum(1), 1, atol=1e-3)
    agreement = float(np.mean(int8.argmax(1) == reference.argmax(1)))
    print(
        f"{answer['client']}: CIFAR-10 model, {len(images)} test images: Keras top-1 "
        f"{np.mean(reference.argmax(1) == truth):.1%}, fp32 file {np.mean(fp32.argmax(1) == truth):.1%}, "
        f"int8 file {np.mean(int8.argmax(1) == truth):.1%}, int8 agreement with Keras {agreement:.1%}"
    )
    assert [result["top1_name"] for result in answer["results"]] == [classes[i] for i in int8.argmax(1)]
    assert agreement >= 0.85
    # The same int8 file in our own runner (LiteRT) names the same classes: the client preprocesses as we do.
    ours = tflite_runner(files["int8"])(preprocess_input(np.stack(center_crops(images, (64, 64), 1.0))))
    ordered = np.sort(ours, 1)
    decided = ordered[:, -1] - ordered[:, -2] > 0.05  # int8 kernels of other runtimes round differently
    assert (int8.argmax(1) == ours.argmax(1))[decided].all()
