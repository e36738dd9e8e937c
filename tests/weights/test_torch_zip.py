"""The torch-free checkpoint reader against torch.load itself, and against crafted files."""

import argparse
import collections
import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from conftest import ROOT
from swiftformer_keras.weights import torch_zip


def test_matches_torch_load_for_every_dtype_and_layout(tmp_path):
    base = torch.arange(60, dtype=torch.float32).reshape(3, 4, 5) / 7
    tensors = {
        "float": base,
        "transposed": base.permute(2, 0, 1),  # non-contiguous strides
        "slice": base[1:, ::2, 1:4],  # storage offset and steps
        "double": base.double(),
        "half": base.half(),
        "bfloat16": base.bfloat16(),
        "int64": torch.tensor([1, -2, 3]),
        "uint8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False]),
        "scalar": torch.tensor(3.5),
        "parameter": torch.nn.Parameter(base[0]),
    }
    path = tmp_path / "all.pth"
    torch.save({"model": tensors, "args": argparse.Namespace(lr=0.1), "epoch": 7}, path)
    loaded = torch_zip.load(path)
    reference = torch.load(path, weights_only=False)
    assert loaded["epoch"] == 7
    for name, tensor in reference["model"].items():
        expected = tensor.detach().float().numpy() if tensor.dtype == torch.bfloat16 else tensor.detach().numpy()
        assert np.array_equal(loaded["model"][name], expected), name
        assert loaded["model"][name].shape == tuple(tensor.shape)


def test_unknown_classes_become_inert_placeholders(tmp_path):
    path = tmp_path / "with_optimizer.pth"
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.save({"model": model.state_dict(), "opt": optimizer.state_dict(), "args": argparse.Namespace(x=1)}, path)
    loaded = torch_zip.load(path)
    assert type(loaded["args"]).__name__ == "Unloaded[argparse.Namespace]"
    np.testing.assert_array_equal(loaded["model"]["weight"], model.weight.detach().numpy())


def test_is_torch_zip_and_errors(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"a": torch.zeros(2)}, path)
    assert torch_zip.is_torch_zip(path)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert not torch_zip.is_torch_zip(other)
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        torch_zip.load(other)


class _Storage:
    """A storage reference in a hand-written checkpoint: `data/<key>` holding `numel` floats."""

    def __init__(self, key, numel, dtype=None):
        self.key, self.numel, self.dtype = key, numel, dtype or torch.FloatStorage


class _Tensor:
    """Pickles as torch.save pickles a tensor, with whatever size, stride and offset it is given."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride)

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, (*self.args, False, collections.OrderedDict())


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", obj.dtype, obj.key, "cpu", obj.numel)
        return None


def write_crafted(path, state, data):
    """Writes a zip checkpoint by hand: `state` pickled as torch would, `data` the raw storages."""
    pickled = io.BytesIO()
    _Pickler(pickled, protocol=2).dump(state)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickled.getvalue())
        archive.writestr("archive/byteorder", "little")
        for key, raw in data.items():
            archive.writestr(f"archive/data/{key}", raw)
    return str(path)


KEY = "network.0.0.dwconv.weight"
FOUR_FLOATS = {"0": np.arange(4, dtype="<f4").tobytes()}


def test_a_crafted_file_round_trips_when_it_is_consistent(tmp_path):
    path = write_crafted(tmp_path / "ok.pth", {KEY: _Tensor(_Storage("0", 4), 1, (3,), (1,))}, FOUR_FLOATS)
    np.testing.assert_array_equal(torch_zip.load(path)[KEY], [1, 2, 3])


@pytest.mark.parametrize(
    "tensor, data, reason",
    [
        (_Tensor(_Storage("0", 4), 0, (64,), (1,)), FOUR_FLOATS, "more than the 4 of its storage"),
        (_Tensor(_Storage("0", 4), 0, (10**6, 10**6), (0, 0)), FOUR_FLOATS, "1000000000000 elements, more than"),
        (_Tensor(_Storage("0", 4), 2, (2, 2), (1, 1)), FOUR_FLOATS, "reaches element 4 of a storage of 4"),
        (
            _Tensor(_Storage("0", 4), 0, (2, 2), (10**11, 1)),
            FOUR_FLOATS,
            "reaches element 100000000001 of a storage of 4",
        ),
        (_Tensor(_Storage("0", 4), 4, (), ()), FOUR_FLOATS, "reaches element 4 of a storage of 4"),
        (_Tensor(_Storage("0", 4), -1, (2,), (1,)), FOUR_FLOATS, "offset -1"),
        (_Tensor(_Storage("0", 4), 0, (2,), (-1,)), FOUR_FLOATS, r"stride \(-1,\)"),
        (_Tensor(_Storage("0", 4), 0, (2,), (1, 1)), FOUR_FLOATS, r"size \(2,\) and stride \(1, 1\)"),
        (_Tensor(_Storage("0", 4), 0, (2.5,), (1,)), FOUR_FLOATS, r"size \(2.5,\)"),
        (_Tensor("not a storage", 0, (2,), (1,)), {}, "its storage is a str"),
        (
            _Tensor(_Storage("0", 64), 0, (64,), (1,)),
            FOUR_FLOATS,
            "announces 64 float32 elements .256 bytes. but data/0 holds 16",
        ),
        (_Tensor(_Storage("0", 4), 0, (4,), (1,)), {"0": b"\0" * 15}, "holds 15 bytes"),
        (_Tensor(_Storage("0", 4, torch.DoubleStorage), 0, (4,), (1,)), FOUR_FLOATS, "announces 4 float64"),
        (
            _Tensor(_Storage("0", 2, torch.ComplexFloatStorage), 0, (2,), (1,)),
            FOUR_FLOATS,
            "ComplexFloatStorage.* not a supported dtype",
        ),
    ],
)
def test_a_tensor_that_does_not_fit_its_storage_is_refused_by_key(tmp_path, tensor, data, reason):
    path = write_crafted(tmp_path / "bad.pth", {"epoch": 3, "model": {KEY: tensor}}, data)
    with pytest.raises(ValueError, match=rf"\['model'\]\['{KEY}'\].*{reason}") as error:
        torch_zip.load(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("how", ["builder", "convert_weights"])
def test_a_crafted_stride_cannot_crash_the_process(tmp_path, how):
    """A stride of 10**11 over four floats used to read far outside the heap: SIGSEGV."""
    path = write_crafted(tmp_path / "crash.pth", {KEY: _Tensor(_Storage("0", 4), 0, (4,), (10**11,))}, FOUR_FLOATS)
    command = {
        "builder": ["-c", f"from swiftformer_keras import SwiftFormerXS; SwiftFormerXS(weights={path!r})"],
        "convert_weights": ["-m", "swiftformer_keras.convert_weights", path, str(tmp_path / "out.weights.h5")],
    }[how]
    result = subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT)
    )
    assert result.returncode not in (-11, 139), result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert f"'{KEY}'" in last and "reaches element 300000000000 of a storage of 4" in last, result.stderr[-2000:]
    if how == "convert_weights":
        assert result.returncode == 2 and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == ["crash.pth"]
