"""The image-folder batches as a Keras dataset, for `model.fit` and `model.evaluate`.

The batches themselves (listing, decoding, augmentation) need no Keras and live
in `image_folder`; here they get `keras.utils.PyDataset`'s parallel loading, so
the same pipeline feeds the TensorFlow, JAX and PyTorch backends (a GPU machine
with JAX but no TensorFlow can train).
"""

import keras

# Re-exported: the names this module had before the Keras-free part moved out.
from swiftformer_keras.models.architecture import check_image_size  # noqa: F401
from swiftformer_keras.training.image_folder import (  # noqa: F401
    AUGMENTATIONS,
    EVAL_SPLITS,
    TRAIN_SPLIT,
    ImageFolder,
    ImageFolderBatches,
    eval_split_name,
    load_image_folder,
)
from swiftformer_keras.utils.images import IMAGE_SUFFIXES as IMAGE_EXTENSIONS  # noqa: F401


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
