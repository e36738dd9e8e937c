"""TFLite model metadata: what Android's image clients (Task Library, MediaPipe Tasks) read from a file.

    info = model_info("SwiftFormer-XS", "probabilities", 1000, "fp32", "float32", (224, 224))
    content = with_metadata(tflite_bytes, info)      # the same model, described
    read_metadata(content)["output"]["labels"][:2]   # ['tench', 'goldfish']

What a file's metadata says (its name and description, the normalisation
of its input, its class names) is decided in one place, `model_info`, for
`converter.export_tflite` and the conversion pipeline alike; `ModelInfo` is
the value it returns, and `input_type_of` reads the input type back.

The metadata is a second flatbuffer (`ModelMetadata`, file identifier `M001`,
the public `metadata_schema.fbs` of tflite-support / MediaPipe) stored in one
of the model's buffers and named `TFLITE_METADATA` in the model's `metadata`
list; associated files (the labels) are a stored (uncompressed) zip archive
appended to the model, which flatbuffer readers ignore and the clients open.

The writers that exist need numpy < 2 and Python <= 3.11 (tflite-support) or
do not import (MediaPipe's), so this module builds the few tables an image
classifier needs with the `flatbuffers` builder that TensorFlow and LiteRT
already install. The model itself is re-serialised with LiteRT's own schema
classes, which keep every field (signatures included: the tflite-support
populator's older schema dropped them, tensorflow/tensorflow#62620), and
with its weight buffers 16-byte aligned as the converter writes them, so
that the interpreter computes the same numbers with and without metadata.

`flatbuffers` comes with TensorFlow, LiteRT and tflite-runtime's metadata
tools, not with this package: it is imported where a flatbuffer is built or
read, so that `input_type_of` and the labels helpers need none.
"""

import dataclasses
import io
import os
import re
import struct
import sys
import zipfile

import numpy as np

from swiftformer_keras.utils.images import IMAGENET_MEAN, IMAGENET_STD, imagenet_class_index
from swiftformer_keras.utils.version import VERSION

METADATA_NAME = "TFLITE_METADATA"
# A model metadata entry the XNNPACK delegate reads (TFLite's `optimize::kTfLiteReducedPrecisionKey`):
# "fp16accfp16" lets it compute in fp16 (XNN_FLAG_HINT_FP16_INFERENCE) on CPUs with fp16 arithmetic.
REDUCED_PRECISION_NAME = "reduced_precision_support"
FP16_ARITHMETIC = b"fp16accfp16"
METADATA_IDENTIFIER = b"M001"
MODEL_IDENTIFIER = b"TFL3"
# The oldest metadata parser that reads every field written here (all are schema 1.0.0 fields).
MIN_PARSER_VERSION = "1.0.0"
LABELS_FILE = "labels.txt"
OUTPUT_KINDS = ("probabilities", "logits", "features")
# ImageNet's normalisation in pixel units: SwiftFormer's own input is (pixel - mean) / std.
IMAGENET_PIXEL_NORMALIZATION = (tuple(255 * v for v in IMAGENET_MEAN), tuple(255 * v for v in IMAGENET_STD))
# The normalisation stated for a file that takes float32 pixels and normalises them itself: the
# identity, which the clients need stated (`report.client_refusals`) and `input_type_of` reads back.
PIXELS_AS_THEY_ARE = ((0.0,), (1.0,))
# The input types of `input_type_of` whose files take RGB pixels in [0, 255] (quantized or not).
PIXEL_INPUT_TYPES = ("float32", "uint8", "quantized_pixels")
# What a file takes, in the words of its description, by `recipe.INPUT_TYPES`.
INPUT_TEXT = {
    "float32": "RGB pixels in [0, 255] as float32",
    "uint8": "RGB pixels in [0, 255] as uint8",
    "normalized": "RGB images normalised per channel, (pixel - mean) / std with the mean and std stated here",
}

