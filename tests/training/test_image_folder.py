"""Image folders and their batches, the backend-independent input pipeline."""

import os
import shutil

import numpy as np
import pytest

from conftest import CIFAR_CLASSES
from swiftformer_keras.training import image_folder


def test_load_image_folder_lists_classes_and_images(small_cifar):
    root, _ = small_cifar
    train = image_folder.load_image_folder(root, "train")
    assert train.classes == sorted(CIFAR_CLASSES) and len(train) == 480
    assert np.bincount(train.labels).tolist() == [120] * 4
    assert image_folder.eval_split_name(root) == "test"
    test = image_folder.load_image_folder(root, "test", classes=train.classes)
    assert len(test) == 160 and test.skipped == 0


def test_unreadable_and_non_image_files_are_skipped_with_a_count(small_cifar, tmp_path):
    root = str(tmp_path / "copy")
    shutil.copytree(small_cifar[0], root)
    with open(os.path.join(root, "train", "frog", "broken.jpg"), "wb") as file:
        file.write(b"\xff\xd8 not really a jpeg")
    with open(os.path.join(root, "train", "frog", "notes.txt"), "w") as file:
        file.write("hello")
    train = image_folder.load_image_folder(root, "train")
    assert train.skipped == 2 and len(train) == 480


@pytest.mark.parametrize(
    "setup, message",
    [
        ("missing", "does not exist"),
        ("no_split", "has no train/ folder"),
        ("no_classes", "has no class folders"),
        ("empty_class", "holds no readable images"),
    ],
)
def test_bad_folders_are_refused(tmp_path, setup, message):
    root = tmp_path / "data"
    if setup != "missing":
        root.mkdir()
    if setup in ("no_classes", "empty_class"):
        (root / "train").mkdir()
    if setup == "empty_class":
        (root / "train" / "cat").mkdir()
    with pytest.raises(ValueError, match=message):
        image_folder.load_image_folder(str(root), "train")


@pytest.mark.parametrize(
    "splits, message",
    [(None, "does not exist"), ((), "has no train/ folder"), (("train",), "has no val/ or test/ folder")],
)
def test_a_data_folder_without_its_splits_is_refused_before_any_listing(tmp_path, splits, message):
    root = tmp_path / "data"
    for split in splits or ():
        os.makedirs(root / split)
    if splits is not None:
        root.mkdir(exist_ok=True)
    with pytest.raises(ValueError, match=message):
        image_folder.check_data_folder(root)
    for split in ("train", "test"):  # empty splits: their images are listed later, when the work starts
        os.makedirs(root / split, exist_ok=True)
    assert image_folder.check_data_folder(root) == "test"


def test_class_folders_that_differ_between_splits_are_named(small_cifar, tmp_path):
    root = str(tmp_path / "copy")
    shutil.copytree(small_cifar[0], root)
    os.rename(os.path.join(root, "test", "ship"), os.path.join(root, "test", "boat"))
    classes = image_folder.load_image_folder(root, "train").classes
    with pytest.raises(ValueError, match=r"missing \['ship'\], unexpected \['boat'\]"):
        image_folder.load_image_folder(root, "test", classes=classes)
    with pytest.raises(ValueError, match="no val/ or test/"):
        image_folder.eval_split_name(str(tmp_path))


def test_training_batches_are_shuffled_augmented_and_reproducible(small_cifar):
    folder = image_folder.load_image_folder(small_cifar[0], "train")
    dataset = image_folder.ImageFolderBatches(folder, 64, 32, training=True, seed=1)
    assert len(dataset) == 480 // 32 and dataset.augment == "pad-crop"
    x, y = dataset[0]
    assert x.shape == (32, 64, 64, 3) and x.dtype == np.float32 and y.shape == (32, 4)
    np.testing.assert_array_equal(dataset[0][0], x)  # same (seed, epoch, batch)
    labels_epoch0 = np.concatenate([dataset[i][1].argmax(1) for i in range(len(dataset))])
    dataset.on_epoch_end()
    assert not np.array_equal(dataset[0][0], x)
    labels_epoch1 = np.concatenate([dataset[i][1].argmax(1) for i in range(len(dataset))])
    assert np.bincount(labels_epoch0).sum() == np.bincount(labels_epoch1).sum() == 480
    assert not np.array_equal(labels_epoch0, labels_epoch1)
    # Preprocessed like inference: roughly zero mean, unit variance.
    assert abs(x.mean()) < 1.0 and 0.3 < x.std() < 2.0


