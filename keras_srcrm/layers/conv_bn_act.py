"""Convolution, batch normalisation and activation, the decoders' basic block."""

import keras

from keras_srcrm.layers.common import kernel_arguments_config
from keras_srcrm.layers.conv_and_norm import BatchNormalization
from keras_srcrm.layers.conv_and_norm import Conv2D
from keras_srcrm.utils.validation import check_bool
from keras_srcrm.utils.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_srcrm")
class ConvBNAct(keras.layers.Layer):
    """`Conv2D` (no bias) -> `BatchNormalization` -> activation.

    Args:
        filters: Number of output channels.
        kernel_size: Size of the square convolution kernel. Defaults to 1.
        strides: Stride of the convolution. Defaults to 1.
        dilation_rate: Dilation of the convolution. Defaults to 1.
        activation: Activation after normalisation, any `keras.activations`
            identifier (None or `"linear"` for none). Defaults to `"relu"`.
        use_batch_norm: Whether to normalise; without it the convolution
            gets a bias. Defaults to True.
        batch_norm_momentum: Momentum of the moving statistics. Defaults to
            0.9 (PyTorch's 0.1), which suits segmentation's small batches
            better than Keras's 0.99.
        kernel_initializer: Initializer of the kernel. Defaults to
            `"he_normal"`.
        kernel_regularizer: Optional regularizer of the kernel.
        **kwargs: Base layer arguments, e.g. `name`, `dtype`.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, new_height, new_width, filters)`, with "same" padding.

    Example:

    >>> block = ConvBNAct(64, 3)
    >>> block(keras.random.normal((2, 32, 32, 16))).shape
    (2, 32, 32, 64)
    """

    def __init__(
        self,
        filters,
        kernel_size=1,
        strides=1,
        dilation_rate=1,
        activation="relu",
        use_batch_norm=True,
        batch_norm_momentum=0.9,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = kernel_size
        self.strides = strides
        self.dilation_rate = dilation_rate
        self.activation = keras.activations.get(activation)
        self.use_batch_norm = check_bool("use_batch_norm", use_batch_norm)
        self.batch_norm_momentum = batch_norm_momentum
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

        self.conv = Conv2D(
            filters,
            kernel_size,
            strides=strides,
            dilation_rate=dilation_rate,
            padding="same",
            use_bias=not use_batch_norm,
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name="conv",
        )
        self.batch_norm = (
            BatchNormalization(
                momentum=batch_norm_momentum,
                epsilon=1e-5,
                dtype=self.dtype_policy,
                name="batch_norm",
            )
            if use_batch_norm
            else None
        )
        self.input_spec = keras.InputSpec(ndim=4)

    def build(self, input_shape):
        self.conv.build(input_shape)
        if self.batch_norm is not None:
            self.batch_norm.build(self.conv.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        x = self.conv(inputs)
        if self.batch_norm is not None:
            x = self.batch_norm(x, training=training)
        return self.activation(x)

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "dilation_rate": self.dilation_rate,
                "use_batch_norm": self.use_batch_norm,
                "batch_norm_momentum": self.batch_norm_momentum,
                **kernel_arguments_config(self),
            }
        )
        return config
