"""`SwiftFormerImageClassifier`: a `SwiftFormerBackbone` with SwiftFormer's own classifier head."""

import keras
from keras_hub.models import ImageClassifier, Task

from swiftformer_keras.models.layers import PACKAGE, DistilledClassifier
from swiftformer_keras.presets.backbone import SwiftFormerBackbone
from swiftformer_keras.presets.image_classifier_preprocessor import SwiftFormerImageClassifierPreprocessor


@keras.saving.register_keras_serializable(package=PACKAGE)
class SwiftFormerImageClassifier(ImageClassifier):
    """SwiftFormer image classification: backbone, average pooling, distilled classifier.

    The head is the flat models' (`swiftformer_keras.SwiftFormer(include_top=True)`), under
    the same layer names: `avg_pool`, then `classifier`, a `DistilledClassifier` whose output
    is the average of its `head` and `dist_head`, then the activation, if any, as
    `predictions`. Hence `presets.flat_models` moves weights between the two by layer name.

    Args:
        backbone: a `SwiftFormerBackbone`.
        num_classes: the number of classes.
        preprocessor: a `SwiftFormerImageClassifierPreprocessor`, or None (inputs already
            preprocessed). `fit`, `predict` and `evaluate` run it on their inputs.
        activation: None (logits, the default of KerasHub's classifiers), `"softmax"`, or
            any Keras activation.
        dropout: dropout on the pooled features, before the classifier.
        head_dtype: the dtype policy of the head; None: the backbone's.
        **kwargs: as `keras_hub.models.Task` (`name`, `compile`).
    """

    backbone_cls = SwiftFormerBackbone
    preprocessor_cls = SwiftFormerImageClassifierPreprocessor

    def __init__(
        self,
        backbone,
        num_classes,
        preprocessor=None,
        activation=None,
        dropout=0.0,
        head_dtype=None,
        **kwargs,
    ):
        dtype = head_dtype or backbone.dtype_policy

        # Before Task.__init__: the compile() it calls picks the loss (from logits or not) by it.
        self.activation = activation

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.pooler = keras.layers.GlobalAveragePooling2D(name="avg_pool", dtype=dtype)
        self.classifier = DistilledClassifier(
            num_classes, output_mode="average", dropout_rate=dropout, name="classifier", dtype=dtype
        )
        self.output_activation = None
        if activation is not None:
            self.output_activation = keras.layers.Activation(activation, name="predictions", dtype=dtype)

        # === Functional model ===
        inputs = self.backbone.input
        outputs = self.classifier(self.pooler(self.backbone(inputs)))
        if self.output_activation is not None:
            outputs = self.output_activation(outputs)
        # KerasHub's own classifiers with their own heads skip ImageClassifier's, as here.
        Task.__init__(self, inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.dropout = float(dropout)
        self.head_dtype = head_dtype

    def get_config(self):
        # ImageClassifier's config adds `pooling`, which this head does not take.
        head_dtype, activation = self.head_dtype, self.activation
        if isinstance(head_dtype, keras.DTypePolicy):
            head_dtype = keras.dtype_policies.serialize(head_dtype)
        if callable(activation):
            activation = keras.activations.serialize(activation)
        return {
            **Task.get_config(self),
            "num_classes": self.num_classes,
            "activation": activation,
            "dropout": self.dropout,
            "head_dtype": head_dtype,
        }
