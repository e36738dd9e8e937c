"""SwiftFormer building blocks as Keras 3 layers.

Every layer is written with `keras.ops` only, so it runs on the TensorFlow, JAX
and PyTorch backends. Tensors are channels-last (NHWC) throughout: the layers
never transpose, which keeps the exported TFLite graph free of TRANSPOSE ops.

Sub-layer names follow the official PyTorch code (Amshaker/SwiftFormer) so that
a checkpoint key such as `network.0.2.pwconv1.weight` maps onto the Keras
variable `stage0_block2/pwconv1/kernel` by renaming alone.

The GELUs, the attention's sums and norms, and the folded BatchNorm are computed
in `op_forms`, in the form a layer's config names. Each class is registered as
`swiftformer_keras>ClassName`, the name every saved `.keras` file refers to it by:
it must not change (tests/fixtures holds files an older release wrote).
"""

import keras
from keras import layers, ops

from swiftformer_keras.models.architecture import ACTIVATIONS, ATTENTION_TYPES, REDUCTIONS
from swiftformer_keras.models.op_forms import l2_normalize, norm_folded_into, pointwise_mlp, token_sum

PACKAGE = "swiftformer_keras"

# PyTorch's BatchNorm2d: eps 1e-5, running stats updated with momentum 0.1.
_BN_EPS = 1e-5
_BN_MOMENTUM = 0.9


def _batch_norm(name, dtype=None):
    return layers.BatchNormalization(epsilon=_BN_EPS, momentum=_BN_MOMENTUM, name=name, dtype=dtype)


def _pointwise(filters, name, dtype=None):
    """A 1x1 convolution: PyTorch's 1x1 Conv2d and its Linear on NHWC tokens."""
    return layers.Conv2D(filters, 1, name=name, dtype=dtype)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"Unknown {name} {value!r}; use one of {choices}.")
    return value


