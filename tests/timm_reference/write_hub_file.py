"""Writes a checkpoint as timm's hub holds it, with timm's own SwiftFormer, and that model's logits.

    python tests/timm_reference/write_hub_file.py VARIANT OFFICIAL.pth OUTPUT.safetensors INPUTS.npy LOGITS.npy

Run with `.timm` (timm and torchvision, `make .timm/.installed`) on PYTHONPATH, beside `.venv`'s torch:
`conftest.timm_hub_file` does. timm's own `checkpoint_filter_fn` maps the official checkpoint into timm's
`swiftformer_<variant>` (strictly), whose whole state dict (BatchNorm counters included) is saved without
metadata, as timm's hub files are: for XS this gives exactly the 13,957,760 bytes of timm's
`model.safetensors`. The logits are timm's model's, in eval mode, on the NHWC inputs.

PyPI's torchvision wheel is built against CUDA torch: beside the CPU build its C ops do not load, and
torchvision 0.28 then fails on import, registering fake kernels for two ops that were never defined
(`torchvision::nms`, `qnms`). timm imports only torchvision's Python parts, and its SwiftFormer uses none
of torchvision's C ops, so the two schemas are defined here, in this process only, before the import.
"""

import sys

import numpy as np
import torch


def _define_missing_torchvision_ops():
    for op in ("nms", "qnms"):
        try:
            torch._C._dispatch_find_schema_or_throw(f"torchvision::{op}", "")
        except RuntimeError:
            torch.library.define(f"torchvision::{op}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")


def main(variant, official_checkpoint, output, inputs, logits):
    _define_missing_torchvision_ops()
    import timm
    from safetensors.torch import save_file
    from timm.models.swiftformer import checkpoint_filter_fn

    model = timm.create_model(f"swiftformer_{variant.lower()}.dist_in1k", pretrained=False)
    state = torch.load(official_checkpoint, map_location="cpu", weights_only=False)
    model.load_state_dict(checkpoint_filter_fn(state, model), strict=True)
    model.eval()
    save_file({key: value.detach().contiguous() for key, value in model.state_dict().items()}, output)
    images = np.load(inputs)
    with torch.no_grad():
        result = model(torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))).numpy()
    np.save(logits, result)


if __name__ == "__main__":
    main(*sys.argv[1:])