# Schema enums and union tags (metadata_schema.fbs).
_RGB = 1
_TENSOR_AXIS_LABELS = 2
_FEATURE_PROPERTIES, _IMAGE_PROPERTIES = 1, 2
_NORMALIZATION_OPTIONS = 1
_LABELS_DESCRIPTION = "Class names, one per line."


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a file's metadata says about it.

    Attributes:
        name, description, version, author, license: the model's fields.
        input_mean, input_std: the per-channel normalisation the model expects
            of RGB pixels in [0, 255], `(pixel - mean) / std`; None for a
            model that takes the pixels themselves (uint8 input).
        output_kind: `"probabilities"` (softmax scores), `"logits"` or
            `"features"` (a backbone: no labels).
        labels: class names, one per output score, or None.
    """

    name: str
    description: str = ""
    version: str = ""
    author: str = ""
    license: str = ""
    input_mean: tuple | None = None
    input_std: tuple | None = None
    output_kind: str = "probabilities"
    labels: tuple | None = None

    def __post_init__(self):
        if self.output_kind not in OUTPUT_KINDS:
            raise ValueError(f"Unknown output kind {self.output_kind!r}; use one of {OUTPUT_KINDS}.")
        if (self.input_mean is None) != (self.input_std is None):
            raise ValueError("Give both input_mean and input_std (or neither, for pixel input).")
        if self.input_std is not None:
            object.__setattr__(self, "input_mean", tuple(float(v) for v in self.input_mean))
            object.__setattr__(self, "input_std", tuple(float(v) for v in self.input_std))
            if len(self.input_mean) != len(self.input_std) or len(self.input_std) not in (1, 3):
                raise ValueError("input_mean and input_std need 1 or 3 values each, as the clients read them.")
            if not all(v > 0 for v in self.input_std):
                raise ValueError(f"input_std must be positive, got {self.input_std}.")
        if self.labels is not None:
            # Repeats are warned about where the names are given (`read_labels_file`, the request).
            object.__setattr__(self, "labels", check_label_names(self.labels, warn_repeats=False))
            if self.output_kind == "features":
                raise ValueError(
                    f"Model {self.name!r} returns features (a backbone, no classifier head): it has no classes "
                    "to label; drop the labels."
                )


def imagenet_labels():
    """The 1000 ImageNet-1k class names in class order (`tench`, `goldfish`, ...)."""
    index = imagenet_class_index()
    return tuple(index[i][1] for i in range(len(index)))


def default_labels(classes):
    """The class names a classifier with `classes` outputs gets when none are given or recorded:
    ImageNet's for a 1000-class head, else None."""
    return imagenet_labels() if classes == 1000 else None


def model_info(
    name,
    output_kind,
    classes,
    mode,
    input_type,
    size,
    *,
    channels=3,
    labels="auto",
    normalization=IMAGENET_PIXEL_NORMALIZATION,
    source=None,
    crop_pct=None,
    author="",
    license="",
):
    """The `ModelInfo` of a converted file: what its metadata says, decided here only.

    Args:
        name: the model's name (the metadata's name, the card's title).
        output_kind: what the file returns (`OUTPUT_KINDS`).
        classes: the length of its output vector.
        mode: the file's mode (`recipe.MODES`), for the description.
        input_type: what the file takes (`recipe.INPUT_TYPES`). The metadata states
            `normalization` for `"normalized"`, the identity for `"float32"` pixels
            (`PIXELS_AS_THEY_ARE`) and none for `"uint8"` camera bytes;
            `input_type_of` reads it back.
        size: the input's `(height, width)`.
        channels: the input's channels; a stated normalisation must have 1 or as many values.
        labels: `"auto"` (`default_labels` for a classifier, none for a backbone),
            None, or the class names, one per class.
        normalization: `(mean, std)` in pixel units of the model's own input.
        source: where the weights come from, in words, for the description.
        crop_pct: the center crop the model expects, for the description.
        author, license: the metadata's fields; its version is the package's.

    Raises:
        ValueError: labels that are not one name per class, labels for a
            backbone, or a normalisation the input's channels do not take.
    """
    if input_type not in INPUT_TEXT:
        raise ValueError(f"Unknown input type {input_type!r}; use one of {tuple(INPUT_TEXT)}.")
    if isinstance(labels, str) and labels == "auto":
        labels = default_labels(classes) if output_kind != "features" else None
    mean, std = {"normalized": normalization, "float32": PIXELS_AS_THEY_ARE, "uint8": (None, None)}[input_type]
    if mean is not None and len(mean) not in (1, channels):
        raise ValueError(
            f"Model {name!r} takes {channels}-channel images, and its metadata would state a "
            f"{len(mean)}-channel normalisation; write none (metadata=False, --no-metadata)."
        )
    what = "image classifier" if output_kind != "features" else "image feature extractor (no classifier head)"
    origin = f" ({source})" if source else ""
    crop = f", center-cropped at {crop_pct:g}" if crop_pct is not None else ""
    description = (
        f"{name} {what}{origin}, {mode} TFLite with builtin ops only. Takes {INPUT_TEXT[input_type]}, "
        f"{size[0]}x{size[1]}{crop}. Converted by swiftformer-keras {VERSION}."
    )
    info = ModelInfo(
        name=name,
        description=description,
        version=VERSION,
        author=author,
        license=license,
        input_mean=mean,
        input_std=std,
        output_kind=output_kind,
        labels=labels,
    )
    if info.labels is not None and len(info.labels) != classes:
        raise ValueError(f"{len(info.labels)} labels for model {name!r} with {classes} classes; give one per class.")
    return info


