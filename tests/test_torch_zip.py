"""The torch-free checkpoint reader against torch.load itself."""

import argparse
import zipfile

import numpy as np
import pytest
import torch

from swiftformer_keras import torch_zip


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
