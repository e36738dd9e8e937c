"""The PyTorch reference: transformers' SwiftFormer, with the official L2 attention on request."""

import numpy as np
import pytest
import torch

from android_bench import torch_reference

XS = ([3, 3, 6, 4], [48, 56, 112, 220])


def test_l2_swaps_the_attention_and_nothing_else():
    torch.manual_seed(0)
    softmax = torch_reference.swiftformer(*XS, classes=10, attention="softmax")
    torch.manual_seed(0)
    l2 = torch_reference.swiftformer(*XS, classes=10, attention="l2")
    assert softmax.state_dict().keys() == l2.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(softmax.state_dict().values(), l2.state_dict().values(), strict=True))
    attention = next(m for m in l2.modules() if type(m).__name__ == "SwiftFormerEfficientAdditiveAttention")
    tokens = torch.randn(2, 49, attention.to_query.in_features)
    with torch.no_grad():
        out = attention(tokens)
        shipped = type(attention).forward(attention, tokens)  # transformers' own (softmax) forward
    assert out.shape == shipped.shape == tokens.shape
    assert torch.equal(out, torch_reference.official_l2_attention(attention, tokens))
    assert not torch.allclose(out, shipped, atol=1e-3)
    with torch.no_grad():
        pixels = torch.randn(1, 3, 64, 64)
        assert not np.allclose(softmax(pixels).logits.numpy(), l2(pixels).logits.numpy())
    assert not softmax.training and l2.config.num_labels == 10


def test_unknown_attention_is_refused():
    with pytest.raises(ValueError, match="attention must be one of .*'token_softmax'"):
        torch_reference.swiftformer(*XS, attention="token_softmax")


def test_random_reference_is_seeded_and_has_a_trained_models_logit_spread():
    first = torch_reference.random_reference(*XS, classes=10, attention="l2", seed=1)
    again = torch_reference.random_reference(*XS, classes=10, attention="l2", seed=1)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True))
    probe = torch.from_numpy(np.random.RandomState(1).randn(2, 3, 224, 224).astype("float32"))
    with torch.no_grad():
        assert float(first(probe).logits.std()) == pytest.approx(5.0, rel=1e-4)
    scales = [v for k, v in first.state_dict().items() if "layer_scale" in k]
    assert scales and all(float(v.min()) >= 0.5 for v in scales)  # none left at the 1e-5 default
    assert not first.training


def test_weights_of_another_architecture_or_no_weights_file_are_one_clear_error(tmp_path):
    """They ended in transformers' multi-line RuntimeError, or safetensors' own error type (issue 25)."""
    tiny = ([1, 1, 1, 1], [16, 24, 32, 48])
    weights = torch_reference.save_safetensors(
        torch_reference.swiftformer(*tiny, classes=10), str(tmp_path / "w.safetensors")
    )
    assert torch_reference.safetensors_shapes(weights)["head.weight"] == (10, 48)
    with pytest.raises(
        ValueError,
        match=r"not those of a SwiftFormer with depths \[1, 1, 1, 1\], widths "
        r"\[16, 24, 32, 48\] and 1000 classes: head.weight is \(10, 48\) in the "
        r"file, \(1000, 48\) in the model",
    ):
        torch_reference.load_reference(*tiny, 1000, "softmax", weights)
    with pytest.raises(
        ValueError,
        match=r"44 tensors missing \(swiftformer.encoder.network.4.blocks.0.*; 32 tensors "
        r"the model does not have \(swiftformer.encoder.network.4.blocks.0.attn",
    ):
        torch_reference.load_reference([1, 1, 2, 1], tiny[1], 10, "softmax", weights)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="is not a .safetensors file"):
        torch_reference.load_reference(*tiny, 10, "softmax", str(garbage))
    assert torch_reference.load_reference(*tiny, 10, "l2", weights).config.num_labels == 10