def _input_description(info):
    if info.input_std is None:
        return "RGB pixels, uint8 in [0, 255]; the model normalises them itself."
    return "RGB image normalised per channel as (pixel - mean) / std, pixels in [0, 255]."


def _output_description(info):
    return {
        "probabilities": "Probability of each class (softmax), in [0, 1] and summing to 1.",
        "logits": "Score (logit) of each class, before softmax.",
        "features": "Image features (no classifier head).",
    }[info.output_kind]


def _strings(builder, texts):
    return {text: builder.CreateString(text) for text in set(texts) if text}


def _table(builder, fields):
    """A table from `[(slot, kind, value)]`; kind is "offset" (strings, tables, vectors), "uint8", "uint32"."""
    builder.StartObject(max(slot for slot, _, _ in fields) + 1)
    for slot, kind, value in fields:
        if value is None:
            continue
        if kind == "offset":
            builder.PrependUOffsetTRelativeSlot(slot, value, 0)
        elif kind == "uint8":
            builder.PrependUint8Slot(slot, value, 0)
        else:
            builder.PrependUint32Slot(slot, value, 0)
    return builder.EndObject()


def _vector(builder, items, kind="offset"):
    prepend = {"offset": builder.PrependUOffsetTRelative, "float": builder.PrependFloat32}[kind]
    builder.StartVector(4, len(items), 4)
    for item in reversed(items):
        prepend(item)
    return builder.EndVector()


def metadata_buffer(info, input_shape, output_size):
    """The `ModelMetadata` flatbuffer of `info` for an NHWC `input_shape` and `output_size` scores."""
    import flatbuffers  # not a dependency of this package: see the module docstring

    if info.labels is not None and len(info.labels) != output_size:
        raise ValueError(f"{len(info.labels)} labels for a model with {output_size} outputs; give one name per class.")
    builder = flatbuffers.Builder(1024)
    text = _strings(
        builder,
        [
            info.name,
            info.description,
            info.version,
            info.author,
            info.license,
            MIN_PARSER_VERSION,
            "image",
            info.output_kind,
            LABELS_FILE,
            _input_description(info),
            _output_description(info),
            _LABELS_DESCRIPTION,
        ],
    )
    input_tensor = _input_tensor(builder, info, text, height=int(input_shape[1]), width=int(input_shape[2]))
    output_tensor = _output_tensor(builder, info, text)
    subgraph = _table(
        builder, [(2, "offset", _vector(builder, [input_tensor])), (3, "offset", _vector(builder, [output_tensor]))]
    )
    model = _table(
        builder,
        [
            (0, "offset", text.get(info.name)),
            (1, "offset", text.get(info.description)),
            (2, "offset", text.get(info.version)),
            (3, "offset", _vector(builder, [subgraph])),
            (4, "offset", text.get(info.author)),
            (5, "offset", text.get(info.license)),
            (7, "offset", text[MIN_PARSER_VERSION]),
        ],
    )
    builder.Finish(model, file_identifier=METADATA_IDENTIFIER)
    return bytes(builder.Output())


