"""The op forms: each computes the function it stands for, against NumPy."""

from math import erf

import keras
import numpy as np
import pytest

from swiftformer_keras.models import op_forms
from swiftformer_keras.models.architecture import ACTIVATIONS, REDUCTIONS

RNG = np.random.RandomState(0)


def _identity_conv(channels):
    conv = keras.layers.Conv2D(channels, 1)
    conv.build((None, None, None, channels))
    conv.set_weights([np.eye(channels, dtype="float32")[None, None], np.zeros(channels, "float32")])
    return conv


def test_gelu_forms_compute_what_they_say():
    x = np.linspace(-6, 6, 2000).astype("float32").reshape(1, 40, 50, 1) * np.ones((1, 1, 1, 2), "float32")
    first, second = _identity_conv(2), _identity_conv(2)
    exact = np.vectorize(lambda v: v * 0.5 * (1 + erf(v / np.sqrt(2))))(x.astype(np.float64))
    forms = {form: np.asarray(op_forms.pointwise_mlp(x, first, second, form)) for form in ACTIVATIONS}
    np.testing.assert_allclose(forms["gelu"], exact, atol=1e-6)
    # The sigmoid forms are computed with their scale folded into the convolutions: the same function.
    np.testing.assert_allclose(forms["quick_gelu"], x / (1 + np.exp(-1.702 * x)), atol=1e-5)
    tanh_form = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(forms["gelu_tanh"], tanh_form, atol=1e-5)
    # The documented bounds: within 0.021 (quick) and 5e-4 (tanh) of GELU everywhere, and not equal to it.
    assert 0.01 < np.max(np.abs(forms["quick_gelu"] - exact)) < 0.021
    assert 1e-4 < np.max(np.abs(forms["gelu_tanh"] - exact)) < 5e-4


@pytest.mark.parametrize("axis", [-1, (1, 2)])
def test_every_reduction_form_is_the_same_l2_normalize(axis):
    x = RNG.randn(3, 5, 7, 6).astype("float32")
    x[1, :, :, :] *= 1e-14  # norms below torch's eps: clamped
    x[2, :, :, :] *= 1e-4  # below the fp16 form's clamp, above torch's
    norms = np.linalg.norm(x.astype(np.float64), axis=axis, keepdims=True)
    for form in REDUCTIONS:
        expected = x / np.maximum(norms, 2.0**-10 if form == "fp16_sum" else 1e-12)
        np.testing.assert_allclose(np.asarray(op_forms.l2_normalize(x, axis, form)), expected, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("axis", [-1, (1, 2)])
def test_the_fp16_form_holds_in_fp16_where_the_sum_form_breaks(axis):
    """Computed in float16: a zero vector stays zero (torch's eps is 0 in fp16: the "sum" form gives NaN)
    and small values keep their direction (a mean of squares would underflow to 0)."""
    x = RNG.randn(3, 8, 8, 48).astype("float32")
    x[1] = 0.0
    x[2] *= 2e-3
    norms = np.linalg.norm(x.astype(np.float64), axis=axis, keepdims=True)
    expected = x / np.maximum(norms, 2.0**-10)
    half = np.asarray(op_forms.l2_normalize(x.astype("float16"), axis, "fp16_sum"), np.float64)
    np.testing.assert_allclose(half, expected, atol=5e-3)
    assert np.isnan(np.asarray(op_forms.l2_normalize(x.astype("float16"), axis, "sum"))[1]).all()


def test_l2_normalize_matches_torch_semantics_for_tiny_norms():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [3e-13, 4e-13]], "float32")
    got = np.asarray(op_forms.l2_normalize(x, axis=-1))
    # torch.nn.functional.normalize: x / max(||x||, 1e-12)
    expected = x / np.maximum(np.linalg.norm(x.astype(np.float64), axis=-1, keepdims=True), 1e-12)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("form", REDUCTIONS)
def test_every_reduction_form_sums_over_the_tokens(form):
    x = RNG.randn(2, 5, 7, 6).astype("float32")
    got = np.asarray(op_forms.token_sum(x, form))
    np.testing.assert_allclose(got, x.sum(axis=(1, 2), keepdims=True), rtol=1e-5, atol=1e-5)


def test_a_norm_folded_into_the_next_convolution_computes_both():
    """norm_folded_into: conv(norm(x)) in inference as one convolution; norm_as_affine: norm(x) as x * a + b."""
    norm, conv = keras.layers.BatchNormalization(epsilon=1e-5), keras.layers.Conv2D(5, 1)
    x = RNG.randn(2, 3, 4, 6).astype("float32")
    conv(norm(x))
    for variable in norm.weights:  # statistics and affine away from their identity initial values
        variable.assign(RNG.uniform(0.5, 1.5, variable.shape).astype("float32"))
    expected = np.asarray(conv(norm(x, training=False)))
    scale, shift = (np.asarray(v) for v in op_forms.norm_as_affine(norm, "float32"))
    np.testing.assert_allclose(x * scale + shift, np.asarray(norm(x, training=False)), rtol=1e-5, atol=1e-5)
    kernel, bias = op_forms.norm_folded_into(norm, conv, "float32")
    folded = np.asarray(keras.ops.conv(x, kernel) + bias)
    np.testing.assert_allclose(folded, expected, rtol=1e-5, atol=1e-5)
