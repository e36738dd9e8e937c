"""SwiftFormer models with the `keras.applications` API.

    import swiftformer_keras as sfk
    model = sfk.SwiftFormerXS(weights="imagenet")

`SwiftFormer(config, ...)` builds any configuration; `SwiftFormerXS`, `S`, `L1`
and `L3` are the published variants, one thin function each sharing a docstring
that reads the variant's facts (parameters, top-1, GMACs) from the variant table,
`models.architecture.VARIANTS`. Each builds the graph (`models.builders`) and
fills it from `weights=` through one function of the weights stage,
`weights.sources.load_weights`.

Reference:
- [SwiftFormer: Efficient Additive Attention for Transformer-based Real-time
  Mobile Vision Applications](https://arxiv.org/abs/2303.15446) (ICCV 2023)
- Official code: https://github.com/Amshaker/SwiftFormer
"""

from swiftformer_keras.models.architecture import VARIANTS, variant_config
from swiftformer_keras.models.builders import build_swiftformer, check_classes, check_input_shape
from swiftformer_keras.weights.sources import load_weights


def SwiftFormer(
    config="XS",
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    features=False,
    attention=None,
    drop_path_rate=0.0,
    dropout_rate=0.0,
    distillation_outputs=False,
):
    """Instantiates a SwiftFormer model of any configuration.

    Args:
        config: a variant name (`"XS"`, `"S"`, `"L1"`, `"L3"`) or a dict with
            `depths` and `widths` (four entries each) and optional `mlp_ratio`.
        include_top: whether to include the classifier (BatchNorm, average
            pooling, `head` and `dist_head` averaged).
        weights: `None` (random initialisation), published ImageNet-1k
            weights of the variant, downloaded, verified, converted and
            cached once: `"imagenet"` (= `"imagenet_timm"`, timm's files of
            the current official generation, L2 attention, evaluated at a
            0.95 crop) or `"imagenet_mbzuai"` (the first release, uniform
            pooling attention, 0.875 crop); or the path to a weights file:
            `.weights.h5`, `.keras`, or a PyTorch checkpoint (`.pth`, `.bin`,
            `.safetensors`) in the official, Hugging Face or timm layout.
        input_tensor: optional Keras tensor to use as the model's input.
        input_shape: `(height, width, 3)`; height and width must be `None` or
            multiples of 32 from 64 up. Defaults to `(224, 224, 3)` with the
            top, `(None, None, 3)` without.
        pooling: with `include_top=False`: `None` (4D feature map after the
            final BatchNorm), `"avg"` or `"max"` (2D output).
        classes: number of classes (a whole number >= 1), with
            `include_top=True` and no pretrained weights (ImageNet weights
            need 1000).
        classifier_activation: activation of the top layer (`None` returns
            logits). Ignored unless `include_top=True`.
        name: the model's name.
        features: with `include_top=False`, return the four stage outputs
            (strides 4, 8, 16, 32) for detection or segmentation heads.
        attention: `"l2"`, `"softmax"` or `"token_softmax"` (see
            `EfficientAdditiveAttention`); `None` picks what the weights were
            trained with (`"softmax"` for MBZUAI's files, `"l2"` for timm's,
            official checkpoints and random weights).
        drop_path_rate: stochastic depth rate of the last block (linear from 0).
        dropout_rate: dropout in the MLPs and before the classifier.
        distillation_outputs: return `[head, dist_head]` instead of their
            average, for training with a distillation teacher.

    Returns:
        A `keras.Model`.
    """
    config = variant_config(config)
    classes = check_classes(classes)  # before weights="imagenet" compares it with 1000
    if weights is not None and input_shape is not None:
        check_input_shape(tuple(input_shape), channels_required=True)  # before any download
    loaded = load_weights(weights, config, include_top, classes, attention)
    model = build_swiftformer(
        config,
        include_top=include_top,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
        features=features,
        attention=loaded.attention if loaded else (attention or "l2"),
        drop_path_rate=drop_path_rate,
        dropout_rate=dropout_rate,
        distillation_outputs=distillation_outputs,
        channels_required=loaded is not None,
    )
    if loaded is not None:
        loaded.assign_to(model)
    return model


_DOCSTRING = """Instantiates SwiftFormer-{variant} ({parameters:,} parameters with the distillation head).

    ImageNet-1k top-1 {top1}% at 224x224, {gmacs} GMACs (paper). Inputs are RGB
    images normalised by `swiftformer_keras.preprocess_input`, center-cropped
    as the weights expect (`weights.published`: 0.95 for `weights="imagenet"`).

    Args: as `swiftformer_keras.SwiftFormer`, without `config`.

    Returns:
        A `keras.Model`.
    """


def _variant_builder(variant):
    """The public builder of `variant` (a key of `VARIANTS`): `SwiftFormer(variant, ...)` with
    the `keras.applications` arguments in their usual order, named and documented for it."""

    def builder(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        return SwiftFormer(
            variant,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            name=name,
            **kwargs,
        )

    facts = VARIANTS[variant]
    builder.__name__ = builder.__qualname__ = f"SwiftFormer{variant}"
    builder.__doc__ = _DOCSTRING.format(
        variant=variant, parameters=facts["parameters"], top1=facts["top1"], gmacs=facts["gmacs"]
    )
    return builder


SwiftFormerXS = _variant_builder("XS")
SwiftFormerS = _variant_builder("S")
SwiftFormerL1 = _variant_builder("L1")
SwiftFormerL3 = _variant_builder("L3")