def _input_tensor(builder, info, text, height, width):
    """The input's `TensorMetadata`: an RGB image of `height` x `width`, its normalisation and value range."""
    size = _table(builder, [(0, "uint32", width), (1, "uint32", height)])
    image = _table(builder, [(0, "uint8", _RGB), (1, "offset", size)])
    fields = [(0, "offset", text["image"]), (1, "offset", text[_input_description(info)])]
    fields.append((3, "offset", _table(builder, [(0, "uint8", _IMAGE_PROPERTIES), (1, "offset", image)])))
    if info.input_std is not None:
        mean, std = _vector(builder, info.input_mean, "float"), _vector(builder, info.input_std, "float")
        normalization = _table(builder, [(0, "offset", mean), (1, "offset", std)])
        unit = _table(builder, [(0, "uint8", _NORMALIZATION_OPTIONS), (1, "offset", normalization)])
        fields.append((4, "offset", _vector(builder, [unit])))
        low = [(0 - m) / s for m, s in zip(info.input_mean, info.input_std, strict=True)]
        high = [(255 - m) / s for m, s in zip(info.input_mean, info.input_std, strict=True)]
    else:
        low, high = [0.0], [255.0]
    stats = _table(
        builder, [(0, "offset", _vector(builder, high, "float")), (1, "offset", _vector(builder, low, "float"))]
    )
    fields.append((5, "offset", stats))
    return _table(builder, fields)


def _output_tensor(builder, info, text):
    """The output's `TensorMetadata`: its kind, the range of probabilities, the labels file."""
    fields = [(0, "offset", text[info.output_kind]), (1, "offset", text[_output_description(info)])]
    builder.StartObject(0)
    features = builder.EndObject()  # FeatureProperties has no fields
    fields.append((3, "offset", _table(builder, [(0, "uint8", _FEATURE_PROPERTIES), (1, "offset", features)])))
    if info.output_kind == "probabilities":
        stats = [(0, "offset", _vector(builder, [1.0], "float")), (1, "offset", _vector(builder, [0.0], "float"))]
        fields.append((5, "offset", _table(builder, stats)))
    if info.labels is not None:
        labels = _table(
            builder,
            [
                (0, "offset", text[LABELS_FILE]),
                (1, "offset", text[_LABELS_DESCRIPTION]),
                (2, "uint8", _TENSOR_AXIS_LABELS),
            ],
        )
        fields.append((6, "offset", _vector(builder, [labels])))
    return _table(builder, fields)


class _AlignedBuffers:
    """Packs the model's buffers with their data 16-byte aligned, as the converter writes them
    (`force_align: 16` in the TFLite schema, which the generated Python classes ignore)."""

    def __init__(self, schema, buffer):
        self.schema, self.buffer = schema, buffer

    def Pack(self, builder):  # noqa: N802 (the generated classes' protocol)
        schema, buffer = self.schema, self.buffer
        data = None
        if buffer.data is not None and len(buffer.data):
            raw = np.asarray(buffer.data, np.uint8).tobytes()
            builder.StartVector(1, len(raw), 16)
            builder.head -= len(raw)
            builder.Bytes[builder.head : builder.head + len(raw)] = raw
            data = builder.EndVector()
        schema.BufferStart(builder)
        if data is not None:
            schema.BufferAddData(builder, data)
        if buffer.offset:
            schema.BufferAddOffset(builder, buffer.offset)
        if buffer.size:
            schema.BufferAddSize(builder, buffer.size)
        return schema.BufferEnd(builder)


def _model_bytes(content):
    """The flatbuffer part of a `.tflite` file (without an appended zip of associated files)."""
    content = bytes(content)
    if len(content) < 8 or content[4:8] != MODEL_IDENTIFIER:
        raise ValueError("Not a .tflite model: its flatbuffer identifier is not TFL3.")
    return content


