"""Reads PyTorch zip checkpoints (`torch.save` since PyTorch 1.6) without torch.

A `.pth`/`.bin` file is a zip archive holding `data.pkl` (a pickle of the
state dict whose tensors point at storages) and one raw little-endian file per
storage under `data/`. The unpickler here resolves only the handful of
globals a state dict needs (tensor rebuilders, storage types, OrderedDict);
any other global (an optimizer class, argparse.Namespace, ...) becomes an
inert placeholder. Nothing from the file is ever executed, which is the same
guarantee as `torch.load(weights_only=True)`, and PyTorch is not needed to
load the published checkpoints.
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


class _Placeholder:
    """Stands in for any class the checkpoint names but a state dict does not need."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


def _placeholder_class(module, name):
    return type(f"Unloaded[{module}.{name}]", (_Placeholder,), {})


def _rebuild_tensor(storage, offset, size, stride, *unused):
    if not size:
        return storage[offset : offset + 1].reshape(()).copy()
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)
    )
    return np.ascontiguousarray(view)


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
        kind, storage_type, key, _location, _numel = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"Unsupported storage reference {pid!r}.")
        if key not in self.storages:
            folder = f"{self.prefix}/data" if self.prefix else "data"
            raw = self.archive.read(f"{folder}/{key}")
            dtype = _STORAGE_DTYPES[storage_type.name]
            if dtype == "bfloat16":  # the upper half of a float32
                bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
                array = bits.view(np.float32)
            else:
                array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
            self.storages[key] = array
        return self.storages[key]


def is_torch_zip(path):
    """Whether `path` is a zip-format PyTorch checkpoint."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist())


def load(path):
    """Returns the unpickled object of a zip-format PyTorch checkpoint, with
    tensors as NumPy arrays."""
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if not pickles:
            raise ValueError(f"{path!r} is a zip file but not a PyTorch checkpoint (no data.pkl).")
        prefix = pickles[0].rsplit("/", 1)[0] if "/" in pickles[0] else ""
        byteorder = f"{prefix}/byteorder" if prefix else "byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
            raise ValueError(f"{path!r} was saved big-endian; convert it on that machine first.")
        with archive.open(pickles[0]) as file:
            return _RestrictedUnpickler(file, archive, prefix).load()
