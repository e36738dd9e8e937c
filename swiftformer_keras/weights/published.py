"""The published ImageNet-1k weights of SwiftFormer: what each name reaches, and how to feed it.

Two generations of weights exist, trained with different attention (see
`models.layers.EfficientAdditiveAttention`), and each is hosted on the Hugging
Face hub:

- `"imagenet_timm"`: timm's `timm/swiftformer_{xs,s,l1,l3}.dist_in1k`
  (pytorch-image-models PR #2499, May 2025), the current official generation:
  the L2-normalised attention of Amshaker/SwiftFormer's code today, evaluated
  by timm at a 0.95 center crop.
- `"imagenet_mbzuai"`: `MBZUAI/swiftformer-*`, the first release, trained with
  the first release's `softmax` over a singleton axis (uniform pooling over
  tokens), evaluated as the official code does (resize 256, crop 224).

`"imagenet"` is the current generation: its attention is the one the paper
describes and the one every recipe of this project is measured on (random
weights are built with it too), and its files are pinned by revision and digest
where known. Each source records the evaluation transform its top-1 was
measured with, and every tool that evaluates or converts its weights uses it
(`weights_crop_pct`). This module needs no Keras: the command lines read it
before they start one.
"""

import dataclasses
import os
import types

from swiftformer_keras.utils.images import (
    IMAGENET_CROP_PCT,
    IMAGENET_MEAN,
    IMAGENET_STD,
    recorded_crop_pct,
    resolve_crop_pct,
)


@dataclasses.dataclass(frozen=True)
class HubFile:
    """One checkpoint file on the Hugging Face hub.

    `sha256` None means the digest the server announces (the hub's X-Linked-Etag)
    is checked instead; `revision` is a commit, or `"main"` where none is pinned.
    """

    repo: str
    filename: str
    revision: str = "main"
    sha256: str | None = None


@dataclasses.dataclass(frozen=True)
class WeightSource:
    """A published generation of ImageNet-1k weights, for every variant it covers.

    Attributes:
        name: the `weights=` name, e.g. `"imagenet_timm"`.
        title: what the weights are, for tables and error messages.
        attention: the formulation they were trained with (`architecture.ATTENTION_TYPES`).
        files: `{variant: HubFile}`.
        top1: `{variant: ImageNet-1k top-1 %}` as published, at 224x224.
        top1_source: who measured `top1`.
        crop_pct, interpolation, mean, std: the evaluation transform `top1` was measured with.
        license: the license of the weights, as their host states it.
        homepage: where the weights are described.
    """

    name: str
    title: str
    attention: str
    files: types.MappingProxyType
    top1: types.MappingProxyType
    top1_source: str
    crop_pct: float
    interpolation: str
    license: str
    homepage: str
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD


def _source(name, files, top1, **facts):
    return WeightSource(name, files=types.MappingProxyType(files), top1=types.MappingProxyType(top1), **facts)


WEIGHT_SOURCES = {
    source.name: source
    for source in (
        _source(
            "imagenet_timm",
            {
                # The XS file was checked by hand: 13,957,760 bytes at this revision.
                "XS": HubFile(
                    "timm/swiftformer_xs.dist_in1k",
                    "model.safetensors",
                    revision="ac0196f198e58c82183a67f5f5c0952421b3e6ac",
                    sha256="c0dfb2e99069ece07b691ff470f5dafed98716d90be738369828693c3bf2071c",
                ),
                "S": HubFile("timm/swiftformer_s.dist_in1k", "model.safetensors"),
                "L1": HubFile("timm/swiftformer_l1.dist_in1k", "model.safetensors"),
                "L3": HubFile("timm/swiftformer_l3.dist_in1k", "model.safetensors"),
            },
            {"XS": 75.586, "S": 78.466, "L1": 80.902, "L3": 83.000},
            title="timm dist_in1k: the current official generation (L2 attention)",
            attention="l2",
            top1_source="timm's results table",
            crop_pct=0.95,
            interpolation="bicubic",
            license="apache-2.0",
            homepage="https://huggingface.co/timm/swiftformer_xs.dist_in1k",
        ),
        _source(
            "imagenet_mbzuai",
            {
                "XS": HubFile("MBZUAI/swiftformer-xs", "model.safetensors"),
                "S": HubFile("MBZUAI/swiftformer-s", "pytorch_model.bin"),
                "L1": HubFile("MBZUAI/swiftformer-l1", "pytorch_model.bin"),
                "L3": HubFile("MBZUAI/swiftformer-l3", "pytorch_model.bin"),
            },
            {"XS": 75.7, "S": 78.5, "L1": 80.9, "L3": 83.0},
            title="MBZUAI: the first release (uniform pooling attention)",
            attention="softmax",
            top1_source="the paper",
            crop_pct=IMAGENET_CROP_PCT,
            interpolation="bicubic",
            license="see Amshaker/SwiftFormer",
            homepage="https://huggingface.co/MBZUAI/swiftformer-xs",
        ),
    )
}
# `weights="imagenet"` and the generation it stands for (the module docstring says why).
ALIASES = {"imagenet": "imagenet_timm"}
WEIGHT_NAMES = (*ALIASES, *WEIGHT_SOURCES)


def weight_source(name):
    """The `WeightSource` that a `weights=` name reaches, or None when `name` is no such name."""
    if not isinstance(name, str):
        return None
    return WEIGHT_SOURCES.get(ALIASES.get(name, name))


def weights_crop_pct(weights):
    """The evaluation crop that `weights` (a published name or a file path) expect, or None where
    nothing says: a published source's (`WeightSource.crop_pct`), or a model file's record
    (`utils.images.recorded_crop_pct`; the cached conversions of published weights record theirs)."""
    source = weight_source(weights)
    if source is not None:
        return source.crop_pct
    if isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
        return recorded_crop_pct(weights)
    return None


def crop_pct_for(crop_pct=None, keras_model=None, weights=None):
    """The crop every tool evaluates and calibrates with: `crop_pct` when given, else the one a
    `keras_model` file records, else the one `weights` expect (`weights_crop_pct`), else ImageNet's
    (`utils.images.resolve_crop_pct`)."""
    if crop_pct is None and keras_model is None and weights is not None:
        crop_pct = weights_crop_pct(weights)
    return resolve_crop_pct(crop_pct, keras_model)