def with_metadata(content, info):
    """`content` (`.tflite` bytes) with `info` as its metadata and its labels as an associated file.

    Any metadata the file had is replaced; the graph, its weights, signatures
    and other metadata entries (`min_runtime_version`) are kept as they are.

    Raises:
        ValueError: not a `.tflite` model, not one NHWC input and one output,
            or the labels do not match the output.
    """
    # Not dependencies of this package (see the module docstring); LiteRT's schema writes every field.
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    content = _model_bytes(content)
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    graph = model.subgraphs[0]
    if len(model.subgraphs) != 1 or len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ValueError("Metadata describes a model with one subgraph, one input and one output.")
    input_shape = [int(v) for v in graph.tensors[graph.inputs[0]].shape]
    output_shape = [int(v) for v in graph.tensors[graph.outputs[0]].shape]
    if len(input_shape) != 4:
        raise ValueError(f"Image metadata needs an NHWC input; this model takes {input_shape}.")
    _set_entry(schema, model, METADATA_NAME, metadata_buffer(info, input_shape, output_shape[-1]))
    packed = _packed(flatbuffers, schema, model, len(content))
    if info.labels is None:
        return packed
    archive = io.BytesIO(packed)
    archive.seek(0, io.SEEK_END)
    with zipfile.ZipFile(archive, "a", compression=zipfile.ZIP_STORED) as files:
        files.writestr(LABELS_FILE, "".join(label + "\n" for label in info.labels))
    return archive.getvalue()


def with_entry(content, name, value):
    """`content` (`.tflite` bytes without an appended zip) with the model metadata entry `name` set
    to the bytes `value`; the graph and every other entry are kept."""
    import flatbuffers  # not a dependency of this package: see the module docstring
    from ai_edge_litert import schema_py_generated as schema

    content = _model_bytes(content)
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    _set_entry(schema, model, name, value)
    return _packed(flatbuffers, schema, model, len(content))


def model_entries(content):
    """`{name: bytes}` of a `.tflite` file's model metadata entries (`TFLITE_METADATA`, `min_runtime_version`,
    `reduced_precision_support`, ...)."""
    from ai_edge_litert import schema_py_generated as schema  # not a dependency: see the module docstring

    model = schema.Model.GetRootAs(_model_bytes(content), 0)
    entries = {}
    for index in range(model.MetadataLength()):
        entry = model.Metadata(index)
        entries[_text(entry.Name())] = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    return entries


def _set_entry(schema, model, name, value):
    """Points the entry `name` of `model` (a `ModelT`) at a new buffer holding `value`."""
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(value, np.uint8)
    entry = schema.MetadataT()
    entry.name, entry.buffer = name, len(model.buffers)
    model.buffers.append(buffer)
    model.metadata = [old for old in (model.metadata or []) if _text(old.name) != name] + [entry]


def _packed(flatbuffers, schema, model, size_hint):
    model.buffers = [_AlignedBuffers(schema, b) for b in model.buffers]
    builder = flatbuffers.Builder(size_hint + 4096)
    builder.Finish(model.Pack(builder), file_identifier=MODEL_IDENTIFIER)
    return bytes(builder.Output())


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


class _Reader:
    """Field access on one table of a flatbuffer (the handful `read_metadata` needs)."""

    def __init__(self, buffer, position):
        import flatbuffers  # not a dependency of this package: see the module docstring

        self.table = flatbuffers.Table(buffer, position)

    def _offset(self, slot):
        return self.table.Offset(4 + 2 * slot)

    def string(self, slot):
        offset = self._offset(slot)
        return self.table.String(offset + self.table.Pos).decode("utf-8") if offset else None

    def _scalar(self, slot, fmt):
        offset = self._offset(slot)
        return struct.unpack_from(fmt, self.table.Bytes, offset + self.table.Pos)[0] if offset else 0

    def uint8(self, slot):
        return self._scalar(slot, "<B")

    def uint32(self, slot):
        return self._scalar(slot, "<I")

    def bytes(self, slot):
        offset = self._offset(slot)
        if not offset:
            return b""
        start, count = self.table.Vector(offset), self.table.VectorLen(offset)
        return bytes(self.table.Bytes[start : start + count])

    def table_at(self, slot):
        offset = self._offset(slot)
        return _Reader(self.table.Bytes, self.table.Indirect(offset + self.table.Pos)) if offset else None

    def tables(self, slot):
        offset = self._offset(slot)
        if not offset:
            return []
        start, count = self.table.Vector(offset), self.table.VectorLen(offset)
        return [_Reader(self.table.Bytes, self.table.Indirect(start + 4 * i)) for i in range(count)]

    def floats(self, slot):
        offset = self._offset(slot)
        if not offset:
            return None
        start, count = self.table.Vector(offset), self.table.VectorLen(offset)
        return [float(v) for v in np.frombuffer(bytes(self.table.Bytes[start : start + 4 * count]), "<f4")]


