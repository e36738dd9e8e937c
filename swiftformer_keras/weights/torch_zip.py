"""Reads PyTorch zip checkpoints (`torch.save` since PyTorch 1.6) without torch.

A `.pth`/`.bin` file is a zip archive holding `data.pkl` (a pickle of the
state dict whose tensors point at storages) and one raw little-endian file per
storage under `data/`. The unpickler here resolves only the handful of
globals a state dict needs (tensor rebuilders, storage types, OrderedDict);
any other global (an optimizer class, argparse.Namespace, ...) becomes an
inert placeholder. Nothing from the file is ever executed, and every tensor's
size, stride and offset are checked against the bytes its storage really has
before anything is read, so a crafted file cannot read outside them: the same
guarantees as `torch.load(weights_only=True)`. PyTorch is not needed to load
the published checkpoints.
"""

import collections
import pickle
import zipfile

import numpy as np

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name):
        self.name = name


class _Storage:
    """The elements of one `data/<key>` file, as a flat NumPy array."""

    def __init__(self, array):
        self.array = array


class _Invalid:
    """Stands in for a tensor the file describes impossibly.

    Rebuilding it would read memory outside its storage, so it is never
    rebuilt; `load` then names its key, which is not known while unpickling.
    """

    def __init__(self, reason):
        self.reason = reason


class _Placeholder:
    """Stands in for any class the checkpoint names but a state dict does not need."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


def _placeholder_class(module, name):
    return type(f"Unloaded[{module}.{name}]", (_Placeholder,), {})


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _layout_error(storage, offset, size, stride):
    """Why a tensor view of `storage` is impossible, or None when every element lies inside it."""
    if isinstance(storage, _Invalid):
        return storage.reason
    if not isinstance(storage, _Storage):
        return f"its storage is a {type(storage).__name__}, not a storage"
    if not _is_count(offset):
        return f"its storage offset {offset!r} is not a non-negative integer"
    if not isinstance(size, (tuple, list)) or not isinstance(stride, (tuple, list)) or len(size) != len(stride):
        return f"its size {size!r} and stride {stride!r} do not match"
    if not all(map(_is_count, size)) or not all(map(_is_count, stride)):
        return f"its size {tuple(size)} or stride {tuple(stride)} holds something other than non-negative integers"
    length = len(storage.array)
    count = int(np.prod(size, dtype=object))
    if count > max(length, 1):
        # Only a zero stride (a broadcast view) can do this; no weight is one,
        # and copying it out could ask for any amount of memory.
        return f"its size {tuple(size)} holds {count} elements, more than the {length} of its storage"
    if 0 in size:
        return None if offset <= length else f"its offset {offset} lies beyond a storage of {length} elements"
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= length:
        return (
            f"with size {tuple(size)}, stride {tuple(stride)} and offset {offset} it reaches element "
            f"{last} of a storage of {length} elements"
        )
    return None


def _rebuild_tensor(storage, offset, size, stride, *unused):
    error = _layout_error(storage, offset, size, stride)
    if error:
        return _Invalid(error)
    array = storage.array
    if not size:  # a scalar; as_strided cannot make 0-d views
        return array[offset : offset + 1].reshape(()).copy()
    try:
        if 0 in size:
            return np.zeros(tuple(size), array.dtype)
        view = np.lib.stride_tricks.as_strided(
            array[offset:], shape=tuple(size), strides=tuple(s * array.dtype.itemsize for s in stride)
        )
        return np.ascontiguousarray(view)
    except (ValueError, MemoryError) as error:
        return _Invalid(f"its size {tuple(size)} cannot be allocated ({error})")


def _rebuild_parameter(data, *unused):
    return data


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, archive, prefix):
        super().__init__(file)
        self.archive = archive
        self.prefix = prefix
        self.storages = {}

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        return _placeholder_class(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[2], str)):
            raise pickle.UnpicklingError(f"Unsupported storage reference {pid!r}.")
        _kind, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            name = getattr(storage_type, "__name__", storage_type)
            return _Invalid(f"its storage type {name} is not a supported dtype")
        if key not in self.storages:
            self.storages[key] = self._read_storage(key, storage_type.name, numel)
        return self.storages[key]

    def _read_storage(self, key, type_name, numel):
        dtype = _STORAGE_DTYPES[type_name]
        stored = np.dtype("<u2" if dtype == "bfloat16" else dtype)  # the bytes as they are in the file
        raw = self.archive.read(f"{self.prefix}/data/{key}" if self.prefix else f"data/{key}")
        # torch.save records each storage's element count beside its bytes;
        # a disagreement means the file was damaged or written by hand.
        if not _is_count(numel) or len(raw) != numel * stored.itemsize:
            kind = "bfloat16" if dtype == "bfloat16" else stored.name
            expected = f" ({numel * stored.itemsize} bytes)" if _is_count(numel) else ""
            return _Invalid(
                f"its storage announces {numel!r} {kind} elements{expected} but data/{key} holds {len(raw)} bytes"
            )
        if dtype == "bfloat16":  # the upper half of a float32
            array = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=stored.newbyteorder("<"))
        return _Storage(array)


def _first_invalid(obj):
    """`(key path, _Invalid)` of the first impossible tensor in nested dicts and lists, or None."""
    stack, seen = [((), obj)], set()
    while stack:
        where, value = stack.pop()
        if isinstance(value, _Invalid):
            return where, value
        if id(value) in seen:  # a pickle can hold cycles
            continue
        seen.add(id(value))
        if isinstance(value, dict):
            items = list(value.items())
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        else:
            continue
        stack.extend((where + (key,), item) for key, item in reversed(items))
    return None


def is_torch_zip(path):
    """Whether `path` is a zip-format PyTorch checkpoint."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist())


def load(path):
    """Returns the unpickled object of a zip-format PyTorch checkpoint, with
    tensors as NumPy arrays.

    Raises `ValueError` naming the key (e.g. `checkpoint['model']['head.weight']`)
    of the first tensor whose dtype, size, stride or offset does not fit the
    bytes its storage holds; nothing outside a storage is ever read.
    """
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if not pickles:
            raise ValueError(f"{path!r} is a zip file but not a PyTorch checkpoint (no data.pkl).")
        prefix = pickles[0].rsplit("/", 1)[0] if "/" in pickles[0] else ""
        byteorder = f"{prefix}/byteorder" if prefix else "byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
            raise ValueError(f"{path!r} was saved big-endian; convert it on that machine first.")
        with archive.open(pickles[0]) as file:
            result = _RestrictedUnpickler(file, archive, prefix).load()
    invalid = _first_invalid(result)
    if invalid:
        where, tensor = invalid
        key = "checkpoint" + "".join(f"[{k!r}]" for k in where)
        raise ValueError(f"the tensor {key} cannot be read safely: {tensor.reason}")
    return result
