"""SwiftFormer building blocks as Keras 3 layers.

Every layer is written with `keras.ops` only, so it runs on the TensorFlow, JAX
and PyTorch backends. Tensors are channels-last (NHWC) throughout: the layers
never transpose, which keeps the exported TFLite graph free of TRANSPOSE ops.

Sub-layer names follow the official PyTorch code (Amshaker/SwiftFormer) so that
a checkpoint key such as `network.0.2.pwconv1.weight` maps onto the Keras
variable `stage0_block2/pwconv1/kernel` by renaming alone.
"""

import keras
from keras import layers, ops

PACKAGE = "swiftformer_keras"
ATTENTION_TYPES = ("l2", "softmax", "token_softmax")
ACTIVATIONS = ("gelu", "quick_gelu")

# torch.nn.functional.normalize clamps the norm at this value.
_NORMALIZE_EPS = 1e-12
# PyTorch's BatchNorm2d: eps 1e-5, running stats updated with momentum 0.1.
_BN_EPS = 1e-5
_BN_MOMENTUM = 0.9


def _batch_norm(name, dtype=None):
    return layers.BatchNormalization(epsilon=_BN_EPS, momentum=_BN_MOMENTUM, name=name, dtype=dtype)


def _pointwise(filters, name, dtype=None):
    """A 1x1 convolution: PyTorch's 1x1 Conv2d and its Linear on NHWC tokens."""
    return layers.Conv2D(filters, 1, name=name, dtype=dtype)


def _l2_normalize(x, axis):
    """`torch.nn.functional.normalize(x, dim=axis)`, as `x * rsqrt(max(sum(x^2), eps^2))`.

    The same function as PyTorch's `x / max(||x||, eps)`, written without DIV
    and SQRT: full-integer TFLite cannot run the int8 DIV by the clamped norm,
    and the int8 converter keeps RSQRT and MAXIMUM (ops that appear nowhere
    else in the model) in float so XNNPACK runs the whole graph.
    """
    sum_of_squares = ops.sum(x * x, axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(sum_of_squares, _NORMALIZE_EPS**2))


def _check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {activation!r}; use one of {ACTIVATIONS}.")
    return activation


def _activation(x, activation):
    """GELU: exact (erf) as in the official model, or `x * sigmoid(1.702 x)`.

    `"quick_gelu"` (the sigmoid approximation; at most 0.02 from GELU) is what
    the default int8 recipe swaps in (`int8_recipe.DEFAULT_INT8_RECIPE`):
    XNNPACK has int8 LOGISTIC and MUL but no int8 GELU, and the approximation
    error is below one int8 step of these activations.
    """
    if activation == "quick_gelu":
        return x * ops.sigmoid(1.702 * x)
    return ops.gelu(x, approximate=False)


def _build_chain(sublayers, input_shape):
    """Builds sub-layers applied one after another, returning the output shape."""
    shape = tuple(input_shape)
    for layer in sublayers:
        layer.build(shape)
        shape = tuple(layer.compute_output_shape(shape))
    return shape


@keras.saving.register_keras_serializable(package=PACKAGE)
class LayerScale(layers.Layer):
    """Multiplies each channel by a learned scale (CaiT-style layer scale).

    Input and output: `(..., channels)`.

    Args:
        init_value: initial value of every scale.
    """

    def __init__(self, init_value=1.0, **kwargs):
        super().__init__(**kwargs)
        self.init_value = float(init_value)

    def build(self, input_shape):
        self.gamma = self.add_weight(
            name="gamma",
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.init_value),
        )

    def call(self, x):
        return x * ops.cast(self.gamma, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "init_value": self.init_value}