def _metadata_flatbuffer(content):
    """The bytes of the buffer the model's `metadata` list names `TFLITE_METADATA`, or None.

    Read with the flatbuffer tables alone (Model: buffers = slot 4, metadata =
    slot 6; Metadata: name, buffer; Buffer: data), so that reading needs no
    TFLite schema package (tflite-runtime ships none)."""
    model = _Reader(content, int.from_bytes(content[:4], "little"))
    buffers = model.tables(4)
    for entry in model.tables(6):
        if entry.string(0) == METADATA_NAME:
            index = entry.uint32(1)
            if index >= len(buffers):
                raise ValueError(f"The file's TFLITE_METADATA names buffer {index}; it has {len(buffers)}.")
            return buffers[index].bytes(0)
    return None


def _tensor(reader, associated):
    content = reader.table_at(3)
    stats = reader.table_at(5)
    units = [unit.table_at(1) for unit in reader.tables(4) if unit.uint8(0) == _NORMALIZATION_OPTIONS]
    files = [(f.string(0), f.uint8(2)) for f in reader.tables(6)]
    labels_file = next((name for name, kind in files if kind == _TENSOR_AXIS_LABELS), None)
    labels = None
    if labels_file is not None and labels_file in associated:
        labels = associated[labels_file].decode("utf-8").splitlines()
    return {
        "name": reader.string(0),
        "description": reader.string(1),
        "content": {_IMAGE_PROPERTIES: "image", _FEATURE_PROPERTIES: "features"}.get(
            content.uint8(0) if content else 0, None
        ),
        "normalization": ({"mean": units[0].floats(0), "std": units[0].floats(1)} if units else None),
        "stats": {"max": stats.floats(0), "min": stats.floats(1)} if stats else None,
        "associated_files": [name for name, _ in files],
        "labels_file": labels_file,
        "labels": labels,
    }


def read_metadata(model):
    """The metadata of a `.tflite` file (a path or its bytes) as a dict, or None when it has none.

    Keys: the model's `name`, `description`, `version`, `author`, `license`,
    `min_parser_version`, `associated_files` (names in the appended zip), and
    `input` / `output`: `name`, `description`, `content` ("image" or
    "features"), `normalization` ({mean, std} or None), `stats`,
    `labels_file` and `labels` (the class names read from it).

    Raises:
        ValueError: not a `.tflite` model, or metadata that is not a `M001` flatbuffer.
    """
    if not isinstance(model, (bytes, bytearray, memoryview)):
        with open(model, "rb") as file:
            model = file.read()
    content = _model_bytes(model)
    raw = _metadata_flatbuffer(content)
    if raw is None:
        return None
    if len(raw) < 8 or raw[4:8] != METADATA_IDENTIFIER:
        raise ValueError("The file's TFLITE_METADATA buffer is not a metadata flatbuffer (identifier M001).")
    associated = {}
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as files:
            associated = {name: files.read(name) for name in files.namelist()}
    except zipfile.BadZipFile:
        pass
    root = _Reader(raw, int.from_bytes(raw[:4], "little"))
    subgraph = (root.tables(3) or [None])[0]
    inputs = subgraph.tables(2) if subgraph else []
    outputs = subgraph.tables(3) if subgraph else []
    return {
        "name": root.string(0),
        "description": root.string(1),
        "version": root.string(2),
        "author": root.string(4),
        "license": root.string(5),
        "min_parser_version": root.string(7),
        "associated_files": sorted(associated),
        "input": _tensor(inputs[0], associated) if inputs else None,
        "output": _tensor(outputs[0], associated) if outputs else None,
    }


