"""`Conv2D` and `BatchNormalization` with a copy-free path on PyTorch.

The decoders build their convolutions and batch norms from these two
classes. They are Keras's layers, with the same arguments, weights and
results; on the PyTorch backend, channels-last inputs go straight to
PyTorch's fused kernels (`ops/conv_norm_torch.py`) instead of being copied
twice around each convolution and normalised by a dozen element-wise
operations. On TensorFlow and JAX they are Keras's layers unchanged.

`use_copy_free_layers(model)` switches the plain Keras `Conv2D` and
`BatchNormalization` layers of a model built elsewhere (e.g. a KerasHub
backbone) to these classes; `SRCRMSegmenter` does so with its backbone on
PyTorch. Timings are in `docs/benchmarks.md` (`benchmarks/torch_conv_norm.py`).
"""

import contextlib

import keras

# Read at call time; `keras_path()` turns it off.
TORCH_FAST_PATH = True


@contextlib.contextmanager
def keras_path():
    """Within the block, these layers run Keras's own code on every backend.

    For the FLOPs counter, which counts Keras's ops, and for timing both
    paths in one process (`benchmarks/torch_conv_norm.py`).
    """
    global TORCH_FAST_PATH
    previous = TORCH_FAST_PATH
    TORCH_FAST_PATH = False
    try:
        yield
    finally:
        TORCH_FAST_PATH = previous


def _uses_torch_fast_path():
    return TORCH_FAST_PATH and keras.backend.backend() == "torch"


@keras.saving.register_keras_serializable(package="keras_srcrm")
class Conv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D`; on PyTorch, channels-last without copies.

    Takes the arguments of `keras.layers.Conv2D` and computes the same
    result. With the PyTorch backend and `data_format="channels_last"`, the
    convolution runs on views of the inputs and kernel in PyTorch's
    `channels_last` memory format, so no activation is copied.

    Example:

    >>> conv = Conv2D(8, 3, padding="same")
    >>> conv(keras.random.normal((2, 16, 16, 4))).shape
    (2, 16, 16, 8)
    """

    def convolution_op(self, inputs, kernel):
        if not (_uses_torch_fast_path() and self.data_format == "channels_last"):
            return super().convolution_op(inputs, kernel)
        from keras_srcrm.ops import conv_norm_torch

        inputs = keras.ops.convert_to_tensor(inputs)
        kernel = keras.ops.convert_to_tensor(kernel)
        return conv_norm_torch.conv2d_channels_last(
            inputs,
            kernel,
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            groups=inputs.shape[-1] // kernel.shape[2],
        )


@keras.saving.register_keras_serializable(package="keras_srcrm")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization`; on PyTorch, one fused kernel.

    Takes the arguments of `keras.layers.BatchNormalization` and computes the
    same result and moving statistics. With the PyTorch backend, 4-D
    channels-last inputs, no mask, no renormalisation and no synchronisation,
    it calls PyTorch's batch norm on a channels-last view of the inputs.

    Example:

    >>> norm = BatchNormalization()
    >>> norm(keras.random.normal((2, 16, 16, 4)), training=True).shape
    (2, 16, 16, 4)
    """

    def _fast_path_applies(self, inputs, mask):
        return (
            _uses_torch_fast_path()
            and mask is None
            and not self.renorm
            and not self.synchronized
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fast_path_applies(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        from keras_srcrm.ops import conv_norm_torch

        # In float32 under mixed precision too, as Keras's layer computes.
        dtype = keras.backend.result_type(inputs.dtype, "float32")
        inputs = keras.ops.cast(inputs, dtype)
        gamma = keras.ops.cast(self.gamma, dtype) if self.scale else None
        beta = keras.ops.cast(self.beta, dtype) if self.center else None
        moving_mean = keras.ops.cast(self.moving_mean, dtype)
        moving_variance = keras.ops.cast(self.moving_variance, dtype)
        if training and self.trainable:
            outputs, mean, variance = conv_norm_torch.batch_norm_channels_last_training(
                inputs, gamma, beta, self.epsilon
            )
            self.moving_mean.assign(
                moving_mean * self.momentum + mean * (1.0 - self.momentum)
            )
            self.moving_variance.assign(
                moving_variance * self.momentum + variance * (1.0 - self.momentum)
            )
        else:
            outputs = conv_norm_torch.batch_norm_channels_last(
                inputs, moving_mean, moving_variance, gamma, beta, self.epsilon
            )
        return keras.ops.cast(outputs, self.compute_dtype)


_COPY_FREE_CLASSES = {
    keras.layers.Conv2D: Conv2D,
    keras.layers.BatchNormalization: BatchNormalization,
}


def use_copy_free_layers(model):
    """Switches a model's Keras `Conv2D`/`BatchNormalization` to this module's.

    In place, and only layers whose class is exactly `keras.layers.Conv2D` or
    `keras.layers.BatchNormalization` (subclasses may compute something
    else): they become this module's subclasses, which add no state and
    compute the same results, moving statistics and gradients, copy-free on
    PyTorch. The model's config is unchanged where it is the constructor's
    arguments (KerasHub, KerasCV); a plain functional model's config then
    names this module's classes.

    Args:
        model: A `keras.Model` or layer; nested layers are switched too.

    Returns:
        The number of layers switched.

    Example:

    >>> backbone = keras.Sequential(
    ...     [keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3),
    ...      keras.layers.BatchNormalization()]
    ... )
    >>> use_copy_free_layers(backbone)
    2
    """
    switched = 0
    for layer in model._flatten_layers(include_self=True, recursive=True):
        copy_free = _COPY_FREE_CLASSES.get(type(layer))
        if copy_free is not None:
            layer.__class__ = copy_free
            switched += 1
    return switched