@keras.saving.register_keras_serializable(package=PACKAGE)
class DropPath(layers.Layer):
    """Stochastic depth: drops the whole residual branch for random samples.

    Identity at inference. In training each sample's branch is kept with
    probability `1 - rate` and rescaled by `1 / (1 - rate)`.

    Input and output: `(batch, ...)`.

    Args:
        rate: probability of dropping a sample's branch, in [0, 1).
        seed: optional seed for the random generator.
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"DropPath rate must be in [0, 1), got {rate!r}.")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        mask = keras.random.uniform(shape, dtype=x.dtype, seed=self.seed_generator)
        return x * ops.floor(mask + keep) / keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class Stem(layers.Layer):
    """Two stride-2 3x3 convolutions with BatchNorm and ReLU: a 4x downsampling.

    Input: `(batch, H, W, channels_in)`. Output: `(batch, H/4, W/4, filters)`,
    the first convolution having `filters // 2` channels. Both convolutions pad
    one pixel on every side, as PyTorch's `padding=1` (Keras's `"same"` would
    pad only bottom/right at stride 2).

    Args:
        filters: output channels.
    """

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.pad1 = layers.ZeroPadding2D(1, name="pad1", dtype=self.dtype_policy)
        self.conv1 = layers.Conv2D(self.filters // 2, 3, strides=2, name="conv1", dtype=self.dtype_policy)
        self.bn1 = _batch_norm("bn1", self.dtype_policy)
        self.pad2 = layers.ZeroPadding2D(1, name="pad2", dtype=self.dtype_policy)
        self.conv2 = layers.Conv2D(self.filters, 3, strides=2, name="conv2", dtype=self.dtype_policy)
        self.bn2 = _batch_norm("bn2", self.dtype_policy)

    def build(self, input_shape):
        _build_chain([self.pad1, self.conv1, self.bn1, self.pad2, self.conv2, self.bn2], input_shape)

    def call(self, x, training=None):
        x = ops.relu(self.bn1(self.conv1(self.pad1(x)), training=training))
        return ops.relu(self.bn2(self.conv2(self.pad2(x)), training=training))

    def compute_output_shape(self, input_shape):
        return _strided_shape(input_shape, 4, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


def _strided_shape(input_shape, stride, filters):
    """Output shape of a stride-`stride` stage with `filters` output channels."""
    batch, height, width, _ = input_shape
    height = None if height is None else height // stride
    width = None if width is None else width // stride
    return (batch, height, width, filters)


@keras.saving.register_keras_serializable(package=PACKAGE)
class DownsampleEmbedding(layers.Layer):
    """Stride-2 3x3 convolution (padding 1 on every side) followed by BatchNorm.

    Sits between two stages. Input: `(batch, H, W, C_in)`.
    Output: `(batch, H/2, W/2, filters)`.

    Args:
        filters: output channels.
    """

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.pad = layers.ZeroPadding2D(1, name="pad", dtype=self.dtype_policy)
        self.proj = layers.Conv2D(self.filters, 3, strides=2, name="proj", dtype=self.dtype_policy)
        self.norm = _batch_norm("norm", self.dtype_policy)

    def build(self, input_shape):
        _build_chain([self.pad, self.proj, self.norm], input_shape)

    def call(self, x, training=None):
        return self.norm(self.proj(self.pad(x)), training=training)

    def compute_output_shape(self, input_shape):
        return _strided_shape(input_shape, 2, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvEncoder(layers.Layer):
    """Residual depthwise-conv block: the ConvEncoder of SwiftFormer.

    `x + drop_path(layer_scale * pw2(gelu(pw1(bn(dwconv3x3(x))))))`, where
    `pw1` expands to `hidden_dim` channels and `pw2` projects back.
    `LocalRepresentation` is the same block with `hidden_dim == channels`.

    Input and output: `(batch, H, W, channels)`.

    Args:
        hidden_dim: channels after the first pointwise convolution; `None`
            keeps the input's channel count.
        drop_path_rate: stochastic depth rate of the residual branch.
        activation: `"gelu"` (exact, the official model) or `"quick_gelu"`.
    """

    # Declares `activation=` as one of these forms: an int8 recipe rebuilds the layer with another.
    accepted_activations = ACTIVATIONS

    def __init__(self, hidden_dim=None, drop_path_rate=0.0, activation="gelu", **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = None if hidden_dim is None else int(hidden_dim)
        self.drop_path_rate = float(drop_path_rate)
        self.activation = _check_activation(activation)
        self.dwconv = layers.DepthwiseConv2D(3, padding="same", name="dwconv", dtype=self.dtype_policy)
        self.norm = _batch_norm("norm", self.dtype_policy)
        self.layer_scale = LayerScale(1.0, name="layer_scale", dtype=self.dtype_policy)
        self.drop_path = DropPath(self.drop_path_rate, name="drop_path", dtype=self.dtype_policy)

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = self.hidden_dim or channels
        self.pwconv1 = _pointwise(hidden, "pwconv1", self.dtype_policy)
        self.pwconv2 = _pointwise(channels, "pwconv2", self.dtype_policy)
        _build_chain([self.dwconv, self.norm, self.pwconv1, self.pwconv2, self.layer_scale], input_shape)

    def call(self, x, training=None):
        y = self.norm(self.dwconv(x), training=training)
        y = self.pwconv2(_activation(self.pwconv1(y), self.activation))
        return x + self.drop_path(self.layer_scale(y), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_dim": self.hidden_dim,
            "drop_path_rate": self.drop_path_rate,
            "activation": self.activation,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class LocalRepresentation(ConvEncoder):
    """The local representation at the start of a SwiftFormer encoder block.

    A `ConvEncoder` whose pointwise convolutions keep the channel count and
    whose residual branch is never dropped (as in the official code).

    Input and output: `(batch, H, W, channels)`.
    """

    def __init__(self, **kwargs):
        kwargs.pop("hidden_dim", None)
        kwargs.pop("drop_path_rate", None)
        super().__init__(hidden_dim=None, drop_path_rate=0.0, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["hidden_dim"], config["drop_path_rate"]
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class Mlp(layers.Layer):
    """BatchNorm, then a pointwise MLP: `fc2(dropout(gelu(fc1(bn(x)))))`.

    Input and output: `(batch, H, W, channels)`; the hidden layer has
    `hidden_dim` channels.

    Args:
        hidden_dim: hidden channels (the official code uses 4 x channels).
        dropout_rate: dropout after the activation and after `fc2`.
        activation: `"gelu"` (exact, the official model) or `"quick_gelu"`.
    """

    accepted_activations = ACTIVATIONS  # as in ConvEncoder

    def __init__(self, hidden_dim, dropout_rate=0.0, activation="gelu", **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.dropout_rate = float(dropout_rate)
        self.activation = _check_activation(activation)
        self.norm1 = _batch_norm("norm1", self.dtype_policy)
        self.fc1 = _pointwise(self.hidden_dim, "fc1", self.dtype_policy)
        self.dropout = layers.Dropout(self.dropout_rate, name="dropout", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.fc2 = _pointwise(input_shape[-1], "fc2", self.dtype_policy)
        _build_chain([self.norm1, self.fc1, self.fc2], input_shape)

    def call(self, x, training=None):
        x = _activation(self.fc1(self.norm1(x, training=training)), self.activation)
        x = self.fc2(self.dropout(x, training=training))
        return self.dropout(x, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_dim": self.hidden_dim,
            "dropout_rate": self.dropout_rate,
            "activation": self.activation,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class EfficientAdditiveAttention(layers.Layer):
    """SwiftFormer's efficient additive attention, on NHWC feature maps.

    With `q = normalize(to_query(x))` and `k = normalize(to_key(x))`
    (L2 over channels), a per-token score `a = (q @ w_g) / sqrt(C)` pools the
    queries into one global query `G = sum_tokens(A * q)`, and
    `out = final(proj(G * k) + q)`. The formulations differ only in `A`:

    - `"l2"`: `A = a / ||a||_2` over tokens. The current official code
      (Amshaker/SwiftFormer) and timm.
    - `"softmax"`: `A = softmax(a, axis=-1)` over a size-1 axis, i.e. all ones:
      `G` is the plain sum of the queries. The first official release and the
      Hugging Face hub weights (MBZUAI/swiftformer-*) were trained with this.
    - `"token_softmax"`: `A = softmax(a)` over tokens, as the paper's equation
      writes it; for training from scratch.

    Tokens are the `H x W` positions; no reshape or transpose is needed.

    Input and output: `(batch, H, W, channels)`.

    Args:
        attention_type: one of `"l2"`, `"softmax"`, `"token_softmax"`.
    """

    def __init__(self, attention_type="l2", **kwargs):
        super().__init__(**kwargs)
        if attention_type not in ATTENTION_TYPES:
            raise ValueError(
                f"Unknown attention_type {attention_type!r}; use one of {ATTENTION_TYPES}."
            )
        self.attention_type = attention_type

    def build(self, input_shape):
        channels = input_shape[-1]
        self.scale = float(channels) ** -0.5
        self.to_query = _pointwise(channels, "to_query", self.dtype_policy)
        self.to_key = _pointwise(channels, "to_key", self.dtype_policy)
        self.proj = _pointwise(channels, "proj", self.dtype_policy)
        self.final = _pointwise(channels, "final", self.dtype_policy)
        for layer in (self.to_query, self.to_key, self.proj, self.final):
            layer.build(input_shape)
        self.w_g = self.add_weight(
            name="w_g", shape=(channels, 1), initializer=keras.initializers.RandomNormal(stddev=1.0)
        )

    def call(self, x):
        query = _l2_normalize(self.to_query(x), axis=-1)
        key = _l2_normalize(self.to_key(x), axis=-1)
        if self.attention_type == "softmax":
            global_query = ops.sum(query, axis=(1, 2), keepdims=True)
        else:
            scores = ops.matmul(query, ops.cast(self.w_g, query.dtype)) * self.scale
            if self.attention_type == "l2":
                weights = _l2_normalize(scores, axis=(1, 2))
            else:
                batch = ops.shape(scores)[0]
                flat = ops.softmax(ops.reshape(scores, (batch, -1)), axis=-1)
                weights = ops.reshape(flat, ops.shape(scores))
            global_query = ops.sum(weights * query, axis=(1, 2), keepdims=True)
        return self.final(self.proj(global_query * key) + query)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "attention_type": self.attention_type}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SwiftFormerBlock(layers.Layer):
    """The SwiftFormer encoder block: local representation, attention, MLP.

    `x = local_representation(x)`, then
    `x = x + drop_path(layer_scale_1 * attn(x))` and
    `x = x + drop_path(layer_scale_2 * linear(x))`.

    Input and output: `(batch, H, W, channels)`.

    Args:
        mlp_ratio: hidden width of the MLP relative to `channels`.
        attention_type: see `EfficientAdditiveAttention`.
        drop_path_rate: stochastic depth rate of both residual branches.
        dropout_rate: dropout inside the MLP.
        layer_scale_init_value: initial value of both layer scales.
        activation: `"gelu"` (exact, the official model) or `"quick_gelu"`.
    """

    accepted_activations = ACTIVATIONS  # as in ConvEncoder

    def __init__(
        self,
        mlp_ratio=4.0,
        attention_type="l2",
        drop_path_rate=0.0,
        dropout_rate=0.0,
        layer_scale_init_value=1e-5,
        activation="gelu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.mlp_ratio = float(mlp_ratio)
        self.attention_type = attention_type
        self.drop_path_rate = float(drop_path_rate)
        self.dropout_rate = float(dropout_rate)
        self.layer_scale_init_value = float(layer_scale_init_value)
        self.activation = _check_activation(activation)
        self.local_representation = LocalRepresentation(
            activation=activation, name="local_representation", dtype=self.dtype_policy
        )
        self.attn = EfficientAdditiveAttention(attention_type, name="attn", dtype=self.dtype_policy)
        self.layer_scale_1 = LayerScale(self.layer_scale_init_value, name="layer_scale_1", dtype=self.dtype_policy)
        self.layer_scale_2 = LayerScale(self.layer_scale_init_value, name="layer_scale_2", dtype=self.dtype_policy)
        self.drop_path = DropPath(self.drop_path_rate, name="drop_path", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.linear = Mlp(
            int(input_shape[-1] * self.mlp_ratio),
            self.dropout_rate,
            activation=self.activation,
            name="linear",
            dtype=self.dtype_policy,
        )
        for layer in (
            self.local_representation,
            self.attn,
            self.linear,
            self.layer_scale_1,
            self.layer_scale_2,
        ):
            layer.build(input_shape)

    def call(self, x, training=None):
        x = self.local_representation(x, training=training)
        x = x + self.drop_path(self.layer_scale_1(self.attn(x)), training=training)
        return x + self.drop_path(
            self.layer_scale_2(self.linear(x, training=training)), training=training
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "mlp_ratio": self.mlp_ratio,
            "attention_type": self.attention_type,
            "drop_path_rate": self.drop_path_rate,
            "dropout_rate": self.dropout_rate,
            "layer_scale_init_value": self.layer_scale_init_value,
            "activation": self.activation,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class DistilledClassifier(layers.Layer):
    """Classifier with a distillation head, on pooled features.

    Two dense layers, `head` and `dist_head`, read the same pooled features.
    `output_mode="average"` returns `(head + dist_head) / 2`, the official
    inference output; `output_mode="both"` returns the list
    `[head, dist_head]` for training with knowledge distillation (DeiT-style).

    Input: `(batch, channels)`. Output: `(batch, classes)`, or two of them.

    Args:
        classes: number of classes.
        output_mode: `"average"` or `"both"`.
        dropout_rate: dropout on the pooled features before both heads.
    """

    def __init__(self, classes, output_mode="average", dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        if output_mode not in ("average", "both"):
            raise ValueError(f"output_mode must be 'average' or 'both', got {output_mode!r}.")
        self.classes = int(classes)
        self.output_mode = output_mode
        self.dropout_rate = float(dropout_rate)
        self.dropout = layers.Dropout(self.dropout_rate, name="dropout", dtype=self.dtype_policy)
        self.head = layers.Dense(self.classes, name="head", dtype=self.dtype_policy)
        self.dist_head = layers.Dense(self.classes, name="dist_head", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.head.build(input_shape)
        self.dist_head.build(input_shape)

    def call(self, x, training=None):
        x = self.dropout(x, training=training)
        logits, dist_logits = self.head(x), self.dist_head(x)
        if self.output_mode == "both":
            return [logits, dist_logits]
        return (logits + dist_logits) / 2

    def compute_output_shape(self, input_shape):
        shape = (input_shape[0], self.classes)
        return [shape, shape] if self.output_mode == "both" else shape

    def get_config(self):
        return {
            **super().get_config(),
            "classes": self.classes,
            "output_mode": self.output_mode,
            "dropout_rate": self.dropout_rate,
        }
