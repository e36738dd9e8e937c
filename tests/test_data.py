"""Image folders and the backend-independent input pipeline."""

import os
import shutil

import numpy as np
import pytest

from conftest import CIFAR_CLASSES
from swiftformer_keras import data


def test_load_image_folder_lists_classes_and_images(small_cifar):
    root, _ = small_cifar
    train = data.load_image_folder(root, "train")
    assert train.classes == sorted(CIFAR_CLASSES) and len(train) == 480
    assert np.bincount(train.labels).tolist() == [120] * 4
    assert data.eval_split_name(root) == "test"
    test = data.load_image_folder(root, "test", classes=train.classes)
    assert len(test) == 160 and test.skipped == 0


def test_unreadable_and_non_image_files_are_skipped_with_a_count(small_cifar, tmp_path):
    root = str(tmp_path / "copy")
    shutil.copytree(small_cifar[0], root)
    with open(os.path.join(root, "train", "frog", "broken.jpg"), "wb") as file:
        file.write(b"\xff\xd8 not really a jpeg")
    with open(os.path.join(root, "train", "frog", "notes.txt"), "w") as file:
        file.write("hello")
    train = data.load_image_folder(root, "train")
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
        data.load_image_folder(str(root), "train")


def test_class_folders_that_differ_between_splits_are_named(small_cifar, tmp_path):
    root = str(tmp_path / "copy")
    shutil.copytree(small_cifar[0], root)
    os.rename(os.path.join(root, "test", "ship"), os.path.join(root, "test", "boat"))
    classes = data.load_image_folder(root, "train").classes
    with pytest.raises(ValueError, match=r"missing \['ship'\], unexpected \['boat'\]"):
        data.load_image_folder(root, "test", classes=classes)
    with pytest.raises(ValueError, match="no val/ or test/"):
        data.eval_split_name(str(tmp_path))


@pytest.mark.parametrize("size", [32, 100, 65, (64, 48)])
def test_image_sizes_must_be_multiples_of_32(size):
    with pytest.raises(ValueError, match="multiple of 32"):
        data.check_image_size(size)
    assert data.check_image_size((64, 96)) == (64, 96)


def test_training_batches_are_shuffled_augmented_and_reproducible(small_cifar):
    folder = data.load_image_folder(small_cifar[0], "train")
    dataset = data.ImageFolderDataset(folder, 64, 32, training=True, seed=1)
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
    folder = data.load_image_folder(small_cifar[0], "test")
    dataset = data.ImageFolderDataset(folder, 64, 48)
    assert len(dataset) == 4 and dataset.augment == "none"
    labels = np.concatenate([dataset[i][1].argmax(1) for i in range(len(dataset))])
    np.testing.assert_array_equal(labels, folder.labels)
    with pytest.raises(IndexError):
        dataset[4]


def test_mixup_and_cutmix_make_soft_targets(small_cifar):
    folder = data.load_image_folder(small_cifar[0], "train")
    for mixup, cutmix in ((0.8, 0.0), (0.0, 1.0)):
        dataset = data.ImageFolderDataset(folder, 64, 32, training=True, mixup_alpha=mixup, cutmix_alpha=cutmix)
        _, targets = dataset[0]
        np.testing.assert_allclose(targets.sum(1), 1.0, atol=1e-6)
        assert (targets.max(1) < 1.0).any()


def test_bad_dataset_arguments(small_cifar):
    folder = data.load_image_folder(small_cifar[0], "train")
    with pytest.raises(ValueError, match="augment must be one of"):
        data.ImageFolderDataset(folder, 64, 32, augment="randaugment")
    with pytest.raises(ValueError, match="batch_size 1000 does not fit 480"):
        data.ImageFolderDataset(folder, 64, 1000, training=True)