def input_type_of(input_detail, described):
    """What a `.tflite` file takes, from its input tensor's detail (the interpreter's) and its
    metadata (`read_metadata`, or None): `"uint8"` for an unquantized uint8 input (camera
    pixels), `"float32"` for a float input whose metadata normalisation is the identity
    (pixels), `"quantized_pixels"` for an integer input (`--io`) whose metadata says pixels
    (an int8 file whose first convolution is int8 takes the pixels quantized at scale 1:
    `--io uint8` gives the pixels themselves), `"quantized"` for another integer input (the
    normalised image, quantized), else `"normalized"`. The first three take pixels
    (`PIXEL_INPUT_TYPES`)."""
    dtype, (scale, _) = np.dtype(input_detail["dtype"]), input_detail["quantization"]
    if dtype == np.uint8 and scale == 0:
        return "uint8"
    normalization = described["input"]["normalization"] if described and described["input"] else None
    pixels = normalization == {"mean": list(PIXELS_AS_THEY_ARE[0]), "std": list(PIXELS_AS_THEY_ARE[1])}
    if dtype != np.float32:
        return "quantized_pixels" if pixels else "quantized"
    return "float32" if pixels else "normalized"


# Characters a class name may not hold: the C0 and C1 controls (tab, form feed, the
# separators \x1c-\x1e, NEL) and Unicode's line and paragraph separators. Python's
# `str.splitlines` ends a line at several of them; Android's clients read a labels file
# line by line at "\n"; a name holding one is a file that two readers count differently.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def check_label_names(names, source="labels", warn_repeats=True):
    """`names` as a tuple of class names, refused unless each is a non-empty string with no
    control character; with `warn_repeats`, a name given twice is a warning on stderr (two
    classes a client cannot tell apart by name; ImageNet's own list has two, `crane` and
    `maillot`, so the names the project supplies are not warned about).

    Raises:
        ValueError: naming `source`, the name's position and the fix.
    """
    if isinstance(names, (str, bytes)) or not all(isinstance(name, str) for name in names):
        raise ValueError(f"{source} must be a sequence of class names (strings), got {names!r:.80}.")
    names = tuple(names)
    for position, name in enumerate(names, 1):
        if not name.strip():
            raise ValueError(f"{source}: name {position} is empty; give one class name per line.")
        bad = _CONTROL.search(name)
        if bad:
            raise ValueError(
                f"{source}: name {position} {name!r} holds the control character {bad.group()!r}; "
                "class names are plain text, one per line."
            )
    seen = {}
    for position, name in enumerate(names if warn_repeats else (), 1):
        if name in seen:
            print(
                f"warning: {source}: name {position} {name!r} repeats name {seen[name]}; a client cannot tell "
                "these classes apart by name.",
                file=sys.stderr,
            )
        seen.setdefault(name, position)
    return names


def read_labels_file(path, count=None):
    """The class names of a labels file: UTF-8 text, one name per line, in class order.

    Lines end at `\n` (or `\r\n`) only, as Android's clients read them; surrounding
    spaces are dropped, as are blank lines at the end.

    Raises:
        ValueError: the file is missing or not UTF-8, has an empty line or a
            control character in a name, or (with `count`) does not have
            exactly `count` names; the message names the file, the line and the fix.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except OSError as error:
        raise ValueError(f"Labels file {path!r} cannot be read ({error.strerror or error}).") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValueError(
            f"Labels file {path!r} is not UTF-8 text (byte {error.start}, line {line}); save it as UTF-8."
        ) from None
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()  # trailing blank lines
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise ValueError(f"Labels file {path!r} has an empty line {number}; give one class name per line.")
        bad = _CONTROL.search(line.strip())
        if bad:
            raise ValueError(
                f"Labels file {path!r} line {number} holds the control character {bad.group()!r}; "
                "save one plain class name per line."
            )
    if count is not None and len(lines) != count:
        raise ValueError(
            f"Labels file {path!r} has {len(lines)} names; the model has {count} classes: give one name per "
            "line, in class order."
        )
    return list(check_label_names([line.strip() for line in lines], f"Labels file {path!r}"))
