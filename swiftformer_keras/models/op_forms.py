"""The TFLite-friendly forms of SwiftFormer's computations: the same functions, written as different ops.

A `.tflite` file runs what the Keras graph writes, op for op, and the runtimes differ in the
ops they run fast, or at all, in float and in int8 (docs/benchmarks.md "Runtimes"). So the layers
(`swiftformer_keras.models.layers`) compute their GELUs, their sums over tokens and their L2
norms through these functions, in the form a layer's config names (`architecture.ACTIVATIONS`,
`architecture.REDUCTIONS`; an export recipe, `lite.recipe`, picks them), and fold what the
converter would not fold (a BatchNorm before a convolution) into constants. Every form computes
the same function as the official model within the bound its docstring gives; the tests compare
them with NumPy.

Written with `keras.ops` only, so they run on every backend; tensors are channels-last (NHWC).
"""

from keras import layers, ops

# torch.nn.functional.normalize clamps the norm at this value.
_NORMALIZE_EPS = 1e-12
# The clamp of the fp16 form: its square's half, 2^-21, is still an fp16 number.
_FP16_NORMALIZE_EPS = 2.0**-10


def token_sum(x, form):
    """The sum over the `H x W` tokens, kept as `(batch, 1, 1, C)`: SUM, or (`"matmul"`) the
    tokens, transposed to the last axis, times a column of ones: TRANSPOSE and FULLY_CONNECTED
    in TFLite, which int8 kernels accumulate exactly in int32 and every XNNPACK runs in int8."""
    if form != "matmul":
        return ops.sum(x, axis=(1, 2), keepdims=True)
    tokens, channels = x.shape[1] * x.shape[2], x.shape[3]
    by_channel = ops.transpose(ops.reshape(x, (-1, tokens, channels)), (0, 2, 1))
    return ops.reshape(ops.matmul(by_channel, ops.ones((tokens, 1), x.dtype)), (-1, 1, 1, channels))


def l2_normalize(x, axis, form="sum"):
    """`torch.nn.functional.normalize(x, dim=axis)`: `x / max(||x||, eps)`, over the
    channels (`axis=-1`) or the tokens (`axis=(1, 2)`).

    Four formulations of the same function (`REDUCTIONS`; the fourth clamps
    small norms at fp16's scale), for the TFLite runtimes that run them:

    - `"sum"`: `x * rsqrt(max(sum(x^2), eps^2))`, without DIV or SQRT. Full-
      integer TFLite cannot run an int8 DIV by the clamped norm; the int8
      recipe keeps RSQRT and MAXIMUM (used nowhere else) in float, and the
      XNNPACK of LiteRT runs them inside the int8 partition.
    - `"channel_conv"`: PyTorch's own `x / max(sqrt(sum(x^2)), eps)`, written
      `x * (1 / max(...))`, the channel sum as a 1x1 convolution by ones. The
      XNNPACK of TF <= 2.16 (tflite-runtime 2.14, the last Android AAR) has
      no RSQRT and no SUM over channels (it has SUM over tokens, in float).
    - `"matmul"`: `"channel_conv"` with the token sums (`token_sum`) as a
      matmul by ones, for int8: TF 2.16's XNNPACK drops the whole int8 graph
      for an int8 SUM over tokens; as N x MEAN the int8 token sum of squares
      loses the attention (SQNR 8 dB); as an `H x W` depthwise convolution by
      ones XNNPACK runs it as a grouped GEMM of one row per channel, 100x
      slower than TRANSPOSE + FULLY_CONNECTED (docs/benchmarks.md "Runtimes").
    - `"fp16_sum"`: `"sum"` for fp16 arithmetic: the sum of `x * (x / 2)`, its
      `sqrt(1 / 2)` applied to the small norm tensor, and the norm clamped at
      `2^-10`, which fp16 holds (torch's `1e-12` is 0 there, and a zero vector
      would give NaN). XNNPACK fuses a SUM of a square into one "sum of
      squares" node it has in fp32 only, and that node keeps the attention and
      every op after it in its block in fp32 (docs/arm.md); a SUM of a
      product of two tensors it runs in fp16. The same function as the
      others for every norm above `2^-10`; a mean (`x * (x / n)`) would
      underflow fp16 on small values.
    """
    if form == "sum":
        return x * ops.rsqrt(ops.maximum(ops.sum(x * x, axis=axis, keepdims=True), _NORMALIZE_EPS**2))
    if form == "fp16_sum":
        half_sum_of_squares = ops.sum(x * (x * 0.5), axis=axis, keepdims=True)
        return x * (ops.rsqrt(ops.maximum(half_sum_of_squares, 0.5 * _FP16_NORMALIZE_EPS**2)) * 0.5**0.5)
    if axis == -1:
        sum_of_squares = ops.conv(x * x, ops.ones((1, 1, x.shape[-1], 1), x.dtype))
    else:
        sum_of_squares = token_sum(x * x, form)
    # The reciprocal of the small norm tensor, then a broadcast MUL: int8 keeps only the norm in float.
    return x * (1.0 / ops.maximum(ops.sqrt(sum_of_squares), _NORMALIZE_EPS))


