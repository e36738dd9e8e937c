"""The image-folder batches as a Keras dataset, for `model.fit` and `model.evaluate`.

The batches themselves (listing, decoding, augmentation) need no Keras and live
in `image_folder`; here they get `keras.utils.PyDataset`'s parallel loading, so
the same pipeline feeds the TensorFlow, JAX and PyTorch backends (a GPU machine
with JAX but no TensorFlow can train).
"""

import keras

from swiftformer_keras.training.image_folder import ImageFolderBatches


class ImageFolderDataset(ImageFolderBatches, keras.utils.PyDataset):
    """`ImageFolderBatches` (its arguments, its batches) loaded by Keras.

    Args:
        workers, use_multiprocessing, max_queue_size: `keras.utils.PyDataset`'s.
        **options: `ImageFolderBatches`'s (`folder`, `image_size`, `batch_size`, ...).
    """

    def __init__(self, *args, workers=1, use_multiprocessing=False, max_queue_size=10, **options):
        keras.utils.PyDataset.__init__(
            self, workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size
        )
        ImageFolderBatches.__init__(self, *args, **options)
