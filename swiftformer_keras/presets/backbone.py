"""`SwiftFormerBackbone`: the SwiftFormer body as a KerasHub feature-pyramid backbone.

Its graph is `models.builders.swiftformer_features`, the body of the flat models
`swiftformer_keras.SwiftFormer` builds: the same layers under the same names (`stem`,
`downsample1`..`3`, `stage{s}_block{b}`, `norm`), so that weights move between the two by
layer name (`presets.flat_models`).
"""

import keras
from keras_hub.models import FeaturePyramidBackbone

from swiftformer_keras.models.architecture import ATTENTION_TYPES, VARIANTS, variant_config
from swiftformer_keras.models.builders import check_input_shape, swiftformer_features
from swiftformer_keras.models.layers import PACKAGE

# The pyramid levels of the four stages: level n is 2**n times smaller than the image.
PYRAMID_LEVELS = ("P2", "P3", "P4", "P5")


@keras.saving.register_keras_serializable(package=PACKAGE)
class SwiftFormerBackbone(FeaturePyramidBackbone):
    """The SwiftFormer stem, four stages and final BatchNorm, without pooling or classifier.

    Input: images normalised with the ImageNet mean and standard deviation (what
    `SwiftFormerImageConverter` outputs), `(batch, height, width, 3)`. Output: the final
    BatchNorm's feature map, `(batch, height / 32, width / 32, widths[-1])`.
    `pyramid_outputs` holds the four stages' outputs, `P2` (stride 4) to `P5` (stride 32),
    for detection and segmentation heads.

    Args:
        variant: `"XS"`, `"S"`, `"L1"`, `"L3"`, or a dict with `depths` and `widths` (four
            entries each) and optional `mlp_ratio` (`models.architecture.variant_config`).
        attention: the attention formulation the weights were trained with: `"l2"` (current
            official and timm weights), `"softmax"` (the first release, the Hugging Face hub
            files) or `"token_softmax"` (`models.layers.EfficientAdditiveAttention`).
        image_shape: `(height, width, 3)`; sides `None` or multiples of 32 from 64 up.
        drop_path_rate: stochastic depth rate of the last block (linear from 0 over the blocks).
        dropout_rate: dropout inside the MLPs.
        **kwargs: `name`, `dtype`, `trainable`, as for every KerasHub backbone.
    """

    def __init__(
        self,
        variant="XS",
        attention="l2",
        image_shape=(None, None, 3),
        drop_path_rate=0.0,
        dropout_rate=0.0,
        dtype=None,
        **kwargs,
    ):
        config = variant_config(variant)
        if attention not in ATTENTION_TYPES:
            raise ValueError(f"Unknown attention {attention!r}; use one of {ATTENTION_TYPES}.")
        image_shape = tuple(image_shape)
        check_input_shape(image_shape, channels_required=False)

        # === Functional model ===
        inputs = keras.layers.Input(shape=image_shape, name="pixels")  # the flat models' input name
        stage_outputs, features = swiftformer_features(
            inputs, config, attention, drop_path_rate, dropout_rate, dtype=dtype
        )
        super().__init__(inputs=inputs, outputs=features, dtype=dtype, **kwargs)
        self.pyramid_outputs = dict(zip(PYRAMID_LEVELS, stage_outputs, strict=True))

        # === Config ===
        self.architecture = config  # variant_config's dict: name, depths, widths, mlp_ratio
        self.attention = attention
        self.image_shape = image_shape
        self.drop_path_rate = float(drop_path_rate)
        self.dropout_rate = float(dropout_rate)

    @property
    def variant(self):
        """The variant as `get_config` writes it: a published variant's name, else its dict."""
        name = self.architecture["name"]
        if name in VARIANTS and variant_config(name) == self.architecture:
            return name
        return {
            "name": name,
            "depths": list(self.architecture["depths"]),
            "widths": list(self.architecture["widths"]),
            "mlp_ratio": self.architecture["mlp_ratio"],
        }

    def get_config(self):
        return {
            **super().get_config(),
            "variant": self.variant,
            "attention": self.attention,
            "image_shape": list(self.image_shape),
            "drop_path_rate": self.drop_path_rate,
            "dropout_rate": self.dropout_rate,
        }