# The pre-activation scale of the sigmoid GELU forms: `gelu(h) ~ h * sigmoid(c h ...)`.
_GELU_SCALE = {"quick_gelu": 1.702, "gelu_tanh": 1.5957691216057308}  # 2 * sqrt(2 / pi)
_GELU_TANH_CUBIC = 0.044715 / _GELU_SCALE["gelu_tanh"] ** 2


def pointwise_mlp(x, first, second, activation, between=None):
    """`second(between(gelu(first(x))))` for two 1x1 convolutions, each a `Conv2D` or its
    `(kernel, bias)`, the GELU in one of the `ACTIVATIONS` forms; `between` (dropout, say)
    must be linear.

    - `"gelu"`: exact (erf), as in the official model; one TFLite GELU op.
    - `"quick_gelu"`: `h * sigmoid(1.702 h)`, at most 0.02 from GELU. XNNPACK
      has int8 LOGISTIC and MUL but no int8 GELU; the int8 recipes use it, and
      so do the float recipes for TF <= 2.16, whose XNNPACK has no GELU
      (`lite.recipe.RECIPES`: two ops where the tanh form takes six).
    - `"gelu_tanh"`: the tanh approximation `h * sigmoid(1.5958 (h + 0.044715 h^3))`,
      at most 5e-4 from GELU, from ops the XNNPACK of TF <= 2.16 runs in
      float (it has no GELU).

    The sigmoid forms scale `h` by `c` before the sigmoid: that factor goes into
    `first`'s kernel and bias and its inverse into `second`'s kernel (the
    converter folds both into the constants), so `t = c h` costs no op:
    `second(t * sigmoid(t) / c)` and `second(t * sigmoid(t (1 + k t^2)) / c)`.
    """
    between = between or (lambda hidden: hidden)
    if activation == "gelu":
        return _conv_1x1(between(ops.gelu(_conv_1x1(x, first), approximate=False)), second)
    scale = _GELU_SCALE[activation]
    t = _conv_1x1(x, first, scale, scale)
    gate = t if activation == "quick_gelu" else t * (1.0 + _GELU_TANH_CUBIC * (t * t))
    return _conv_1x1(between(t * ops.sigmoid(gate)), second, 1.0 / scale, 1.0)


def _conv_1x1(x, conv, kernel_scale=1.0, bias_scale=1.0):
    """`conv(x)` (a `Conv2D` or its `(kernel, bias)`) with its kernel and bias scaled by
    constants (folded by the TFLite converter)."""
    kernel, bias = (conv.kernel, conv.bias) if isinstance(conv, layers.Layer) else conv
    kernel = ops.cast(kernel, x.dtype) * kernel_scale
    return ops.conv(x, kernel) + ops.cast(bias, x.dtype) * bias_scale


def norm_as_affine(norm, dtype):
    """`(a, b)`, per channel, such that the inference-mode BatchNorm `norm` computes `x * a + b`."""
    variance, mean = ops.cast(norm.moving_variance, dtype), ops.cast(norm.moving_mean, dtype)
    scale = ops.cast(norm.gamma, dtype) * ops.rsqrt(variance + norm.epsilon)
    return scale, ops.cast(norm.beta, dtype) - mean * scale


def norm_folded_into(norm, conv, dtype):
    """`(kernel, bias)` of the 1x1 `conv` applied after the inference-mode BatchNorm `norm`,
    as one convolution: `conv(x * a + b) = x (a W) + (b W + c)` (`norm_as_affine`). The
    TFLite converter folds a BatchNorm that follows a convolution but not one that comes
    before it; folded here, it costs no op (a broadcast MUL and ADD fewer, which int8 pays
    per element)."""
    scale, shift = norm_as_affine(norm, dtype)
    kernel = ops.cast(conv.kernel, dtype)
    folded_bias = ops.cast(conv.bias, dtype) + ops.matmul(shift[None, :], kernel[0, 0])[0]
    return kernel * scale[:, None], folded_bias
