"""Refinement of an offset field by a learned aggregation of neighbouring offsets."""

import keras
from keras import ops

from keras_srcrm.layers.common import kernel_arguments_config
from keras_srcrm.layers.conv_and_norm import Conv2D
from keras_srcrm.utils.validation import check_choice
from keras_srcrm.utils.validation import check_positive_int

AGGREGATION_MODES = ("dynamic", "static")


def pad_edges(x, pad):
    """Pads the two spatial axes of `(B, H, W, C)` by repeating the edge pixels.

    `keras.ops.pad(mode="edge")` is not available on every backend, so this
    concatenates edge slices instead.
    """
    if pad == 0:
        return x
    x = ops.concatenate([x[:, :1]] * pad + [x] + [x[:, -1:]] * pad, axis=1)
    return ops.concatenate([x[:, :, :1]] * pad + [x] + [x[:, :, -1:]] * pad, axis=2)


@keras.saving.register_keras_serializable(package="keras_srcrm")
class NeighborOffsetAggregation(keras.layers.Layer):
    """Replaces each offset by a learned weighting of its k x k neighbours.

    An offset field predicted pixel by pixel is noisy where the features are
    ambiguous; neighbouring offsets of the same object agree. This layer
    refines offset `o` at pixel `p` to `sum_n a_n(p) * o(p + n)` over the
    `kernel_size x kernel_size` neighbourhood `n`, per offset group:

    - `mode="dynamic"` (the default): the weights `a(p)` are a softmax over the
      neighbourhood of logits predicted from a guide feature map (the
      high-resolution features, in the SRM) by a 3x3 convolution, so the
      aggregation follows the image content (e.g. stops at boundaries). The
      convolution starts at zero: a uniform average.
    - `mode="static"`: the weights are one learned `kernel_size x kernel_size`
      kernel per offset channel (a depthwise convolution), starting as a
      uniform average.

    The field is padded by repeating its edges, so border offsets are averaged
    with copies of themselves rather than with zeros.

    Args:
        kernel_size: Odd size of the neighbourhood. Defaults to 3.
        offset_groups: Number of `(dx, dy)` offset pairs per pixel; the input
            has `2 * offset_groups` channels. Defaults to 1.
        mode: `"dynamic"` or `"static"`, see above.
        kernel_regularizer: Optional regularizer of the learned kernels.
        **kwargs: Base layer arguments.

    Call arguments:
        offsets: `(batch, height, width, 2 * offset_groups)` offset field.
        guide: `(batch, height, width, channels)` features that predict the
            weights; required for `mode="dynamic"`, ignored otherwise.

    Output shape:
        Same as `offsets`.

    Example:

    >>> layer = NeighborOffsetAggregation(kernel_size=3)
    >>> offsets = keras.random.normal((2, 16, 16, 2))
    >>> guide = keras.random.normal((2, 16, 16, 32))
    >>> layer(offsets, guide).shape
    (2, 16, 16, 2)
    """

    def __init__(
        self,
        kernel_size=3,
        offset_groups=1,
        mode="dynamic",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(
                "`kernel_size` must be a positive odd int. "
                f"Received: kernel_size={kernel_size}"
            )
        self.offset_groups = check_positive_int("offset_groups", offset_groups)
        self.mode = check_choice("mode", mode, AGGREGATION_MODES)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.weight_predictor = None
        if mode == "dynamic":
            self.weight_predictor = Conv2D(
                offset_groups * kernel_size * kernel_size,
                3,
                padding="same",
                kernel_initializer="zeros",
                kernel_regularizer=self.kernel_regularizer,
                dtype=self.dtype_policy,
                name="weight_predictor",
            )

    def build(self, offsets_shape, guide_shape=None):
        channels = offsets_shape[-1]
        if len(offsets_shape) != 4 or channels != 2 * self.offset_groups:
            raise ValueError(
                "`offsets` must have shape (batch, height, width, "
                f"{2 * self.offset_groups}) for offset_groups="
                f"{self.offset_groups}. Received: offsets.shape={offsets_shape}"
            )
        if self.mode == "dynamic":
            if guide_shape is None or len(guide_shape) != 4:
                raise ValueError(
                    "mode='dynamic' needs a rank-4 `guide` feature map. "
                    f"Received: guide shape={guide_shape}"
                )
            self.weight_predictor.build(guide_shape)
        else:
            taps = self.kernel_size * self.kernel_size
            self.kernel = self.add_weight(
                name="kernel",
                shape=(self.kernel_size, self.kernel_size, channels, 1),
                initializer=keras.initializers.Constant(1.0 / taps),
                regularizer=self.kernel_regularizer,
            )

    def call(self, offsets, guide=None):
        pad = self.kernel_size // 2
        padded = pad_edges(offsets, pad)
        if self.mode == "static":
            return ops.depthwise_conv(
                padded, ops.cast(self.kernel, offsets.dtype), padding="valid"
            )

        shape = ops.shape(offsets)
        height, width = shape[1], shape[2]
        taps = self.kernel_size * self.kernel_size
        # (batch, height, width, taps, channels): the field seen from each tap.
        neighbours = ops.stack(
            [
                padded[:, dy : dy + height, dx : dx + width]
                for dy in range(self.kernel_size)
                for dx in range(self.kernel_size)
            ],
            axis=3,
        )
        logits = self.weight_predictor(guide)
        logits = ops.reshape(
            ops.cast(logits, offsets.dtype),
            (shape[0], height, width, self.offset_groups, taps),
        )
        weights = ops.softmax(logits, axis=-1)
        neighbours = ops.reshape(
            neighbours, (shape[0], height, width, taps, self.offset_groups, 2)
        )
        refined = ops.einsum("bhwgn,bhwngc->bhwgc", weights, neighbours)
        return ops.reshape(refined, shape)

    def compute_output_shape(self, offsets_shape, guide_shape=None):
        return offsets_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "offset_groups": self.offset_groups,
                "mode": self.mode,
                **kernel_arguments_config(self),
            }
        )
        return config