def _check_activation(activation):
    return _check_choice("activation", activation, ACTIVATIONS)


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
class PixelNormalization(layers.Layer):
    """RGB pixels in [0, 255] (any dtype) to the model's input, `(pixel - mean) / std` per channel.

    Put in front of a model by `lite.rewrites.with_pixel_input`, so that an exported
    file takes camera pixels and its metadata needs no per-channel
    normalisation (which MediaPipe's image clients refuse). One multiply and
    one add; in front of a `Stem`, `lite.rewrites.with_pixel_input` folds them into
    the stem's first convolution instead (`Stem(pixel_normalization=...)`).

    Args:
        mean, std: per-channel values in pixel units (ImageNet's: 255 times
            `utils.images.IMAGENET_MEAN` and `IMAGENET_STD`).
    """

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        if len(self.mean) != len(self.std) or not all(v > 0 for v in self.std):
            raise ValueError(f"mean and std need one value per channel and std > 0, got {mean!r}, {std!r}.")

    def call(self, pixels):
        x = ops.cast(pixels, self.compute_dtype)
        scale = ops.convert_to_tensor([1.0 / s for s in self.std], dtype=self.compute_dtype)
        offsets = [-m / s for m, s in zip(self.mean, self.std, strict=True)]
        offset = ops.convert_to_tensor(offsets, dtype=self.compute_dtype)
        return x * scale + offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": list(self.mean), "std": list(self.std)}


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

    With `pixel_normalization=(mean, std)` the stem takes RGB pixels instead
    and computes `stem((pixels - mean) / std)` (`PixelNormalization`, then the
    stem) with no op of its own for the normalisation: it is folded into the
    first convolution, `conv(pad0((x - m) / s)) = conv_{W / s}(pad_m(x)) - sum(W m / s)`,
    where `pad_m` pads with the mean pixel, whose normalised value is the zero
    that PyTorch pads with. The weights are the same; `lite.rewrites.with_pixel_input`
    builds this form. (XNNPACK runs a per-channel MUL and ADD over 3 channels
    row by row: 8% of the XS int8 file's time at 224x224, 4% of the fp32's.)

    Args:
        filters: output channels.
        pixel_normalization: None, or `(mean, std)` per channel in pixel units.
    """

    def __init__(self, filters, pixel_normalization=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.pixel_normalization = None
        if pixel_normalization is not None:
            mean, std = (tuple(float(v) for v in values) for values in pixel_normalization)
            if len(mean) != len(std) or not all(v > 0 for v in std):
                raise ValueError(
                    f"pixel_normalization needs one mean and one std > 0 per channel, got {pixel_normalization!r}."
                )
            self.pixel_normalization = (mean, std)
        self.pad1 = layers.ZeroPadding2D(1, name="pad1", dtype=self.dtype_policy)
        self.conv1 = layers.Conv2D(self.filters // 2, 3, strides=2, name="conv1", dtype=self.dtype_policy)
        self.bn1 = _batch_norm("bn1", self.dtype_policy)
        self.pad2 = layers.ZeroPadding2D(1, name="pad2", dtype=self.dtype_policy)
        self.conv2 = layers.Conv2D(self.filters, 3, strides=2, name="conv2", dtype=self.dtype_policy)
        self.bn2 = _batch_norm("bn2", self.dtype_policy)

    def build(self, input_shape):
        _build_chain([self.pad1, self.conv1, self.bn1, self.pad2, self.conv2, self.bn2], input_shape)

    def call(self, x, training=None):
        if self.pixel_normalization is None:
            x = self.conv1(self.pad1(x))
        else:
            x = self._conv1_of_pixels(ops.cast(x, self.compute_dtype))
        x = ops.relu(self.bn1(x, training=training))
        return ops.relu(self.bn2(self.conv2(self.pad2(x)), training=training))

    def _conv1_of_pixels(self, pixels):
        mean, std = (ops.convert_to_tensor(values, self.compute_dtype) for values in self.pixel_normalization)
        kernel = ops.cast(self.conv1.kernel, self.compute_dtype)
        bias = ops.cast(self.conv1.bias, self.compute_dtype) - ops.einsum("hwio,i->o", kernel, mean / std)
        # Pads with the mean pixel by concatenation: one copy, where a padded subtraction would take two
        # more passes over the image.
        batch, height, width, channels = ops.shape(pixels)
        row = ops.broadcast_to(mean, (batch, 1, width, channels))
        padded = ops.concatenate([row, pixels, row], axis=1)
        column = ops.broadcast_to(mean, (batch, height + 2, 1, channels))
        padded = ops.concatenate([column, padded, column], axis=2)
        return ops.conv(padded, kernel / std[:, None], strides=2) + bias

    def compute_output_shape(self, input_shape):
        return _strided_shape(input_shape, 4, self.filters)

    def get_config(self):
        normalization = self.pixel_normalization and [list(values) for values in self.pixel_normalization]
        return {**super().get_config(), "filters": self.filters, "pixel_normalization": normalization}


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
        activation: a GELU form of `ACTIVATIONS` (see `op_forms.pointwise_mlp`); `"gelu"` is the official one.
    """

    # The config values an export recipe (`lite.recipe.Recipe`) may rebuild the layer with.
    recipe_options = {"activation": ACTIVATIONS}

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
        y = pointwise_mlp(y, self.pwconv1, self.pwconv2, self.activation)
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

    In inference the BatchNorm is folded into `fc1` (`op_forms.norm_folded_into`): the
    same function in one convolution, which is what a TFLite file gets.

    Input and output: `(batch, H, W, channels)`; the hidden layer has
    `hidden_dim` channels.

    Args:
        hidden_dim: hidden channels (the official code uses 4 x channels).
        dropout_rate: dropout after the activation and after `fc2`.
        activation: a GELU form of `ACTIVATIONS` (see `op_forms.pointwise_mlp`); `"gelu"` is the official one.
    """

    recipe_options = {"activation": ACTIVATIONS}  # as in ConvEncoder

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
        if training:
            x, fc1 = self.norm1(x, training=training), self.fc1
        else:  # the same function, the norm folded into fc1 (one op fewer in TFLite, per element in int8)
            fc1 = norm_folded_into(self.norm1, self.fc1, x.dtype)
        x = pointwise_mlp(
            x,
            fc1,
            self.fc2,
            self.activation,
            between=lambda hidden: self.dropout(hidden, training=training),
        )
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
        reductions: how the sums over tokens and channels and the L2 norms
            are written, one of `REDUCTIONS` (`op_forms.l2_normalize`): the same
            function, for different TFLite runtimes.
    """

    recipe_options = {"reductions": REDUCTIONS}

    def __init__(self, attention_type="l2", reductions="sum", **kwargs):
        super().__init__(**kwargs)
        self.attention_type = _check_choice("attention_type", attention_type, ATTENTION_TYPES)
        self.reductions = _check_choice("reductions", reductions, REDUCTIONS)

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
        query = l2_normalize(self.to_query(x), -1, self.reductions)
        key = l2_normalize(self.to_key(x), -1, self.reductions)
        if self.attention_type == "softmax":
            global_query = token_sum(query, self.reductions)
        else:
            scores = ops.matmul(query, ops.cast(self.w_g, query.dtype)) * self.scale
            if self.attention_type == "l2":
                weights = l2_normalize(scores, (1, 2), self.reductions)
            else:
                batch = ops.shape(scores)[0]
                flat = ops.softmax(ops.reshape(scores, (batch, -1)), axis=-1)
                weights = ops.reshape(flat, ops.shape(scores))
            global_query = token_sum(weights * query, self.reductions)
        return self.final(self.proj(global_query * key) + query)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "attention_type": self.attention_type, "reductions": self.reductions}


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
        reductions: how the attention writes its sums and norms, see `EfficientAdditiveAttention`.
        activation: a GELU form of `ACTIVATIONS` (see `op_forms.pointwise_mlp`); `"gelu"` is the official one.
    """

    recipe_options = {"activation": ACTIVATIONS, "reductions": REDUCTIONS}  # as in ConvEncoder

    def __init__(
        self,
        mlp_ratio=4.0,
        attention_type="l2",
        drop_path_rate=0.0,
        dropout_rate=0.0,
        layer_scale_init_value=1e-5,
        activation="gelu",
        reductions="sum",
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
        self.reductions = _check_choice("reductions", reductions, REDUCTIONS)
        self.attn = EfficientAdditiveAttention(
            attention_type, reductions=reductions, name="attn", dtype=self.dtype_policy
        )
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
        return x + self.drop_path(self.layer_scale_2(self.linear(x, training=training)), training=training)

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
            "reductions": self.reductions,
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
        if self.output_mode == "average" and not training:
            # The mean of two dense layers is one dense layer: one FULLY_CONNECTED in TFLite, not two, an ADD and a MUL.
            kernel = (ops.cast(self.head.kernel, x.dtype) + ops.cast(self.dist_head.kernel, x.dtype)) / 2
            bias = (ops.cast(self.head.bias, x.dtype) + ops.cast(self.dist_head.bias, x.dtype)) / 2
            return ops.matmul(x, kernel) + bias
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
