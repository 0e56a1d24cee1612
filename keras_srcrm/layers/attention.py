"""Channel and spatial attention blocks used by the Contextual Refinement Module.

Two families, chosen per dimension in the CRM:

- self-attention (DANet's channel and position attention modules): global
  affinities between all channels, or between all positions, with a learned
  residual scale `gamma` that starts at zero;
- gates (CBAM's channel and spatial attention): a sigmoid gate per channel or
  per position.

All of them compute their pooling, affinities and softmax/sigmoid in float32
(float64 for float64 inputs) and return the input dtype, so that 16-bit
mixed precision cannot overflow the sums over thousands of positions.
"""

import keras
from keras import ops

from keras_srcrm.layers.common import kernel_arguments_config
from keras_srcrm.layers.conv_and_norm import Conv2D
from keras_srcrm.ops.sampling import compute_dtype_for
from keras_srcrm.utils.validation import check_positive_int


def _check_channels(layer, input_shape):
    if input_shape[-1] is None:
        raise ValueError(
            f"{layer.__class__.__name__} needs the channel count of its input "
            f"to be known. Received: input_shape={tuple(input_shape)}"
        )


def _flatten_positions(x):
    """`(B, H, W, C)` -> `(B, H * W, C)`."""
    shape = ops.shape(x)
    return ops.reshape(x, (shape[0], -1, shape[3]))


