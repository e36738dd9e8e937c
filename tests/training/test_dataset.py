"""The image-folder batches as a Keras dataset (the batches themselves: test_image_folder.py)."""

import keras
import numpy as np

from swiftformer_keras.training import dataset as data
from swiftformer_keras.training import image_folder


def test_the_keras_dataset_gives_the_image_folders_batches_with_keras_loading(small_cifar):
    folder = image_folder.load_image_folder(small_cifar[0], "train")
    batches = image_folder.ImageFolderBatches(folder, 64, 32, training=True, seed=1)
    dataset = data.ImageFolderDataset(folder, 64, 32, training=True, seed=1, workers=2)
    assert isinstance(dataset, keras.utils.PyDataset) and dataset.workers == 2
    assert len(dataset) == len(batches) == 480 // 32 and dataset.augment == batches.augment == "pad-crop"
    for epoch in range(2):
        for index in (0, len(dataset) - 1):
            np.testing.assert_array_equal(dataset[index][0], batches[index][0], err_msg=f"epoch {epoch}")
            np.testing.assert_array_equal(dataset[index][1], batches[index][1], err_msg=f"epoch {epoch}")
        dataset.on_epoch_end()  # Keras calls it: the next epoch's order and augmentation
        batches.on_epoch_end()
    assert dataset.epoch == 2