def test_evaluation_batches_are_ordered_and_complete(small_cifar):
    folder = image_folder.load_image_folder(small_cifar[0], "test")
    dataset = image_folder.ImageFolderBatches(folder, 64, 48)
    assert len(dataset) == 4 and dataset.augment == "none"
    labels = np.concatenate([dataset[i][1].argmax(1) for i in range(len(dataset))])
    np.testing.assert_array_equal(labels, folder.labels)
    with pytest.raises(IndexError):
        dataset[4]


def test_mixup_and_cutmix_make_soft_targets(small_cifar):
    folder = image_folder.load_image_folder(small_cifar[0], "train")
    for mixup, cutmix in ((0.8, 0.0), (0.0, 1.0)):
        dataset = image_folder.ImageFolderBatches(folder, 64, 32, training=True, mixup_alpha=mixup, cutmix_alpha=cutmix)
        _, targets = dataset[0]
        np.testing.assert_allclose(targets.sum(1), 1.0, atol=1e-6)
        assert (targets.max(1) < 1.0).any()


def test_bad_dataset_arguments(small_cifar):
    folder = image_folder.load_image_folder(small_cifar[0], "train")
    with pytest.raises(ValueError, match="augment must be one of"):
        image_folder.ImageFolderBatches(folder, 64, 32, augment="randaugment")
    with pytest.raises(ValueError, match="batch_size 1000 does not fit 480"):
        image_folder.ImageFolderBatches(folder, 64, 1000, training=True)


def _truncate(path):
    with open(path, "rb") as file:
        content = file.read()
    with open(path, "wb") as file:
        file.write(content[: len(content) // 2])


def test_an_image_that_fails_to_decode_is_skipped_by_name_not_fatal(small_cifar, tmp_path, capsys):
    from PIL import Image

    root = str(tmp_path / "copy")
    shutil.copytree(small_cifar[0], root)
    frog = os.path.join(root, "train", "frog")
    victim = os.path.join(frog, sorted(os.listdir(frog))[0])
    # A truncated file passes the listing's header check and fails only when decoded.
    noise = np.random.RandomState(0).randint(0, 255, (96, 96, 3), np.uint8)
    Image.fromarray(noise).save(victim, "JPEG" if victim.endswith(".jpg") else "PNG")
    _truncate(victim)
    train = image_folder.load_image_folder(root, "train")
    assert victim in train.files
    dataset = image_folder.ImageFolderBatches(train, 64, len(train) // 2, training=True, seed=3)
    batches = [dataset[i] for i in range(len(dataset))]
    assert all(images.shape[0] == len(train) // 2 for images, _ in batches)  # a stand-in keeps the size
    assert list(dataset.unreadable) == [victim]
    assert victim in capsys.readouterr().err
    evaluation = image_folder.ImageFolderBatches(train, 64, 64)
    counted = sum(evaluation[i][0].shape[0] for i in range(len(evaluation)))
    assert counted == len(train) - 1  # evaluation leaves it out instead of counting another twice


def test_a_16_bit_png_trains_as_its_grey_level_not_white(tmp_path):
    from PIL import Image

    for split in ("train", "test"):
        for name in ("a", "b"):
            os.makedirs(tmp_path / split / name)
            Image.fromarray(np.full((64, 64), 30000, np.uint16)).save(tmp_path / split / name / "x.png")
    folder = image_folder.load_image_folder(tmp_path, "test")
    images, _ = image_folder.ImageFolderBatches(folder, 64, 2)[0]
    pixel = images[0, 32, 32] * np.array([0.229, 0.224, 0.225]) + np.array([0.485, 0.456, 0.406])
    np.testing.assert_allclose(pixel, 117 / 255, atol=2e-3)