@keras.saving.register_keras_serializable(package="keras_srcrm")
class ChannelSelfAttention(keras.layers.Layer):
    """Global channel self-attention (DANet's channel attention module).

    With `X` the `(positions, channels)` matrix of one image, the channel
    affinity is `A = softmax(X^T X / positions)` (rows sum to one), and the
    output is `gamma * X A^T + X`. Dividing by the number of positions keeps
    the affinities independent of the image size (DANet uses the raw
    products, which saturate the softmax on large images). `gamma` starts at
    0, so the block starts as the identity. It takes only the base layer
    arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        Same as the input.

    Example:

    >>> ChannelSelfAttention()(keras.random.normal((2, 8, 8, 32))).shape
    (2, 8, 8, 32)

    Reference:
        Fu et al., "Dual Attention Network for Scene Segmentation", CVPR 2019.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = keras.InputSpec(ndim=4)

    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(), initializer="zeros")

    def call(self, inputs):
        dtype = compute_dtype_for(inputs.dtype)
        x = _flatten_positions(ops.cast(inputs, dtype))
        positions = ops.cast(ops.shape(x)[1], dtype)
        energy = ops.matmul(ops.transpose(x, (0, 2, 1)), x) / positions
        affinity = ops.softmax(energy, axis=-1)
        attended = ops.matmul(x, ops.transpose(affinity, (0, 2, 1)))
        attended = ops.reshape(attended, ops.shape(inputs))
        out = ops.cast(self.gamma, dtype) * attended + ops.cast(inputs, dtype)
        return ops.cast(out, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="keras_srcrm")
class SpatialSelfAttention(keras.layers.Layer):
    """Global spatial self-attention (DANet's position attention module).

    Queries and keys are 1x1 projections to `channels // reduction` channels,
    values a 1x1 projection to `channels`; every position attends to every
    position with `softmax(q k^T / sqrt(d))`, and the output is
    `gamma * attended + inputs` with `gamma` starting at 0. The affinity
    matrix has `(height * width)^2` entries per image: use it on a coarse
    feature map (the CRM applies it at stride 32 by default).

    Args:
        reduction: Channel reduction of queries and keys. Defaults to 8.
        kernel_initializer: Initializer of the projections.
        kernel_regularizer: Optional regularizer of the projections.
        **kwargs: Base layer arguments.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        Same as the input.

    Example:

    >>> SpatialSelfAttention(reduction=4)(keras.random.normal((2, 8, 8, 32))).shape
    (2, 8, 8, 32)

    Reference:
        Fu et al., "Dual Attention Network for Scene Segmentation", CVPR 2019.
    """

    def __init__(
        self,
        reduction=8,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = keras.InputSpec(ndim=4)

    def build(self, input_shape):
        _check_channels(self, input_shape)
        channels = input_shape[-1]
        key_channels = max(channels // self.reduction, 1)

        def projection(units, name):
            layer = Conv2D(
                units,
                1,
                kernel_initializer=self.kernel_initializer,
                kernel_regularizer=self.kernel_regularizer,
                dtype=self.dtype_policy,
                name=name,
            )
            layer.build(input_shape)
            return layer

        self.query = projection(key_channels, "query")
        self.key = projection(key_channels, "key")
        self.value = projection(channels, "value")
        self.gamma = self.add_weight(name="gamma", shape=(), initializer="zeros")

    def call(self, inputs):
        dtype = compute_dtype_for(inputs.dtype)
        query = _flatten_positions(ops.cast(self.query(inputs), dtype))
        key = _flatten_positions(ops.cast(self.key(inputs), dtype))
        value = _flatten_positions(ops.cast(self.value(inputs), dtype))
        scale = ops.cast(ops.shape(query)[-1], dtype) ** -0.5
        energy = ops.matmul(query, ops.transpose(key, (0, 2, 1))) * scale
        attended = ops.matmul(ops.softmax(energy, axis=-1), value)
        attended = ops.reshape(attended, ops.shape(inputs))
        out = ops.cast(self.gamma, dtype) * attended + ops.cast(inputs, dtype)
        return ops.cast(out, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                **kernel_arguments_config(self),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_srcrm")
class ChannelGate(keras.layers.Layer):
    """Channel attention gate (CBAM): `x * sigmoid(MLP(avg) + MLP(max))`.

    The shared MLP reduces the channels by `reduction` and restores them;
    average and max pooling run over all positions.

    Args:
        reduction: Channel reduction of the hidden layer. Defaults to 16.
        kernel_initializer: Initializer of the MLP.
        kernel_regularizer: Optional regularizer of the MLP.
        **kwargs: Base layer arguments.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        Same as the input.

    Example:

    >>> ChannelGate(reduction=4)(keras.random.normal((2, 8, 8, 32))).shape
    (2, 8, 8, 32)

    Reference:
        Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018.
    """

    def __init__(
        self,
        reduction=16,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = keras.InputSpec(ndim=4)

    def build(self, input_shape):
        _check_channels(self, input_shape)
        channels = input_shape[-1]
        dense_args = {
            "kernel_initializer": self.kernel_initializer,
            "kernel_regularizer": self.kernel_regularizer,
            "dtype": self.dtype_policy,
        }
        self.hidden = keras.layers.Dense(
            max(channels // self.reduction, 1),
            activation="relu",
            name="hidden",
            **dense_args,
        )
        self.hidden.build((None, channels))
        self.restore = keras.layers.Dense(channels, name="restore", **dense_args)
        self.restore.build((None, self.hidden.units))

    def call(self, inputs):
        dtype = compute_dtype_for(inputs.dtype)
        x = ops.cast(inputs, dtype)
        pooled = [ops.mean(x, axis=(1, 2)), ops.max(x, axis=(1, 2))]
        logits = sum(ops.cast(self.restore(self.hidden(p)), dtype) for p in pooled)
        gate = ops.sigmoid(logits)[:, None, None, :]
        return ops.cast(x * gate, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                **kernel_arguments_config(self),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_srcrm")
class SpatialGate(keras.layers.Layer):
    """Spatial attention gate (CBAM): `x * sigmoid(conv([mean_c, max_c]))`.

    Args:
        kernel_size: Size of the convolution over the pooled maps. Defaults
            to 7.
        kernel_initializer: Initializer of the convolution.
        kernel_regularizer: Optional regularizer of the convolution.
        **kwargs: Base layer arguments.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        Same as the input.

    Example:

    >>> SpatialGate()(keras.random.normal((2, 8, 8, 32))).shape
    (2, 8, 8, 32)

    Reference:
        Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018.
    """

    def __init__(
        self,
        kernel_size=7,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = keras.InputSpec(ndim=4)
        self.conv = Conv2D(
            1,
            kernel_size,
            padding="same",
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name="conv",
        )

    def build(self, input_shape):
        self.conv.build(tuple(input_shape[:3]) + (2,))

    def call(self, inputs):
        dtype = compute_dtype_for(inputs.dtype)
        x = ops.cast(inputs, dtype)
        pooled = ops.concatenate(
            [ops.mean(x, axis=-1, keepdims=True), ops.max(x, axis=-1, keepdims=True)],
            axis=-1,
        )
        gate = ops.sigmoid(ops.cast(self.conv(pooled), dtype))
        return ops.cast(x * gate, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                **kernel_arguments_config(self),
            }
        )
        return config
